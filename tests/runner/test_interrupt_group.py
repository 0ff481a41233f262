"""Ctrl-C in a terminal signals the sweep's whole process group, its workers included: the
episodes that finished are stored, nothing is left behind, and `--resume` completes the
sweep exactly (no episode lost or repeated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from leaks import group_pids, leftovers

from hotmess.scoring import load_episodes

HERE = Path(__file__).parent
TASKS = 12


def sweep_argv(out: Path, backend: str, executor: str) -> list[str]:
    return [
        sys.executable, "-m", "hotmess", "sweep", "-e", "hotmess/FileChain-v0",
        "-a", "killer:Slow,sleep=0.3", "--horizons", "2", "--tasks", str(TASKS),
        "--samples", "1", "--sandbox", backend, "--executor", executor, "--workers", "2",
        "-o", str(out), "--progress", "plain",
    ]  # fmt: skip


def start_sweep(argv: list[str], out: Path) -> subprocess.Popen[str]:
    """Start the sweep in a process group of its own, as a terminal's foreground job is,
    and return once it has stored its first episode (or died: the caller checks)."""
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    sweep = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, env=env, start_new_session=True,
    )  # fmt: skip
    store = out / "episodes.jsonl"
    waited = 0.0
    while not (store.exists() and store.read_text()) and sweep.poll() is None and waited < 600:
        time.sleep(0.1)
        waited += 0.1
    assert sweep.poll() is None, sweep.communicate()[1]
    return sweep


@pytest.mark.parametrize(
    ("executor", "backend"),
    [
        pytest.param("pool", "bwrap", marks=pytest.mark.bwrap),
        pytest.param("pool", "docker", marks=pytest.mark.docker),
        pytest.param("serial", "bwrap", marks=[pytest.mark.bwrap, pytest.mark.slow]),
    ],
)
def test_ctrl_c_to_the_process_group_stores_what_finished_and_resume_completes(
    executor: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue("bwrap_ready" if backend == "bwrap" else "docker_ready")
    out = tmp_path / "run"
    sweep = start_sweep(sweep_argv(out, backend, executor), out)
    pids = group_pids(sweep.pid)
    assert len(pids) >= 2  # the sweep and its workers
    os.killpg(sweep.pid, signal.SIGINT)
    _, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 130, stderr
    assert "stopping once the episodes in flight finish" in stderr
    assert "Traceback" not in stderr, stderr
    stored = load_episodes(out)
    assert 1 <= len(stored) < TASKS
    assert all(r["outcome"]["success"] for r in stored)
    assert leftovers(pids, backend) == []

    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [*sweep_argv(out, backend, executor), "--resume"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = load_episodes(out)
    assert sorted(r["task_index"] for r in records) == list(range(TASKS))
    assert all(r["outcome"]["success"] for r in records)
    assert len((out / "episodes.jsonl").read_text().splitlines()) == TASKS  # nothing stored twice


@pytest.mark.bwrap
@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_a_second_ctrl_c_abandons_the_episodes_in_flight_and_leaves_nothing(
    executor: str, tmp_path: Path, bwrap_ready: None
) -> None:
    out = tmp_path / "run"
    argv = sweep_argv(out, "bwrap", executor)
    argv[argv.index("killer:Slow,sleep=0.3")] = "killer:Slow,sleep=1.5"
    sweep = start_sweep(argv, out)
    pids = group_pids(sweep.pid)
    os.killpg(sweep.pid, signal.SIGINT)
    time.sleep(0.5)
    os.killpg(sweep.pid, signal.SIGINT)
    _, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 130, stderr
    assert all(r["outcome"]["success"] for r in load_episodes(out))  # no half episode stored
    assert leftovers(pids, "bwrap") == []
