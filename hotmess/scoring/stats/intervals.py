"""Bootstrap confidence intervals: the expanded percentile interval (Hesterberg 2015) and
the Student t quantile it needs."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from hotmess.scoring.stats.questions import (
    FloatArray,
)

Interval = tuple[float, float]


def expanded_interval(
    values: FloatArray,
    level: float,
    n_units: int,
    *,
    order: bool = False,
    centre: float | None = None,
) -> Interval:
    """Expanded percentile interval (Hesterberg 2015, "What teachers should know about the
    bootstrap", §4.2) of the defined (non-NaN) replicates; NaNs without any, or with fewer
    than two resampled units (tasks), where resampling cannot show any spread.

    The plain percentile interval is too narrow with few units: it uses the replicates'
    spread, ≈ √((n−1)/n) of the estimator's, and a normal quantile where a t quantile is
    due. Expanding the tail to Φ(−√(n/(n−1)) t_{n−1, 1−α/2}) corrects both to first order.
    `order` takes order statistics (no interpolation), for values that may be infinite.
    With `centre` (the point estimate the replicates resample) the interval is reflected
    (the "basic" bootstrap interval, Davison & Hinkley 1997, §5.2): the replicates' spread
    around `centre`, mirrored. A ratio such as incoherence has right-skewed replicates, and
    in simulation the mirrored interval misses on both sides about equally often."""
    values = values[~np.isnan(values)]
    if values.size == 0 or n_units < 2:
        return (math.nan, math.nan)
    tail = _NORMAL.cdf(
        -math.sqrt(n_units / (n_units - 1)) * _t_quantile(1.0 - (1.0 - level) / 2, n_units - 1)
    )
    tails = [tail, 1.0 - tail]
    if centre is not None and math.isfinite(centre):
        below, above = np.quantile(values, tails) - centre
        return (float(centre - above), float(centre - below))
    if order:
        low, high = np.quantile(values, tails, method="inverted_cdf")
    else:
        low, high = np.quantile(values, tails)
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
