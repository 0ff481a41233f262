"""Point estimators of a question's bias, variance and error: the paper's plug-in values, and
a finite-sample-corrected estimator whose variance is unbiased (so error = bias + variance
still holds, with the bias corrected by the same amount)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from hotmess.scoring.decompositions import Decomposition
from hotmess.scoring.metrics import Metric

FloatArray = npt.NDArray[np.float64]

Estimator = Literal["plugin", "corrected"]
ESTIMATORS: tuple[Estimator, ...] = ("plugin", "corrected")
"""`plugin`: the paper's values (the default); `corrected`: finite-sample corrected."""

QUADRATIC = ("mse", "brier", "coverage")
"""Metrics whose plug-in variance is the mean squared deviation from the sample mean, a
V-statistic with expectation (s − 1)/s of the population's: s/(s − 1) makes it unbiased."""


def corrected(metric: Metric, prediction: FloatArray, target: FloatArray) -> Decomposition:
    """Per-question (bias, variance, error) of `metric`, corrected for s samples per question.

    Quadratic metrics (`QUADRATIC`): variance_c = s/(s − 1) · variance, the unbiased
    within-question variance, and bias_c = bias − variance_c / s = error − variance_c (the
    plug-in bias is high by E variance_c / s). Any other metric with incoherence (`kl`, and
    plugins): the delete-one jackknife over samples, variance_c = s·V − (s − 1)·mean_i V₋ᵢ,
    which removes the O(1/s) term of a smooth statistic's bias; error is a mean over samples,
    already unbiased (its jackknife is itself), and bias_c = error − variance_c. Values are
    not clipped: a corrected bias may fall below 0 by about its noise, which is what keeps it
    unbiased. Metrics without incoherence (`zero_one`) and questions with fewer than two
    samples keep their plug-in values.
    """
    plug = metric.decompose(prediction, target)
    s = prediction.shape[1]
    if s < 2 or not metric.has_incoherence:
        return plug
    error = np.asarray(plug.error, dtype=np.float64)
    if metric.name in QUADRATIC:
        variance = np.asarray(plug.variance, dtype=np.float64) * (s / (s - 1))
    else:
        variance = _jackknife_variance(metric, prediction, target, plug)
    return Decomposition(error - variance, variance, error)


def _jackknife_variance(
    metric: Metric, prediction: FloatArray, target: FloatArray, plug: Decomposition
) -> FloatArray:
    s = prediction.shape[1]
    left_out = np.zeros(len(target))
    for i in range(s):
        kept = np.delete(prediction, i, axis=1)
        left_out += np.asarray(metric.decompose(kept, target).variance, dtype=np.float64)
    return s * np.asarray(plug.variance, dtype=np.float64) - (s - 1) * left_out / s


def estimate(
    metric: Metric, prediction: FloatArray, target: FloatArray, estimator: Estimator
) -> Decomposition:
    """`metric`'s per-question decomposition with `estimator` (see `corrected`)."""
    if estimator == "plugin":
        return metric.decompose(prediction, target)
    if estimator == "corrected":
        return corrected(metric, prediction, target)
    raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
