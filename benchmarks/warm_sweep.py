"""A sandboxed sweep with and without warm sandboxes, through the real sweep code.

    python benchmarks/warm_sweep.py [--episodes 64] [--repeats 3] [--sandboxes docker,bwrap]
                                    [--warm 0,1,2,4] [--executors serial,pool2]

Runs `oracle` on FileChain at horizon 4 (8 tasks x 8 samples = 64 episodes) with
`run_sweep` in this process, for every executor (serial; pool2: a pool of 2 workers) and
every `warm_sandboxes` setting, rotating the order of the settings each repeat so that no
setting always runs first or last. Each sweep's wall time includes everything a user waits
for: the janitor, worker start-up, every sandbox's start and teardown. The table gives the
median over the repeats and the ratio of the cold sweep of the same executor (warm 0) to it,
and, from /proc/stat, the CPU the whole machine was busy with per episode (hotmess, the
engine's daemons, the containers' processes, the kernel) and the cores busy on average: a
sweep whose busy cores reach the machine's count can go no faster by overlapping more, so
a warm sweep doing the same work can be at most (cores / the cold sweep's busy cores)
times faster than the cold one.

Target (issue 16): a 64-episode FileChain H=4 Docker sweep with warm sandboxes at least 2x
faster than without, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from hotmess.runner import SweepConfig, run_sweep
from hotmess.store import iter_records

TARGET = 2.0
EXECUTORS = {
    "serial": {"executor": "serial", "workers": 1},
    "pool2": {"executor": "pool", "workers": 2},
}


def busy_cpu_s() -> float:
    """Seconds of CPU the machine has been busy with since boot (all cores; not idle or
    waiting for I/O), or NaN where /proc/stat is not there."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return float("nan")
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def timed_sweep(sandbox: str, episodes: int, executor: str, warm: int) -> tuple[float, float, list]:
    """(wall seconds, machine-wide busy CPU seconds, the outcomes by cell key) of one sweep."""
    tasks = max(1, episodes // 8)
    out = Path(tempfile.mkdtemp(prefix="hotmess-warm-bench-")) / "run"
    config = SweepConfig(
        envs=["hotmess/FileChain-v0"],
        agents=["oracle"],
        horizons=[4],
        tasks=tasks,
        samples=episodes // tasks,
        sandbox=sandbox,
        warm_sandboxes=warm,
        out=out,
        **EXECUTORS[executor],
    )
    try:
        start, busy = time.perf_counter(), busy_cpu_s()
        result = run_sweep(config)
        wall, busy = time.perf_counter() - start, busy_cpu_s() - busy
        if result.ran != episodes or result.infra_errors:
            raise SystemExit(f"{sandbox}/{executor}/warm {warm}: {result}")
        outcomes = sorted((r.key, r.outcome.answer, r.outcome.success) for r in iter_records(out))
        return wall, busy, outcomes
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sandboxes", default="docker,bwrap")
    parser.add_argument("--warm", default="0,1,2,4")
    parser.add_argument("--executors", default="serial,pool2")
    args = parser.parse_args()
    warm_settings = [int(w) for w in args.warm.split(",")]
    if 0 not in warm_settings:
        warm_settings.insert(0, 0)
    settings = [
        (sandbox, executor, warm)
        for sandbox in args.sandboxes.split(",")
        for executor in args.executors.split(",")
        for warm in warm_settings
    ]
    walls: dict[tuple[str, str, int], list[float]] = {s: [] for s in settings}
    busy: dict[tuple[str, str, int], list[float]] = {s: [] for s in settings}
    outcomes: dict[tuple[str, str, int], list] = {}
    for repeat in range(args.repeats):
        shift = repeat % len(settings)
        for setting in settings[shift:] + settings[:shift]:  # rotate: each goes first once
            wall, cpu, seen = timed_sweep(setting[0], args.episodes, setting[1], setting[2])
            walls[setting].append(wall)
            busy[setting].append(cpu)
            outcomes.setdefault(setting, seen)
            if seen != outcomes[setting]:
                raise SystemExit(f"{setting}: outcomes changed between repeats")
            print(f"  repeat {repeat + 1} {'/'.join(map(str, setting))}: {wall:.2f} s", flush=True)
    print(f"\n{args.episodes} FileChain episodes, horizon 4, oracle; median of {args.repeats}")
    print(
        f"{'sandbox':8} {'executor':9} {'warm':>4} {'wall s':>8} {'ms/episode':>11} "
        f"{'cold/warm':>10} {'CPU ms/episode':>15} {'cores busy':>11}"
    )
    for setting in settings:
        sandbox, executor, warm = setting
        median = statistics.median(walls[setting])
        cold = statistics.median(walls[(sandbox, executor, 0)])
        cpu = statistics.median(busy[setting])
        cores = statistics.median(b / w for b, w in zip(busy[setting], walls[setting], strict=True))
        print(
            f"{sandbox:8} {executor:9} {warm:>4} {median:>8.2f} {median / args.episodes * 1000:>11.0f} "
            f"{cold / median:>9.2f}x {cpu / args.episodes * 1000:>15.0f} {cores:>11.2f}"
        )
    print(f"(this machine has {os.cpu_count()} cores)")
    same = {tuple(map(tuple, seen)) for seen in outcomes.values()}
    print(f"\noutcomes identical across every setting: {len(same) == 1}")
    cores = os.cpu_count() or 1
    for sandbox, executor in sorted({(s, e) for s, e, _ in settings}):
        cold = (sandbox, executor, 0)
        cold_busy = statistics.median(b / w for b, w in zip(busy[cold], walls[cold], strict=True))
        best = min(statistics.median(walls[s]) for s in settings if s[:2] == (sandbox, executor))
        print(
            f"{sandbox}/{executor}: best warm {statistics.median(walls[cold]) / best:.2f}x its cold "
            f"sweep; the most overlapping can give is {cores / cold_busy:.2f}x "
            f"({cores} cores / {cold_busy:.2f} busy in the cold sweep)"
        )
    for sandbox in args.sandboxes.split(","):
        coldest = min(statistics.median(walls[(sandbox, e, 0)]) for e in args.executors.split(","))
        best = min((statistics.median(w), s) for s, w in walls.items() if s[0] == sandbox)
        verdict = "met" if coldest / best[0] >= TARGET else "NOT met"
        print(
            f"{sandbox}: fastest {'/'.join(map(str, best[1][1:]))} is {coldest / best[0]:.2f}x the "
            f"fastest cold sweep (target {TARGET:g}x: {verdict})"
        )


if __name__ == "__main__":
    main()
