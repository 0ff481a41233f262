"""An agent plugin whose spending is known exactly: the oracle, reporting a fixed number of
tokens and dollars per action, optionally taking its time. Budgets are tested on it."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from hotmess.agents.base import AgentStep, Task


class MeteredConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: int = 100
    cost: float | None = 0.001
    sleep: float = 0.0


class MeteredAgent:
    Config = MeteredConfig

    def __init__(self, config: MeteredConfig) -> None:
        self.config = config

    def reset(self, task: Task, seed: int) -> None:
        assert task.oracle is not None
        self.oracle = task.oracle

    def act(self, observation: str) -> AgentStep:
        time.sleep(self.config.sleep)
        return AgentStep(
            self.oracle.act(observation),
            tokens_in=self.config.tokens,
            tokens_out=0,
            cost=self.config.cost,
        )
