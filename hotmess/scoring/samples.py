"""From episode outcomes to the samples the decompositions take, by DESIGN's rules for
missing answers, and the grouping of samples into [questions, samples] arrays.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from hotmess.errors import ConfigError, StoreError
from hotmess.scoring.decompositions import PROBABILITY_TOLERANCE
from hotmess.store import LightEpisode

MISSING_SCALAR_POLICIES = ("drop", "worst")
"""What a missing scalar answer scores as: `drop` (left out, the default: the paper's
rule) or `worst` (the answer farthest from the target among its question's answers)."""
STAND_IN = "stand_in"
"""Outcome key `impute_missing_scalars` sets on an answer it filled in: scored, but not
a usable sample (it never makes a question estimable) and still counted as missing."""

Episode = TypeVar("Episode", LightEpisode, Mapping[str, Any])

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


def impute_missing_scalars(episodes: Iterable[Episode], policy: str) -> list[Episode]:
    """`episodes` with the missing scalar answers filled in by `policy` (a new list; the
    episodes given are not changed). `drop` fills in nothing. `worst` gives each missing
    answer of a question (env, agent, horizon, task seed) the answer of that question
    farthest from its target, so a missing answer costs the most error the agent showed on
    the question, in the question's own units; a question without any answer stays missing.
    A filled-in outcome carries `stand_in: "worst"`."""
    if policy not in MISSING_SCALAR_POLICIES:
        raise ConfigError(
            f"missing-scalar policy {policy!r} is not one of {', '.join(MISSING_SCALAR_POLICIES)}"
        )
    episodes = list(episodes)
    if policy == "drop":
        return episodes
    worst: dict[tuple[Any, ...], float] = {}
    for episode in episodes:
        outcome = _outcome(episode)
        answer = _scalar_answer(outcome)
        if answer is not None and _is_number(outcome.get("target")):
            question = _question(episode)
            distance = abs(answer - outcome["target"])
            if question not in worst or distance > abs(worst[question] - outcome["target"]):
                worst[question] = answer
    filled: list[Episode] = []
    for episode in episodes:
        outcome = _outcome(episode)
        question = _question(episode)
        if (
            outcome.get("kind") != "scalar"
            or outcome.get("infra_error") is not None
            or _scalar_answer(outcome) is not None
            or question not in worst
        ):
            filled.append(episode)
            continue
        stand_in = {**outcome, "prediction": worst[question], STAND_IN: policy}
        if isinstance(episode, LightEpisode):
            filled.append(dataclasses.replace(episode, outcome=stand_in))
        else:
            filled.append({**episode, "outcome": stand_in})  # type: ignore[arg-type]
    return filled


def is_stand_in(outcome: Mapping[str, Any]) -> bool:
    """Whether the outcome's prediction was filled in for a missing answer."""
    return outcome.get(STAND_IN) is not None


def _outcome(episode: LightEpisode | Mapping[str, Any]) -> Mapping[str, Any]:
    outcome = episode.outcome if isinstance(episode, LightEpisode) else episode.get("outcome")
    return outcome if isinstance(outcome, Mapping) else {}


def _question(episode: LightEpisode | Mapping[str, Any]) -> tuple[Any, ...]:
    if isinstance(episode, LightEpisode):
        return (episode.env, episode.agent, episode.horizon, episode.task_seed, episode.fork_of)
    return tuple(episode.get(k) for k in ("env", "agent", "horizon", "task_seed", "fork_of"))


def _scalar_answer(outcome: Mapping[str, Any]) -> float | None:
    """A scalar outcome's finite, agent-given answer, else None."""
    prediction = outcome.get("prediction")
    if (
        outcome.get("kind") != "scalar"
        or is_stand_in(outcome)
        or outcome.get("infra_error") is not None
        or not _is_number(prediction)
        or not math.isfinite(prediction)
    ):
        return None
    return float(prediction)


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
