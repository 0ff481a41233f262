"""A Harbor job directory as a hotmess run: one episode per trial (a task's attempts are its
samples), the verifier's reward as the outcome, the agent's ATIF trajectory as its steps.

Harbor needs Python 3.12, so its files are read with the models below: the fields hotmess
uses of Harbor v0.26.0's `TrialResult` (harbor/models/trial/result.py), `AgentContext`
(models/agent/context.py), `VerifierResult` (models/verifier/result.py) and ATIF
`Trajectory` (models/trajectories/), each tolerant of fields it does not name.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hotmess.errors import ConfigError
from hotmess.importers.episodes import (
    Imported,
    ImportResult,
    bounded,
    episode_key,
    stable_seed,
    write_run,
)
from hotmess.outcome import Outcome
from hotmess.store import StepRecord

RESULT_FILE = "result.json"
"""A trial's `TrialResult` (and the job's `JobResult`), as Harbor writes them."""
TRAJECTORY = Path("agent") / "trajectory.json"
"""Where Harbor's agents leave their ATIF trajectory in a trial directory."""
MAX_RESULT_BYTES = 16 << 20
MAX_TRAJECTORY_BYTES = 64 << 20
"""Reads are bounded: `agent/` is mounted into the agent's container, so it may have
written anything there, a symlink out of the job or a file too large to load included."""

INFRASTRUCTURE = frozenset(
    {
        # Harbor's error_policy.py: no valid reward, and nothing the agent did causes them.
        "EnvironmentStartTimeoutError",
        "SandboxBuildFailedError",
        "AgentSetupTimeoutError",
        "HealthcheckError",
        "SSHAccessError",
        "GKEExecStreamClosedError",
        "GKEPodNotFoundError",
        "RuntimeRequestError",
        "AddTestsDirError",
        "DownloadVerifierDirError",
        "ApiError",
        "ApiRateLimitError",
        "ApiInternalServerError",
        "ApiOverloadedError",
        "ApiConnectionClosedError",
        "ApiResponseStalledError",
        "UnknownApiError",
        "NetworkConnectionError",
        "ApiConnectionError",
        "ApiUsageLimitError",
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "APIConnectionError",
        "APIError",
        "Timeout",
        "UnsupportedModelParametersError",
        "BadRequestError",
        "UnprocessableEntityError",
        "UnsupportedParamsError",
        "APIResponseValidationError",
        "BudgetExceededError",
        "AgentAuthenticationError",
        "ModelNotFoundError",
        "ApiProviderResourceNotFoundError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ServiceOperationsUnsupportedError",
        "VercelScopeError",
        "DspyImportError",
        "MissingExtraError",
        "RegradeError",
        "CancelledError",
    }
)
"""Exceptions that censor a trial. Harbor also gives no valid reward for the verifier's own
failures (VerifierTimeoutError, RewardFileNotFoundError, RewardFileEmptyError,
VerifierOutputParseError), but the verifier runs on what the agent left behind, so those
count against the agent here; so does running out of memory once the agent has started.
Any other exception (NonZeroAgentExitCodeError, AgentTimeoutError, context or output
length exceeded, unknown types) is the agent's too, as Harbor's own policy has it."""
MEMORY = frozenset({"SandboxLikelyOutOfMemoryError", "MemoryLimitExceededError"})
"""Infrastructure before the agent starts (the environment did not fit), the agent's after."""
OVER_BUDGET = frozenset(
    {
        "AgentTimeoutError",
        "ContextWindowExceededError",
        "ContextLengthExceededError",
        "OutputTokenExceededError",
        "OutputLengthExceededError",
    }
)
"""The agent ran past its time or context budget: recorded as truncated, like hotmess's
action cap, and scored on whatever reward the verifier then gave."""


