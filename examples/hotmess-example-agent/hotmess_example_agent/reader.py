"""Reader: solves hotmess/KVSum-v0 by reading the prompt and each observation, as a careful
clerk would, and, with `slip` > 0, as a careless one: each value it reads may be copied
off by one. It is not told the answer (it has no oracle): it acts through the tools alone."""

from __future__ import annotations

import json
import random

from pydantic import BaseModel, ConfigDict, Field

from hotmess.agents import AgentStep, Task


class ReaderConfig(BaseModel):
    """Options of the `reader` agent, parsed from its spec (`reader:slip=0.1,seed_offset=7`)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt option is an error, not ignored

    slip: float = Field(0.0, ge=0.0, le=1.0)
    """Probability of copying a value off by one at each lookup."""
    seed_offset: int = 0
    """Added to the sample's seed: a different, still reproducible, stream of slips."""


class ReaderAgent:
    """Looks up every key the prompt lists, adds up what it reads, and submits the total."""

    Config = ReaderConfig

    def __init__(self, config: ReaderConfig | None = None) -> None:
        self.config = config or ReaderConfig()

    def reset(self, task: Task, seed: int) -> None:
        tools = {spec["function"]["name"] for spec in task.tools}
        if "lookup" not in tools:
            raise ValueError(f"the reader only knows KVSum-like tasks, not {task.env_id}")
        # The prompt's second line lists the keys: "soskol, soskol, simo, soskol".
        self.keys = task.prompt.splitlines()[1].split(", ")
        self.rng = random.Random(seed + self.config.seed_offset)
        self.total = 0
        self.asked = 0

    def act(self, observation: str) -> AgentStep:
        if self.asked > 0:  # the observation answers the last lookup: "soskol = -12"
            value = int(observation.rsplit("=", 1)[1])
            if self.rng.random() < self.config.slip:
                value += self.rng.choice((-1, 1))
            self.total += value
        if self.asked < len(self.keys):
            key = self.keys[self.asked]
            self.asked += 1
            action = {"tool": "lookup", "arguments": {"key": key}}
        else:
            action = {"tool": "submit", "arguments": {"answer": self.total}}
        # No model, no tokens, no bill: say so, so the sweep's cost column reads 0, not unknown.
        return AgentStep(json.dumps(action), cost=0.0)
