"""Per-command latency of hotmess's persistent shells against one process per command
(what most harnesses do), and sandbox start-up time, measured side by side in one run.

    python benchmarks/sandbox.py [--commands 200] [--starts 5]

Target (issue #3): the persistent docker shell at least 20x faster per command than one
`docker exec` per command, and under 5 ms median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable

from hotmess.sandbox import create
from hotmess.sandbox.bwrap import bwrap_available
from hotmess.sandbox.images import docker_available, image_exists, image_tag


def median_ms(run: Callable[[], object], n: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bwrap_argv() -> list[str]:
    return [
        "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "true",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=200, help="timed commands per method")
    parser.add_argument("--starts", type=int, default=5, help="timed sandbox start-ups per backend")
    args = parser.parse_args()
    n = args.commands
    rows: list[tuple[str, float]] = []
    starts: list[tuple[str, float]] = []

    rows.append(
        (
            "plain subprocess `true` (baseline, no isolation)",
            median_ms(lambda: subprocess.run(["true"], check=True), n),
        )
    )

    docker_problem = docker_available() or (
        None if image_exists(image_tag()) else f"image {image_tag()} not built"
    )
    if docker_problem is None:
        with create("docker") as box:
            rows.append(
                ("persistent docker shell (hotmess)", median_ms(lambda: box.exec("true"), n))
            )
            cid = box.container.id  # type: ignore[attr-defined]
            rows.append(
                (
                    "one `docker exec` per command",
                    median_ms(
                        lambda: subprocess.run(["docker", "exec", cid, "true"], check=True),
                        max(20, n // 10),
                    ),
                )
            )
        starts.append(
            (
                "docker sandbox start + close",
                median_ms(lambda: create("docker").close(), args.starts, warmup=1),
            )
        )
    else:
        print(f"docker rows skipped: {docker_problem}")

    bwrap_problem = bwrap_available()
    if bwrap_problem is None:
        with create("bwrap") as box:
            rows.append(
                ("persistent bwrap shell (hotmess)", median_ms(lambda: box.exec("true"), n))
            )
        rows.append(
            (
                "one `bwrap` per command",
                median_ms(lambda: subprocess.run(bwrap_argv(), check=True), max(20, n // 4)),
            )
        )
        starts.append(
            (
                "bwrap sandbox start + close",
                median_ms(lambda: create("bwrap").close(), args.starts, warmup=1),
            )
        )
    else:
        print(f"bwrap rows skipped: {bwrap_problem}")

    print(f"\nmedian latency of `true`, {n} commands per persistent method\n")
    print(f"{'method':<52} {'median ms':>10}")
    for name, ms in rows:
        print(f"{name:<52} {ms:>10.2f}")
    print(f"\n{'start-up':<52} {'median ms':>10}")
    for name, ms in starts:
        print(f"{name:<52} {ms:>10.1f}")
    table = dict(rows)
    print()
    for backend in ("docker", "bwrap"):
        persistent = table.get(f"persistent {backend} shell (hotmess)")
        per_command = table.get(
            f"one `{backend} exec` per command"
            if backend == "docker"
            else "one `bwrap` per command"
        )
        if persistent and per_command:
            print(
                f"{backend}: persistent shell is {per_command / persistent:.1f}x faster per command than one process per command"
            )
    docker_ms = table.get("persistent docker shell (hotmess)")
    exec_ms = table.get("one `docker exec` per command")
    if docker_ms and exec_ms:
        ok = exec_ms / docker_ms >= 20 and docker_ms < 5
        print(
            f"target (>= 20x and < 5 ms median for the persistent docker shell): {'PASS' if ok else 'FAIL'}"
        )


if __name__ == "__main__":
    main()
