"""From episode outcomes to the samples the decompositions take, by DESIGN's rules for
missing answers, and the grouping of samples into [questions, samples] arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hotmess.errors import StoreError
from hotmess.scoring.decompositions import PROBABILITY_TOLERANCE

Sample = tuple[int, Any, float]
"""(width, prediction, target): width is the number of choices or tests (0 for scalars)."""


def outcome_sample(
    episodes: Sequence[Mapping[str, Any]], index: int, outcome: Mapping[str, Any]
) -> Sample | None:
    """The sample of `episodes[index]`'s outcome, by its kind; None when a scalar answer is
    missing or not finite (scalars are left out, not imputed). Raises `StoreError` naming
    the episode when the outcome is malformed."""
    kind = outcome.get("kind")
    prediction = outcome.get("prediction")
    if kind == "scalar":
        return scalar_sample(episodes, index, prediction, outcome.get("target"))
    if kind == "categorical":
        return categorical_sample(episodes, index, prediction, outcome)
    if kind == "tests":
        return tests_sample(episodes, index, prediction, outcome)
    raise StoreError(
        f"{describe_episode(episodes, index)}: outcome kind is {kind!r}; expected scalar, "
        "categorical or tests"
    )


def scalar_sample(
    episodes: Sequence[Mapping[str, Any]], index: int, prediction: Any, target: Any
) -> tuple[int, float, float] | None:
    """(0, prediction, target), or None when the prediction is missing or not finite."""
    if not _is_number(target) or not math.isfinite(target):
        raise StoreError(
            f"{describe_episode(episodes, index)}: scalar target must be a finite number, got {target!r}"
        )
    if prediction is None:
        return None
    if not _is_number(prediction):
        raise StoreError(
            f"{describe_episode(episodes, index)}: scalar prediction must be a number or null, got {prediction!r}"
        )
    if not math.isfinite(prediction):
        return None
    return 0, float(prediction), float(target)


def categorical_sample(
    episodes: Sequence[Mapping[str, Any]], index: int, prediction: Any, outcome: Mapping[str, Any]
) -> tuple[int, list[float], int]:
    """(choices, probability vector, gold index); no answer is the uniform distribution."""
    where = describe_episode(episodes, index)
    choices = outcome.get("choices")
    if not isinstance(choices, list) or not choices:
        raise StoreError(f"{where}: a categorical outcome needs a non-empty `choices` list")
    n_choices = len(choices)
    target = outcome.get("target")
    if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < n_choices:
        raise StoreError(
            f"{where}: categorical target must be an index into the {n_choices} choices, got {target!r}"
        )
    if prediction is None:  # no usable answer: the uniform distribution (DESIGN, Scoring)
        return n_choices, [1.0 / n_choices] * n_choices, target
    if (
        not isinstance(prediction, list)
        or len(prediction) != n_choices
        or not all(_is_number(p) and p >= 0 for p in prediction)
        or not abs(math.fsum(prediction) - 1.0) <= PROBABILITY_TOLERANCE
    ):
        raise StoreError(
            f"{where}: categorical prediction must be null or a probability vector over the "
            f"{n_choices} choices (non-negative, summing to 1), got {prediction!r}"
        )
    return n_choices, prediction, target


def tests_sample(
    episodes: Sequence[Mapping[str, Any]], index: int, prediction: Any, outcome: Mapping[str, Any]
) -> tuple[int, list[bool], float]:
    """(tests, pass/fail per test, 0.0); no test run is every test failing."""
    where = describe_episode(episodes, index)
    tests = outcome.get("tests")
    if not isinstance(tests, list) or not tests:
        raise StoreError(f"{where}: a tests outcome needs a non-empty `tests` list")
    if prediction is None:  # no test run: every test fails (DESIGN, Scoring)
        return len(tests), [False] * len(tests), 0.0
    if (
        not isinstance(prediction, list)
        or len(prediction) != len(tests)
        or not all(p in (0, 1) for p in prediction)
    ):
        raise StoreError(
            f"{where}: tests prediction must be null or one true/false per test "
            f"({len(tests)} tests), got {prediction!r}"
        )
    return len(tests), prediction, 0.0


def by_sample_count(
    question: npt.NDArray[np.int64], *columns: np.ndarray
) -> Iterator[list[np.ndarray]]:
    """Group samples by how many their question has: for each count s, yield every column
    gathered to [questions with s samples, s, ...]. One pass per distinct count, no
    per-question loop."""
    order = np.argsort(question, kind="stable")
    _, starts, counts = np.unique(question[order], return_index=True, return_counts=True)
    for count in np.unique(counts):
        take = order[starts[counts == count][:, None] + np.arange(count)]
        yield [column[take] for column in columns]


def canonical_key(episode: Mapping[str, Any]) -> tuple[str, ...]:
    """The order scoring visits episodes in, whatever order they were written in."""
    return tuple(
        str(episode.get(key)) for key in ("env", "agent", "horizon", "task_seed", "sample", "key")
    )


def describe_episode(episodes: Sequence[Mapping[str, Any]], index: int) -> str:
    """`episode 3 (env=..., agent=..., ...)`, for error messages."""
    return f"episode {index} ({episode_identity(episodes[index])})"


def episode_identity(episode: Mapping[str, Any]) -> str:
    keys = ("env", "agent", "horizon", "task_seed", "sample")
    return ", ".join(f"{key}={episode.get(key)!r}" for key in keys if key in episode)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
