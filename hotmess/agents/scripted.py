"""Scripted baselines with known ground truth: the oracle, the noisy oracle that errs
with a set probability per step, and a random agent. Asked for a final answer at the action
cap, each submits: the oracle's own answer when it is done, else its best guess so far."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hotmess.agents.base import AgentStep, FinalAnswering, Reseedable, Task
from hotmess.envs.base import FINAL_ANSWER_NOTICE


class _NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _require_oracle(task: Task, who: str) -> Any:
    if task.oracle is None:
        raise RuntimeError(
            f"the {who} agent needs the env's oracle, but {task.env_id} provides none"
        )
    return task.oracle


def _final(oracle: Any, action: str) -> str:
    """The final answer after the oracle chose `action`: that action when it submits; else
    the oracle's best guess from what it has read (`guess()`, when it offers one); else
    `action`, which ends the episode truncated."""
    if _tool(action) == "submit":
        return action
    guess = getattr(oracle, "guess", None)
    return (guess() if callable(guess) else None) or action


def _without_notice(observation: str) -> str:
    """The observation as the oracle parses it: without the env's final-answer notice."""
    return observation.removesuffix(f"\n{FINAL_ANSWER_NOTICE}")


def _tool(action: str) -> str | None:
    try:
        call = json.loads(action)
    except json.JSONDecodeError:
        return None
    return call.get("tool") if isinstance(call, dict) else None


class OracleAgent(Reseedable, FinalAnswering):
    """Replays the env's oracle solution: always succeeds when the action cap allows the
    solution (the default cap does: it is twice the oracle's actions). Under a cap below
    that, its forced final answer is the oracle's best guess (see `_final`)."""

    Config = _NoOptions

    def __init__(self, config: _NoOptions | None = None) -> None:
        self.config = config or _NoOptions()

    def reset(self, task: Task, seed: int) -> None:
        self.oracle = _require_oracle(task, "oracle")

    def act(self, observation: str) -> AgentStep:
        return AgentStep(self.oracle.act(observation), cost=0.0)

    def final_answer(self, observation: str) -> AgentStep:
        action = self.oracle.act(_without_notice(observation))
        return AgentStep(_final(self.oracle, action), cost=0.0)

    def reseed(self, seed: int) -> None:
        """Forking: the oracle has no randomness to redraw."""


class NoisyConfig(BaseModel):
    """Options of the `noisy` agent."""

    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.1, ge=0.0, le=1.0)
    """Probability that any one action is wrong (a misread value, a wrong hop)."""
    systematic: bool = False
    """Draw errors from the task seed only, so every sample of a task errs identically
    (variance exactly 0: pure bias)."""


class NoisyAgent(Reseedable, FinalAnswering):
    """The oracle, erring with probability p per step: known ground truth for scoring. It
    takes exactly the oracle's actions, so the default cap never binds: success is
    (1 - p)^(actions with a possible mistake). Forced to answer before it is done (a cap
    below the oracle's actions), it submits the oracle's best guess from what it has read
    (KVSum: the sum so far, unread keys counting 0; PointerChase: the colour reached)."""

    Config = NoisyConfig

    def __init__(self, config: NoisyConfig | None = None) -> None:
        self.config = config or NoisyConfig()

    def reset(self, task: Task, seed: int) -> None:
        self.oracle = _require_oracle(task, "noisy")
        self.task_seed = task.task_seed
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Draw errors from `seed` from now on (forking). Systematic errors depend on the
        task alone, so a systematic agent's forks all continue alike."""
        entropy = [self.task_seed, 0x5E7] if self.config.systematic else [seed, 0x5A3]
        self.rng = np.random.default_rng(entropy)

    def act(self, observation: str) -> AgentStep:
        # Two draws every step keep the error stream aligned however the env uses them.
        errs, which = self.rng.random(2)
        mistake = float(which) if errs < self.config.p else None
        return AgentStep(self.oracle.act(observation, mistake=mistake), cost=0.0)

    def final_answer(self, observation: str) -> AgentStep:
        action = self.act(_without_notice(observation)).action
        return AgentStep(_final(self.oracle, action), cost=0.0)


class RandomAgent(Reseedable, FinalAnswering):
    """Calls a random tool with arguments drawn from the words of the prompt; asked for a
    final answer, submits random arguments."""

    Config = _NoOptions

    def __init__(self, config: _NoOptions | None = None) -> None:
        self.config = config or _NoOptions()

    def reset(self, task: Task, seed: int) -> None:
        self.reseed(seed)
        self.tools = [spec["function"] for spec in task.tools]
        self.words = sorted(set(re.findall(r"[A-Za-z_][\w.\-/]*", task.prompt))) or ["x"]

    def reseed(self, seed: int) -> None:
        """Draw from `seed` from now on (forking)."""
        self.rng = np.random.default_rng([seed, 0x7A2])

    def _value(self, schema: dict[str, Any]) -> Any:
        kinds = schema.get("type", "string")
        kind = kinds if isinstance(kinds, str) else kinds[int(self.rng.integers(len(kinds)))]
        if kind in ("number", "integer"):
            return int(self.rng.integers(-1000, 1001))
        if kind == "boolean":
            return bool(self.rng.integers(2))
        if kind in ("object", "array"):
            return {} if kind == "object" else []
        return self.words[int(self.rng.integers(len(self.words)))]

    def act(self, observation: str) -> AgentStep:
        return self._call(self.tools[int(self.rng.integers(len(self.tools)))])

    def final_answer(self, observation: str) -> AgentStep:
        submit = [tool for tool in self.tools if tool["name"] == "submit"]
        return self._call(submit[0]) if submit else self.act(observation)

    def _call(self, tool: dict[str, Any]) -> AgentStep:
        properties = tool.get("parameters", {}).get("properties", {})
        arguments = {name: self._value(schema) for name, schema in properties.items()}
        return AgentStep(json.dumps({"tool": tool["name"], "arguments": arguments}), cost=0.0)
