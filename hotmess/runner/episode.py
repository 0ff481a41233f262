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
from hotmess.errors import HotmessError, InfrastructureError
from hotmess.outcome import Outcome
from hotmess.runner.interrupts import is_real_interrupt
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

    Who is to blame decides how an episode that breaks is kept (docs/running-a-sweep.md, Failures):
    - the agent's failure, scored as a missing answer with `agent_failure` set: anything
      `agent.reset`/`agent.act` raise (SystemExit and KeyboardInterrupt included, unless the
      process really got Ctrl-C), a value `act` returns that is no action, and an exception
      the env raises executing an agent's action;
    - truncated: the agent's context window is full (`AgentStep.truncated`);
    - censored (`infra_error`): an agent that reports an API down after every retry, an
      `InfrastructureError` or container-engine error from the env, a fork that diverged.
    A `HotmessError` (a bad key, model or option) stops the sweep. With `fork`, the trunk's
    prefix actions are taken first (marked `replayed`): a `Replayable` agent is told each
    of them, a `Reseedable` one regenerates them from the trunk's seed and is then reseeded.

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
        examples=info.get("examples", ()),
    )
    steps: list[StepRecord] = []
    try:
        observation, outcome = _start(env, agent, task, observation, agent_seed, fork, steps)
    except ForkDiverged as exc:
        outcome = env.abandon(f"episode crashed: RuntimeError: {exc}")
    except BaseException as exc:
        outcome = env.fail(f"the agent failed to start the episode: {_describe(_agents_own(exc))}")
    while outcome is None:
        outcome = _one_step(env, agent, observation, steps)
        if isinstance(outcome, str):
            observation, outcome = outcome, None
    outcome.answer = storable(outcome.answer)
    return Episode(
        outcome=outcome,
        steps=steps,
        prompt=task.prompt,
        system_prompt=getattr(agent, "system_prompt", None),
        sandbox=env.sandbox_kind,
        started_at=started,
        duration_s=time.time() - started,
    )


def _one_step(
    env: ToolEnv, agent: Agent, observation: str, steps: list[StepRecord]
) -> Outcome | str:
    """Ask the agent for one action and take it: the next observation, or the outcome when
    the episode ended."""
    t0 = time.perf_counter()
    try:
        step = _checked(_next_action(agent, observation, env.submit_only))
    except BaseException as exc:
        reason = f"agent.act raised {_describe(_agents_own(exc))}"
        steps.append(_step_record(AgentStep(action=""), "", {}, time.perf_counter() - t0, 0.0))
        steps[-1].agent_error = reason
        return env.fail(reason)
    t1 = time.perf_counter()
    if step.infra_error is not None or step.truncated is not None:
        steps.append(_step_record(step, "", {}, t1 - t0, 0.0))
        if step.infra_error is not None:
            return env.abandon(step.infra_error)
        steps[-1].agent_error = step.truncated
        return env.cut()
    try:
        observation, _, terminated, truncated, step_info = env.step(step.action)
    except HotmessError:
        raise
    except Exception as exc:
        steps.append(_step_record(step, "", {}, t1 - t0, time.perf_counter() - t1))
        if _is_infrastructure(exc):
            return env.abandon(f"the sandbox failed: {_describe(exc)}")
        reason = f"the env could not execute the action: {_describe(exc)}"
        steps[-1].agent_error = reason
        return env.fail(reason)
    steps.append(_step_record(step, observation, step_info, t1 - t0, time.perf_counter() - t1))
    if terminated or truncated:
        outcome: Outcome = step_info["outcome"]
        return outcome
    return observation


class ForkDiverged(RuntimeError):
    """A fork's regenerated prefix is not the trunk's: the fork cannot be run (censored)."""


def _agents_own(exc: BaseException) -> BaseException:
    """`exc`, unless it must end more than the episode: a real Ctrl-C and a user-fixable
    `HotmessError` (a bad key or model) propagate."""
    if is_real_interrupt(exc) or isinstance(exc, HotmessError):
        raise exc
    return exc


def _checked(result: Any) -> AgentStep:
    """What `act` returned as an `AgentStep`; a TypeError for anything that is no action."""
    step = as_step(result)
    if not isinstance(step.action, str):
        raise TypeError(
            f"act() must return a str or an AgentStep, got {type(step.action).__name__}"
        )
    try:
        _step_record(step, "", {}, 0.0, 0.0)  # tokens, cost and messages of the right types
    except ValueError as exc:
        raise TypeError(f"act() returned an AgentStep that cannot be stored: {exc}") from None
    return step


def _is_infrastructure(exc: BaseException) -> bool:
    """A fault the sandbox backend reports as its own: the container engine (docker SDK and
    the HTTP client it talks to the daemon with) or an explicit `InfrastructureError`."""
    if isinstance(exc, InfrastructureError):
        return True
    module = type(exc).__module__.split(".")[0]
    return module in ("docker", "requests", "urllib3")


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]


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
                raise ForkDiverged(
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


def _next_action(agent: Agent, observation: str, submit_only: bool) -> Any:
    """What the agent returns for its next action: its final answer at the env's
    final-answer step, if it can give one, else whatever `act` chooses."""
    if submit_only and isinstance(agent, FinalAnswering):
        return agent.final_answer(observation)
    return agent.act(observation)


def _oracle_or_none(env: ToolEnv) -> Any:
    try:
        return env.oracle()
    except NotImplementedError:
        return None


def storable(value: Any) -> Any:
    """`value` with every string made encodable as UTF-8 (a lone surrogate an agent sent is
    kept as its escape), so the record can be written."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode()
        return value
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


def _step_record(
    step: Any, observation: str, info: dict[str, Any], latency: float, env_s: float
) -> StepRecord:
    return StepRecord(
        action=storable(step.action),
        observation=storable(observation),
        tool=info.get("tool"),
        tool_error=bool(info.get("error", False)),
        agent_error=storable(step.error or step.infra_error),
        agent_message=storable(step.message),
        tokens_in=step.tokens_in,
        tokens_out=step.tokens_out,
        cost=step.cost,
        latency_s=latency,
        env_s=env_s,
    )
