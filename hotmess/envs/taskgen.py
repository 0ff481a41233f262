"""Deterministic task generation: a random stream that is the same on every machine and
Python version, and pronounceable names drawn from it.

`random.Random.random()` is the one stream CPython promises never to change for a given
seed; every other draw here is built on it, so a task seed fixes a task forever.
"""

from __future__ import annotations

import random
from collections.abc import MutableSequence, Sequence
from typing import TypeVar

T = TypeVar("T")

_ONSETS = (
    "b",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "tr",
    "st",
    "gl",
    "pl",
    "sk",
)
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "", "", "n", "r", "s", "l", "m")


class TaskRandom:
    """A seeded random stream whose every draw derives from `random.Random.random()`."""

    def __init__(self, seed: int, *salt: str | int) -> None:
        key = ":".join(str(part) for part in (seed, *salt))
        self._random = random.Random(key)

    def random(self) -> float:
        return self._random.random()

    def randint(self, low: int, high: int) -> int:
        """An integer in [low, high], both ends included."""
        return low + min(int(self._random.random() * (high - low + 1)), high - low)

    def choice(self, items: Sequence[T]) -> T:
        return items[self.randint(0, len(items) - 1)]

    def shuffle(self, items: MutableSequence[T]) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = self.randint(0, i)
            items[i], items[j] = items[j], items[i]

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        pool = list(items)
        self.shuffle(pool)
        return pool[:k]

    def word(self, syllables: int = 2) -> str:
        """A pronounceable made-up word such as `brenavo`."""
        parts = [self.choice(_ONSETS) + self.choice(_VOWELS) for _ in range(syllables)]
        return "".join(parts) + self.choice(_CODAS)

    def words(self, n: int, syllables: int = 2) -> list[str]:
        """`n` distinct words."""
        seen: dict[str, None] = {}
        while len(seen) < n:
            # Three syllables once the two-syllable space gets crowded.
            seen.setdefault(self.word(syllables if len(seen) < 2000 else 3), None)
        return list(seen)
