"""What the supervised worker costs: `serial` and `threads` sweeps with their episodes in one
child process (the default) against the same sweeps in the sweep's own process
(HOTMESS_IN_PROCESS=1, the executors as they were before).

    python benchmarks/supervised.py [--kv-episodes 200] [--api-episodes 64] [--repeats 5]

`serial`: KVSum at horizon 1 with the `oracle` agent, the cheapest episode there is, so the
per-episode round trip to the worker shows at its largest. `threads`: the `openai:` agent
against a chat-completions server on 127.0.0.1 that answers each request after 20 ms with a
`submit` call, 8 episodes in flight. Worker start-up is inside the clock. Runs interleave;
the ratio column is the median of the paired ratios (supervised / in-process).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hotmess.runner import SweepConfig, run_sweep
from hotmess.runner.supervise import IN_PROCESS_ENV

ANSWER = {
    "id": "bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "submit", "arguments": '{"answer": "0"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
}


def chat_server(delay_s: float) -> ThreadingHTTPServer:
    body = json.dumps(ANSWER).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def timed(base: dict[str, Any], in_process: bool) -> float:
    out = Path(tempfile.mkdtemp(prefix="hotmess-bench-")) / "run"
    if in_process:
        os.environ[IN_PROCESS_ENV] = "1"
    try:
        start = time.perf_counter()
        result = run_sweep(SweepConfig(**base, out=out))
        elapsed = time.perf_counter() - start
        assert result.ran == base["tasks"] * base["samples"] and not result.infra_errors
        return elapsed
    finally:
        os.environ.pop(IN_PROCESS_ENV, None)
        shutil.rmtree(out.parent, ignore_errors=True)


def compare(name: str, base: dict[str, Any], repeats: int) -> None:
    pairs = [(timed(base, True), timed(base, False)) for _ in range(repeats)]
    n = base["tasks"] * base["samples"]
    before = statistics.median(p[0] for p in pairs)
    after = statistics.median(p[1] for p in pairs)
    ratio = statistics.median(p[1] / p[0] for p in pairs)
    print(
        f"{name:<34} {n:>8} {before:>11.2f} {after:>11.2f} "
        f"{(after - before) / n * 1000:>10.2f} {ratio:>6.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv-episodes", type=int, default=200)
    parser.add_argument("--api-episodes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'sweep':<34} {'episodes':>8} {'in-proc s':>11} {'supervised':>11} "
        f"{'+ms/ep':>10} {'ratio':>7}"
    )
    kv = {"envs": ["hotmess/KVSum-v0"], "agents": ["oracle"], "horizons": [1]}
    compare(
        "serial: KVSum H=1 oracle",
        {**kv, "tasks": args.kv_episodes, "samples": 1, "executor": "serial"},
        args.repeats,
    )
    server = chat_server(0.02)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    api = {
        "envs": ["hotmess/KVSum-v0"],
        "agents": [f"openai:bench,base_url={url},api_key=sk-bench"],
        "horizons": [1],
        "tasks": args.api_episodes,
        "samples": 1,
        "executor": "threads",
        "concurrency": 8,
    }
    try:
        compare("threads: openai, 20 ms server, x8", api, args.repeats)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
