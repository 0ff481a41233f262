"""Statistics of a run beyond the point table: bootstrap confidence intervals over tasks,
log-log trends against horizon, the horizon at which success falls to 50%, the paper's
split of samples by actions taken, and the step at which a task's samples first diverge.

Everything reads `LightEpisode`s (or record dicts) and builds questions with the rules of
`table.score_episodes`, so every point value here is the table's value.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from hotmess.scoring.decompositions import KL_DELTA, Decomposition, _probabilities, hard_answers
from hotmess.scoring.metrics import QUANTITIES, Metric, get_metric, metrics_for
from hotmess.scoring.metrics.brier import BRIER
from hotmess.scoring.metrics.coverage import COVERAGE
from hotmess.scoring.metrics.kl import KL
from hotmess.scoring.metrics.mse import MSE
from hotmess.scoring.metrics.zero_one import ZERO_ONE
from hotmess.scoring.samples import by_sample_count, canonical_key
from hotmess.scoring.table import (
    CellSamples,
    ScoreRow,
    add_episode,
    score_cell,
)
from hotmess.store import LightEpisode

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Interval = tuple[float, float]

_SUFFICIENT = (MSE, KL, BRIER, ZERO_ONE, COVERAGE)
"""The metrics `_decompose_means` decomposes from feature means; the two-stage bootstrap
decomposes any other metric from its resampled samples."""
_BLOCK = 1 << 22  # floats per bootstrap block: bounds memory whatever the cell's size
_NO_ERROR = 1e-12  # per question: a replicate's total error below this is no error


# --------------------------------------------------------------------------- episodes


Episodes = Iterable[LightEpisode | Mapping[str, Any]]
"""What the statistics accept: `LightEpisode`s or the record dicts of `load_episodes`."""


def _as_light(episodes: Episodes) -> list[LightEpisode]:
    """Episodes as `LightEpisode`s, forks left out (they are not samples of a task)."""
    light = [
        episode
        if isinstance(episode, LightEpisode)
        else LightEpisode.of(episode, where=f"episode {i}")
        for i, episode in enumerate(episodes)
    ]
    return [episode for episode in light if episode.fork_of is None]


def _record(episode: LightEpisode) -> dict[str, Any]:
    """The fields `table` reads, as the mapping it reads them from."""
    return {
        "env": episode.env,
        "agent": episode.agent,
        "horizon": episode.horizon,
        "task_seed": episode.task_seed,
        "sample": episode.sample,
        "key": episode.key,
        "outcome": episode.outcome,
    }


# --------------------------------------------------------------------------- questions


@dataclass
class _Group:
    """The questions of one cell that share a width (choices or tests; 0 for scalars) and
    a sample count, as `table.score_cell` groups them."""

    question: IntArray  # [g] question ids within the cell
    prediction: FloatArray  # [g, s] or [g, s, width]
    target: FloatArray  # [g]
    width: int
    answered: npt.NDArray[np.bool_]  # [g, s] false: a stand-in for a missing answer
    _features: tuple[FloatArray, IntArray, FloatArray] | None = None

    def features(self, kind: str) -> tuple[FloatArray, IntArray, FloatArray]:
        """Per-sample features whose means over samples determine every decomposition
        of the question, with the gold choice and (scalars) the offset ȳ − t."""
        if self._features is None:
            self._features = _features(
                kind, self.prediction, self.target, self.width, self.answered
            )
        return self._features


@dataclass
class _CellData:
    env: str
    agent: str
    horizon: int
    kind: str
    cell: CellSamples
    rows: list[ScoreRow]
    groups: list[_Group]
    group_of: IntArray  # [n questions] which group a question is in
    local: IntArray  # [n questions] its index within that group
    floor: dict[str, FloatArray]  # metric with an error floor → [n questions] its floor
    values: dict[str, FloatArray]  # metric → [3, n questions]: bias, variance, error
    # Success counts every non-censored episode, scorable or not: per such task seed,
    # its episodes and successes.
    success_seeds: dict[int | str, int]
    trials: IntArray
    successes: IntArray

    @property
    def n_questions(self) -> int:
        return len(self.group_of)


_LAST: list[tuple[tuple[int, ...], Sequence[LightEpisode], list[_CellData]]] = []


def _cells(light: Sequence[LightEpisode]) -> list[_CellData]:
    """The cells of `score_episodes`, sorted, with the table's rows and questions.

    Building them is most of the work, and a report asks for every statistic of the same
    episodes in turn: the last result is kept, keyed by the identity of the episodes (it
    holds them, so their ids cannot be reused while it is kept). Episodes are read-only."""
    key = tuple(map(id, light))
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][2]
    cells = _build_cells(light)
    _LAST[:] = [(key, light, cells)]
    return cells


def _build_cells(light: Sequence[LightEpisode]) -> list[_CellData]:
    records = [_record(episode) for episode in light]
    cells: dict[tuple[str, str, int], CellSamples] = {}
    # The canonical order of score_episodes: the same question ids, so the same rows, and
    # the same bootstrap draws however the episodes arrived.
    order = sorted(range(len(records)), key=lambda i: canonical_key(records[i]))
    for index in order:
        add_episode(cells, records, index)
    outcomes: dict[tuple[str, str, int], dict[int | str, list[int]]] = {}
    for episode in (light[i] for i in order):
        if episode.outcome.get("infra_error") is None:
            tally = outcomes.setdefault((episode.env, episode.agent, episode.horizon), {})
            counts = tally.setdefault(episode.task_seed, [0, 0])
            counts[0] += 1
            counts[1] += bool(episode.outcome.get("success"))
    data = []
    for (env, agent, horizon), cell in sorted(cells.items(), key=lambda item: item[0]):
        tally = outcomes.get((env, agent, horizon), {})
        table = np.asarray(list(tally.values()), dtype=np.int64).reshape(-1, 2)
        rows = score_cell(env, agent, horizon, cell, records)
        seeds = {seed: i for i, seed in enumerate(tally)}
        data.append(_cell_data(env, agent, horizon, cell, rows, seeds, table[:, 0], table[:, 1]))
    return data


def _cell_data(
    env: str,
    agent: str,
    horizon: int,
    cell: CellSamples,
    rows: list[ScoreRow],
    success_seeds: dict[int | str, int],
    trials: IntArray,
    successes: IntArray,
) -> _CellData:
    n = len(cell.seeds)
    groups: list[_Group] = []
    group_of = np.full(n, -1, dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    metrics = metrics_for(cell.kind)
    floor = {m.name: np.zeros(n) for m in metrics if m.error_floor is not None}
    values = {m.name: np.zeros((3, n)) for m in metrics}
    for width, samples in cell.by_width.items():
        question = np.asarray(samples.question, dtype=np.int64)
        prediction = np.asarray(samples.prediction, dtype=np.float64)
        target = np.asarray(samples.target, dtype=np.float64)
        answered = np.asarray(samples.answered, dtype=bool)
        for ids, prediction_q, target_q, answered_q in by_sample_count(
            question, question, prediction, target, answered
        ):
            ids = ids[:, 0]
            group_of[ids] = len(groups)
            local[ids] = np.arange(len(ids))
            for metric in metrics:
                if metric.error_floor is not None:
                    floor[metric.name][ids] = metric.error_floor(width)
                parts = metric.decompose_samples(prediction_q, target_q[:, 0], answered_q)
                values[metric.name][:, ids] = np.asarray(parts)
            groups.append(_Group(ids, prediction_q, target_q[:, 0], width, answered_q))
    return _CellData(
        env, agent, horizon, cell.kind, cell, rows, groups, group_of, local, floor, values,
        success_seeds, trials, successes,
    )  # fmt: skip


def _features(
    kind: str,
    prediction: FloatArray,
    target: FloatArray,
    width: int,
    answered: npt.NDArray[np.bool_],
) -> tuple[FloatArray, IntArray, FloatArray]:
    g = len(target)
    if kind == "scalar":
        mean = prediction.mean(axis=1)
        centred = prediction - mean[:, None]  # shift-free: the variance keeps its precision
        features = np.stack([centred, centred**2], axis=2)
        return features, np.zeros(g, np.int64), mean - target
    if kind == "categorical":
        p, t, _ = _probabilities(prediction, target.astype(np.int64))
        log_p = np.log(p + KL_DELTA) - np.log1p(width * KL_DELTA)  # as kl_decomposition
        square = np.einsum("qsc,qsc->qs", p, p)[:, :, None]
        # 0/1 loss: hard answers and p over C + 1 categories, the last one "no answer".
        answer = np.eye(width + 1)[hard_answers(p, answered)]
        extended = np.concatenate([p * answered[:, :, None], ~answered[:, :, None]], axis=2)
        return np.concatenate([log_p, p, square, answer, extended], axis=2), t, np.zeros(g)
    return prediction, np.zeros(g, np.int64), np.zeros(g)


def _decompose_means(
    kind: str, means: FloatArray, target: IntArray, offset: FloatArray, width: int
) -> dict[str, tuple[FloatArray, FloatArray, FloatArray]]:
    """Per-question (bias, variance, error) of every metric of `kind` from the means over
    samples of the `_features`: the formulas of decompositions.py, on sufficient statistics."""
    if kind == "scalar":
        first, second = means[:, 0], means[:, 1]
        variance = np.maximum(second - first**2, 0.0)
        bias = (first + offset) ** 2
        return {"mse": (bias, variance, bias + variance)}
    if kind == "tests":
        rate = means
        return {
            "coverage": (
                ((1.0 - rate) ** 2).mean(axis=1),
                (rate * (1.0 - rate)).mean(axis=1),
                (1.0 - rate).mean(axis=1),
            )
        }
    c = width
    rows = np.arange(len(means))
    mean_log, mean_p = means[:, :c], means[:, c : 2 * c]
    mean_square, answers = means[:, 2 * c], means[:, 2 * c + 1 : 3 * c + 2]
    peak = mean_log.max(axis=1)
    log_z = peak + np.log(np.exp(mean_log - peak[:, None]).sum(axis=1))
    kl_error = -mean_log[rows, target]
    mean_t = mean_p[rows, target]
    square_of_mean = (mean_p**2).sum(axis=1)
    main = hard_answers(means[:, 3 * c + 2 :])  # as zero_one_decomposition
    return {
        "kl": (np.maximum(log_z + kl_error, 0.0), np.maximum(-log_z, 0.0), kl_error),
        "brier": (
            np.maximum(1.0 - 2.0 * mean_t + square_of_mean, 0.0),
            np.maximum(mean_square - square_of_mean, 0.0),
            np.maximum(1.0 - 2.0 * mean_t + mean_square, 0.0),
        ),
        "zero_one": (
            (main != target).astype(np.float64),
            np.maximum(1.0 - answers[rows, main], 0.0),
            np.maximum(1.0 - answers[rows, target], 0.0),
        ),
    }


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
    data: _CellData, draws: IntArray, rng: np.random.Generator, resample_samples: bool
) -> _Replicates:
    """Bootstrap sums over the questions `draws` [B, k] picks for each replicate (ids in
    the cell; −1 picks nothing). By default a drawn question keeps its samples, so its
    bias, variance and error are the table's; with `resample_samples` its samples are
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
            for metric, values in data.values.items()
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


