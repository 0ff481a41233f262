"""The stopping rule of adaptive sampling: a bootstrap CI of one question's incoherence.

A question is one task at one horizon for one agent; its samples are its episodes. The
rule resamples the question's samples with replacement, decomposes every resample with
the outcome's headline decomposition (mse, kl or coverage) and takes the percentile
interval of variance / error over the resamples. Resamples with no error (every sample
right) have no incoherence and are left out; a question none of whose resamples has error
gets a zero-width interval (there is nothing left to estimate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hotmess.scoring.decompositions import (
    coverage_decomposition,
    kl_decomposition,
    kl_error_floor,
    mse_decomposition,
)
from hotmess.scoring.table import _categorical_sample, _scalar_sample, _tests_sample

HEADLINE_METRIC = {"scalar": "mse", "categorical": "kl", "tests": "coverage"}
"""The decomposition the stopping rule uses for each outcome kind."""


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
    value: Any
    for index, outcome in enumerate(usable):
        prediction = outcome.get("prediction")
        if kind == "scalar":
            sample = _scalar_sample(usable, index, prediction, outcome.get("target"))
            if sample is None:
                continue
            _, value, target = sample
        elif kind == "categorical":
            _, value, target = _categorical_sample(usable, index, prediction, outcome)
        else:
            _, value, target = _tests_sample(usable, index, prediction, outcome)
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
    if kind == "scalar":
        parts = mse_decomposition(resampled, np.full(n_boot, target))
        floor = 1e-12
    elif kind == "categorical":
        parts = kl_decomposition(resampled, np.full(n_boot, target, dtype=np.int64))
        floor = kl_error_floor(predictions.shape[1]) + 1e-9
    else:
        parts = coverage_decomposition(resampled)
        floor = 1e-12
    error = np.asarray(parts.error)
    has_error = error > floor
    if not has_error.any():
        return (0.0, 0.0)
    ratio = np.asarray(parts.variance)[has_error] / error[has_error]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratio, [tail, 100 - tail])
    return float(low), float(high)
