"""Filling the sandbox's workdir (and /tmp) and then ending the shell, so a new one must
start in a full sandbox (tests/runner/adversary.py, attack `fill_work`): whatever happens
is the agent's doing, never censored, and nothing is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotmess.runner import SweepConfig, run_sweep
from hotmess.sandbox.janitor import janitor
from hotmess.scoring import load_episodes, score_run

RUNNER_TESTS = Path(__file__).parents[1] / "runner"


@pytest.mark.slow
@pytest.mark.parametrize(
    "work_mb",
    [
        # The default 1 GiB workdir in a 1 GiB sandbox: the fill's tmpfs pages use up the
        # sandbox's memory, its shell is killed and no new one can start.
        1024,
        # A 64 MiB workdir: the fill stops at ENOSPC, `exit` ends the shell, a new one
        # starts in the full workdir, and the episode goes on.
        64,
    ],
)
def test_a_full_workdir_and_a_dead_shell_are_the_agents_failure(
    sandbox_kind: str, work_mb: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(RUNNER_TESTS))
    monkeypatch.setenv(
        "PYTHONPATH", f"{RUNNER_TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    )
    config = SweepConfig(
        envs=["hotmess/FileChain-v0"],
        agents=["adversary:Adversary,attack=fill_work", "oracle"],
        horizons=[2],
        tasks=1,
        samples=1,
        sandbox=sandbox_kind,
        sandbox_options={"work_mb": work_mb},
        out=tmp_path / "run",
    )
    result = run_sweep(config)
    assert (result.ran, result.infra_errors) == (2, 0)
    by_agent = {r["agent"]: r for r in load_episodes(tmp_path / "run")}
    attack = by_agent[config.agents[0]]
    assert attack["outcome"]["infra_error"] is None and not attack["outcome"]["success"]
    observations = "\n".join(step["observation"] for step in attack["steps"])
    if work_mb == 1024:
        assert "the sandbox shell did not start" in attack["outcome"]["agent_failure"]
    else:
        assert attack["outcome"]["agent_failure"] is None, attack["outcome"]
        assert "ended the shell" in observations and "alive" in observations, observations
        assert len(attack["steps"]) >= 4  # it went on: the write, then the submit
    assert by_agent["oracle"]["outcome"]["success"]  # the next episode's sandbox is sound
    rows = {row.agent: row for row in score_run(tmp_path / "run")}
    assert rows[config.agents[0]].infra_errors == 0 and rows[config.agents[0]].success_rate == 0
    assert janitor(dry_run=True, docker=sandbox_kind == "docker").total == 0
