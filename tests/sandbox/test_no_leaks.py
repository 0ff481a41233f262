"""Nothing leaks: after a normal exit, an exception, SIGINT, SIGTERM, or SIGKILL followed by
`hotmess janitor`, no container, sandbox process, cgroup or host directory is left; the same
for a sweep whose warm-sandbox pool holds sandboxes started ahead of their episodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from hotmess.sandbox.lifecycle import TMP_PREFIX

OWNER = textwrap.dedent(
    """
    import sys, time
    from hotmess.sandbox import create
    mode = sys.argv[2]
    with create(sys.argv[1]) as box:
        box.exec("sleep 600 >/dev/null 2>&1 &")  # a background process that must die too
        print("READY", flush=True)
        if mode == "exception":
            raise RuntimeError("the agent crashed")
        if mode != "normal":
            time.sleep(600)
    """
)


# A sweep (serial executor, 2 warm sandboxes) whose agent, at its first action, waits until
# the pool's sandboxes exist (3 directories: the episode's and 2 warm), says READY, then
# ends normally, crashes (the agent's exception is counted; the one from the sweep's
# callback escapes it), or waits for a signal.
POOLED_OWNER = textwrap.dedent(
    """
    import glob, os, sys, tempfile, time
    from hotmess.runner import SweepConfig, run_sweep
    kind, mode, out = sys.argv[1:4]
    mine = f"{tempfile.gettempdir()}/hotmess-sbx-{os.getpid()}-*"

    class Agent:
        ready = False

        def reset(self, task, seed):
            self.oracle = task.oracle

        def act(self, observation):
            if not Agent.ready:
                Agent.ready = True
                deadline = time.monotonic() + 120
                while len(glob.glob(mine)) < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                print("READY", len(glob.glob(mine)), flush=True)
                if mode == "exception":
                    raise RuntimeError("the agent crashed")
                while mode == "wait":
                    time.sleep(0.1)
            return self.oracle.act(observation)

    def stored(done):
        if mode == "exception":
            raise RuntimeError("the sweep's caller crashed")

    config = SweepConfig(
        envs=["hotmess/FileChain-v0"], agents=["__main__:Agent"], horizons=[2], tasks=2,
        samples=2, sandbox=kind, warm_sandboxes=2, out=out, executor="serial",
    )
    result = run_sweep(config, on_episode=stored)
    assert result.ran == 4, result
    """
)


def leftovers(pid: int, kind: str) -> list[str]:
    """Everything on this machine that a sandbox made by process `pid` could have left;
    for docker, an engine that cannot be asked fails the test rather than pass it."""
    found = []
    marker = f"{TMP_PREFIX}{pid}-"
    found += [str(p) for p in Path(tempfile.gettempdir()).glob(f"{marker}*")]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(f"process {proc.name}")
            except OSError:
                pass
    found += [
        f"mount {line.split()[1]}"
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if marker in line
    ]
    cgroups = Path("/sys/fs/cgroup")
    if cgroups.is_dir():
        found += [str(g) for g in cgroups.glob(f"*/hotmess/{marker}*")] + [
            str(g) for g in cgroups.glob(f"hotmess/{marker}*")
        ]
    if kind == "docker":
        import docker

        client = docker.from_env()
        found += [
            c.name
            for c in client.containers.list(
                all=True, filters={"label": f"org.hotmess.sandbox.owner-pid={pid}"}
            )
        ]
    return found


def start_owner(kind: str, mode: str, *extra: str) -> subprocess.Popen[str]:
    script = POOLED_OWNER if extra else OWNER
    child = subprocess.Popen(
        [sys.executable, "-c", script, kind, mode, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.split()[:1] == ["READY"], child.stderr.read() if child.stderr else ""
    if extra:  # the episode's sandbox and the pool's two were all there
        assert int(line.split()[1]) >= 3, line
    return child


def wait_clean(pid: int, kind: str, seconds: float = 15) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := leftovers(pid, kind)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.parametrize("mode", ["normal", "exception"])
def test_nothing_left_after_normal_exit_or_exception(sandbox_kind, mode):
    child = start_owner(sandbox_kind, mode)
    child.wait(timeout=60)
    assert (child.returncode == 0) == (mode == "normal")
    assert wait_clean(child.pid, sandbox_kind) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_nothing_left_after_sigint_or_sigterm(sandbox_kind, signum):
    child = start_owner(sandbox_kind, "wait")
    assert leftovers(child.pid, sandbox_kind)  # the sandbox is really there
    child.send_signal(signum)
    child.wait(timeout=60)
    assert wait_clean(child.pid, sandbox_kind) == []


def test_janitor_cleans_up_after_sigkill(sandbox_kind):
    child = start_owner(sandbox_kind, "wait")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    time.sleep(0.5)
    result = subprocess.run(
        [sys.executable, "-m", "hotmess", "janitor"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stdout
    assert wait_clean(child.pid, sandbox_kind) == []


def test_janitor_leaves_live_owners_alone(sandbox_kind):
    child = start_owner(sandbox_kind, "wait")
    try:
        from hotmess.sandbox.janitor import janitor

        janitor()
        assert leftovers(child.pid, sandbox_kind)
    finally:
        child.kill()
        child.wait()
        from hotmess.sandbox.janitor import janitor

        janitor()
    assert wait_clean(child.pid, sandbox_kind) == []


# The warm-sandbox pool: its sandboxes, started ahead of their episodes, go too.


@pytest.mark.parametrize("mode", ["normal", "exception"])
def test_pool_leaves_nothing_after_normal_end_or_exception(sandbox_kind, mode, tmp_path):
    child = start_owner(sandbox_kind, mode, str(tmp_path / "run"))
    _, stderr = child.communicate(timeout=180)
    assert (child.returncode == 0) == (mode == "normal"), stderr
    if mode == "exception":
        assert "the sweep's caller crashed" in stderr
    assert wait_clean(child.pid, sandbox_kind) == []


@pytest.mark.parametrize("signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM]])
def test_pool_leaves_nothing_after_ctrl_c_or_sigterm(sandbox_kind, signals, tmp_path):
    child = start_owner(sandbox_kind, "wait", str(tmp_path / "run"))
    assert len(leftovers(child.pid, sandbox_kind)) >= 3  # the warm ones are really there
    for signum in signals:  # Ctrl-C twice: stop after the episode, then abandon it
        child.send_signal(signum)
        time.sleep(0.5)
    child.communicate(timeout=120)
    assert child.returncode != 0
    assert wait_clean(child.pid, sandbox_kind) == []


def test_janitor_finds_every_pooled_sandbox_after_sigkill(sandbox_kind, tmp_path):
    child = start_owner(sandbox_kind, "wait", str(tmp_path / "run"))
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    left = leftovers(child.pid, sandbox_kind)
    assert len(left) >= 3  # the episode's sandbox and the warm ones outlived their owner
    result = subprocess.run(
        [sys.executable, "-m", "hotmess", "janitor"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert wait_clean(child.pid, sandbox_kind) == []
