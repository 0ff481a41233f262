"""Nothing leaks: after a normal exit, an exception, SIGINT, SIGTERM, or SIGKILL followed by
`hotmess janitor`, no container, sandbox process, cgroup or host directory is left; the same
for a sweep whose warm-sandbox pool holds sandboxes started ahead of their episodes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from clirun import hotmess
from leaks import leftovers

from hotmess.sandbox import lifecycle

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


# A sweep with 2 warm sandboxes per episode slot, whose agent (a module, so pool workers
# import it too), at its first action, waits until its process's sandboxes exist (3
# directories: the episode's and 2 warm), says READY, then ends normally, crashes (the
# agent's exception is counted; the one from the sweep's callback escapes it), or waits for
# a signal.
POOLED_AGENT = textwrap.dedent(
    """
    import glob, os, tempfile, time

    class Agent:
        ready = False

        def reset(self, task, seed):
            self.oracle = task.oracle

        def act(self, observation):
            mode = os.environ["HM_LEAK_MODE"]
            if not Agent.ready:
                Agent.ready = True
                mine = f"{tempfile.gettempdir()}/hotmess-sbx-{os.getpid()}-*"
                deadline = time.monotonic() + 120
                while len(glob.glob(mine)) < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                print("READY", len(glob.glob(mine)), flush=True)
                if mode == "exception":
                    raise RuntimeError("the agent crashed")
                while mode == "wait":
                    time.sleep(0.1)
            return self.oracle.act(observation)
    """
)
POOLED_OWNER = textwrap.dedent(
    """
    import os, sys
    from hotmess.runner import SweepConfig, run_sweep
    kind, mode, out, executor = sys.argv[1:5]

    def stored(done):
        if mode == "exception":
            raise RuntimeError("the sweep's caller crashed")

    config = SweepConfig(
        envs=["hotmess/FileChain-v0"], agents=["leak_agent:Agent"], horizons=[2], tasks=2,
        samples=2, sandbox=kind, warm_sandboxes=2, out=out, executor=executor, workers=2,
    )
    result = run_sweep(config, on_episode=stored)
    assert result.ran == 4, result
    """
)


def start_owner(
    kind: str, mode: str, pooled: Path | None = None, executor: str = "serial"
) -> subprocess.Popen[str]:
    """A process that owns a sandbox (`OWNER`) or, with `pooled` (a directory for the run
    and the agent's module), a sweep with warm sandboxes (`POOLED_OWNER`)."""
    argv, env = [sys.executable, "-c", OWNER, kind, mode], None
    if pooled is not None:
        (pooled / "leak_agent.py").write_text(POOLED_AGENT)
        argv = [sys.executable, "-c", POOLED_OWNER, kind, mode, str(pooled / "run"), executor]
        path = os.pathsep.join(filter(None, [str(pooled), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "HM_LEAK_MODE": mode}
    child = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.split()[:1] == ["READY"], child.stderr.read() if child.stderr else ""
    if pooled is not None:  # the episode's sandbox and the pool's two were all there
        assert int(line.split()[1]) >= 3, line
    return child


def wait_clean(pid: int, kind: str, seconds: float = 15) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := leftovers([pid], kind)) and time.monotonic() < deadline:
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
    assert leftovers([child.pid], sandbox_kind)  # the sandbox is really there
    child.send_signal(signum)
    child.wait(timeout=60)
    assert wait_clean(child.pid, sandbox_kind) == []


def test_janitor_cleans_up_after_sigkill(sandbox_kind):
    child = start_owner(sandbox_kind, "wait")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    time.sleep(0.5)
    result = hotmess("janitor", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stdout
    assert wait_clean(child.pid, sandbox_kind) == []


@pytest.mark.docker
def test_a_killed_owners_container_ends_by_itself_before_the_janitor_runs(docker_ready):
    """The keeper is the container's process and its stdin is the owner's connection: when
    the owner dies, the keeper kills the agent's processes and the container stops, so
    nothing runs on while the container waits for the janitor to remove it."""
    import docker

    child = start_owner("docker", "wait")
    owned = {"label": f"org.hotmess.sandbox.owner-pid={child.pid}"}
    client = docker.from_env()
    (container,) = client.containers.list(filters=owned)
    assert "sleep 600" in container.exec_run(["ps", "-eo", "args"]).output.decode()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    deadline = time.monotonic() + 60
    while container.status != "exited" and time.monotonic() < deadline:
        time.sleep(0.2)
        container.reload()
    assert container.status == "exited"
    janitor = hotmess("janitor", timeout=120)
    assert janitor.returncode == 0, janitor.stderr
    assert wait_clean(child.pid, "docker") == []


def test_janitor_leaves_live_owners_alone(sandbox_kind):
    child = start_owner(sandbox_kind, "wait")
    try:
        from hotmess.sandbox.janitor import janitor

        janitor()
        assert leftovers([child.pid], sandbox_kind)
    finally:
        child.kill()
        child.wait()
        from hotmess.sandbox.janitor import janitor

        janitor()
    assert wait_clean(child.pid, sandbox_kind) == []


# The warm-sandbox pool: its sandboxes, started ahead of their episodes, go too.


@pytest.mark.parametrize("mode", ["normal", "exception"])
def test_pool_leaves_nothing_after_normal_end_or_exception(sandbox_kind, mode, tmp_path):
    child = start_owner(sandbox_kind, mode, tmp_path)
    _, stderr = child.communicate(timeout=180)
    assert (child.returncode == 0) == (mode == "normal"), stderr
    if mode == "exception":
        assert "the sweep's caller crashed" in stderr
    assert wait_clean(child.pid, sandbox_kind) == []


def held_by(owners: set[int], kind: str) -> list[str]:
    """What sandboxes made by any of `owners` (a sweep and its episode workers) hold."""
    return [thing for pid in owners for thing in leftovers([pid], kind)]


@pytest.mark.parametrize("signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM]])
def test_pool_leaves_nothing_after_ctrl_c_or_sigterm(sandbox_kind, signals, tmp_path):
    child = start_owner(sandbox_kind, "wait", tmp_path)
    # The serial executor's episodes run in a supervised worker: it owns the sandboxes.
    owners = {child.pid} | descendants(child.pid)
    assert len(held_by(owners, sandbox_kind)) >= 3  # the warm ones are really there
    for signum in signals:  # Ctrl-C twice: stop after the episode, then abandon it
        child.send_signal(signum)
        time.sleep(0.5)
    child.communicate(timeout=120)
    assert child.returncode != 0
    assert [thing for pid in owners for thing in wait_clean(pid, sandbox_kind, 60)] == []


def test_janitor_finds_every_pooled_sandbox_after_sigkill(sandbox_kind, tmp_path):
    child = start_owner(sandbox_kind, "wait", tmp_path)
    owners = {child.pid} | descendants(child.pid)
    # kill -9 of the sweep and its worker at once (the OOM killer, `kill -9 -PGID`): nobody
    # is left to close anything, so only the janitor can.
    for pid in owners:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    child.wait(timeout=30)  # not communicate(): its workers may hold its pipes a while longer
    deadline = time.monotonic() + 30
    while any(lifecycle.process_start_time(pid) for pid in owners) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(held_by(owners, sandbox_kind)) >= 3  # the episode's and the warm ones outlived them
    result = hotmess("janitor", timeout=120)
    assert result.returncode == 0, result.stderr
    assert [thing for pid in owners for thing in wait_clean(pid, sandbox_kind, 60)] == []


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (the fork server and the pool's workers)."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = int(
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_pool_workers_pooled_sandboxes_go_when_the_sweep_is_killed(sandbox_kind, tmp_path):
    child = start_owner(sandbox_kind, "wait", tmp_path, executor="pool")
    owners = descendants(child.pid)
    held = [thing for pid in owners for thing in leftovers([pid], sandbox_kind)]
    assert len(held) >= 3  # a worker's episode sandbox and its warm ones
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)  # not communicate(): its workers may hold its pipes a while longer
    # The workers notice their sweep died and close what they hold; the janitor takes the rest.
    deadline = time.monotonic() + 60
    while any(lifecycle.process_start_time(pid) for pid in owners) and time.monotonic() < deadline:
        time.sleep(0.2)
    result = hotmess("janitor", timeout=120)
    assert result.returncode == 0, result.stderr
    assert [thing for pid in owners for thing in wait_clean(pid, sandbox_kind, 60)] == []
