"""The horizon at which success falls to 50%: a logistic fit of success on ln(horizon),
as METR fits time horizons, with separated data handled explicitly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hotmess.scoring.stats.bootstrap import _check, _joint_draws, _rng
from hotmess.scoring.stats.intervals import Interval, expanded_interval
from hotmess.scoring.stats.questions import (
    Episodes,
    FloatArray,
    IntArray,
    _as_light,
    _by_env_agent,
    _CellData,
    _cells,
)


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
