"""The scorable result of one episode, as environments report it in `info["outcome"]`.

Scoring reads these as plain JSON from the run store, so the field names here are a
file format: change them only with a migration.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

OutcomeKind = Literal["scalar", "categorical", "tests"]


class Outcome(BaseModel):
    """What an episode produced, and what it should have produced."""

    model_config = ConfigDict(extra="forbid")

    kind: OutcomeKind
    """`scalar` (a number), `categorical` (one of `choices`) or `tests` (pass/fail per test)."""
    prediction: float | list[float] | list[bool] | None = None
    """The agent's answer in scorable form: a number, a probability vector over
    `choices`, or one pass/fail per test. None when the agent gave no usable answer."""
    target: float | int | None = None
    """The true number (scalar) or the index of the gold choice (categorical); None for tests."""
    choices: list[str] | None = None
    """Categorical only: the answer labels, in the order of `prediction`."""
    tests: list[str] | None = None
    """Tests only: the hidden tests' names, in the order of `prediction`."""
    answer: Any = None
    """The raw answer the agent submitted, kept for transcripts."""
    success: bool = False
    """Whether the answer is exactly right (every test passes, for tests)."""
    n_actions: int = 0
    """Actions the agent took, malformed ones included."""
    truncated: bool = False
    """The episode hit the action cap before the agent submitted."""
    forced: bool = False
    """The answer was submitted at the final-answer step: the last allowed action, when the
    env (with `final_answer` on) allowed only `submit` (see docs/running-a-sweep.md)."""
    infra_error: str | None = None
    """Set when the harness, not the agent, failed: the episode is censored in scoring."""
    agent_failure: str | None = None
    """Set when the agent or its actions broke the episode (an exception in `act()`, a wrong
    return type, an action the env could not execute): scored as a missing answer, counted."""