class HarborImport(BaseModel):
    """How `hotmess import harbor` reads a job."""

    model_config = ConfigDict(extra="forbid")

    reward: str | None = None
    """The reward key to score; None: `reward`, or the only key the verifier gives."""
    env: str | None = None
    """The env name of every episode; None: the trials' dataset (`source`), else the job's name."""
    agent: str | None = None
    """The agent name of every episode; None: `agent-name:provider/model` of each trial."""
    target_score: float = 1.0
    """The best reward: rewards are scalar outcomes against it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _ModelInfo(_Model):
    name: str
    provider: str | None = None


class _AgentInfo(_Model):
    name: str
    version: str | None = None
    model_info: _ModelInfo | None = None


class _AgentContext(_Model):
    n_input_tokens: int | None = None
    n_output_tokens: int | None = None
    cost_usd: float | None = None


class _VerifierResult(_Model):
    rewards: dict[str, float] | None = None


class _Policy(_Model):
    has_valid_reward: bool | None = None


class _ExceptionInfo(_Model):
    exception_type: str
    exception_message: str = ""
    occurred_at: datetime | None = None


class _Timing(_Model):
    started_at: datetime | None = None
    finished_at: datetime | None = None


class _StepResult(_Model):
    agent_result: _AgentContext | None = None
    verifier_result: _VerifierResult | None = None
    exception_info: _ExceptionInfo | None = None


class TrialResult(_Model):
    """The fields hotmess reads of Harbor's `TrialResult` (a trial's result.json)."""

    task_name: str
    trial_name: str
    source: str | None = None
    agent_info: _AgentInfo
    agent_result: _AgentContext | None = None
    verifier_result: _VerifierResult | None = None
    exception_info: _ExceptionInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    agent_execution: _Timing | None = None
    step_results: list[_StepResult] | None = None


def import_harbor(
    job_dir: str | Path, out: str | Path, options: HarborImport, *, force: bool = False
) -> ImportResult:
    """Read the trials of the Harbor job in `job_dir` into the run directory `out`."""
    job = Path(job_dir)
    trials = _trial_dirs(job)
    job_name = _job_name(job)
    task_ids: dict[str, str] = {}
    config: dict[str, Any] = {
        "imported_from": "harbor",
        "sources": [str(job)],
        "job_name": job_name,
        "reward": options.reward,
        "horizon": "actions",
        "task_ids": task_ids,  # filled while reading: the seed of each task name
    }
    no_trajectory: list[str] = []
    episodes = _episodes(trials, job_name, options, task_ids, no_trajectory)
    result = write_run(Path(out), episodes, config, force=force)
    if no_trajectory:
        result.notes.append(
            f"{len(no_trajectory)} trial(s) left no agent/trajectory.json (e.g. "
            f"{no_trajectory[0]}): their actions are unknown and counted as 0"
        )
    return result


def _trial_dirs(job: Path) -> list[Path]:
    if not job.is_dir():
        what = "not found" if not job.exists() else "not a directory"
        raise ConfigError(f"Harbor job {job} {what}: give the directory `harbor run` wrote")
    trials = sorted(p for p in job.iterdir() if p.is_dir() and (p / RESULT_FILE).is_file())
    if not trials:
        raise ConfigError(
            f"{job} holds no trial directories with a {RESULT_FILE}: give a Harbor job "
            "directory whose trials have finished"
        )
    return trials


def _job_name(job: Path) -> str:
    try:
        config = json.loads(_read_bounded(job / "config.json", MAX_RESULT_BYTES))
        name = config.get("job_name") if isinstance(config, dict) else None
    except (OSError, ValueError):
        name = None
    return name if isinstance(name, str) and name else job.resolve().name


def read_trial(trial: Path) -> TrialResult:
    """A trial's result.json; an error naming the file when it is not one."""
    path = trial / RESULT_FILE
    try:
        return TrialResult.model_validate_json(_read_bounded(path, MAX_RESULT_BYTES))
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            reason = f"{'.'.join(map(str, first['loc'])) or 'document'}: {first['msg']}"
        else:
            reason = str(exc)
        raise ConfigError(
            f"{path} is not a Harbor trial result ({reason}): give a job written by Harbor"
        ) from None


def _episodes(
    trials: list[Path],
    job_name: str,
    options: HarborImport,
    task_ids: dict[str, str],
    no_trajectory: list[str],
) -> Iterator[Imported]:
    tasks: dict[str, int] = {}
    for trial in trials:
        result = read_trial(trial)
        seed = stable_seed(result.task_name)
        task_ids[str(seed)] = result.task_name
        trajectory = _trajectory(trial)
        if trajectory is None:
            no_trajectory.append(trial.name)
        steps = transcript(trajectory or {}, result)
        started = result.started_at.timestamp() if result.started_at else 0.0
        finished = result.finished_at.timestamp() if result.finished_at else started
        record = {
            "key": episode_key("harbor", job_name, result.trial_name),
            "env": options.env or result.source or job_name,
            "task_seed": seed,
            "task_index": tasks.setdefault(result.task_name, len(tasks)),
            "agent": options.agent or agent_name(result.agent_info),
            "agent_seed": 0,  # Harbor does not seed attempts
            "outcome": trial_outcome(result, options, len(steps)),
            "steps": steps,
            "prompt": "",
            "sandbox": "harbor",
            "started_at": started,
            "duration_s": max(0.0, finished - started),
        }
        yield Imported(record)


def agent_name(info: Any) -> str:
    """`agent:provider/model`, or the agent's name alone when no model is recorded."""
    if info.model_info is None:
        return info.name
    model = info.model_info.name
    if info.model_info.provider and not model.startswith(f"{info.model_info.provider}/"):
        model = f"{info.model_info.provider}/{model}"
    return f"{info.name}:{model}"


# --------------------------------------------------------------------------- outcomes


