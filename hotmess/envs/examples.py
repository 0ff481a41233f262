"""Worked examples: whole episodes of an env solved by its own oracle, on tasks no sweep
draws, which agents may show a model before its task (the few-shot scaffold of `local:`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from hotmess.envs.base import ToolEnv

#: Example i is the task of seed EXAMPLE_SEED + i: task seeds are 31-bit (the runner derives
#: them so), so no example is ever a task of a sweep.
EXAMPLE_SEED = 2**31
#: Seeds tried for an example whose answer differs from the previous example's.
EXAMPLE_TRIES = 4
#: How many examples the reset `info` offers.
MAX_EXAMPLES = 8


@dataclass(frozen=True)
class Example:
    """One worked episode: the task's prompt, then each action with the observation it got."""

    prompt: str
    steps: tuple[tuple[str, str], ...]
    """(action, observation) pairs, the last one the submission."""


def solve(env: ToolEnv, seed: int) -> Example:
    """The episode `env`'s oracle plays on the task of `seed`."""
    prompt, _ = env.reset(seed=seed)
    oracle = env.oracle()
    observation, steps, done = prompt, [], False
    while not done:
        action = oracle.act(observation)
        observation, _, terminated, truncated, _ = env.step(action)
        steps.append((action, observation))
        done = terminated or truncated
    return Example(prompt, tuple(steps))


class LazyExamples(Sequence[Example]):
    """An env's first examples, made when first read: a sandboxed env's oracle needs a
    sandbox per example, a cost only agents that read them should pay. Slice it
    (`info["examples"][:2]`) to make no more than you use."""

    def __init__(self, env: ToolEnv, limit: int = MAX_EXAMPLES) -> None:
        self._env, self._limit = env, limit

    def _first(self, n: int) -> list[Example]:
        return self._env.examples(min(n, self._limit)) if n > 0 else []

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> list[Example]: ...
    def __getitem__(self, index: int | slice) -> Example | list[Example]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._limit)
            needed = stop if step > 0 else start + 1
            return self._first(needed)[index]
        return self._first(self._limit if index < 0 else index + 1)[index]

    def __len__(self) -> int:
        return len(self._first(self._limit))

    def __repr__(self) -> str:
        return f"LazyExamples({self._env.env_id}, horizon={self._env.horizon})"
