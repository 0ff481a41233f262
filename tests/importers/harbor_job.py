"""Harbor job directories written for the tests, in Harbor v0.26.0's shapes: a trial's
result.json is `TrialResult.model_dump(mode="json")` (harbor/models/trial/result.py, with
TrialConfig from models/trial/config.py, AgentContext from models/agent/context.py,
VerifierResult from models/verifier/result.py), its agent/trajectory.json an ATIF
`Trajectory` (models/trajectories/), the job's config.json and result.json `JobConfig` and
`JobResult` (models/job/). Every field below is one of those models' own, in their order;
the files validated against the real classes (Harbor imported under Python 3.12's typing
backports) when this was written."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTED = "2026-01-01T12:00:00Z"
AGENT_STARTED = "2026-01-01T12:00:30Z"
FINISHED = "2026-01-01T12:05:00Z"


@dataclass
class Trial:
    """One trial to write."""

    task: str
    attempt: int
    reward: float | None
    """The verifier's `reward`; None: no verifier result."""
    tool_calls: list[int] | None = None
    """Tool calls per agent step of its trajectory; None: no trajectory.json."""
    exception: str | None = None
    """The `exception_type` of its `exception_info`, if any."""
    occurred_at: str = FINISHED
    step_tokens: bool = False
    """Whether each agent step of the trajectory reports its tokens (`metrics`)."""
    extra_rewards: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.task}__{self.attempt:04d}abc"

    @property
    def actions(self) -> int:
        return sum(n or 1 for n in self.tool_calls or [])


def trial_config(trial: Trial, job_name: str) -> dict[str, Any]:
    """`TrialConfig.model_dump(mode="json")`."""
    return {
        "schema_version": 1,
        "task": {
            "path": f"tasks/{trial.task}",
            "git_url": None,
            "git_commit_id": None,
            "name": None,
            "ref": None,
            "overwrite": False,
            "download_dir": None,
            "source": None,
        },
        "trial_name": trial.name,
        "trials_dir": f"jobs/{job_name}",
        "install_only": False,
        "timeout_multiplier": 1.0,
        "agent_timeout_multiplier": None,
        "verifier_timeout_multiplier": None,
        "agent_setup_timeout_multiplier": None,
        "environment_build_timeout_multiplier": None,
        "agent": _agent_config(),
        "user_agent": None,
        "environment": _environment_config(),
        "verifier": {"override_timeout_sec": None, "max_timeout_sec": None, "disable": False},
        "override_error_policy": {},
        "artifacts": [],
        "extra_instruction_paths": [],
        "extra_instructions": [],
        "job_id": None,
        "source_trial": None,
    }


def _agent_config() -> dict[str, Any]:
    return {
        "name": "terminus-2",
        "import_path": None,
        "model_name": "openai/gpt-4o",
        "base_url": None,
        "model_api_key_name": None,
        "model_api_format": None,
        "skip_model_parsing": False,
        "n_concurrent": None,
        "concurrency_group": None,
        "skills": [],
        "override_timeout_sec": None,
        "override_setup_timeout_sec": None,
        "max_timeout_sec": None,
        "resume_trajectory": False,
        "load_trajectory": None,
        "extra_allowed_hosts": [],
        "kwargs": {},
        "mcp_servers": [],
    }


def _environment_config() -> dict[str, Any]:
    return {
        "type": "docker",
        "import_path": None,
        "force_build": False,
        "delete": True,
        "stream": False,
        "cpu_enforcement_policy": "auto",
        "memory_enforcement_policy": "auto",
        "override_cpus": None,
        "override_memory_mb": None,
        "override_storage_mb": None,
        "override_gpus": None,
        "override_tpu": None,
        "mounts": None,
        "extra_docker_compose": [],
        "kwargs": {},
        "extra_allowed_hosts": [],
    }


POLICIES = {
    # harbor/models/trial/error_policy.py: (should_retry, should_grade, has_valid_reward)
    "AgentTimeoutError": (False, True, True),
    "EnvironmentStartTimeoutError": (True, False, False),
    "RewardFileNotFoundError": (False, True, False),
    "ApiRateLimitError": (True, True, False),
}


