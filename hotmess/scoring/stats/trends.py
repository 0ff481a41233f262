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
