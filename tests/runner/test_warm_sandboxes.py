"""Warm sandboxes (`hotmess.runner.warm`): every episode gets a sandbox nobody touched, of
its own spec, on its own clock; a sweep's outcomes are the same with the pool and without;
the pool closes what it holds. Leaks after signals are tested in tests/sandbox/test_no_leaks.py."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from clirun import hotmess

from hotmess.envs import make_env
from hotmess.errors import SandboxError
from hotmess.runner import SweepConfig, run_sweep
from hotmess.runner.warm import WarmSandboxes, spec_of
from hotmess.sandbox import create
from hotmess.store import iter_records

OPTIONS = {"command_timeout_s": 30.0, "output_limit_bytes": 4096}


def identity(box: object) -> str:
    """What makes a sandbox itself: its container (docker) or its host directory (bwrap)."""
    container = getattr(box, "container", None)
    return container.id if container is not None else str(box.tmp)  # type: ignore[attr-defined]


def warm_ones(pool: WarmSandboxes) -> list[object]:
    """The sandboxes the pool holds ready, once they have started."""
    return [future.result(timeout=120) for queue in pool.warm.values() for future in queue]


def test_each_episode_gets_a_sandbox_nobody_touched(sandbox_kind: str) -> None:
    env = make_env("hotmess/FileChain-v0", horizon=2, sandbox=sandbox_kind)
    pool = WarmSandboxes(2)
    env.sandbox_source = pool
    seen: set[str] = set()
    try:
        for episode in range(5):
            env.reset(seed=episode)
            box = env.sandbox
            assert box is not None
            # What the previous episode left, in the workdir and in /tmp, is not here.
            left = box.exec("ls -A /work/.left /tmp/.left 2>&1; ls /work | wc -l")
            assert "No such file" in left.stdout and ".left" not in left.stdout.split("\n")[-2]
            assert box.exec("touch /work/.left /tmp/.left").exit_code == 0
            assert identity(box) not in seen  # never handed out twice
            seen.add(identity(box))
        assert pool.hits == 4 and pool.misses == 1  # only the first was made on the spot
    finally:
        env.close()
        pool.close()
    assert len(seen) == 5


@pytest.mark.docker
def test_a_warm_sandbox_keeps_its_keepers_key_secret(docker_ready: str) -> None:
    with WarmSandboxes(1) as pool:
        pool.give_back(pool.take("docker", OPTIONS))
        box = pool.take("docker", OPTIONS)  # made in the background, then handed out
        try:
            key = box.shell._key.decode()  # type: ignore[attr-defined]
            # The key is put together in a file, so the search itself never shows it.
            half = len(key) // 2
            box.exec(f"printf %s%s {key[:half]} {key[half:]} > /tmp/pattern")
            found = box.exec(
                "grep -rlF -f /tmp/pattern /hm /proc/[0-9]*/cmdline /proc/[0-9]*/environ"
            )
            assert key and found.stdout == ""
            planted = box.exec("cp /tmp/pattern /hm/planted; grep -rlF -f /tmp/pattern /hm")
            assert planted.stdout == "/hm/planted\n"  # the search would find it
            assert pool.hits == 1
        finally:
            pool.give_back(box)


@pytest.mark.bwrap
def test_a_sandbox_of_another_spec_is_made_fresh(bwrap_ready: None) -> None:
    small, large = {**OPTIONS, "memory_mb": 256}, {**OPTIONS, "memory_mb": 512}
    assert spec_of("bwrap", small) != spec_of("bwrap", large)
    with WarmSandboxes(1) as pool:
        for options in (small, large, small, large):
            box = pool.take("bwrap", options)
            assert box.config.memory_mb == options["memory_mb"]  # type: ignore[attr-defined]
            pool.give_back(box)
        assert (pool.misses, pool.hits) == (2, 2)
        none = pool.take("none", {})
        assert none.kind == "none" and (pool.misses, pool.hits) == (2, 2)  # never pooled


@pytest.mark.bwrap
def test_the_episode_clock_starts_when_the_sandbox_is_handed_out(bwrap_ready: None) -> None:
    options = {**OPTIONS, "episode_timeout_s": 1.0}
    with WarmSandboxes(1) as pool:
        pool.give_back(pool.take("bwrap", options))
        warm_ones(pool)
        time.sleep(1.5)  # longer than the episode's limit, spent waiting in the pool
        box = pool.take("bwrap", options)
        result = box.exec("echo fresh")
        pool.give_back(box)
        assert pool.hits == 1 and (result.stdout, result.timed_out) == ("fresh\n", False)


@pytest.mark.bwrap
def test_a_warm_sandbox_whose_shell_died_is_not_handed_out(bwrap_ready: None) -> None:
    with WarmSandboxes(1) as pool:
        pool.give_back(pool.take("bwrap", OPTIONS))
        (dead,) = warm_ones(pool)
        shell = dead.shell.terminal.process  # type: ignore[attr-defined]
        os.kill(shell.pid, signal.SIGKILL)
        shell.wait()
        box = pool.take("bwrap", OPTIONS)
        assert box is not dead and box.exec("echo alive").stdout == "alive\n"
        assert pool.misses == 2
        pool.give_back(box)
    assert dead.closed and not dead.tmp.exists()  # type: ignore[attr-defined]


@pytest.mark.docker
def test_a_warm_container_whose_shell_died_is_not_handed_out(docker_ready: str) -> None:
    """In a container the keeper outlives the shell and says when it ended; the pool
    hears it and makes a new sandbox instead."""
    with WarmSandboxes(1) as pool:
        pool.give_back(pool.take("docker", OPTIONS))
        (dead,) = warm_ones(pool)
        shell = dead.shell  # type: ignore[attr-defined]
        assert shell.alive
        killed = dead.container.exec_run(  # type: ignore[attr-defined]
            ["kill", "-KILL", str(shell.shell_pid)], user="1000"
        )
        assert killed.exit_code == 0, killed.output
        deadline = time.monotonic() + 30
        while shell.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not shell.alive
        box = pool.take("docker", OPTIONS)
        assert box is not dead and box.exec("echo alive").stdout == "alive\n"
        assert pool.misses == 2
        pool.give_back(box)
    assert dead.closed  # type: ignore[attr-defined]


@pytest.mark.docker
def test_a_sandbox_that_cannot_start_fails_as_it_would_without_the_pool(docker_ready: str) -> None:
    options = {**OPTIONS, "image": "hotmess-no-such-image:0"}
    with pytest.raises(SandboxError) as cold:
        create("docker", **options)
    with WarmSandboxes(2) as pool:
        for _ in range(2):  # the second take finds the background start failed
            with pytest.raises(SandboxError) as warm:
                pool.take("docker", options)
            assert str(warm.value) == str(cold.value)


@pytest.mark.bwrap
def test_close_closes_the_warm_sandboxes_and_waits_for_given_back_ones(bwrap_ready: None) -> None:
    pool = WarmSandboxes(2)
    used = pool.take("bwrap", OPTIONS)
    ready = warm_ones(pool)
    pool.give_back(used)
    pool.close()
    for box in [used, *ready]:
        assert box.closed and not box.tmp.exists()  # type: ignore[attr-defined]
    late = create("bwrap", **OPTIONS)
    pool.give_back(late)  # after close: closed at once, on the caller's thread
    assert late.closed  # type: ignore[attr-defined]


def _config(out: Path, sandbox: str, **execution: object) -> SweepConfig:
    return SweepConfig(
        envs=["hotmess/FileChain-v0"],
        agents=["noisy:p=0.3", "random"],
        horizons=[2, 4],
        tasks=2,
        samples=2,
        sandbox=sandbox,
        out=out,
        **execution,  # type: ignore[arg-type]
    )


def _sweep(out: Path, sandbox: str, **execution: object) -> dict[str, tuple]:
    result = run_sweep(_config(out, sandbox, **execution))
    assert result.ran == 16 and result.infra_errors == 0
    return {
        r.key: (r.outcome.model_dump(), [(s.action, s.observation) for s in r.steps])
        for r in iter_records(out)
    }


def test_a_sweep_has_the_same_outcomes_with_and_without_warm_sandboxes(
    sandbox_kind: str, tmp_path: Path
) -> None:
    cold = _sweep(tmp_path / "cold", sandbox_kind, warm_sandboxes=0)
    warm = _sweep(tmp_path / "warm", sandbox_kind, warm_sandboxes=2, executor="pool", workers=2)
    assert warm == cold  # same keys: the pool is no part of a cell's identity
    meta = json.loads((tmp_path / "warm" / "sweep.json").read_text())
    assert meta["execution"]["warm_sandboxes"] == 2 and "warm_sandboxes" not in meta["config"]
    # A resumed sweep may change it, like any other execution setting.
    again = run_sweep(_config(tmp_path / "warm", sandbox_kind, warm_sandboxes=0), resume=True)
    assert (again.ran, again.skipped) == (0, 16)


@pytest.mark.bwrap
@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_every_executor_takes_warm_sandboxes(
    bwrap_ready: None, tmp_path: Path, executor: str
) -> None:
    cold = _sweep(tmp_path / "cold", "bwrap", warm_sandboxes=0, executor=executor, concurrency=2)
    warm = _sweep(tmp_path / "warm", "bwrap", warm_sandboxes=1, executor=executor, concurrency=2)
    assert warm == cold


def test_a_negative_pool_size_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = hotmess(
        "sweep", "--env", "hotmess/KVSum-v0", "--agent", "oracle", "--horizons", "1",
        "--out", str(tmp_path / "run"), "--warm-sandboxes", "-1",
    )  # fmt: skip
    assert bad.returncode == 2
    assert "warm_sandboxes" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.bwrap
def test_warm_sandboxes_flag_end_to_end(bwrap_ready: None, tmp_path: Path) -> None:
    done = hotmess(
        "sweep", "--env", "hotmess/FileChain-v0", "--agent", "oracle", "--horizons", "2",
        "--tasks", "2", "--samples", "2", "--workers", "2", "--sandbox", "bwrap",
        "--warm-sandboxes", "1", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "run" / "sweep.json").read_text())
    assert meta["execution"]["warm_sandboxes"] == 1
    assert all(r.outcome.success for r in iter_records(tmp_path / "run"))
