"""Per-cell statistics: the score table's rows with bootstrap confidence intervals over
tasks, and the success rate's interval."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from hotmess.scoring.decompositions import Decomposition
from hotmess.scoring.estimators import ESTIMATORS, Estimator
from hotmess.scoring.metrics import get_metric
from hotmess.scoring.stats.bootstrap import _check, _Replicates, _replicates, _rng
from hotmess.scoring.stats.intervals import Interval, expanded_interval
from hotmess.scoring.stats.questions import (
    Episodes,
    FloatArray,
    _as_light,
    _CellData,
    _cells,
)
from hotmess.scoring.table import ScoreRow

_NO_CENTRE: tuple[float | None, ...] = (None,) * 4
IntervalKind = Literal["population", "tasks", "two-stage"]
INTERVALS: tuple[IntervalKind, ...] = ("population", "tasks", "two-stage")
"""What an interval covers: the population quantities (bootstrap over tasks of the corrected
per-question values), the point estimator's expectation (tasks only), or two-stage."""


@dataclass(frozen=True)
class CellStats:
    """A `ScoreRow`'s statistics with bootstrap confidence intervals over tasks."""

    env: str
    agent: str
    horizon: int
    metric: str
    n_tasks: int
    n_samples: int
    bias: float
    variance: float
    error: float
    incoherence: float | None
    """As `ScoreRow.incoherence`: None where it is undefined."""
    bias_ci: Interval
    variance_ci: Interval
    error_ci: Interval
    incoherence_ci: Interval | None
    """None where the point incoherence is None. Replicates without error (so without
    incoherence) are left out of the interval; `incoherence_replicates` says how many
    remained."""
    success_rate: float
    success_ci: Interval
    """Over every non-censored episode of the cell's task seeds."""
    incoherence_replicates: int = 0
    """Bootstrap replicates whose incoherence was defined (of n_boot)."""
    estimator: str = "plugin"
    """Which point estimator gave bias, variance, error and incoherence."""
    intervals: str = "population"
    """Which bootstrap gave the intervals: `population`, `tasks` or `two-stage`."""
    forced_share: float = math.nan
    """As `ScoreRow.forced_share`: the share of answers forced at the action cap."""


def cell_stats(
    episodes: Episodes,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    resample_samples: bool = False,
    estimator: Estimator = "plugin",
    intervals: IntervalKind | None = None,
) -> list[CellStats]:
    """The rows of `score_episodes` with bootstrap confidence intervals over tasks.

    Point values are `estimator`'s: the table's plug-in values (default) or the corrected
    ones (`hotmess.scoring.estimators`). Each of `n_boot` replicates draws the cell's
    questions (task seeds) with replacement and recomputes the pooled statistics from their
    per-question bias, variance and error: means over questions, incoherence = Σ variance /
    Σ error (undefined as in the table). Which per-question values, by `intervals`:
    `population` (default) the corrected ones, so the interval covers the population
    quantities (a plug-in point may lie outside it: its own finite-sample bias); `tasks` the
    point estimator's own, covering what that estimator averages to at this many samples;
    `two-stage` (or `resample_samples=True`) also redraws each drawn question's samples and
    decomposes them with the plug-in. docs/scoring.md says which answers which question. The
    interval is the expanded percentile interval (see `expanded_interval`). The success rate
    is resampled over the non-censored episodes of each task seed. Forks are left out.
    Deterministic for a `seed`; each cell has its own random stream.
    """
    _check(n_boot, level)
    kind = _interval_kind(intervals, resample_samples, estimator)
    two_stage = kind == "two-stage"
    boot_estimator: Estimator = "corrected" if kind == "population" else estimator
    stats: list[CellStats] = []
    for data in _cells(_as_light(episodes)):
        rng = _rng(seed, "cell", data.env, data.agent, data.horizon)
        n = data.n_questions
        draws = rng.integers(0, n, size=(n_boot, n)) if n else None
        replicates = (
            None if draws is None else _replicates(data, draws, rng, two_stage, boot_estimator)
        )
        success = _success_replicates(data, n_boot, rng, two_stage)
        success_ci = expanded_interval(success, level, len(data.trials))
        centres: dict[str, tuple[float | None, ...]] = {}
        if kind == "population":  # bias-correct around the corrected point values
            centres = {
                row.metric: (row.bias, row.variance, row.error, row.incoherence)
                for row in estimated_rows(data, "corrected")
            }
        for row in estimated_rows(data, estimator):
            cis = _row_intervals(row, replicates, centres.get(row.metric, _NO_CENTRE), level, n)
            stats.append(
                CellStats(
                    env=row.env,
                    agent=row.agent,
                    horizon=row.horizon,
                    metric=row.metric,
                    n_tasks=row.n_tasks,
                    n_samples=row.n_samples,
                    bias=row.bias,
                    variance=row.variance,
                    error=row.error,
                    incoherence=row.incoherence,
                    bias_ci=cis[0],
                    variance_ci=cis[1],
                    error_ci=cis[2],
                    incoherence_ci=cis[3],
                    success_rate=row.success_rate,
                    success_ci=success_ci,
                    incoherence_replicates=cis[4],
                    estimator=estimator,
                    intervals=kind,
                    forced_share=row.forced_share,
                )
            )
    return stats


