"""`hotmess import harbor` on job directories written in Harbor v0.26.0's shapes (see
harbor_job.py): three tasks, four attempts each, exceptions of each kind; the numbers
against a recomputation from the rewards written here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from clirun import hotmess
from harbor_job import Trial, write_job
from imported_runs import cli, per_question

from hotmess.store import iter_records

JOB = "2026-01-01__12-00-00"
TRIALS = [
    Trial("hello-world", 0, 1.0, [1, 1], step_tokens=True),
    Trial("hello-world", 1, 1.0, [1, 0, 1], step_tokens=True),
    Trial("hello-world", 2, 1.0, [2], step_tokens=True),
    Trial("hello-world", 3, 1.0, [1, 1], step_tokens=True),
    Trial("fix-bug", 0, 1.0, [2, 2]),
    # The agent ran out of time: Harbor still grades it; counted, marked truncated.
    Trial("fix-bug", 1, 0.0, [3, 3, 3], exception="AgentTimeoutError"),
    Trial("fix-bug", 2, 1.0, [1, 2, 2]),
    Trial("fix-bug", 3, 0.0, [4, 4, 4]),
    Trial("count-lines", 0, 0.0, [3]),
    Trial("count-lines", 1, 0.5, [2, 4]),
    # The verifier found no reward file: the agent's doing (it shared the container).
    Trial("count-lines", 2, None, [5, 2], exception="RewardFileNotFoundError"),
    # The environment never started: censored.
    Trial("count-lines", 3, None, None, exception="EnvironmentStartTimeoutError"),
]
AGENT = "terminus-2:openai/gpt-4o"


@pytest.fixture
def job(tmp_path: Path) -> Path:
    return write_job(tmp_path / "jobs", JOB, TRIALS, n_attempts=4)


def imported(job: Path, out: Path, *args: str) -> Path:
    result = cli("import", "harbor", job, "--out", out, *args)
    assert result.returncode == 0, result.stderr
    return out


def test_rewards_are_scored_per_task_as_a_recomputation_says(job: Path, tmp_path: Path):
    result = hotmess("import", "harbor", job, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "12 episodes of 3 tasks (1 censored" in result.stdout
    run = tmp_path / "run"
    rewards: dict[str, list[float]] = {}
    for trial in TRIALS:
        if trial.exception != "EnvironmentStartTimeoutError":
            rewards.setdefault(trial.task, []).append(trial.reward or 0.0)
    rows = per_question(run)
    assert set(rows) == {"hello-world", "fix-bug", "count-lines"}
    for task, values in rewards.items():
        y = np.asarray(values)
        row = rows[task]["mse"]
        assert row.n_samples == len(values)
        assert row.bias == pytest.approx((y.mean() - 1.0) ** 2, abs=1e-12)
        assert row.variance == pytest.approx(((y - y.mean()) ** 2).mean(), abs=1e-12)
    assert rows["fix-bug"]["mse"].variance == pytest.approx(0.25)
    assert rows["hello-world"]["mse"].error == 0.0


def test_each_trial_is_an_episode_with_its_actions_tokens_and_fault(job: Path, tmp_path: Path):
    run = imported(job, tmp_path / "run")
    records = {r.key: r for r in iter_records(run)}
    task_ids = json.loads((run / "sweep.json").read_text())["config"]["task_ids"]
    task = {r.key: task_ids[str(r.task_seed)] for r in records.values()}
    assert all(r.env == JOB and r.agent == AGENT for r in records.values())
    assert len(records) == len(TRIALS)
    outcomes = sorted(
        (r.outcome.n_actions, r.outcome.prediction, r.outcome.truncated) for r in records.values()
    )
    expected = sorted(
        (t.actions, None if "Environment" in (t.exception or "") else (t.reward or 0.0),
         t.exception == "AgentTimeoutError")
        for t in TRIALS
    )  # fmt: skip
    assert outcomes == expected
    assert all(r.outcome.n_actions == len(r.steps) for r in records.values())
    censored = [r for r in records.values() if r.outcome.infra_error]
    assert [r.outcome.infra_error for r in censored] == [
        "Harbor EnvironmentStartTimeoutError: EnvironmentStartTimeoutError raised"
    ]
    failed = [r for r in records.values() if r.outcome.agent_failure]
    assert [r.outcome.agent_failure for r in failed] == [
        "RewardFileNotFoundError: RewardFileNotFoundError raised"
    ]
    assert failed[0].outcome.prediction == 0.0
    # Tokens: per step from the trajectory's metrics when it has them, else the totals.
    hello = [r for r in records.values() if task[r.key] == "hello-world"]
    assert [r.steps[0].tokens_in for r in hello] == [200] * 4
    for record in hello:
        trial = next(t for t in TRIALS if t.task == "hello-world" and t.attempt == record.sample)
        steps = range(2, 2 + len(trial.tool_calls or []))
        assert sum(step.tokens_in for step in record.steps) == sum(100 * n for n in steps)
    fix = next(r for r in records.values() if task[r.key] == "fix-bug" and r.sample == 0)
    assert fix.steps[0].tokens_in == 1000 and fix.steps[1].tokens_in == 0
    assert fix.steps[0].tokens_out == 200 and fix.steps[0].cost == 0.01
    step = json.loads(fix.steps[0].action)
    assert step == {"tool": "bash", "arguments": {"command": "echo 0-2-0"}}
    assert fix.steps[0].observation == "0-2-0\n"
    # Horizons: each task's median actions, up to a power of two (hello-world: 2).
    horizons = {r.task_seed: r.horizon for r in records.values()}
    assert sorted(horizons.values()) == [2, 8, 8]


def test_a_trajectory_the_agent_swapped_for_a_symlink_is_not_read(job: Path, tmp_path: Path):
    """agent/ is mounted into the agent's container: a symlink there points wherever the
    agent likes on the host. The read does not follow it."""
    secret = tmp_path / "host-secret.json"
    secret.write_text(json.dumps({"steps": [{"source": "agent", "message": "HOST SECRET"}]}))
    trajectory = job / TRIALS[0].name / "agent" / "trajectory.json"
    trajectory.unlink()
    os.symlink(secret, trajectory)
    result = cli("import", "harbor", job, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "left no agent/trajectory.json" in result.stdout
    text = (tmp_path / "run" / "episodes.jsonl").read_text()
    assert "HOST SECRET" not in text


def test_several_rewards_need_a_choice(tmp_path: Path):
    trials = [Trial("t", i, 1.0, [1], extra_rewards={"style": 0.25 * i}) for i in range(3)]
    job = write_job(tmp_path / "jobs", "multi", trials, n_attempts=3)
    plain = imported(job, tmp_path / "plain")  # `reward` is there: it is the default
    assert {r.outcome.prediction for r in iter_records(plain)} == {1.0}
    style = imported(job, tmp_path / "style", "--reward", "style")
    assert sorted(r.outcome.prediction for r in iter_records(style)) == [0.0, 0.25, 0.5]
    missing = cli("import", "harbor", job, "--out", tmp_path / "x", "--reward", "speed")
    assert missing.returncode == 2 and "has no reward 'speed'" in missing.stderr


def test_bad_job_directories_are_one_line_and_exit_2(job: Path, tmp_path: Path):
    empty = tmp_path / "empty-job"
    empty.mkdir()
    corrupt = write_job(tmp_path / "corrupt", "c", TRIALS[:2], n_attempts=1)
    (corrupt / TRIALS[0].name / "result.json").write_text('{"trial_name": 3}')
    cases = [
        (tmp_path / "nowhere", "not found"),
        (empty, "holds no trial directories with a result.json"),
        (corrupt, "is not a Harbor trial result (task_name: Field required)"),
    ]
    for path, message in cases:
        result = cli("import", "harbor", path, "--out", tmp_path / "out")
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and result.stderr.startswith("hotmess: error: ")
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
