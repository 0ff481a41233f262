"""Log-log trends of incoherence, bias, variance and error against horizon, with bootstrap
intervals from task seeds drawn jointly across horizons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hotmess.scoring.metrics import QUANTITIES
from hotmess.scoring.stats.bootstrap import _check, _joint_draws, _Replicates, _replicates, _rng
from hotmess.scoring.stats.intervals import Interval, expanded_interval
from hotmess.scoring.stats.questions import (
    Episodes,
    FloatArray,
    _as_light,
    _by_env_agent,
    _CellData,
    _cells,
)


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
    """Those horizons: every bootstrap replicate refits over exactly these."""
    weights: tuple[float, ...] = ()
    """Each horizon's weight in the fit: the precision (1 / bootstrap variance) of its log
    value, scaled to sum to n_horizons."""
    slope_replicates: int = 0
    """Replicates positive and defined at every one of the horizons (of n_boot): the
    slope's interval is theirs."""


def trend_fits(
    episodes: Episodes,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    resample_samples: bool = False,
) -> list[TrendFit]:
    """Log-log least-squares trends of each quantity against horizon, with bootstrap CIs.

    The fit uses the horizons whose value is positive and defined (at least two, or the
    trend is omitted), weighted by each point's precision: 1 / the bootstrap variance of
    its log value. Each replicate draws task seeds with replacement once for all horizons
    (task i of a sweep is the same seed at every horizon, so its errors are correlated
    across horizons), recomputes the quantity per horizon and refits, with the same
    weights, over the same fixed horizons; a replicate without a positive value at one of
    them has no slope (`slope_replicates` counts those that do).
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
    xs, y = x[used], np.log(point[used])
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_y = np.log(np.where(boot[:, used] > 0, boot[:, used], np.nan))
    # Every replicate refits over the same horizons; one without a positive value at each of
    # them has no slope (and counts against `slope_replicates`).
    complete = ~np.isnan(boot_y).any(axis=1)
    weights = _precision(boot_y[complete])
    slope, intercept, r2 = _wls(xs, y, weights)
    slopes = np.full(len(boot_y), np.nan)
    slopes[complete] = _row_slopes(xs, boot_y[complete], weights)
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
        weights=tuple(float(w) for w in weights),
        slope_replicates=int(complete.sum()),
    )


def _precision(boot_y: FloatArray) -> FloatArray:
    """Per horizon, 1 / bootstrap variance of the log value, scaled to sum to the number of
    horizons; equal weights without two replicates or without any spread. A horizon whose
    replicates never move (variance 0) gets the largest weight among the others, not ∞."""
    h = boot_y.shape[1]
    if len(boot_y) < 2:
        return np.ones(h)
    variance = boot_y.var(axis=0, ddof=1)
    spread = variance > 1e-12 * max(1.0, float(np.abs(boot_y).max()))
    if not spread.any():
        return np.ones(h)
    precision = np.where(spread, 1.0 / np.where(spread, variance, 1.0), 0.0)
    precision[~spread] = precision.max()
    return precision * h / precision.sum()


def _wls(x: FloatArray, y: FloatArray, w: FloatArray) -> tuple[float, float, float]:
    """(slope, intercept, weighted R²) of weighted least squares y ≈ intercept + slope x."""
    mean_x, mean_y = float(w @ x / w.sum()), float(w @ y / w.sum())
    dx, dy = x - mean_x, y - mean_y
    slope = float((w * dx) @ dy / ((w * dx) @ dx))
    intercept = mean_y - slope * mean_x
    residual = y - intercept - slope * x
    total = float((w * dy) @ dy)
    flat = total <= 1e-24 * len(y) * max(1.0, float(y @ y) / len(y))  # rounding, not spread
    r2 = 1.0 if flat else max(0.0, 1.0 - float((w * residual) @ residual) / total)
    return slope, intercept, r2


def _row_slopes(x: FloatArray, y: FloatArray, w: FloatArray) -> FloatArray:
    """Weighted least-squares slope of each row of y [B, h] on x."""
    dx = x - float(w @ x / w.sum())
    return (y @ (w * dx)) / float((w * dx) @ dx)