def expanded_interval(
    values: FloatArray, level: float, n_units: int, *, order: bool = False
) -> Interval:
    """Expanded percentile interval (Hesterberg 2015, "What teachers should know about the
    bootstrap", §4.2) of the defined (non-NaN) replicates; NaNs without any, or with fewer
    than two resampled units (tasks), where resampling cannot show any spread.

    The plain percentile interval is too narrow with few units: it uses the replicates'
    spread, ≈ √((n−1)/n) of the estimator's, and a normal quantile where a t quantile is
    due. Expanding the tail to Φ(−√(n/(n−1)) t_{n−1, 1−α/2}) corrects both to first order.
    `order` takes order statistics (no interpolation), for values that may be infinite."""
    values = values[~np.isnan(values)]
    if values.size == 0 or n_units < 2:
        return (math.nan, math.nan)
    tail = _NORMAL.cdf(
        -math.sqrt(n_units / (n_units - 1)) * _t_quantile(1.0 - (1.0 - level) / 2, n_units - 1)
    )
    if order:
        low, high = np.quantile(values, [tail, 1.0 - tail], method="inverted_cdf")
    else:
        low, high = np.quantile(values, [tail, 1.0 - tail])
    return (float(low), float(high))


_NORMAL = NormalDist()


def _t_quantile(p: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, else the Cornish–Fisher
    expansion (Abramowitz & Stegun 26.7.5; within 0.2% of exact for p ≤ 0.995)."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = _NORMAL.inv_cdf(p)
    terms = (
        (z**3 + z) / 4,
        (5 * z**5 + 16 * z**3 + 3 * z) / 96,
        (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
        (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160,
    )
    return z + sum(term / df ** (i + 1) for i, term in enumerate(terms))


def _rng(seed: int, *names: object) -> np.random.Generator:
    """A stream per (seed, names): one cell's draws do not depend on which other cells exist."""
    return np.random.default_rng([seed, *(zlib.crc32(str(name).encode()) for name in names)])


def _check(n_boot: int, level: float) -> None:
    if not (isinstance(n_boot, int) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")


# --------------------------------------------------------------------------- cell stats


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
    forced_share: float = math.nan
    """As `ScoreRow.forced_share`: the share of answers forced at the action cap."""


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
    levels of sampling. The interval is the expanded percentile interval (see `_interval`).
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
                    forced_share=row.forced_share,
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


# --------------------------------------------------------------------------- trends


@dataclass(frozen=True)
class TrendFit:
    """log(quantity) = intercept + slope · log(horizon), over one (env, agent, metric)."""

    env: str
    agent: str
    metric: str
    quantity: str
    """`incoherence`, `bias`, `variance` or `error`."""
    slope: float
    slope_ci: Interval
    intercept: float
    r2: float
    """R² of the point fit in log-log space (1 when every point lies on the line)."""
    n_horizons: int
    """Horizons whose value is positive and defined: the points of the fit."""
    horizons: tuple[int, ...] = ()
    """Those horizons."""


def trend_fits(
    episodes: Episodes,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    resample_samples: bool = False,
) -> list[TrendFit]:
    """Log-log least-squares trends of each quantity against horizon, with bootstrap CIs.

    The point fit uses the horizons whose value is positive and defined (at least two, or
    the trend is omitted). Each replicate draws task seeds with replacement once for all
    horizons (task i of a sweep is the same seed at every horizon, so its errors are
    correlated across horizons), recomputes the quantity per horizon and refits over the
    fit's horizons where the replicate's value is still positive and defined.
    """
    _check(n_boot, level)
    cells = _cells(_as_light(episodes))
    fits: list[TrendFit] = []
    for (env, agent), sweep in _by_env_agent(cells).items():
        if len(sweep) < 2:
            continue
        rng = _rng(seed, "trend", env, agent)
        n_tasks, draws = _joint_draws([data.cell.seeds for data in sweep], n_boot, rng)
        replicates = [
            _replicates(data, draw, rng, resample_samples)
            for data, draw in zip(sweep, draws, strict=True)
        ]
        x = np.log([float(data.horizon) for data in sweep])
        for metric in dict.fromkeys(row.metric for data in sweep for row in data.rows):
            for quantity in QUANTITIES:
                fit = _trend(env, agent, metric, quantity, sweep, replicates, x, level, n_tasks)
                if fit is not None:
                    fits.append(fit)
    return fits


def _by_env_agent(cells: list[_CellData]) -> dict[tuple[str, str], list[_CellData]]:
    grouped: dict[tuple[str, str], list[_CellData]] = {}
    for data in cells:  # sorted by horizon within (env, agent)
        grouped.setdefault((data.env, data.agent), []).append(data)
    return grouped


def _joint_draws(
    seeds: Sequence[Mapping[int | str, int]], n_boot: int, rng: np.random.Generator
) -> tuple[int, list[IntArray]]:
    """The number of task seeds, and per horizon [B, n] question ids (−1: absent there) of
    task seeds drawn once for every horizon from the union of their seeds."""
    union = list(dict.fromkeys(seed for by_seed in seeds for seed in by_seed))
    drawn = rng.integers(0, len(union), size=(n_boot, len(union)))
    lookups = [np.asarray([by_seed.get(s, -1) for s in union], dtype=np.int64) for by_seed in seeds]
    return len(union), [lookup[drawn] for lookup in lookups]


def _trend(
    env: str,
    agent: str,
    metric: str,
    quantity: str,
    sweep: list[_CellData],
    replicates: list[_Replicates],
    x: FloatArray,
    level: float,
    n_tasks: int,
) -> TrendFit | None:
    point = np.full(len(sweep), np.nan)
    boot = np.full((len(replicates[0].count), len(sweep)), np.nan)
    for h, (data, reps) in enumerate(zip(sweep, replicates, strict=True)):
        row = next((r for r in data.rows if r.metric == metric), None)
        if row is None:
            continue
        if quantity == "incoherence":
            if row.incoherence is None:
                continue
            point[h] = row.incoherence
            boot[:, h] = reps.incoherence(metric)
        else:
            column = QUANTITIES.index(quantity) - 1
            point[h] = getattr(row, quantity)
            boot[:, h] = reps.means(metric)[column]
            if metric in data.floor and quantity != "variance":
                # Error at the metric's floor (what δ smoothing alone leaves, for kl) is no
                # error, as for incoherence in the table.
                if point[h] <= data.floor[metric].mean() + 1e-9:
                    point[h] = np.nan
                with np.errstate(invalid="ignore", divide="ignore"):
                    at_floor = boot[:, h] <= reps.floor[metric] / reps.count + 1e-9
                boot[at_floor, h] = np.nan
    used = point > 0  # NaN compares False: undefined values drop out with non-positive ones
    if used.sum() < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(np.where(used, point, 1.0))
        boot_y = np.log(np.where(boot > 0, boot, np.nan))
    slope, intercept, r2 = _ols(x[used], y[used])
    boot_y[:, ~used] = np.nan
    slopes = _masked_slopes(x, boot_y)
    return TrendFit(
        env=env,
        agent=agent,
        metric=metric,
        quantity=quantity,
        slope=slope,
        slope_ci=expanded_interval(slopes, level, n_tasks),
        intercept=intercept,
        r2=r2,
        n_horizons=int(used.sum()),
        horizons=tuple(data.horizon for data, u in zip(sweep, used, strict=True) if u),
    )


def _ols(x: FloatArray, y: FloatArray) -> tuple[float, float, float]:
    """(slope, intercept, R²) of least squares y ≈ intercept + slope x."""
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    intercept = float(y.mean() - slope * x.mean())
    residual = y - intercept - slope * x
    total = float(((y - y.mean()) ** 2).sum())
    flat = total <= 1e-24 * len(y) * max(1.0, float(y @ y) / len(y))  # rounding, not spread
    r2 = 1.0 if flat else max(0.0, 1.0 - float(residual @ residual) / total)
    return slope, intercept, r2


def _masked_slopes(x: FloatArray, y: FloatArray) -> FloatArray:
    """Least-squares slope of each row of y [B, h] on x over its non-NaN entries; NaN for
    rows with fewer than two."""
    w = ~np.isnan(y)
    n = w.sum(axis=1)
    y0 = np.where(w, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x = (w * x).sum(axis=1) / n
        mean_y = y0.sum(axis=1) / n
        dx = np.where(w, x - mean_x[:, None], 0.0)
        slope = (dx * (y0 - mean_y[:, None])).sum(axis=1) / (dx * dx).sum(axis=1)
    return np.where(n >= 2, slope, np.nan)


# --------------------------------------------------------------------------- 50% horizon


@dataclass(frozen=True)
class HorizonFit:
    """logit P(success) = intercept + slope · ln(horizon), and where it crosses 1/2."""

    env: str
    agent: str
    h50: float
    """exp(−intercept / slope); inf when every episode succeeded, 0 when none did."""
    h50_ci: Interval
    intercept: float
    """NaN when the data are separated (see `separation`)."""
    slope: float
    extrapolated: bool
    """h50 lies outside the swept horizons."""
    n_episodes: int
    separation: str | None = None
    """Why no finite logistic fit exists, else None: `all_success` (h50 = inf),
    `all_failure` (h50 = 0), or `separated` (every horizon below some h all succeeded,
    every one above it all failed, or the other way round: h50 is that h, or the geometric
    midpoint of the two horizons around the cut)."""
    n_tasks: int = 0
    horizons: tuple[int, ...] = ()


def success_horizons(
    episodes: Episodes,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    resample_samples: bool = False,
) -> list[HorizonFit]:
    """The horizon at which success falls to 50%, per (env, agent), as METR fits time
    horizons: a logistic regression of each episode's success on ln(horizon).

    Censored episodes and forks are left out; truncated ones are failures. The CI comes
    from replicates that draw task seeds with replacement jointly for all horizons (with
    `resample_samples`, then each drawn task's episodes) and refit. Needs two horizons.
    """
    _check(n_boot, level)
    fits = []
    for (env, agent), sweep in _by_env_agent(_cells(_as_light(episodes))).items():
        sweep = [data for data in sweep if len(data.trials)]  # not all censored
        if len(sweep) < 2:
            continue
        horizons = [data.horizon for data in sweep]
        x = np.log(np.asarray(horizons, dtype=np.float64))
        trials = np.asarray([data.trials.sum() for data in sweep])
        wins = np.asarray([data.successes.sum() for data in sweep])
        (intercept,), (slope,), (h50,), (separation,) = _logistic(x, wins[None], trials[None])
        rng = _rng(seed, "h50", env, agent)
        n_tasks, draws = _joint_draws([data.success_seeds for data in sweep], n_boot, rng)
        boot_wins, boot_trials = _success_draws(sweep, draws, rng, resample_samples)
        *_, boot_h50, _ = _logistic(x, boot_wins, boot_trials)
        fits.append(
            HorizonFit(
                env=env,
                agent=agent,
                h50=float(h50),
                h50_ci=expanded_interval(boot_h50, level, n_tasks, order=True),
                intercept=float(intercept),
                slope=float(slope),
                extrapolated=bool(not horizons[0] <= h50 <= horizons[-1]),
                n_episodes=int(trials.sum()),
                separation=separation,
                n_tasks=n_tasks,
                horizons=tuple(horizons),
            )
        )
    return fits


def _success_draws(
    sweep: list[_CellData], draws: list[IntArray], rng: np.random.Generator, resample: bool
) -> tuple[IntArray, IntArray]:
    """[B, h] successes and trials of the replicates' task seeds (`_joint_draws`), and with
    `resample` each drawn seed's episodes too (a resample of 0/1 outcomes is binomial)."""
    n_boot = len(draws[0])
    wins = np.zeros((n_boot, len(sweep)), dtype=np.int64)
    trials = np.zeros_like(wins)
    for h, (data, drawn) in enumerate(zip(sweep, draws, strict=True)):
        present = drawn >= 0
        n = np.where(present, data.trials[np.where(present, drawn, 0)], 0)
        k = np.where(present, data.successes[np.where(present, drawn, 0)], 0)
        if resample:
            k = rng.binomial(n, np.divide(k, n, out=np.zeros(n.shape), where=n > 0))
        trials[:, h] = n.sum(axis=1)
        wins[:, h] = k.sum(axis=1)
    return wins, trials


def _logistic(
    x: FloatArray, wins: IntArray, trials: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray, list[str | None]]:
    """Maximum-likelihood logit P = a + b x for each row of grouped binomial data [B, h]
    (x increasing): (a, b, h50 = exp(−a/b), separation per row). Rows whose data are
    separated have no finite fit: a and b are NaN and h50 follows `HorizonFit.separation`;
    rows with fewer than two horizons with episodes get NaN throughout."""
    rows = len(wins)
    a, b, h50 = np.full(rows, np.nan), np.full(rows, np.nan), np.full(rows, np.nan)
    present = trials > 0
    full = present & (wins == trials)
    none = present & (wins == 0)
    separation: list[str | None] = [None] * rows
    fit = np.zeros(rows, dtype=bool)
    for r in range(rows):  # cheap per row: h is a handful of horizons
        kept = np.flatnonzero(present[r])
        if len(kept) < 2:
            continue
        separation[r], h50[r] = _separation(x[kept], full[r, kept], none[r, kept])
        fit[r] = separation[r] is None
    if fit.any():
        a[fit], b[fit] = _newton(x, wins[fit].astype(np.float64), trials[fit].astype(np.float64))
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            h50[fit] = np.exp(-a[fit] / b[fit])
    return a, b, h50, separation


def _separation(
    x: FloatArray, full: npt.NDArray[np.bool_], none: npt.NDArray[np.bool_]
) -> tuple[str | None, float]:
    """(kind, h50) when successes and failures are split by horizon, else (None, NaN)."""
    if full.all():
        return "all_success", math.inf
    if none.all():
        return "all_failure", 0.0
    for high, low in ((full, none), (none, full)):  # success falling, or rising, with horizon
        lead = int(np.argmin(high)) if not high.all() else len(high)  # leading run of `high`
        tail = int(np.argmin(low[::-1])) if not low.all() else len(low)  # trailing run of `low`
        if lead + tail == len(x):
            return "separated", math.exp((x[lead - 1] + x[lead]) / 2)
        if lead + tail == len(x) - 1:
            return "separated", math.exp(x[lead])
    return None, math.nan


def _newton(x: FloatArray, k: FloatArray, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Newton's method with step halving on the binomial log-likelihood, one fit per row;
    rows must not be separated (the maximum then exists and the likelihood is concave)."""
    # Start from least squares on empirical logits (with the usual ½ correction).
    logit = np.log((k + 0.5) / (n - k + 0.5))
    weight = (n > 0).astype(np.float64)
    sw = weight.sum(axis=1)
    mx = (weight * x).sum(axis=1) / sw
    my = (weight * logit).sum(axis=1) / sw
    b = (weight * (x - mx[:, None]) * (logit - my[:, None])).sum(axis=1) / (
        weight * (x - mx[:, None]) ** 2
    ).sum(axis=1)
    a = my - b * mx

    def loglik(a: FloatArray, b: FloatArray) -> FloatArray:
        eta = a[:, None] + b[:, None] * x
        return (k * eta - n * np.logaddexp(0.0, eta)).sum(axis=1)

    current = loglik(a, b)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a[:, None] + b[:, None] * x)))
        residual = k - n * p
        w = n * p * (1.0 - p)
        g0, g1 = residual.sum(axis=1), (residual * x).sum(axis=1)
        h00, h01, h11 = w.sum(axis=1), (w * x).sum(axis=1), (w * x * x).sum(axis=1)
        det = h00 * h11 - h01**2
        with np.errstate(invalid="ignore", divide="ignore"):
            da = np.nan_to_num((h11 * g0 - h01 * g1) / det)
            db = np.nan_to_num((h00 * g1 - h01 * g0) / det)
        step = np.ones_like(a)
        for _ in range(40):
            trial = loglik(a + step * da, b + step * db)
            worse = trial < current - 1e-12 * np.abs(current)
            if not worse.any():
                break
            step[worse] /= 2
        a, b = a + step * da, b + step * db
        current = loglik(a, b)
        if np.max(np.abs(step * da) + np.abs(step * db)) < 1e-10:
            break
    return a, b


# --------------------------------------------------------------------------- by actions


@dataclass(frozen=True)
class ActionsGroup:
    """The decomposition of one half of every question's samples, split by actions taken."""

    env: str
    agent: str
    horizon: int
    metric: str
    group: str
    """`fewer` (each question's samples with the fewest actions) or `more`."""
    mean_actions: float
    """Mean actions over the samples of the half, all questions together."""
    n_questions: int
    bias: float
    variance: float
    error: float
    incoherence: float | None


def by_actions(episodes: Episodes) -> list[ActionsGroup]:
    """Split each question's samples at its median number of actions, as Hägele et al.
    (2026) do: samples sorted by actions (ties by sample index), the first half `fewer`,
    the second `more`, the middle one dropped when the count is odd. Each half is
    decomposed per question (questions need two samples per half) and pooled as in the
    table. The samples are those the table scores (same missing-answer rules)."""
    light = _as_light(episodes)
    cells = _cells(light)
    groups: list[ActionsGroup] = []
    for data in cells:
        metrics = metrics_for(data.kind)
        halves: dict[str, dict[str, list[Decomposition]]] = {
            name: {metric.name: [] for metric in metrics} for name in ("fewer", "more")
        }
        actions: dict[str, list[FloatArray]] = {"fewer": [], "more": []}
        floors = {metric.name: 0.0 for metric in metrics}
        for width, samples in data.cell.by_width.items():
            question = np.asarray(samples.question, dtype=np.int64)
            origin = np.asarray(samples.origin, dtype=np.int64)
            n_actions = np.asarray([light[i].n_actions for i in origin], dtype=np.int64)
            sample = np.asarray([light[i].sample for i in origin], dtype=np.int64)
            prediction = np.asarray(samples.prediction, dtype=np.float64)
            target = np.asarray(samples.target, dtype=np.float64)
            for acts, idx, pred, tgt in by_sample_count(
                question, n_actions, sample, prediction, target
            ):
                half = acts.shape[1] // 2
                if half < 2:
                    continue
                order = np.lexsort((idx, acts), axis=-1)
                for metric in metrics:
                    if metric.error_floor is not None:
                        floors[metric.name] += len(acts) * metric.error_floor(width)
                for name, take in (("fewer", order[:, :half]), ("more", order[:, -half:])):
                    part = np.take_along_axis(pred, _expand(take, pred.ndim), axis=1)
                    actions[name].append(np.take_along_axis(acts, take, axis=1).ravel())
                    for metric in metrics:
                        halves[name][metric.name].append(metric.decompose(part, tgt[:, 0]))
        for name in ("fewer", "more"):
            for metric in metrics:
                pooled = _pooled(metric, halves[name][metric.name], floors[metric.name])
                if pooled is None:
                    continue
                n_questions, bias, variance, error, coherence = pooled
                groups.append(
                    ActionsGroup(
                        env=data.env,
                        agent=data.agent,
                        horizon=data.horizon,
                        metric=metric.name,
                        group=name,
                        mean_actions=float(np.concatenate(actions[name]).mean()),
                        n_questions=n_questions,
                        bias=bias,
                        variance=variance,
                        error=error,
                        incoherence=coherence,
                    )
                )
    return groups


def _expand(take: IntArray, ndim: int) -> IntArray:
    return take.reshape(take.shape + (1,) * (ndim - 2))


def _pooled(
    metric: Metric, parts: list[Decomposition], floor: float
) -> tuple[int, float, float, float, float | None] | None:
    """(questions, mean bias, mean variance, mean error, incoherence) with the table's
    rules for undefined incoherence; None without questions."""
    if not parts:
        return None
    merged = Decomposition(*(np.concatenate(column) for column in zip(*parts, strict=True)))
    bias, variance, error = (float(np.mean(column)) for column in merged)
    return int(np.size(merged.error)), bias, variance, error, metric.incoherence(merged, floor)


# --------------------------------------------------------------------------- divergence


@dataclass(frozen=True)
class Divergence:
    """Where the samples of one task first took different actions."""

    env: str
    agent: str
    horizon: int
    task_seed: int | str
    n_samples: int
    step: int | None
    """1-based step at which not every sample took the same action (a sample that has
    already stopped counts as differing); None when all took identical action sequences."""


def divergence(episodes: Episodes) -> list[Divergence]:
    """One row per task with at least two non-censored samples (forks left out)."""
    questions: dict[tuple[str, str, int, int | str], list[tuple[int, tuple[int, ...]]]] = {}
    for episode in _as_light(episodes):
        if episode.outcome.get("infra_error") is None:
            key = (episode.env, episode.agent, episode.horizon, episode.task_seed)
            questions.setdefault(key, []).append((episode.sample, episode.actions))
    rows = []
    for (env, agent, horizon, seed), samples in sorted(questions.items(), key=_seed_order):
        if len(samples) < 2:
            continue
        runs = [actions for _, actions in samples]
        # The lexicographic extremes share exactly the prefix that every sequence shares.
        low, high = min(runs), max(runs)
        step = None
        if low != high:
            step = 1 + next(
                (i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b),
                min(len(low), len(high)),
            )
        rows.append(Divergence(env, agent, horizon, seed, len(samples), step))
    return rows


def _seed_order(item: tuple[tuple[str, str, int, int | str], Any]) -> tuple[Any, ...]:
    env, agent, horizon, seed = item[0]
    return (
        env,
        agent,
        horizon,
        isinstance(seed, str),
        seed if isinstance(seed, int) else 0,
        str(seed),
    )


def divergence_summary(rows: Iterable[Divergence]) -> list[dict[str, Any]]:
    """Per (env, agent, horizon): how many tasks, the share whose samples never diverged,
    and, over those that did, the median and quartiles of the divergence step and the mean
    of step / horizon (NaN when none diverged)."""
    cells: dict[tuple[str, str, int], list[int | None]] = {}
    for row in rows:
        cells.setdefault((row.env, row.agent, row.horizon), []).append(row.step)
    summary = []
    for (env, agent, horizon), steps in sorted(cells.items()):
        diverged = np.asarray([s for s in steps if s is not None], dtype=np.float64)
        quartiles = np.percentile(diverged, [25, 50, 75]) if diverged.size else np.full(3, np.nan)
        summary.append(
            {
                "env": env,
                "agent": agent,
                "horizon": horizon,
                "n_tasks": len(steps),
                "n_never": len(steps) - int(diverged.size),
                "share_never": (len(steps) - diverged.size) / len(steps),
                "median_step": float(quartiles[1]),
                "q1_step": float(quartiles[0]),
                "q3_step": float(quartiles[2]),
                "mean_step_over_horizon": (
                    float((diverged / horizon).mean()) if diverged.size else math.nan
                ),
            }
        )
    return summary
