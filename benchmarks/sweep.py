"""Sweep throughput per executor, and the run store's cost per episode.

    python benchmarks/sweep.py [--kv-episodes 2000] [--docker-episodes 16] [--repeats 5] [--no-ray]

Runs `oracle` sweeps side by side in one process: KVSum (pure Python, CPU-bound) and
FileChain on the docker sandbox (a container per episode), each on the serial executor,
a pool of 2 workers, and Ray with 2 CPUs. Ray is started before the clock (its start-up
is printed on its own line); everything else, worker start-up included (about 0.5 s for
the pool: each worker imports hotmess), is timed. A sweep is thousands of episodes, so
the KVSum suite runs 2,000 at horizon 64 (about 5 s serially), five times over,
interleaved; the ratio column is the median of the five paired ratios.
Store overhead is the time of `RunStore.append` per KVSum record (one JSON line, one
write), against the episode's own time.

Targets (issue): 2 workers at least 1.7x serial on KVSum; store overhead under 1 ms per
episode.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from hotmess.runner import SweepConfig, run_sweep
from hotmess.store import RunStore, iter_records

POOL_TARGET, STORE_TARGET_MS = 1.7, 1.0


def timed_sweep(base: dict, **execution: object) -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix="hotmess-bench-")) / "run"
    try:
        start = time.perf_counter()
        result = run_sweep(SweepConfig(**base, out=out, **execution))
        return time.perf_counter() - start, result.ran
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def store_overhead_ms(base: dict, n: int = 2000) -> tuple[float, float]:
    """(ms per append, ms per episode) for KVSum oracle records."""
    out = Path(tempfile.mkdtemp(prefix="hotmess-bench-")) / "run"
    try:
        start = time.perf_counter()
        result = run_sweep(SweepConfig(**base, out=out))
        episode_ms = (time.perf_counter() - start) / result.ran * 1000
        records = list(iter_records(out))[:n]
        again = out.parent / "again"
        with RunStore.open_for_sweep(again, {"bench": 1}, {}, resume=False) as store:
            start = time.perf_counter()
            for record in records:
                store.append(record)
            append_ms = (time.perf_counter() - start) / len(records) * 1000
        return append_ms, episode_ms
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv-episodes", type=int, default=2000)
    parser.add_argument("--docker-episodes", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()

    kv = dict(
        envs=["hotmess/KVSum-v0"],
        agents=["oracle"],
        horizons=[64],
        tasks=50,
        samples=max(1, args.kv_episodes // 50),
    )
    docker = dict(
        envs=["hotmess/FileChain-v0"],
        agents=["oracle"],
        horizons=[4],
        tasks=2,
        samples=max(1, args.docker_episodes // 2),
        sandbox="docker",
    )
    executors: list[tuple[str, dict]] = [
        ("serial", {}),
        ("pool, 2 workers", {"executor": "pool", "workers": 2}),
    ]
    if not args.no_ray:
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        print(f"ray.init(num_cpus=2): {time.perf_counter() - start:.1f} s (not in the timings)")
        executors.append(("ray, 2 CPUs", {"executor": "ray", "workers": 2}))

    suites = [("KVSum H=64", kv)] + ([] if args.no_docker else [("FileChain H=4 docker", docker)])
    rows = []
    for suite, base in suites:
        # Interleaved repeats, median per executor: this machine's speed drifts by 20-30%
        # from one run to the next, so a single side-by-side pass can mislead.
        times: dict[str, list[float]] = {name: [] for name, _ in executors}
        ran = 0
        for _ in range(args.repeats):
            for name, execution in executors:
                seconds, ran = timed_sweep(base, **execution)
                times[name].append(seconds)
        for name, _ in executors:
            seconds = statistics.median(times[name])
            # Each repeat's ratio pairs runs made moments apart; their median is robust to
            # the drift a ratio of medians would take in.
            paired = statistics.median(
                serial / other for serial, other in zip(times["serial"], times[name], strict=True)
            )
            rows.append((suite, name, ran, seconds, ran / seconds, paired))

    print(
        f"\n{'suite':<22} {'executor':<16} {'episodes':>8} {'median s':>8} {'ep/s':>8} {'x serial':>8}"
    )
    for suite, name, ran, seconds, rate, ratio in rows:
        print(f"{suite:<22} {name:<16} {ran:>8} {seconds:>8.2f} {rate:>8.1f} {ratio:>8.2f}")

    append_ms, episode_ms = store_overhead_ms({**kv, "samples": 20})
    print(
        f"\nstore: {append_ms:.3f} ms per append (one KVSum H=64 record), "
        f"{episode_ms:.2f} ms per serial episode ({100 * append_ms / episode_ms:.1f}% of it)"
    )
    pool = next(r[5] for r in rows if r[0].startswith("KVSum") and r[1].startswith("pool"))
    print(
        f"\ntarget: pool of 2 >= {POOL_TARGET}x serial on KVSum: {pool:.2f}x "
        f"{'PASS' if pool >= POOL_TARGET else 'FAIL'}; store < {STORE_TARGET_MS} ms/episode: "
        f"{append_ms:.3f} ms {'PASS' if append_ms < STORE_TARGET_MS else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
