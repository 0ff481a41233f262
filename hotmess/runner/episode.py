"""One episode: reset the env, let the agent act until the env ends it, and return what
happened (the runner adds which cell it was to make the record)."""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass
from typing import Any

from hotmess.agents.base import (
    Agent,
    AgentStep,
    FinalAnswering,
    Replayable,
    Reseedable,
    Task,
    as_step,
    require_forkable,
)
from hotmess.envs.base import ToolEnv
from hotmess.errors import HotmessError
from hotmess.outcome import Outcome
from hotmess.store import StepRecord


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts, the same in every process and on every machine."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Fork:
    """How a fork starts: a trunk episode's first actions, taken before the agent acts."""

    prefix: tuple[str, ...]
    trunk_seed: int
    """The trunk's agent seed: a `Reseedable` agent regenerates the prefix from it."""


@dataclass(frozen=True)
class Episode:
    """What happened in one episode; the runner adds which cell it was to make its record."""

    outcome: Outcome
    steps: list[StepRecord]
    prompt: str = ""
    system_prompt: str | None = None
    """The agent's system prompt, for LLM agents."""
    sandbox: str = "none"
    """Where the actions ran: the env's backend, `none` for an env that needs none."""
    started_at: float = 0.0
    duration_s: float = 0.0


def run_episode(
    env: ToolEnv, agent: Agent, seed: int, *, agent_seed: int, fork: Fork | None = None
) -> Episode:
    """Run `agent`, seeded with `agent_seed`, on the task `env` generates for `seed` until it
    submits or hits the cap.

    An exception inside the agent ends the episode as an infrastructure error (censored),
    its message kept as the reason, and the sweep goes on. With `fork`, the trunk's prefix
    actions are taken first (marked `replayed`), then the agent continues on its own: a
    `Replayable` agent is told each of them, a `Reseedable` one regenerates them from the
    trunk's seed (checked action by action) and is then reseeded. Other agents cannot fork.

    At the env's final-answer step (`env.submit_only`), a `FinalAnswering` agent is asked
    for its final answer instead of its next action; any other agent just acts.
    """
    started = time.time()
    observation, info = env.reset(seed=seed)
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
    try:
        observation, outcome = _start(env, agent, task, observation, agent_seed, fork, steps)
        while outcome is None:
            t0 = time.perf_counter()
            step = _next_step(agent, observation, env.submit_only)
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
    return Episode(
        outcome=outcome,
        steps=steps,
        prompt=task.prompt,
        system_prompt=getattr(agent, "system_prompt", None),
        sandbox=env.sandbox_kind,
        started_at=started,
        duration_s=time.time() - started,
    )


def _start(
    env: ToolEnv,
    agent: Agent,
    task: Task,
    observation: str,
    agent_seed: int,
    fork: Fork | None,
    steps: list[StepRecord],
) -> tuple[str, Outcome | None]:
    """Reset the agent and, for a fork, take the prefix actions; returns the observation
    the agent acts on next (and the outcome, should the env end within the prefix)."""
    if fork is None:
        agent.reset(task, agent_seed)
        return observation, None
    require_forkable(agent, type(agent).__name__)
    replay = agent.replay if isinstance(agent, Replayable) else None
    reseed = agent.reseed if isinstance(agent, Reseedable) else None
    agent.reset(task, agent_seed if replay is not None else fork.trunk_seed)
    for index, action in enumerate(fork.prefix):
        if replay is not None:
            replay(observation, action, None)
        else:
            own = as_step(agent.act(observation)).action
            if own != action:
                raise RuntimeError(
                    f"fork prefix diverged at action {index + 1}: the agent regenerated "
                    f"{own[:200]!r} from the trunk's seed, the trunk took {action[:200]!r} "
                    "(the agent is not deterministic given its seed)"
                )
        t0 = time.perf_counter()
        observation, _, terminated, truncated, info = env.step(action)
        record = _step_record(as_step(action), observation, info, 0.0, time.perf_counter() - t0)
        record.replayed = True
        steps.append(record)
        if terminated or truncated:
            return observation, info["outcome"]
    if replay is None and reseed is not None:
        reseed(agent_seed)
    return observation, None


def _next_step(agent: Agent, observation: str, submit_only: bool) -> AgentStep:
    if submit_only and isinstance(agent, FinalAnswering):
        return as_step(agent.final_answer(observation))
    return as_step(agent.act(observation))


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
