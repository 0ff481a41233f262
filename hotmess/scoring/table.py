"""Score a run store: one row of bias, variance, error and incoherence per (env, agent,
horizon, metric). Records are read as plain JSON, so any tool's `episodes.jsonl` will do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from hotmess.errors import StoreError
from hotmess.scoring.decompositions import (
    PROBABILITY_TOLERANCE,
    Decomposition,
    brier_decomposition,
    coverage_decomposition,
    incoherence_with_reason,
    kl_decomposition,
    kl_error_floor,
    mse_decomposition,
    zero_one_decomposition,
)
from hotmess.store import EPISODES_FILE as EPISODES_FILE  # hotmess.scoring.report's import
from hotmess.store import load_episodes

METRICS: dict[str, tuple[str, ...]] = {
    "scalar": ("mse",),
    "categorical": ("kl", "brier", "zero_one"),
    "tests": ("coverage",),
}
"""The metrics scored for each outcome kind, in the order rows list them."""

_DECOMPOSE: dict[str, Callable[..., Decomposition]] = {
    "mse": mse_decomposition,
    "kl": kl_decomposition,
    "brier": brier_decomposition,
    "zero_one": zero_one_decomposition,
    "coverage": coverage_decomposition,
}
_METRIC_ORDER = tuple(metric for metrics in METRICS.values() for metric in metrics)


@dataclass(frozen=True)
class ScoreRow:
    """The decomposition of one metric over the questions of one (env, agent, horizon) cell."""

    env: str
    """Environment id, e.g. `hotmess/KVSum-v0`."""
    agent: str
    """Agent spec, e.g. `noisy:p=0.1`."""
    horizon: int
    """The task-length knob the cell was run at."""
    metric: str
    """`mse` (scalar), `kl`, `brier`, `zero_one` (categorical) or `coverage` (tests)."""
    n_tasks: int
    """Questions (task seeds) with at least one usable sample."""
    n_samples: int
    """Samples that entered the decomposition, over all questions."""
    bias: float
    """Mean over questions of the per-question bias; NaN when n_tasks is 0."""
    variance: float
    """Mean over questions of the per-question variance; NaN when n_tasks is 0."""
    error: float
    """Mean over questions of the per-question error; NaN when n_tasks is 0."""
    incoherence: float | None
    """Σ variance / Σ error over the questions; None when there is no error to split (total
    error 0, or for `kl` no more than δ smoothing leaves), no questions, and for `zero_one`."""
    success_rate: float
    """Share of non-censored episodes that succeeded; NaN when every episode was censored."""
    missing: int
    """Non-censored episodes with no usable prediction (scalar ones are left out of scoring;
    categorical ones score as uniform, tests ones as all failing)."""
    truncated: int
    """Non-censored episodes that hit the action cap."""
    infra_errors: int
    """Episodes censored because the harness, not the agent, failed."""

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-safe values: NaN becomes None."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}


def score_run(run_dir: str | os.PathLike[str]) -> list[ScoreRow]:
    """Score the `episodes.jsonl` of a run directory; see `score_episodes`."""
    return score_episodes(load_episodes(run_dir, keep_steps=False))


def score_episodes(episodes: Iterable[Mapping[str, Any]]) -> list[ScoreRow]:
    """One `ScoreRow` per (env, agent, horizon) cell and metric, sorted in that order.

    A question is one task seed within a cell; its samples are its episodes. Episodes with
    an `infra_error` are censored (left out of everything but `infra_errors`). A cell whose
    every episode is censored still gets its rows, with n_tasks 0 and no statistics.
    Forks (episodes with `fork_of`, from `--fork-at`) are left out: see `score_forks`.
    """
    episodes = [episode for episode in episodes if episode.get("fork_of") is None]
    cells: dict[tuple[str, str, int], _Cell] = {}
    # A canonical order makes the sums, and so the scores, bit-identical however the
    # episodes arrived (workers finish out of order; a resumed sweep appends late).
    for index in sorted(range(len(episodes)), key=lambda i: _canonical(episodes[i])):
        _add_episode(cells, episodes, index)
    rows: list[ScoreRow] = []
    for (env, agent, horizon), cell in sorted(cells.items(), key=lambda item: item[0]):
        rows.extend(_score_cell(env, agent, horizon, cell, episodes))
    return rows


def score_forks(episodes: Iterable[Mapping[str, Any]]) -> dict[int, list[ScoreRow]]:
    """Score the forks of a run (`--fork-at t --forks K`), one table per fork point t.

    A question is one trunk episode (a task's sample 0); its samples are the K
    continuations that replayed the trunk's first t actions. Their variance is what the
    agent's choices after step t add on their own, so reading the tables by t shows how
    variance compounds step by step (compare with `score_episodes`, whose samples all
    start from scratch). `n_tasks` counts trunks.
    """
    by_point: dict[int, list[dict[str, Any]]] = {}
    for episode in episodes:
        trunk = episode.get("fork_of")
        if trunk is None:
            continue
        # The trunk key stands in for the task seed: each trunk is its own question.
        question = {**episode, "fork_of": None, "task_seed": trunk}
        by_point.setdefault(int(episode["fork_at"]), []).append(question)
    return {point: score_episodes(group) for point, group in sorted(by_point.items())}


@dataclass
class _Samples:
    """Usable samples of one width (choices or tests per question; 0 for scalars)."""

    question: list[int] = field(default_factory=list)
    prediction: list[Any] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)  # index of the episode, for messages


@dataclass
class _Cell:
    kind: str
    episodes: int = 0  # non-censored
    successes: int = 0
    missing: int = 0
    truncated: int = 0
    infra_errors: int = 0
    seeds: dict[int | str, int] = field(default_factory=dict)  # task seed → question id
    by_width: dict[int, _Samples] = field(default_factory=dict)


def _add_episode(
    cells: dict[tuple[str, str, int], _Cell], episodes: Sequence[Mapping[str, Any]], index: int
) -> None:
    episode = episodes[index]
    env = _field(episode, "env", str, index)
    agent = _field(episode, "agent", str, index)
    horizon = _field(episode, "horizon", int, index)
    seed = _field(episode, "task_seed", (int, str), index)
    outcome = _field(episode, "outcome", dict, index)
    kind = outcome.get("kind")
    if kind not in METRICS:
        raise StoreError(
            f"{_describe(episodes, index)}: outcome kind is {kind!r}; expected one of "
            f"{', '.join(METRICS)}"
        )
    cell = cells.setdefault((env, agent, horizon), _Cell(kind))
    if cell.kind != kind:
        raise StoreError(
            f"{_describe(episodes, index)}: outcome kind {kind!r}, but earlier episodes of "
            f"this cell have kind {cell.kind!r}"
        )
    if outcome.get("infra_error") is not None:
        cell.infra_errors += 1
        return
    cell.episodes += 1
    cell.successes += bool(outcome.get("success"))
    cell.truncated += bool(outcome.get("truncated"))
    prediction = outcome.get("prediction")
    if prediction is None:
        cell.missing += 1
    if kind == "scalar":
        usable = _scalar_sample(episodes, index, prediction, outcome.get("target"))
        if usable is None:
            if prediction is not None:
                cell.missing += 1
            return
        width, prediction, target = usable
    elif kind == "categorical":
        width, prediction, target = _categorical_sample(episodes, index, prediction, outcome)
    else:
        width, prediction, target = _tests_sample(episodes, index, prediction, outcome)
    samples = cell.by_width.setdefault(width, _Samples())
    samples.question.append(cell.seeds.setdefault(seed, len(cell.seeds)))
    samples.prediction.append(prediction)
    samples.target.append(target)
    samples.origin.append(index)


def _scalar_sample(
    episodes: Sequence[Mapping[str, Any]], index: int, prediction: Any, target: Any
) -> tuple[int, float, float] | None:
    """(0, prediction, target), or None when the prediction is missing or not finite."""
    if not _is_number(target) or not math.isfinite(target):
        raise StoreError(
            f"{_describe(episodes, index)}: scalar target must be a finite number, got {target!r}"
        )
    if prediction is None:
        return None
    if not _is_number(prediction):
        raise StoreError(
            f"{_describe(episodes, index)}: scalar prediction must be a number or null, got {prediction!r}"
        )
    if not math.isfinite(prediction):
        return None
    return 0, float(prediction), float(target)


def _categorical_sample(
    episodes: Sequence[Mapping[str, Any]], index: int, prediction: Any, outcome: Mapping[str, Any]
) -> tuple[int, list[float], int]:
    where = _describe(episodes, index)
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


def _tests_sample(
    episodes: Sequence[Mapping[str, Any]], index: int, prediction: Any, outcome: Mapping[str, Any]
) -> tuple[int, list[bool], float]:
    where = _describe(episodes, index)
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


def _score_cell(
    env: str, agent: str, horizon: int, cell: _Cell, episodes: Sequence[Mapping[str, Any]]
) -> list[ScoreRow]:
    metrics = METRICS[cell.kind]
    parts: dict[str, list[Decomposition]] = {metric: [] for metric in metrics}
    n_samples = 0
    kl_floor = 0.0  # Σ over questions of the smallest KL error smoothing allows
    seen = np.zeros(len(cell.seeds), dtype=bool)
    for width, samples in cell.by_width.items():
        question = np.asarray(samples.question, dtype=np.int64)
        ids = np.unique(question)
        if seen[ids].any():
            raise StoreError(
                f"{_describe(episodes, samples.origin[0])}: the samples of one task seed have "
                "different numbers of choices or tests"
            )
        seen[ids] = True
        prediction = np.asarray(samples.prediction, dtype=np.float64)
        target = np.asarray(samples.target, dtype=np.float64)
        origin = np.asarray(samples.origin, dtype=np.int64)
        for prediction_q, target_q, origin_q in _by_sample_count(
            question, prediction, target, origin
        ):
            differs = (target_q != target_q[:, :1]).any(axis=1)
            if differs.any():
                first = origin_q[differs][0, 0]
                raise StoreError(
                    f"{_describe(episodes, int(first))}: the samples of this task seed have "
                    "different targets"
                )
            n_samples += target_q.size
            kl_floor += len(target_q) * kl_error_floor(width)
            for metric in metrics:
                if metric == "coverage":
                    parts[metric].append(coverage_decomposition(prediction_q.astype(bool)))
                else:
                    parts[metric].append(_DECOMPOSE[metric](prediction_q, target_q[:, 0]))
    n_tasks = int(seen.sum())
    rows = []
    for metric in metrics:
        stats = [float("nan")] * 3
        coherence: float | None = None
        if n_tasks:
            merged = Decomposition(
                *(np.concatenate(column) for column in zip(*parts[metric], strict=True))
            )
            stats = [float(np.mean(column)) for column in merged]
            if metric != "zero_one":
                value, reason = incoherence_with_reason(merged)
                # δ smoothing keeps KL error above 0 even when every sample is right: error at
                # that floor is no error, so incoherence is as undefined as for Brier's 0.
                total = float(np.sum(merged.error))
                at_floor = metric == "kl" and total <= kl_floor + 1e-9 * n_tasks
                coherence = None if reason is not None or at_floor else value
        rows.append(
            ScoreRow(
                env=env,
                agent=agent,
                horizon=horizon,
                metric=metric,
                n_tasks=n_tasks,
                n_samples=n_samples,
                bias=stats[0],
                variance=stats[1],
                error=stats[2],
                incoherence=coherence,
                success_rate=cell.successes / cell.episodes if cell.episodes else float("nan"),
                missing=cell.missing,
                truncated=cell.truncated,
                infra_errors=cell.infra_errors,
            )
        )
    return rows


def _by_sample_count(
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


def _field(episode: Mapping[str, Any], key: str, kind: type | tuple[type, ...], index: int) -> Any:
    value = episode.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise StoreError(
            f"episode {index} ({_identity(episode)}): `{key}` must be "
            f"{_type_names(kind)}, got {value!r}"
        )
    return value


def _canonical(episode: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(episode.get(key)) for key in ("env", "agent", "horizon", "task_seed", "sample", "key")
    )


def _describe(episodes: Sequence[Mapping[str, Any]], index: int) -> str:
    return f"episode {index} ({_identity(episodes[index])})"


def _identity(episode: Mapping[str, Any]) -> str:
    keys = ("env", "agent", "horizon", "task_seed", "sample")
    return ", ".join(f"{key}={episode.get(key)!r}" for key in keys if key in episode)


def _type_names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
