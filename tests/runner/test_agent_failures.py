"""Only infrastructure is censored: whatever an agent (tests/runner/adversary.py, plugged in
as module:Class) or its actions cause is stored as its failure, counted and scored."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hotmess.cli import main
from hotmess.runner import SweepConfig, run_sweep
from hotmess.runner.executors import WORKER_DIED
from hotmess.sandbox.janitor import janitor
from hotmess.scoring import load_episodes, score_run

HERE = Path(__file__).parent


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def sweep(out: Path, agents: list[str], **changes: object) -> SweepConfig:
    base = {"envs": ["hotmess/KVSum-v0"], "horizons": [2], "tasks": 2, "samples": 1}
    return SweepConfig(**{**base, "agents": agents, "out": out, **changes})  # type: ignore[arg-type]


IN_PROCESS = {
    "returns_none": "act() must return a str or an AgentStep, got NoneType",
    "returns_int": "act() must return a str or an AgentStep, got int",
    "system_exit": "agent.act raised SystemExit: 7",
    "keyboard_interrupt": "agent.act raised KeyboardInterrupt",
    "nested_json": "RecursionError",
}


def test_in_process_attacks_are_the_agents_failures_counted_in_the_score(
    plugins: None, tmp_path: Path
) -> None:
    agents = [f"adversary:Adversary,attack={attack}" for attack in IN_PROCESS]
    result = run_sweep(sweep(tmp_path / "run", [*agents, "oracle"]))
    assert (result.ran, result.infra_errors) == (2 * (len(agents) + 1), 0)
    for record in load_episodes(tmp_path / "run"):
        outcome = record["outcome"]
        assert outcome["infra_error"] is None
        if record["agent"] == "oracle":
            assert outcome["success"] and outcome["agent_failure"] is None
            continue
        attack = record["agent"].rsplit("=", 1)[1]
        assert IN_PROCESS[attack] in outcome["agent_failure"]
        assert not outcome["success"] and outcome["prediction"] is None
    rows = {row.agent: row for row in score_run(tmp_path / "run")}
    for agent in agents:
        assert (rows[agent].agent_failures, rows[agent].infra_errors) == (2, 0)
        # A scalar env: a missing answer is left out of the decomposition, counted missing.
        assert rows[agent].success_rate == 0.0 and rows[agent].missing == 2
    assert rows["oracle"].agent_failures == 0 and rows["oracle"].success_rate == 1.0


@pytest.mark.slow
def test_a_worker_killed_by_its_agent_is_retried_once_then_its_failure(
    plugins: None, tmp_path: Path
) -> None:
    once = tmp_path / "died-once"
    agents = [
        "adversary:Adversary,attack=os_exit",  # dies every time: the agent's failure
        f"adversary:Adversary,attack=os_exit,once={once}",  # dies once: the retry runs it
        "oracle",
    ]
    result = run_sweep(sweep(tmp_path / "run", agents, executor="pool", workers=2))
    assert (result.ran, result.infra_errors) == (6, 0)
    by_agent: dict[str, list[dict]] = {}
    for record in load_episodes(tmp_path / "run"):
        by_agent.setdefault(record["agent"], []).append(record["outcome"])
    assert [o["agent_failure"] for o in by_agent[agents[0]]] == [WORKER_DIED] * 2
    assert all(o["agent_failure"] is None for o in by_agent[agents[1]])
    assert all(o["success"] for o in by_agent["oracle"])
    assert janitor(dry_run=True, docker=False).total == 0


def test_resume_reruns_censored_episodes_unless_told_not_to(plugins: None, tmp_path: Path) -> None:
    up = tmp_path / "api-up"
    agent = f"adversary:Flaky,up={up}"
    first = run_sweep(sweep(tmp_path / "run", [agent]))
    assert (first.ran, first.infra_errors) == (2, 2)
    up.touch()
    kept = run_sweep(sweep(tmp_path / "run", [agent], retry_censored=False), resume=True)
    assert (kept.ran, kept.skipped) == (0, 2)
    again = run_sweep(sweep(tmp_path / "run", [agent]), resume=True)
    assert (again.ran, again.infra_errors) == (2, 0)
    (row,) = score_run(tmp_path / "run")
    assert (row.infra_errors, row.success_rate, row.n_tasks) == (0, 1.0, 2)


def test_sweep_cli_shows_agent_failures_and_takes_env_options(
    plugins: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["sweep", "-e", "hotmess/KVSum-v0", "-a", "adversary:Adversary,attack=returns_none"]
    argv += [
        "--horizons",
        "2",
        "--tasks",
        "2",
        "--samples",
        "1",
        "-O",
        "max_actions=5",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    assert all(r["env_options"] == {"max_actions": 5} for r in load_episodes(out))
    capsys.readouterr()
    assert main(["score", str(out), "--json"]) == 0
    assert '"agent_failures": 2' in capsys.readouterr().out
    assert main(["score", str(out)]) == 0
    table = capsys.readouterr().out
    assert "lost m/t/a/i" in table and re.search(r"\b\d+/\d+/2/0\b", table), table


SANDBOXED = ["surrogate_command", "surrogate_file", "mkdir_cmd"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("bwrap", marks=pytest.mark.bwrap),
        pytest.param("docker", marks=pytest.mark.docker),
    ],
)
def test_sandboxed_attacks_are_never_censored(
    backend: str, plugins: None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue("bwrap_ready" if backend == "bwrap" else "docker_ready")
    out = tmp_path / "run"
    argv = ["sweep", "-e", "hotmess/FileChain-v0", "--horizons", "2", "--tasks", "1"]
    argv += ["--samples", "1", "--sandbox", backend, "-o", str(out), "-q"]
    for attack in SANDBOXED:
        argv += ["-a", f"adversary:Adversary,attack={attack}"]
    assert main(argv) == 0
    records = load_episodes(out)
    assert len(records) == len(SANDBOXED)
    for record in records:
        # Bad bytes and a broken command channel are the agent's doing: a failed episode,
        # whether the env turned the action into an observation or could not execute it.
        assert record["outcome"]["infra_error"] is None, record["outcome"]
        assert not record["outcome"]["success"]
    assert janitor(dry_run=True, docker=backend == "docker").total == 0
