"""The bootstrap over tasks (and, two-stage, over each drawn task's samples): per-replicate
sums of every metric's bias, variance and error, vectorised per group of questions."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hotmess.scoring.estimators import Estimator
from hotmess.scoring.metrics import get_metric
from hotmess.scoring.metrics.brier import BRIER
from hotmess.scoring.metrics.coverage import COVERAGE
from hotmess.scoring.metrics.kl import KL
from hotmess.scoring.metrics.mse import MSE
from hotmess.scoring.metrics.zero_one import ZERO_ONE
from hotmess.scoring.stats.questions import (
    FloatArray,
    IntArray,
    _CellData,
    _decompose_means,
    _Group,
)

_SUFFICIENT = (MSE, KL, BRIER, ZERO_ONE, COVERAGE)
"""The metrics `_decompose_means` decomposes from feature means; the two-stage bootstrap
decomposes any other metric from its resampled samples."""
_BLOCK = 1 << 22  # floats per bootstrap block: bounds memory whatever the cell's size
_NO_ERROR = 1e-12  # per question: a replicate's total error below this is no error


# --------------------------------------------------------------------------- bootstrap


@dataclass
class _Replicates:
    """Sums over each replicate's drawn questions: [B] per array."""

    count: FloatArray
    floor: dict[str, FloatArray]  # metric with an error floor → Σ floor
    sums: dict[str, FloatArray]  # metric → [3, B]: Σ bias, Σ variance, Σ error

    def means(self, metric: str) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums[metric] / self.count

    def incoherence(self, metric: str) -> FloatArray:
        """Σ variance / Σ error per replicate; NaN where table.py leaves it undefined."""
        _, variance, error = self.sums[metric]
        if not get_metric(metric).has_incoherence:
            return np.full(len(error), np.nan)
        undefined = (self.count == 0) | (error <= _NO_ERROR * self.count)
        if metric in self.floor:
            undefined |= error <= self.floor[metric] + 1e-9 * self.count
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(undefined, np.nan, variance / error)


def _replicates(
    data: _CellData,
    draws: IntArray,
    rng: np.random.Generator,
    resample_samples: bool,
    estimator: Estimator = "plugin",
) -> _Replicates:
    """Bootstrap sums over the questions `draws` [B, k] picks for each replicate (ids in
    the cell; −1 picks nothing). By default a drawn question keeps its samples, so its
    bias, variance and error are those of `estimator` (the table's for the plug-in); with
    `resample_samples` (plug-in values only) its samples are
    drawn again with replacement, independently each time the question is drawn."""
    n_boot, k = draws.shape
    drawn = draws >= 0
    safe = np.where(drawn, draws, 0)
    count = drawn.sum(axis=1).astype(np.float64)
    floor = {
        metric: np.where(drawn, values[safe], 0.0).sum(axis=1) if data.n_questions else count * 0
        for metric, values in data.floor.items()
    }
    if not data.n_questions:  # every episode of the cell censored: nothing to resample
        return _Replicates(count, floor, {m: np.zeros((3, n_boot)) for m in data.values})
    if not resample_samples:
        sums = {
            metric: np.stack([np.where(drawn, v[safe], 0.0).sum(axis=1) for v in values])
            for metric, values in data.per_question(estimator).items()
        }
        return _Replicates(count, floor, sums)
    sums = {metric: np.zeros((3, n_boot)) for metric in data.values}
    exact = [metric for metric in data.values if get_metric(metric) not in _SUFFICIENT]
    widest = max((_floats_per_draw(group, bool(exact)) for group in data.groups), default=1)
    block = max(1, _BLOCK // (max(1, k) * widest))
    for first in range(0, n_boot, block):
        part = draws[first : first + block]
        replicate = np.repeat(np.arange(len(part)), k)
        question = part.ravel()
        keep = question >= 0
        replicate, question = replicate[keep], question[keep]
        span = slice(first, first + len(part))
        group_of = data.group_of[question]
        for index, group in enumerate(data.groups):
            mine = group_of == index
            local, who, means, picks = _resampled_means(
                group, data.kind, data.local[question[mine]], replicate[mine], rng
            )
            _, target, offset = group.features(data.kind)
            parts: dict[str, Any] = _decompose_means(
                data.kind, means, target[local], offset[local], group.width
            )
            if exact:  # decompose the resampled predictions themselves
                resampled = group.prediction[local[:, None], picks]
                for metric in exact:
                    parts[metric] = get_metric(metric).decompose(resampled, group.target[local])
            for metric in sums:
                values = parts[metric]
                for row, value in enumerate(values):
                    sums[metric][row, span] += np.bincount(who, value, minlength=len(part))
    return _Replicates(count, floor, sums)


def _floats_per_draw(group: _Group, resampled: bool) -> int:
    """What one draw of a question costs: s picks, s weights and f means (see
    `_resampled_means`), and its s resampled predictions when a metric needs them."""
    s = group.prediction.shape[1]
    floats = 2 * s + 5 * group.width + 4
    return floats + s * max(1, group.width) if resampled else floats


def _resampled_means(
    group: _Group, kind: str, local: IntArray, who: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """Feature means over a fresh resample of the samples of each drawn question, and the
    samples drawn ([draws, s] indices into the question's samples).

    A resample is a vector of counts w over the question's s samples, and its means are
    w @ features / s. Draws are sorted by question so that one batched matmul per group,
    [g, R, s] @ [g, s, f], does them all without gathering the features per draw."""
    features, _, _ = group.features(kind)
    g, s, _ = features.shape
    order = np.argsort(local, kind="stable")
    local, who = local[order], who[order]
    n = len(local)
    per_question = np.bincount(local, minlength=g)
    rank = np.arange(n) - (np.cumsum(per_question) - per_question)[local]
    drawn = rng.integers(0, s, size=(n, s))
    picks = drawn + (np.arange(n) * s)[:, None]
    weights = np.bincount(picks.ravel(), minlength=n * s).reshape(n, s)
    padded = np.zeros((g, int(per_question.max(initial=0)), s))
    padded[local, rank] = weights
    means = np.matmul(padded, features)[local, rank] / s
    return local, who, means, drawn


def _rng(seed: int, *names: object) -> np.random.Generator:
    """A stream per (seed, names): one cell's draws do not depend on which other cells exist."""
    return np.random.default_rng([seed, *(zlib.crc32(str(name).encode()) for name in names)])


def _check(n_boot: int, level: float) -> None:
    if not (isinstance(n_boot, int) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")


def _joint_draws(
    seeds: Sequence[Mapping[int | str, int]], n_boot: int, rng: np.random.Generator
) -> tuple[int, list[IntArray]]:
    """The number of task seeds, and per horizon [B, n] question ids (−1: absent there) of
    task seeds drawn once for every horizon from the union of their seeds."""
    union = list(dict.fromkeys(seed for by_seed in seeds for seed in by_seed))
    drawn = rng.integers(0, len(union), size=(n_boot, len(union)))
    lookups = [np.asarray([by_seed.get(s, -1) for s in union], dtype=np.int64) for by_seed in seeds]
    return len(union), [lookup[drawn] for lookup in lookups]
