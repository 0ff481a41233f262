"""One episode: reset the env, let the agent act until the env ends it, record everything."""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from hotmess.agents.base import Agent, Task, as_step
from hotmess.envs.base import ToolEnv
from hotmess.errors import ConfigError, HotmessError
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
    replayed: bool = False
    """Part of a fork's prefix: replayed from the trunk episode, not chosen anew."""


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
    round: int = 0
    """The adaptive-sampling round that scheduled this episode (0: the sweep's own samples)."""
    fork_of: str | None = None
    """For a fork (`--fork-at`): the key of the trunk episode whose prefix it replays."""
    fork_at: int | None = None
    """For a fork: how many of the trunk's actions it replays before continuing."""
    fork: int | None = None
    """For a fork: which continuation of that prefix this is (0..K-1)."""


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
    prefix: Sequence[str] = (),
    prefix_seed: int | None = None,
) -> EpisodeRecord:
    """Run `agent` on the task `env` generates for `seed` until it submits or hits the cap.

    The agent's seed defaults to one derived from the task seed and the sample index. An
    exception inside the agent ends the episode as an infrastructure error (censored);
    the traceback is kept in the record, and the sweep goes on.

    A non-empty `prefix` makes the episode a fork: those actions (a trunk episode's first
    ones) are taken first, then the agent continues on its own with `agent_seed`. An agent
    with `replay(observation, action, message)` is told each prefix action (LLM agents add
    it to their transcript); an agent with `reseed(seed)` regenerates the prefix from the
    trunk's seed `prefix_seed` (checked action by action), then is reseeded. Other agents
    cannot be forked.
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
        examples=info.get("examples", ()),
    )
    steps: list[StepRecord] = []
    outcome: Outcome | None = None
    try:
        observation, outcome = _play_prefix(
            env, agent, task, observation, steps, prefix, agent_seed, prefix_seed, agent_spec
        )
        if not prefix:
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


def _play_prefix(
    env: ToolEnv,
    agent: Agent,
    task: Task,
    observation: str,
    steps: list[StepRecord],
    prefix: Sequence[str],
    agent_seed: int,
    prefix_seed: int | None,
    agent_spec: str | None,
) -> tuple[str, Outcome | None]:
    """Take a fork's prefix actions; returns the last observation (and the outcome, should
    the env end within the prefix)."""
    if not prefix:
        return observation, None
    replay = getattr(agent, "replay", None)
    reseed = getattr(agent, "reseed", None)
    if not callable(replay) and not callable(reseed):
        raise ConfigError(
            f"agent {agent_spec or type(agent).__name__} cannot be forked (--fork-at): it has "
            "neither replay(observation, action, message) nor reseed(seed); see "
            "docs/plugging-in-an-agent.md"
        )
    agent.reset(
        task,
        agent_seed if callable(replay) else (agent_seed if prefix_seed is None else prefix_seed),
    )
    for index, action in enumerate(prefix):
        if callable(replay):
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
    if not callable(replay):
        reseed(agent_seed)  # type: ignore[misc]
    return observation, None


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
