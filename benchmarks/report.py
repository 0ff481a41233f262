"""The report end to end on a large run store: time and peak memory of `write_report`.

    python benchmarks/report.py [--tasks 100] [--samples 20] [--store DIR] [--keep]

Writes a synthetic run store of 5 envs x 2 agents x 5 horizons x 100 tasks x 20 samples =
100,000 episodes as the run store writes them (one compact JSON line each, every step
with its action and observation; scalar, categorical and tests outcomes), from a
simulated noisy oracle: each action errs with the agent's probability, an erring action
looks up the wrong thing, and the answer follows from the actions. Then, in a fresh
subprocess, `write_report` with 1,000 bootstrap resamples: `load_light`, the statistics
(cell CIs, trends, h50, the median split, divergence), the figures, the transcripts (a
second pass over the store) and the HTML. Wall time is the subprocess's, interpreter
start-up included; peak memory is its maximum resident set (getrusage ru_maxrss).

Targets (issue 7): under 30 s and under 2 GiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS, TARGET_BYTES = 30.0, 2 * 1024**3
HORIZONS = [1, 2, 4, 8, 16]
AGENTS = {"noisy:p=0.1": 0.1, "noisy:p=0.3": 0.3}
ENVS = {
    "hotmess/KVSum-v0": "scalar",
    "hotmess/Ledger-v0": "scalar",
    "hotmess/PointerChase-v0": "categorical",
    "hotmess/FileChain-v0": "categorical",
    "hotmess/CodeFix-v0": "tests",
}
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
WORDS = [
    "alpha",
    "bravo",
    "delta",
    "gamma",
    "kilo",
    "lima",
    "mango",
    "nectar",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
]

CHILD = """
import json, sys, time
start = time.perf_counter()
from hotmess.report import write_report
result = write_report([sys.argv[1]], sys.argv[2], n_boot=1000)
print(json.dumps({"timings": result.timings, "inside": time.perf_counter() - start,
                  "episodes": result.n_episodes, "pngs": len(result.pngs),
                  "transcripts": result.n_transcripts}))
