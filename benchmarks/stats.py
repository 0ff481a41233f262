"""Time the statistics of hotmess.scoring.stats on a synthetic run store.

    python benchmarks/stats.py [--tasks 100] [--samples 20] [--steps 30] [--n-boot 1000]

Writes 5 envs (scalar, categorical, tests outcomes) x 2 agents x 5 horizons x tasks x
samples episodes of `steps` actions each to a temporary store, then prints the wall and CPU
time of each step and the peak memory. The first statistic pays for building questions;
the others reuse them (see `_cells`).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hotmess.scoring import stats
from hotmess.store import load_light

KINDS = ("scalar", "categorical", "tests", "scalar", "categorical")
HORIZONS = (1, 2, 4, 8, 16)


def write_store(path: Path, tasks: int, samples: int, steps: int) -> int:
    rng = np.random.default_rng(0)
    step = (
        '{"action":"{\\"tool\\": \\"lookup\\", \\"arguments\\": {\\"key\\": \\"k%d\\"}}",'
        '"observation":"k%d = %d (and the rest of an observation of a realistic length)",'
        '"tool":"lookup","tool_error":false,"agent_error":null,"agent_message":null,'
        '"tokens_in":0,"tokens_out":0,"cost":0.0,"latency_s":0.0001745710014802171,'
        '"env_s":0.00015211299978545867,"replayed":false}'
    )
    n = 0
    with (path / "episodes.jsonl").open("w") as out:
        for e, kind in enumerate(KINDS):
            for a in range(2):
                for h in HORIZONS:
                    for t in range(tasks):
                        for s in range(samples):
                            outcome = _outcome(kind, h, t, rng)
                            wrong = int(rng.integers(steps)) if rng.random() < 0.05 * h else steps
                            body = ",".join(
                                step % (j, j, j if j < wrong else -j) for j in range(steps)
                            )
                            head = json.dumps(
                                {
                                    "key": f"{e}-{a}-{h}-{t}-{s}",
                                    "env": f"bench/Env{e}-v0",
                                    "env_options": {},
                                    "horizon": h,
                                    "task_seed": 1000 + t,
                                    "task_index": t,
                                    "sample": s,
                                    "agent": f"agent{a}",
                                    "agent_seed": s,
                                    "outcome": outcome,
                                },
                                separators=(",", ":"),
                            )
                            out.write(
                                f'{head[:-1]},"steps":[{body}],"prompt":"A task.","sandbox":'
                                '"none","started_at":0.0,"duration_s":0.1,"round":0,'
                                '"fork_of":null,"fork_at":null,"fork":null}\n'
                            )
                            n += 1
    return n


def _outcome(kind: str, h: int, t: int, rng: np.random.Generator) -> dict[str, Any]:
    common = {"n_actions": 0, "truncated": False, "infra_error": None, "answer": None}
    if kind == "scalar":
        y = float(10 + rng.normal(0.3 * h, 1))
        return {
            "kind": kind,
            "prediction": y,
            "target": 10.0,
            "success": abs(y - 10) < 0.5,
            **common,
        }
    if kind == "categorical":
        answer = int(rng.integers(4)) if rng.random() < 0.1 * h else t % 4
        return {
            "kind": kind,
            "prediction": np.eye(4)[answer].tolist(),
            "target": t % 4,
            "choices": ["a", "b", "c", "d"],
            "success": answer == t % 4,
            **common,
        }
    passes = (rng.random(5) > 0.05 * h).tolist()
    return {
        "kind": "tests",
        "prediction": passes,
        "tests": list("vwxyz"),
        "success": all(passes),
        **common,
    }


def timed(name: str, call: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    print(f"{name:<20} {time.perf_counter() - wall:7.2f} {time.process_time() - cpu:7.2f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        n = write_store(Path(tmp), args.tasks, args.samples, args.steps)
        size = (Path(tmp) / "episodes.jsonl").stat().st_size / 2**20
        print(f"{n} episodes x {args.steps} steps, {size:.0f} MiB, n_boot={args.n_boot}\n")
        print(f"{'step':<20} {'wall s':>7} {'cpu s':>7}")
        total = time.perf_counter()
        light = timed("load_light", lambda: load_light(tmp))
        boot = {"n_boot": args.n_boot}
        timed("cell_stats", lambda: stats.cell_stats(light, **boot))
        timed("trend_fits", lambda: stats.trend_fits(light, **boot))
        timed("success_horizons", lambda: stats.success_horizons(light, **boot))
        timed("by_actions", lambda: stats.by_actions(light))
        timed("divergence+summary", lambda: stats.divergence_summary(stats.divergence(light)))
        print(f"{'total':<20} {time.perf_counter() - total:7.2f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
