"""Kill -9 at random moments: every resume runs exactly what is missing, the final store
holds each cell once with the scores of an uninterrupted run, and no container or sandbox
process of a killed sweep outlives the start of the next one."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotmess.sandbox.docker import LABEL
from hotmess.scoring import score_run

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def sweep_args(out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hotmess.cli",
        "sweep",
        "-e",
        "hotmess/KVSum-v0",
        "-e",
        "hotmess/FileChain-v0",
        "-a",
        "noisy:p=0.15",
        "--horizons",
        "1,4",
        "--tasks",
        "2",
        "--samples",
        "3",
        "--workers",
        "2",
        "--sandbox",
        "docker",
        "--quiet",
        "--resume",
        "--out",
        str(out),
    ]


def process_tree(pid: int) -> set[int]:
    """`pid` and every process below it."""
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in tree:
                    tree.add(child)
                    frontier.append(child)
    return tree


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def containers_of(pids: set[int]) -> list[str]:
    listing = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label={LABEL}",
            "--format",
            f'{{{{.ID}}}} {{{{.Label "{LABEL}.owner-pid"}}}}',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return [line for line in listing if line.strip() and int(line.split()[1]) in pids]


def records(out: Path) -> list[dict]:
    path = out / "episodes.jsonl"
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return [json.loads(line) for line in lines if line.strip() and line.endswith(b"}")]


def test_five_kill_9s_then_resume_equal_an_uninterrupted_run(tmp_path, docker_ready):
    reference = tmp_path / "reference"
    done = subprocess.run(sweep_args(reference), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    expected = {r["key"]: r["outcome"] for r in records(reference)}
    assert len(expected) == 2 * 2 * 2 * 3

    out = tmp_path / "killed"
    rng = random.Random(20261123)
    killed_trees: list[set[int]] = []
    for attempt in range(5):
        # Not pipes: the killed sweep's children would hold them open.
        log = (tmp_path / f"attempt-{attempt}.log").open("w")
        process = subprocess.Popen(sweep_args(out), stdout=log, stderr=log)
        if killed_trees:
            # Once the next sweep has started, nothing of the killed one may remain.
            previous = killed_trees[-1]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                containers_of(previous) or any(alive(pid) for pid in previous)
            ):
                time.sleep(0.2)
            assert containers_of(previous) == [], f"containers outlived kill {attempt}"
            assert not [pid for pid in previous if alive(pid)], "a killed sweep's process lives"
        before = len(records(out))
        # Kill at a random moment once this attempt has work in flight.
        time.sleep(rng.uniform(1.0, 4.0))
        tree = process_tree(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        log.close()
        killed_trees.append(tree)
        assert len(records(out)) >= before  # nothing finished is lost

    final = subprocess.run(sweep_args(out), capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr
    stored = records(out)
    keys = [r["key"] for r in stored]
    assert len(keys) == len(set(keys)), "a cell was stored twice"
    assert set(keys) == set(expected)
    assert {r["key"]: r["outcome"] for r in stored} == expected
    assert [row.to_dict() for row in score_run(out)] == [
        row.to_dict() for row in score_run(reference)
    ]
    leftovers = containers_of(set().union(*killed_trees))
    assert leftovers == []
