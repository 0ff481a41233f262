"""One episode: reset the env, let the agent act until the env ends it, record everything."""

from __future__ import annotations

import hashlib
import time
import traceback
from typing import Any

from pydantic import BaseModel, ConfigDict

from hotmess.agents.base import Agent, Task, as_step
from hotmess.envs.base import ToolEnv
from hotmess.errors import HotmessError
from hotmess.outcome import Outcome


class StepRecord(BaseModel):
    """One action and what came of it."""

    model_config = ConfigDict(extra="forbid")

    action: str
    observation: str
    tool: str | None = None
    """The tool called, None when the action did not parse."""
    tool_error: bool = False
    """The action was malformed or the tool failed (the observation says why)."""
    agent_error: str | None = None
    agent_message: str | None = None
    """What the model said besides the action (reasoning, or a reply that was no tool call)."""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    latency_s: float = 0.0
    """Time the agent took to choose this action."""
    env_s: float = 0.0
    """Time the env took to carry it out."""


class EpisodeRecord(BaseModel):
    """One line of `episodes.jsonl`."""

    model_config = ConfigDict(extra="forbid")

    key: str
    """Content hash of everything that determines this cell (see `cell_key`)."""
    env: str
    env_options: dict[str, Any] = {}
    horizon: int
    task_seed: int
    task_index: int = 0
    sample: int = 0
    agent: str
    agent_seed: int
    outcome: Outcome
    steps: list[StepRecord]
    prompt: str = ""
    system_prompt: str | None = None
    """The agent's system prompt, for LLM agents."""
    sandbox: str = "none"
    started_at: float
    duration_s: float


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts, the same in every process and on every machine."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def run_episode(
    env: ToolEnv,
    agent: Agent,
    seed: int,
    *,
    sample: int = 0,
    agent_seed: int | None = None,
    agent_spec: str | None = None,
    key: str = "",
    task_index: int = 0,
    env_options: dict[str, Any] | None = None,
) -> EpisodeRecord:
    """Run `agent` on the task `env` generates for `seed` until it submits or hits the cap.

    The agent's seed defaults to one derived from the task seed and the sample index. An
    exception inside the agent ends the episode as an infrastructure error (censored);
    the traceback is kept in the record, and the sweep goes on.
    """
    started = time.time()
    observation, info = env.reset(seed=seed)
    agent_seed = derive_seed(seed, env.horizon, sample) if agent_seed is None else agent_seed
    task = Task(
        env_id=env.env_id,
        horizon=env.horizon,
        task_seed=info["task_seed"],
        prompt=info["prompt"],
        tools=info["tools"],
        max_actions=info["max_actions"],
        oracle=_oracle_or_none(env),
    )
    steps: list[StepRecord] = []
    outcome: Outcome | None = None
    try:
        agent.reset(task, agent_seed)
        while outcome is None:
            t0 = time.perf_counter()
            step = as_step(agent.act(observation))
            t1 = time.perf_counter()
            if step.infra_error is not None:
                outcome = env.abandon(step.infra_error)
                steps.append(_step_record(step, "", {}, t1 - t0, 0.0))
                break
            observation, _, terminated, truncated, step_info = env.step(step.action)
            steps.append(
                _step_record(step, observation, step_info, t1 - t0, time.perf_counter() - t1)
            )
            if terminated or truncated:
                outcome = step_info["outcome"]
    except HotmessError:
        raise  # a bad key or model is the user's to fix, not an episode to censor
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        outcome = env.abandon(f"episode crashed: {detail}")
    return EpisodeRecord(
        key=key,
        env=env.env_id,
        env_options=env_options or {},
        horizon=env.horizon,
        task_seed=task.task_seed,
        task_index=task_index,
        sample=sample,
        agent=agent_spec or type(agent).__name__,
        agent_seed=agent_seed,
        outcome=outcome,
        steps=steps,
        prompt=task.prompt,
        system_prompt=getattr(agent, "system_prompt", None),
        sandbox=env.sandbox_kind,
        started_at=started,
        duration_s=time.time() - started,
    )


def _oracle_or_none(env: ToolEnv) -> Any:
    try:
        return env.oracle()
    except NotImplementedError:
        return None


def _step_record(
    step: Any, observation: str, info: dict[str, Any], latency: float, env_s: float
) -> StepRecord:
    return StepRecord(
        action=step.action,
        observation=observation,
        tool=info.get("tool"),
        tool_error=bool(info.get("error", False)),
        agent_error=step.error or step.infra_error,
        agent_message=step.message,
        tokens_in=step.tokens_in,
        tokens_out=step.tokens_out,
        cost=step.cost,
        latency_s=latency,
        env_s=env_s,
    )
