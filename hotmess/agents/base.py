"""The agent protocol: what the runner asks of an agent, and what it hands it.

An agent is anything with `reset(task, seed)` and `act(observation) -> action`. `act` may
return the action string alone, or an `AgentStep` that also reports tokens and cost. An agent
that can be forked (`--fork-at`) is also `Replayable` or `Reseedable`; one that can be asked
for its final answer at the action cap is also `FinalAnswering`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hotmess.envs.base import Oracle
from hotmess.envs.examples import Example
from hotmess.errors import ConfigError


@dataclass(frozen=True)
class Task:
    """One task instance as an agent sees it at the start of an episode."""

    env_id: str
    horizon: int
    task_seed: int
    prompt: str
    tools: list[dict[str, Any]]
    """Tool specs in the OpenAI function shape (JSON Schema parameters)."""
    max_actions: int
    oracle: Oracle | None = field(default=None, repr=False, compare=False)
    """A solver for this task. Privileged: only scripted baselines may use it."""
    examples: Sequence[Example] = field(default=(), repr=False, compare=False)
    """Worked examples of other tasks of this env (the reset `info["examples"]`), made when
    first read: slice what you use."""


@dataclass(frozen=True)
class AgentStep:
    """An action plus what producing it cost. Latency is measured by the runner."""

    action: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    """US dollars; None when unknown (an unpriced model), 0.0 for free agents."""
    error: str | None = None
    """A problem the agent had producing this action (an API retry, a parse fallback)."""
    message: str | None = None
    """What the model said besides its tool call (its reasoning, or a reply that was no call)."""
    infra_error: str | None = None
    """Set when the agent could not act for reasons outside its control (an API that stays
    down after every retry): the runner ends the episode and censors it."""
    truncated: str | None = None
    """Set when the agent cannot go on for want of room (its model's context window is
    full): the runner ends the episode as truncated, this the reason in its step record."""


@runtime_checkable
class Agent(Protocol):
    """What hotmess drives. Implement this to plug in your own agent."""

    def reset(self, task: Task, seed: int) -> None:
        """Start a new episode on `task`; `seed` fixes any randomness of this sample."""
        ...

    def act(self, observation: str) -> str | AgentStep:
        """The next action (a JSON tool call string) given the latest observation."""
        ...


def as_step(result: str | AgentStep) -> AgentStep:
    """Normalise what `act` returned."""
    return result if isinstance(result, AgentStep) else AgentStep(action=result)


@runtime_checkable
class FinalAnswering(Protocol):
    """An agent that can be asked for its final answer. With `final_answer` on, the runner
    calls `final_answer` instead of `act` for the last allowed action of an episode that
    has not ended; the action should be a `submit` call (the LLM agents offer the model
    only `submit` on that request). An agent without it just acts, and an action other
    than a submit ends the episode truncated."""

    def final_answer(self, observation: str) -> str | AgentStep:
        """The `submit` call of your answer, given the latest observation."""
        ...


@runtime_checkable
class Replayable(Protocol):
    """An agent that can continue a fork by being told the trunk's actions (the LLM agents)."""

    def replay(self, observation: str, action: str, message: str | None = None) -> None:
        """Take `action`, answering `observation`, into your state as if you had chosen it
        (called after `reset`, once per prefix action, instead of `act`)."""
        ...


@runtime_checkable
class Reseedable(Protocol):
    """An agent whose choices are a function of its seed (the scripted agents): a fork
    regenerates the trunk's actions from the trunk's seed, then reseeds it."""

    def reseed(self, seed: int) -> None:
        """Draw from `seed` from now on, keeping everything else of the episode so far."""
        ...


def require_forkable(agent: object, name: str) -> None:
    """Raise `ConfigError` unless `agent` is `Replayable` or `Reseedable`."""
    if not isinstance(agent, (Replayable, Reseedable)):
        raise ConfigError(
            f"agent {name} cannot be forked (--fork-at): it is neither Replayable "
            "(replay(observation, action, message)) nor Reseedable (reseed(seed)); see "
            "docs/plugging-in-an-agent.md#forking"
        )