def _row_intervals(
    row: ScoreRow,
    replicates: _Replicates | None,
    centre: tuple[float | None, ...],
    level: float,
    n: int,
) -> tuple[Interval, Interval, Interval, Interval | None, int]:
    """Bias, variance, error and incoherence intervals of a row (reflected around `centre`
    where given), and how many replicates had a defined incoherence. A reflected bound can
    leave the quantity's range (a variance below 0, an incoherence above 1): it is clipped
    to the range, which the true value never leaves, so coverage is unchanged."""
    if replicates is None:
        return (math.nan, math.nan), (math.nan, math.nan), (math.nan, math.nan), None, 0
    bias, variance, error = (
        _clipped(expanded_interval(values, level, n, centre=centre[i]), 0.0, math.inf)
        for i, values in enumerate(replicates.means(row.metric))
    )
    if row.incoherence is None:
        return bias, variance, error, None, 0
    values = replicates.incoherence(row.metric)
    defined = int(np.count_nonzero(~np.isnan(values)))
    incoherence = _clipped(expanded_interval(values, level, n, centre=centre[3]), 0.0, 1.0)
    return bias, variance, error, incoherence, defined


def _clipped(interval: Interval, low: float, high: float) -> Interval:
    """`interval` within [low, high] (NaN bounds stay NaN)."""
    a, b = interval
    return (min(max(a, low), high), min(max(b, low), high)) if a == a and b == b else interval


def _interval_kind(
    intervals: IntervalKind | None, resample_samples: bool, estimator: Estimator
) -> IntervalKind:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if intervals is None:
        return "two-stage" if resample_samples else "population"
    if intervals not in INTERVALS:
        raise ValueError(f"intervals must be one of {', '.join(INTERVALS)}, got {intervals!r}")
    if resample_samples and intervals != "two-stage":
        raise ValueError(f"resample_samples=True asks for two-stage intervals, not {intervals!r}")
    return intervals


def estimated_rows(data: _CellData, estimator: Estimator) -> list[ScoreRow]:
    """The cell's table rows with `estimator`'s bias, variance, error and incoherence."""
    if estimator == "plugin":
        return data.rows
    per_question = data.per_question(estimator)
    rows = []
    for row in data.rows:
        if row.n_tasks == 0 or row.metric not in per_question:
            rows.append(row)
            continue
        parts = Decomposition(*per_question[row.metric])
        floor = float(data.floor[row.metric].sum()) if row.metric in data.floor else 0.0
        bias, variance, error = (float(np.mean(part)) for part in parts)
        coherence = get_metric(row.metric).incoherence(parts, floor)
        rows.append(replace(row, bias=bias, variance=variance, error=error, incoherence=coherence))
    return rows


def score_estimated(episodes: Episodes, estimator: Estimator = "plugin") -> list[ScoreRow]:
    """The rows of `score_episodes`, with `estimator`'s point values (forks left out)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    return [row for data in _cells(_as_light(episodes)) for row in estimated_rows(data, estimator)]


def _success_replicates(
    data: _CellData, n_boot: int, rng: np.random.Generator, resample_samples: bool
) -> FloatArray:
    """Success rate per replicate: task seeds drawn with replacement (and with
    `resample_samples` their episodes too: a resample of 0/1 outcomes is binomial)."""
    n = len(data.trials)
    if n == 0:
        return np.full(n_boot, np.nan)
    drawn = rng.integers(0, n, size=(n_boot, n))
    trials = data.trials[drawn]
    successes = data.successes[drawn]
    if resample_samples:
        successes = rng.binomial(trials, successes / trials)
    return successes.sum(axis=1) / trials.sum(axis=1)
