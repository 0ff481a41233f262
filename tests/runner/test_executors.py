"""Executors, budgets and progress: every executor writes the same store; budgets stop a
sweep between episodes and --resume finishes it; progress shows what it promises."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from hotmess.cli.progress import SweepProgress
from hotmess.errors import ConfigError, HotmessDeprecationWarning
from hotmess.runner import EXECUTORS, SweepConfig, make_executor, run_sweep
from hotmess.runner.config import parse_duration
from hotmess.runner.executors import ThreadExecutor
from hotmess.scoring import score_run

HERE = Path(__file__).parent
ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]


def config(out: Path, **changes) -> SweepConfig:
    base = dict(envs=ENVS, agents=["noisy:p=0.2"], horizons=[1, 4], tasks=3, samples=3, out=out)
    return SweepConfig(**{**base, **changes})


def require_ray() -> None:
    """Ray, or a skip where it is not installed (a failure under HOTMESS_REQUIRE_SANDBOXES,
    which .ci/run sets: there the dev extra installs it)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        reason = "Ray is not installed (pip install 'hotmess[ray]')"
        if os.environ.get("HOTMESS_REQUIRE_SANDBOXES") == "1":
            pytest.fail(f"HOTMESS_REQUIRE_SANDBOXES=1 but {reason}")
        pytest.skip(reason)


def stored(out: Path) -> dict[str, tuple]:
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len({r["key"] for r in records}) == len(records), "a cell was stored twice"
    return {
        r["key"]: (json.dumps(r["outcome"], sort_keys=True), [s["action"] for s in r["steps"]])
        for r in records
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"executor": "pool", "workers": 2},
        {"executor": "threads", "concurrency": 4},
    ],
    ids=["pool", "threads"],
)
def test_every_local_executor_writes_the_serial_store(tmp_path, changes):
    serial = run_sweep(config(tmp_path / "serial"))
    other = run_sweep(config(tmp_path / "other", **changes))
    assert serial.ran == other.ran == 2 * 2 * 3 * 3
    assert stored(tmp_path / "serial") == stored(tmp_path / "other")
    meta = json.loads((tmp_path / "other" / "sweep.json").read_text())
    assert meta["execution"]["executor"] == changes["executor"]


def test_the_thread_pool_is_called_threads_and_async_still_makes_it():
    assert EXECUTORS == ("serial", "pool", "threads", "ray")
    with pytest.warns(HotmessDeprecationWarning, match="now called 'threads'"):
        executor = make_executor("async", concurrency=2)
    with executor:
        assert isinstance(executor, ThreadExecutor) and executor.name == "threads"
    with pytest.raises(ConfigError, match=r"unknown executor 'fast'.*threads"):
        make_executor("fast")


@pytest.mark.slow
def test_ray_executor_on_a_real_local_ray_writes_the_serial_store(tmp_path):
    require_ray()
    run_sweep(config(tmp_path / "serial"))
    result = run_sweep(config(tmp_path / "ray", executor="ray", workers=2))
    assert result.ran == 36
    assert stored(tmp_path / "serial") == stored(tmp_path / "ray")


@pytest.mark.slow
def test_ray_executor_runs_sandboxed_envs_and_leaves_no_sandbox(tmp_path, bwrap_ready):
    require_ray()
    import tempfile

    from hotmess.sandbox import lifecycle

    def sandboxes() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob(f"{lifecycle.TMP_PREFIX}*"))

    before = sandboxes()
    result = run_sweep(
        config(
            tmp_path / "ray",
            envs=["hotmess/FileChain-v0"],
            horizons=[2],
            tasks=2,
            samples=2,
            executor="ray",
            workers=2,
            sandbox="bwrap",
        )
    )
    assert result.ran == 4 and result.infra_errors == 0
    assert sandboxes() - before == set(), "a Ray actor left its sandbox behind"


def test_an_unreachable_ray_cluster_is_a_config_error(tmp_path):
    require_ray()
    with pytest.raises(ConfigError, match="Ray cluster"):
        run_sweep(config(tmp_path / "r", executor="ray", ray_address="127.0.0.1:1"))


def metered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes) -> SweepConfig:
    monkeypatch.syspath_prepend(str(HERE))
    return config(
        tmp_path / "run",
        envs=["hotmess/KVSum-v0"],
        agents=[changes.pop("agent", "metered:MeteredAgent,tokens=100,cost=0.01")],
        horizons=[3],  # 4 actions per episode: 400 tokens, $0.04
        tasks=5,
        samples=2,
        **changes,
    )


@pytest.mark.parametrize(
    ("limit", "reason"),
    [({"max_cost": 0.1}, "cost budget"), ({"max_tokens": 1000}, "token budget")],
    ids=["cost", "tokens"],
)
def test_a_budget_stops_between_episodes_and_resume_finishes(tmp_path, monkeypatch, limit, reason):
    first = run_sweep(metered(tmp_path, monkeypatch, **limit))
    # $0.04 and 400 tokens an episode: the third episode crosses either budget.
    assert first.stopped is not None and reason in first.stopped
    assert first.ran == 3
    assert first.cost == pytest.approx(0.12) and first.tokens == 1200
    second = run_sweep(metered(tmp_path, monkeypatch), resume=True)
    assert second.stopped is None and second.skipped == 3 and second.ran == 7
    assert len(stored(tmp_path / "run")) == 10