def trial_result(trial: Trial, job_name: str) -> dict[str, Any]:
    """`TrialResult.model_dump(mode="json")`, computed fields (`policy`, `reward_valid`)
    included, as Harbor writes result.json."""
    exception = None
    if trial.exception is not None:
        retry, grade, valid = POLICIES[trial.exception]
        exception = {
            "exception_type": trial.exception,
            "exception_message": f"{trial.exception} raised\nTraceback detail",
            "exception_traceback": "Traceback (most recent call last): ...",
            "occurred_at": trial.occurred_at,
            "policy": {"should_retry": retry, "should_grade": grade, "has_valid_reward": valid},
        }
    rewards = None if trial.reward is None else {"reward": trial.reward, **trial.extra_rewards}
    timing = {"started_at": STARTED, "finished_at": FINISHED}
    return {
        "schema_version": 1,
        "id": f"00000000-0000-4000-8000-{zlib.crc32(trial.name.encode()):012d}",
        "task_name": trial.task,
        "trial_name": trial.name,
        "trial_uri": f"file:///jobs/{job_name}/{trial.name}",
        "task_id": {"path": f"tasks/{trial.task}"},
        "source": None,
        "task_checksum": "3f2a9c",
        "config": trial_config(trial, job_name),
        "agent_info": {
            "name": "terminus-2",
            "version": "2.0.0",
            "model_info": {"name": "gpt-4o", "provider": "openai"},
        },
        "agent_result": {
            "n_input_tokens": 1000 + trial.attempt,
            "n_cache_tokens": 0,
            "n_output_tokens": 200 + trial.attempt,
            "cost_usd": 0.01,
            "model_usage": None,
            "rollout_details": None,
            "metadata": None,
        },
        "verifier_result": None if rewards is None else {"rewards": rewards},
        "verifier_environment_mode": None,
        "exception_info": exception,
        "started_at": STARTED,
        "finished_at": FINISHED,
        "environment_setup": timing,
        "agent_setup": timing,
        "agent_execution": {"started_at": AGENT_STARTED, "finished_at": FINISHED},
        "verifier": timing,
        "step_results": None,
        "reward_valid": rewards is not None
        and (exception is None or exception["policy"]["has_valid_reward"]),
    }


def trajectory(trial: Trial) -> dict[str, Any]:
    """An ATIF-v1.8 `Trajectory.to_json_dict()` (None fields left out, as Harbor writes
    it): the task's instruction, then agent steps with `tool_calls` bash commands (a step
    with 0 calls is a plain message) and their observations."""
    steps: list[dict[str, Any]] = [
        {"step_id": 1, "source": "user", "message": f"Solve the task {trial.task}."}
    ]
    for number, calls in enumerate(trial.tool_calls or [], start=2):
        ids = [f"call_{number}_{i}" for i in range(calls)]
        step: dict[str, Any] = {
            "step_id": number,
            "timestamp": AGENT_STARTED,
            "source": "agent",
            "model_name": "openai/gpt-4o",
            "message": f"Step {number}: running {calls} command(s).",
        }
        if calls:
            step["tool_calls"] = [
                {
                    "tool_call_id": call,
                    "function_name": "bash",
                    "arguments": {"command": f"echo {trial.attempt}-{number}-{i}"},
                }
                for i, call in enumerate(ids)
            ]
            step["observation"] = {
                "results": [
                    {"source_call_id": call, "content": f"{trial.attempt}-{number}-{i}\n"}
                    for i, call in enumerate(ids)
                ]
            }
        if trial.step_tokens:
            step["metrics"] = {"prompt_tokens": 100 * number, "completion_tokens": 10 * number}
        steps.append(step)
    return {
        "schema_version": "ATIF-v1.8",
        "session_id": trial.name,
        "agent": {"name": "terminus-2", "version": "2.0.0", "model_name": "openai/gpt-4o"},
        "steps": steps,
    }


def write_job(root: Path, job_name: str, trials: list[Trial], n_attempts: int) -> Path:
    """A job directory as `harbor run` leaves it: config.json, result.json, and one
    directory per trial with its config.json, result.json, agent/ and verifier/."""
    job = root / job_name
    job.mkdir(parents=True)
    config = {
        "schema_version": 1,
        "job_name": job_name,
        "jobs_dir": "jobs",
        "n_attempts": n_attempts,
        "timeout_multiplier": 1.0,
        "n_concurrent_trials": 4,
        "environment": _environment_config(),
        "agents": [_agent_config()],
        "datasets": [],
        "tasks": [{"path": f"tasks/{t}"} for t in sorted({t.task for t in trials})],
    }
    (job / "config.json").write_text(json.dumps(config, indent=4))
    results = [trial_result(trial, job_name) for trial in trials]
    job_result = {
        "schema_version": 1,
        "id": "11111111-2222-4333-8444-555555555555",
        "started_at": STARTED,
        "updated_at": FINISHED,
        "finished_at": FINISHED,
        "n_total_trials": len(trials),
        "stats": {"n_completed_trials": len(trials), "n_errored_trials": 0, "evals": {}},
        "trial_results": [],
    }
    (job / "result.json").write_text(json.dumps(job_result, indent=4))
    for trial, result in zip(trials, results, strict=True):
        trial_dir = job / trial.name
        (trial_dir / "agent").mkdir(parents=True)
        (trial_dir / "verifier").mkdir()
        (trial_dir / "config.json").write_text(json.dumps(trial_config(trial, job_name), indent=4))
        (trial_dir / "result.json").write_text(json.dumps(result, indent=4))
        if trial.tool_calls is not None:
            text = json.dumps(trajectory(trial), indent=2)
            (trial_dir / "agent" / "trajectory.json").write_text(text)
        if trial.reward is not None:
            (trial_dir / "verifier" / "reward.txt").write_text(f"{trial.reward}\n")
    return job