def trial_outcome(result: TrialResult, options: HarborImport, n_actions: int) -> Outcome:
    """Censored for an infrastructure exception; else the reward (none: 0, as Harbor's
    metrics count a trial without rewards) against the best reward."""
    target = options.target_score
    exceptions = [result.exception_info] + [s.exception_info for s in result.step_results or []]
    for exception in filter(None, exceptions):
        if _infrastructure(exception, result):
            reason = (
                f"Harbor {exception.exception_type}: {_first_line(exception.exception_message)}"
            )
            return Outcome(kind="scalar", target=target, infra_error=reason, n_actions=n_actions)
    agent_exceptions = [e for e in exceptions if e is not None]
    failure = agent_exceptions[0] if agent_exceptions else None
    truncated = any(e.exception_type in OVER_BUDGET for e in agent_exceptions)
    rewards = _rewards(result)
    if rewards is None:
        if failure is None:
            reason = "no reward and no exception: the trial did not finish, or no verifier ran"
            return Outcome(kind="scalar", target=target, infra_error=reason, n_actions=n_actions)
        # The verifier ran on what the agent left (or never got to): a failure, scored 0.
        return Outcome(
            kind="scalar",
            prediction=0.0,
            target=target,
            answer="no reward",
            n_actions=n_actions,
            truncated=truncated,
            agent_failure=f"{failure.exception_type}: {_first_line(failure.exception_message)}",
        )
    reward = _reward(rewards, options.reward, result.trial_name)
    return Outcome(
        kind="scalar",
        prediction=reward,
        target=target,
        answer=json.dumps(rewards),
        success=reward >= target,
        n_actions=n_actions,
        truncated=truncated,
    )


def _infrastructure(exception: _ExceptionInfo, result: TrialResult) -> bool:
    kind = exception.exception_type
    if kind in MEMORY:
        started = result.agent_execution.started_at if result.agent_execution else None
        occurred = exception.occurred_at
        return started is None or occurred is None or occurred < started
    return kind in INFRASTRUCTURE


def _rewards(result: TrialResult) -> dict[str, float] | None:
    """The trial's rewards, or the last step's for a multi-step trial."""
    verified = [result.verifier_result] + [s.verifier_result for s in result.step_results or []]
    for verifier in reversed(verified):
        if verifier is not None and verifier.rewards:
            return verifier.rewards
    return None


def _reward(rewards: dict[str, float], key: str | None, trial: str) -> float:
    if key is None:
        if "reward" in rewards:
            return rewards["reward"]
        if len(rewards) == 1:
            return next(iter(rewards.values()))
        raise ConfigError(
            f"trial {trial} gives several rewards ({', '.join(rewards)}): pick one with --reward"
        )
    if key not in rewards:
        raise ConfigError(
            f"trial {trial} has no reward {key!r} (it gives: {', '.join(rewards)}); "
            "pick one with --reward"
        )
    return rewards[key]


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""


# --------------------------------------------------------------------------- trajectories


def _trajectory(trial: Path) -> dict[str, Any] | None:
    """The trial's ATIF trajectory, None when there is none or it is not one."""
    try:
        data = json.loads(_read_bounded(trial / TRAJECTORY, MAX_TRAJECTORY_BYTES))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("steps"), list) else None


def transcript(trajectory: dict[str, Any], result: TrialResult) -> list[StepRecord]:
    """One step per tool call of the agent's steps (the matching observation result as its
    observation), or per agent step that called none. Tokens per step from the step's
    metrics when it has them, else the trial's totals on its first step."""
    steps: list[StepRecord] = []
    per_step_tokens = False
    for step in trajectory.get("steps", []):
        if not isinstance(step, dict) or step.get("source") != "agent":
            continue
        message = bounded(_text(step.get("message")))
        results = _observations(step.get("observation"))
        metrics = step.get("metrics")
        if not isinstance(metrics, dict):
            metrics = {}
        tokens = {
            "tokens_in": _count(metrics.get("prompt_tokens")),
            "tokens_out": _count(metrics.get("completion_tokens")),
        }
        per_step_tokens |= any(tokens.values())
        calls = [c for c in step.get("tool_calls") or [] if isinstance(c, dict)]
        if not calls:
            observation = bounded("\n".join(results.values()))
            steps.append(StepRecord(action=message, observation=observation, **tokens))
            continue
        for index, call in enumerate(calls):
            name = str(call.get("function_name", ""))
            action = json.dumps({"tool": name, "arguments": call.get("arguments", {})})
            steps.append(
                StepRecord(
                    action=bounded(action),
                    observation=bounded(results.get(str(call.get("tool_call_id")), "")),
                    tool=name,
                    agent_message=message or None if index == 0 else None,
                    **(tokens if index == 0 else {}),
                )
            )
    if steps and not per_step_tokens:
        totals = result.agent_result or _AgentContext()
        steps[0] = steps[0].model_copy(
            update={
                "tokens_in": totals.n_input_tokens or 0,
                "tokens_out": totals.n_output_tokens or 0,
                "cost": totals.cost_usd,
            }
        )
    return steps


def _observations(observation: Any) -> dict[str, str]:
    """Each observation result's text by the tool call it answers ("" for none)."""
    found: dict[str, str] = {}
    if isinstance(observation, dict):
        for item in observation.get("results") or []:
            if isinstance(item, dict):
                key = str(item.get("source_call_id") or "")
                found[key] = "\n".join(filter(None, [found.get(key), _text(item.get("content"))]))
    return found


def _text(content: Any) -> str:
    """A message or observation's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _read_bounded(path: Path, limit: int) -> bytes:
    """A regular file's bytes, not through a symlink, at most `limit` of them."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path} is larger than {limit >> 20} MiB")
    return data
