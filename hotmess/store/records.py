"""The records of `episodes.jsonl`: one `EpisodeRecord` per line, one `StepRecord` per
action. Pydantic models, so what crosses the store's boundary is validated and documented.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

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