def test_wall_budget_stops_a_slow_sweep(tmp_path, monkeypatch):
    slow = "metered:MeteredAgent,sleep=0.05"
    result = run_sweep(metered(tmp_path, monkeypatch, agent=slow, max_wall=0.3))
    assert result.stopped is not None and "time budget" in result.stopped
    assert 1 <= result.ran < 10


def test_budgets_stop_the_process_pool_without_losing_episodes_in_flight(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    result = run_sweep(metered(tmp_path, monkeypatch, max_tokens=1000, workers=2))
    assert result.stopped is not None
    # Every episode started before the stop is stored: at most one per worker past it.
    assert 3 <= result.ran <= 4 and len(stored(tmp_path / "run")) == result.ran


def test_an_unpriced_agent_cannot_run_under_a_cost_budget(tmp_path, monkeypatch):
    agent = "metered:MeteredAgent,cost=null"
    result = run_sweep(metered(tmp_path, monkeypatch, agent=agent, max_cost=1.0))
    assert result.stopped is not None and "no known price" in result.stopped
    assert result.ran == 1


def test_durations_parse_and_bad_ones_are_named():
    assert parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400
    assert parse_duration("45") == 45
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(ConfigError, match="max_wall"):
        SweepConfig.build({"envs": ENVS, "agents": ["oracle"], "horizons": [1], "max_wall": "soon"})


def cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hotmess.cli", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        timeout=300,
        **kwargs,
    )


def test_cli_budget_exit_code_and_message(tmp_path):
    env = {"PYTHONPATH": str(HERE)}
    args = [
        "sweep",
        "-e",
        "hotmess/KVSum-v0",
        "-a",
        "metered:MeteredAgent,tokens=100,cost=0.01",
        "--horizons",
        "3",
        "--tasks",
        "5",
        "--samples",
        "2",
        "--out",
        str(tmp_path / "run"),
    ]
    stopped = cli(*args, "--max-cost", "0.1", env=env)
    assert stopped.returncode == 3, stopped.stderr
    assert "cost budget reached" in stopped.stderr and "--resume" in stopped.stderr
    done = cli(*args, "--resume", env=env)
    assert done.returncode == 0, done.stderr
    assert "7 episodes run, 3 already done" in done.stdout


def test_plain_progress_logs_lines_with_rate_eta_tokens_cost_and_errors(tmp_path):
    stream = io.StringIO()
    with SweepProgress("plain", stream=stream, interval=0) as shown:
        run_sweep(config(tmp_path / "run"), on_plan=shown.plan, on_episode=shown.episode)
    lines = stream.getvalue().splitlines()
    assert "planned 36 episodes, 36 to run" in lines[0]
    last = lines[-1]
    for part in (
        "36/36 episodes (100.0%)",
        "/s",
        "ETA",
        "tokens 0",
        "cost $0.0000",
        "infra errors 0",
    ):
        assert part in last


def test_rich_progress_shows_the_bar_and_the_tallies(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    with SweepProgress("rich", console=console) as shown:
        run_sweep(metered(tmp_path, monkeypatch), on_plan=shown.plan, on_episode=shown.episode)
    screen = buffer.getvalue()
    assert "10/10" in screen and "4,000 tok" in screen and "$0.4000" in screen


ORACLE_SWEEP = (
    "sweep", "-e", "hotmess/KVSum-v0", "-a", "oracle", "--horizons", "1", "--tasks", "2",
    "--samples", "1", "--out",
)  # fmt: skip


def test_quiet_progress_prints_nothing(tmp_path):
    result = cli(*ORACLE_SWEEP, str(tmp_path / "q"), "--quiet")
    assert result.returncode == 0 and result.stderr == ""


def test_plain_progress_is_the_default_off_a_terminal(tmp_path):
    result = cli(*ORACLE_SWEEP, str(tmp_path / "p"))
    assert result.returncode == 0
    assert "planned 2 episodes" in result.stderr and "2/2 episodes (100.0%)" in result.stderr


def test_ctrl_c_finishes_the_episode_in_flight_and_resume_completes(tmp_path):
    env = {"PYTHONPATH": str(HERE)}
    args = [
        "sweep",
        "-e",
        "hotmess/KVSum-v0",
        "-a",
        "metered:MeteredAgent,sleep=0.2",
        "--horizons",
        "3",
        "--tasks",
        "4",
        "--samples",
        "2",
        "--out",
        str(tmp_path / "run"),
        "--progress",
        "plain",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "hotmess.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    store = tmp_path / "run" / "episodes.jsonl"
    deadline = time.monotonic() + 60
    while (not store.exists() or not store.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "stopping once the episodes in flight finish" in stderr
    finished = stored(tmp_path / "run")
    assert 1 <= len(finished) < 8
    done = cli(*args, "--resume", env=env)
    assert done.returncode == 0, done.stderr
    assert len(stored(tmp_path / "run")) == 8


def test_scores_do_not_depend_on_the_executor(tmp_path):
    run_sweep(config(tmp_path / "a"))
    run_sweep(config(tmp_path / "b", executor="threads", concurrency=3))
    assert [r.to_dict() for r in score_run(tmp_path / "a")] == [
        r.to_dict() for r in score_run(tmp_path / "b")
    ]