"""


def step(action: dict, observation: str, rng: random.Random) -> dict:
    return {
        "action": json.dumps(action),
        "observation": observation,
        "tool": action["tool"],
        "tool_error": False,
        "agent_error": None,
        "agent_message": None,
        "tokens_in": rng.randint(300, 900),
        "tokens_out": rng.randint(10, 60),
        "cost": 0.0,
        "latency_s": rng.uniform(0.0001, 0.002),
        "env_s": rng.uniform(0.0001, 0.01),
        "replayed": False,
    }


def episode(env: str, kind: str, agent: str, p: float, horizon: int, task: int, sample: int) -> str:
    """One store line: the noisy oracle on one task, in the run store's field order."""
    task_rng = random.Random(f"{env}/{horizon}/{task}")  # the task: the same for every sample
    rng = random.Random(f"{env}/{agent}/{horizon}/{task}/{sample}")
    keys = [f"{task_rng.choice(WORDS)}{task_rng.randint(0, 999)}" for _ in range(horizon)]
    values = [task_rng.randint(1, 9) for _ in range(horizon)]
    steps, errors = [], []
    for i, key in enumerate(keys):
        wrong = rng.random() < p
        errors.append(wrong)
        looked = f"{key}x{rng.randint(0, 3)}" if wrong else key
        value = values[i] + (rng.randint(1, 5) if wrong else 0)
        observation = (
            f"{looked} = {value}\n"
            + "Log: "
            + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
        )
        steps.append(step({"tool": "lookup", "arguments": {"key": looked}}, observation, rng))
    truncated = rng.random() < p / 5
    outcome: dict = {"kind": kind, "truncated": truncated, "infra_error": None}
    if kind == "scalar":
        target = float(sum(values))
        answer = float(sum(values) + sum(rng.randint(1, 5) for e in errors if e))
        outcome.update(prediction=None if truncated else answer, target=target, choices=None)
        outcome.update(tests=None, answer=None if truncated else answer)
        outcome["success"] = not truncated and answer == target
    elif kind == "categorical":
        n = 4 if env.endswith("PointerChase-v0") else 6
        gold = task_rng.randrange(n)
        pick = gold if not any(errors) else rng.randrange(n)
        onehot = [1.0 if c == pick else 0.0 for c in range(n)]
        outcome.update(prediction=None if truncated else onehot, target=gold)
        outcome.update(choices=COLOURS[:n], tests=None, answer=COLOURS[pick])
        outcome["success"] = not truncated and pick == gold
    else:
        passes = [not e for e in errors]
        outcome.update(prediction=None if truncated else passes, target=None, choices=None)
        outcome.update(tests=[f"test_{k}" for k in keys], answer="done")
        outcome["success"] = not truncated and all(passes)
    if not truncated:
        answer_value = outcome["answer"]
        steps.append(
            step({"tool": "submit", "arguments": {"answer": answer_value}}, "Submitted.", rng)
        )
    outcome["n_actions"] = len(steps)
    outcome = {
        name: outcome.get(name)
        for name in ("kind", "prediction", "target", "choices", "tests", "answer", "success",
                     "n_actions", "truncated", "infra_error")
    }  # fmt: skip
    record = {
        "key": hashlib.sha256(f"{env}/{agent}/{horizon}/{task}/{sample}".encode()).hexdigest()[:24],
        "env": env,
        "env_options": {},
        "horizon": horizon,
        "task_seed": 1000 + task,
        "task_index": task,
        "sample": sample,
        "agent": agent,
        "agent_seed": rng.randrange(2**31),
        "outcome": outcome,
        "steps": steps,
        "prompt": f"Compute the sum of the values of these {horizon} keys: {' '.join(keys)}",
        "system_prompt": None,
        "sandbox": "none",
        "started_at": 1.7e9 + task,
        "duration_s": rng.uniform(0.01, 0.5),
        "round": 0,
        "fork_of": None,
        "fork_at": None,
        "fork": None,
    }
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def write_store(path: Path, tasks: int, samples: int) -> int:
    path.mkdir(parents=True, exist_ok=True)
    (path / "sweep.json").write_text(json.dumps({"config": {"tasks": tasks, "samples": samples}}))
    n = 0
    with (path / "episodes.jsonl").open("w", encoding="utf-8") as handle:
        # Sample-major, as a sweep writes: every cell's sample 0 first.
        for sample in range(samples):
            for env, kind in ENVS.items():
                for agent, p in AGENTS.items():
                    for horizon in HORIZONS:
                        lines = [
                            episode(env, kind, agent, p, horizon, task, sample)
                            for task in range(tasks)
                        ]
                        handle.write("\n".join(lines) + "\n")
                        n += len(lines)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--store", type=Path, help="Reuse (or keep) the synthetic store here.")
    parser.add_argument("--keep", action="store_true", help="Keep the store and the report.")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="hotmess-bench-report-"))
    store = args.store or root / "store"
    try:
        if (store / "episodes.jsonl").exists():
            n = sum(1 for _ in (store / "episodes.jsonl").open("rb"))
            print(f"reusing {store}: {n:,} episodes")
        else:
            start = time.perf_counter()
            n = write_store(store, args.tasks, args.samples)
            print(f"wrote {n:,} episodes to {store} in {time.perf_counter() - start:.1f} s")
        size = (store / "episodes.jsonl").stat().st_size
        print(f"episodes.jsonl: {size / 1024**2:,.0f} MiB")

        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(store), str(root / "report")],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if child.returncode != 0:
            sys.exit(f"write_report failed:\n{child.stderr}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
        result = json.loads(child.stdout.strip().splitlines()[-1])

        print(
            f"\n{result['episodes']:,} episodes, {result['pngs']} PNGs, "
            f"{result['transcripts']} transcripts\n"
        )
        print(f"{'phase':<34}{'seconds':>10}")
        for phase, seconds in result["timings"].items():
            print(f"{phase:<34}{seconds:>10.2f}")
        print(f"{'imports and start-up':<34}{wall - sum(result['timings'].values()):>10.2f}")
        print()
        print(f"{'measure':<34}{'value':>10}{'target':>10}{'ratio':>8}  verdict")
        rows = [
            ("end to end (s)", wall, TARGET_SECONDS),
            ("peak memory (MiB)", peak / 1024**2, TARGET_BYTES / 1024**2),
        ]
        failed = False
        for name, value, target in rows:
            ok = value < target
            failed |= not ok
            print(
                f"{name:<34}{value:>10.1f}{target:>10.0f}{value / target:>8.2f}  "
                f"{'PASS' if ok else 'FAIL'}"
            )
        if args.keep:
            print(f"\nkept: {store}, {root / 'report' / 'report.html'}")
        sys.exit(1 if failed else 0)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
