"""Per-cell statistics: the score table's rows with bootstrap confidence intervals over
tasks, and the success rate's interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotmess.scoring.stats.bootstrap import _check, _replicates, _rng
from hotmess.scoring.stats.intervals import Interval, expanded_interval
from hotmess.scoring.stats.questions import (
    Episodes,
    FloatArray,
    _as_light,
    _CellData,
    _cells,
)


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


def cell_stats(
    episodes: Episodes,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    resample_samples: bool = False,
) -> list[CellStats]:
    """The rows of `score_episodes` with bootstrap confidence intervals over tasks.

    Each of `n_boot` replicates draws the cell's questions (task seeds) with replacement
    and recomputes the pooled statistics from their per-question bias, variance and error:
    means over questions, incoherence = Σ variance / Σ error (undefined as in the table).
    A question's values already carry the noise of its samples, so this accounts for both
    levels of sampling. The interval is the expanded percentile interval (see `expanded_interval`).
    `resample_samples=True` also redraws each drawn question's samples (a two-stage
    bootstrap); docs/scoring.md explains why that is not the default. The success rate is
    resampled the same way over the non-censored episodes of each task seed. Forks are
    left out. Deterministic for a `seed`; each cell has its own random stream.
    """
    _check(n_boot, level)
    cells = _cells(_as_light(episodes))
    stats: list[CellStats] = []
    for data in cells:
        rng = _rng(seed, "cell", data.env, data.agent, data.horizon)
        n = data.n_questions
        draws = rng.integers(0, n, size=(n_boot, n)) if n else None
        replicates = None if draws is None else _replicates(data, draws, rng, resample_samples)
        success = _success_replicates(data, n_boot, rng, resample_samples)
        success_ci = expanded_interval(success, level, len(data.trials))
        for row in data.rows:
            cis: list[Interval] = [(math.nan, math.nan)] * 3
            incoherence_ci: Interval | None = None
            defined = 0
            if replicates is not None:
                cis = [
                    expanded_interval(values, level, n) for values in replicates.means(row.metric)
                ]
                if row.incoherence is not None:
                    values = replicates.incoherence(row.metric)
                    defined = int(np.count_nonzero(~np.isnan(values)))
                    incoherence_ci = expanded_interval(values, level, n)
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
                    incoherence_ci=incoherence_ci,
                    success_rate=row.success_rate,
                    success_ci=success_ci,
                    incoherence_replicates=defined,
                )
            )
    return stats


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
