"""The stopping rule of adaptive sampling: a bootstrap CI of one question's incoherence.

A question is one task at one horizon for one agent; its samples are its episodes. The
rule resamples the question's samples with replacement, decomposes every resample with
the outcome kind's headline metric (`headline_metric`) and takes the percentile
interval of variance / error over the resamples. Resamples with no error (every sample
right) have no incoherence and are left out; a question none of whose resamples has error
gets a zero-width interval (there is nothing left to estimate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hotmess.scoring.metrics import headline_metric
from hotmess.scoring.samples import outcome_sample


def question_arrays(outcomes: Sequence[Mapping[str, Any]]) -> tuple[str, np.ndarray, Any] | None:
    """(kind, predictions [s, ...], target) of one question's scorable outcomes, by the
    scoring table's own rules for missing answers (uniform / all failing / left out); None
    when fewer than two samples are usable. Censored outcomes are left out."""
    usable = [o for o in outcomes if o.get("infra_error") is None]
    if not usable:
        return None
    kind = usable[0]["kind"]
    rows: list[Any] = []
    target: Any = None
    for index, outcome in enumerate(usable):
        sample = outcome_sample(usable, index, outcome)
        if sample is not None:  # None: a scalar without a finite answer, left out
            _, value, target = sample
            rows.append(value)
    if len(rows) < 2:
        return None
    dtype = bool if kind == "tests" else np.float64
    return kind, np.asarray(rows, dtype=dtype), target


def incoherence_ci(
    outcomes: Sequence[Mapping[str, Any]],
    *,
    n_boot: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The bootstrap percentile CI of one question's incoherence; None when fewer than two
    samples are usable (the interval is then unbounded)."""
    arrays = question_arrays(outcomes)
    if arrays is None:
        return None
    kind, predictions, target = arrays
    s = len(predictions)
    rng = np.random.default_rng(seed)
    resampled = predictions[rng.integers(0, s, size=(n_boot, s))]  # resamples as questions
    metric = headline_metric(kind)
    parts = metric.decompose(resampled, np.full(n_boot, target, dtype=np.float64))
    width = predictions.shape[1] if predictions.ndim > 1 else 0
    # Error at the metric's floor (δ smoothing's, for kl) is no error.
    floor = 1e-12 if metric.error_floor is None else metric.error_floor(width) + 1e-9
    error = np.asarray(parts.error)
    has_error = error > floor
    if not has_error.any():
        return (0.0, 0.0)
    ratio = np.asarray(parts.variance)[has_error] / error[has_error]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratio, [tail, 100 - tail])
    return float(low), float(high)
