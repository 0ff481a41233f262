"""Bias-variance decompositions of agent error, one per outcome kind, and incoherence.

Pure numpy over a leading question axis, following Hägele et al. (2026, arXiv 2601.23045).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROBABILITY_TOLERANCE = 1e-6
"""How far from 1 a probability vector may sum; accepted vectors are rescaled to sum to 1."""
KL_DELTA = 1e-12
"""δ of the KL decomposition's smoothing p̂ = (p + δ)/(1 + Cδ) (DESIGN, Scoring)."""
_ROUNDING = 1e-12  # rows this close to 1 are used as given: rescaling them changes nothing real
TIE_TOLERANCE = 1e-9
"""Choices within this relative distance of a row's largest probability tie for its argmax;
the lowest index among them wins. Wider than rounding, so 1/3 summed three ways still ties."""
ERROR_ROUNDING = 1e-9
"""Total error at most this per question (in absolute value) is rounding, not error: it
covers float noise and δ smoothing's floor of (C − 1)δ for up to 1,000 choices."""


class Decomposition(NamedTuple):
    """Per-question bias, variance and error: arrays of shape [q], or floats for one question."""

    bias: FloatArray | float
    variance: FloatArray | float
    error: FloatArray | float


class ZeroOneDecomposition(Decomposition):
    """A 0/1-loss decomposition: error is not bias + variance, so it has no incoherence."""

    __slots__ = ()


class IncoherenceUndefined(RuntimeWarning):
    """Incoherence was asked of questions whose total error is 0; the result is NaN."""


def mse_decomposition(predictions: npt.ArrayLike, targets: npt.ArrayLike) -> Decomposition:
    """Squared-error decomposition of scalar answers.

    `predictions` is [q, s] (s samples per question), `targets` is [q]; or [s] and a scalar
    for one question. With ȳ the mean prediction: bias = (ȳ − t)², variance =
    mean_j (y_j − ȳ)², error = mean_j (y_j − t)² = bias + variance.
    """
    y, single = _leading_axis(_as_float(predictions, "predictions"), 2, "[questions, samples]")
    q, s = y.shape
    _require_samples(s)
    t = _targets(targets, q, single).astype(np.float64, copy=False)
    mean = y.mean(axis=1)
    # A NaN or infinity makes its row's mean non-finite, so only then look at every value.
    if not np.isfinite(mean).all() and not np.isfinite(y).all():
        i, j = np.argwhere(~np.isfinite(y))[0]
        raise ValueError(
            f"predictions must be finite: {_where(i, j, single)} is {float(y[i, j])!r}"
        )
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise ValueError(
            f"targets must be finite: {_where(i, None, single)} has target {float(t[i])!r}"
        )
    spread = y - mean[:, None]
    bias = (mean - t) ** 2
    variance = np.einsum("qs,qs->q", spread, spread) / s  # einsum: no squared temporary
    # mean_j (y_j − t)² expands to exactly this, a sum of two non-negative terms: as accurate
    # as the direct mean, without another [q, s] temporary.
    error = bias + variance
    return _result(Decomposition, bias, variance, error, single)


def kl_decomposition(
    probs: npt.ArrayLike, targets: npt.ArrayLike, delta: float = KL_DELTA
) -> Decomposition:
    """Log-loss (KL) decomposition of probabilistic categorical answers: the headline metric.

    `probs` is [q, s, C] (each row a probability vector over C choices), `targets` is [q]
    gold indices; or [s, C] and an int for one question. Following Hägele et al. (2026,
    arXiv 2601.23045), with smoothed p̂ = (p + δ)/(1 + Cδ) and f̄ ∝ exp(mean_j log p̂_j) the
    normalised geometric mean: bias = −log f̄[t], variance = mean_j KL(f̄ ‖ p̂_j),
    error = mean_j −log p̂_j[t] = bias + variance. Error never reaches 0: answers that are
    always right keep ≈ (C − 1)δ of it, all bias (see `kl_error_floor`).
    """
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(
            f"delta must be positive and finite (it keeps log p̂ finite); got {delta!r}"
        )
    p, t, single = _probabilities(probs, targets)
    q, s, n_classes = p.shape
    # mean_j log p̂_j, with log p̂ = log(p + δ) − log(1 + Cδ); a matmul sums over samples
    # several times faster than .mean(axis=1).
    log_p = p + delta
    np.log(log_p, out=log_p)
    mean_log = np.ones(s) @ log_p / s - np.log1p(n_classes * delta)  # [q, C]
    peak = mean_log.max(axis=1)
    log_z = peak + np.log(np.exp(mean_log - peak[:, None]).sum(axis=1))  # logsumexp, [q]
    # log f̄ = mean_log − log Z, so mean_j KL(f̄ ‖ p̂_j) = Σ_c f̄_c (log f̄_c − mean_log_c) = −log Z:
    # the variance needs no pass over samples. Z ≤ 1 (geometric ≤ arithmetic mean), and
    # f̄[t] ≤ 1, so both terms are ≥ 0; clipping only removes rounding below zero.
    error = -mean_log[np.arange(q), t]
    bias = np.maximum(log_z + error, 0.0)
    variance = np.maximum(-log_z, 0.0)
    return _result(Decomposition, bias, variance, error, single)


def kl_error_floor(n_classes: int, delta: float = KL_DELTA) -> float:
    """The smallest KL error a question can have: every sample puts all its mass on the
    target, yet smoothing leaves −log p̂[t] = log(1 + Cδ) − log(1 + δ) ≈ (C − 1)δ > 0."""
    return float(np.log1p(n_classes * delta) - np.log1p(delta))


def brier_decomposition(probs: npt.ArrayLike, targets: npt.ArrayLike) -> Decomposition:
    """Brier (squared-error) decomposition of probabilistic categorical answers.

    `probs` is [q, s, C], `targets` is [q] gold indices; or [s, C] and an int for one
    question. With y = one-hot(t) and p̄ the arithmetic mean over samples: bias = ‖y − p̄‖²,
    variance = mean_j ‖p_j − p̄‖², error = mean_j ‖y − p_j‖² = bias + variance.
    """
    p, t, single = _probabilities(probs, targets)
    q, s, _ = p.shape
    mean = np.ones(s) @ p / s  # p̄, [q, C]
    mean_t = mean[np.arange(q), t]  # p̄[t] = mean_j p_j[t]
    mean_square = np.einsum("qsc,qsc->q", p, p) / s  # mean_j ‖p_j‖²
    # Expanding the squares with ‖y‖² = 1 and y·p = p[t] avoids [q, s, C] temporaries; every
    # term is in [0, 1], so rounding stays at the 1e-16 level. Clipping removes it below 0.
    bias = np.maximum(1.0 - 2.0 * mean_t + (mean**2).sum(axis=1), 0.0)
    variance = np.maximum(mean_square - (mean**2).sum(axis=1), 0.0)
    error = np.maximum(1.0 - 2.0 * mean_t + mean_square, 0.0)
    return _result(Decomposition, bias, variance, error, single)


def zero_one_decomposition(
    probs: npt.ArrayLike, targets: npt.ArrayLike, answered: npt.ArrayLike | None = None
) -> Decomposition:
    """0/1-loss decomposition of categorical answers (Domingos-style; no incoherence).

    `probs` is [q, s, C], `targets` is [q] gold indices; or [s, C] and an int for one
    question. `answered` ([q, s] bool, default all true) marks the samples that gave an
    answer: the others are the category "no answer", never equal to the target. A sample's
    hard answer is its argmax (`hard_answers`: ties within `TIE_TOLERANCE` go to the lowest
    index). The main prediction m is the argmax of p̄, the mean over samples with "no answer"
    as a C + 1st category (a missing sample puts all its mass there), by the same tie rule,
    so m is "no answer" only when no real choice ties with it: bias = 1[m ≠ t], variance =
    P_j(answer_j ≠ m), error = P_j(answer_j ≠ t). Error is not bias + variance in general,
    so `incoherence` refuses the result.
    """
    p, t, single = _probabilities(probs, targets)
    q, s, _ = p.shape
    mask = _answered(answered, (q, s), single)
    answers = hard_answers(p, mask)  # [q, s]; C is "no answer"
    # p̄ over C + 1 categories: an answer's probabilities, or all its mass on "no answer".
    extended = np.concatenate([p * mask[:, :, None], (~mask)[:, :, None]], axis=2)
    main = hard_answers(np.ones(s) @ extended / s)  # [q]
    bias = (main != t).astype(np.float64)
    variance = (answers != main[:, None]).mean(axis=1)
    error = (answers != t[:, None]).mean(axis=1)
    return _result(ZeroOneDecomposition, bias, variance, error, single)


def hard_answers(probs: npt.ArrayLike, answered: npt.ArrayLike | None = None) -> IntArray:
    """Each probability vector's choice: the lowest index whose probability is within a
    relative `TIE_TOLERANCE` of the row's largest, so rounding never decides a tie. Samples
    that `answered` marks false get C, the "no answer" category. Shape: `probs` without its
    last axis."""
    p = np.asarray(probs, dtype=np.float64)
    peak = p.max(axis=-1, keepdims=True)
    choice = (p >= peak * (1.0 - TIE_TOLERANCE)).argmax(axis=-1)  # first True
    if answered is not None:
        choice = np.where(np.asarray(answered, dtype=bool), choice, p.shape[-1])
    return choice.astype(np.int64)


def _answered(answered: npt.ArrayLike | None, shape: tuple[int, int], single: bool) -> np.ndarray:
    if answered is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(answered, dtype=bool)
    mask = mask[np.newaxis] if single else mask
    if mask.shape != shape:
        raise ValueError(
            f"answered must be one flag per sample, shape {shape[1:] if single else shape}; "
            f"got shape {np.shape(answered)}"
        )
    return mask


def coverage_decomposition(passes: npt.ArrayLike) -> Decomposition:
    """Squared-error decomposition of pass/fail test vectors, the target being all pass.

    `passes` is [q, s, T] (bool or 0/1: sample j passed test k); or [s, T] for one question.
    With ȳ_k the pass rate of test k over samples: bias = mean_k (1 − ȳ_k)², variance =
    mean_{j,k} (y_jk − ȳ_k)², error = mean_{j,k} (1 − y_jk)² = bias + variance.
    """
    y = np.asarray(passes)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"passes must be bool or 0/1 numbers; got dtype {y.dtype}")
    y, single = _leading_axis(y, 3, "[questions, samples, tests]")
    _, s, n_tests = y.shape
    _require_samples(s)
    if n_tests == 0:
        raise ValueError("passes has an empty test axis: coverage needs at least one test")
    if y.dtype.kind != "b" and not ((y == 0) | (y == 1)).all():
        i, j, _ = np.argwhere((y != 0) & (y != 1))[0]
        raise ValueError(f"passes must be bool or 0/1: {_where(i, j, single)} has another value")
    # For 0/1 values mean_j (y_jk − ȳ_k)² = ȳ_k(1 − ȳ_k) and mean_j (1 − y_jk)² = 1 − ȳ_k,
    # so everything follows from the pass rates without a float copy of the samples.
    rate = np.count_nonzero(y, axis=1) / s  # [q, T]
    bias = ((1.0 - rate) ** 2).mean(axis=1)
    variance = (rate * (1.0 - rate)).mean(axis=1)
    error = (1.0 - rate).mean(axis=1)
    return _result(Decomposition, bias, variance, error, single)


def incoherence(decomposition: Decomposition) -> float:
    """The share of error that is variance, pooled: Σ variance / Σ error over the questions.

    Pooling (not a mean of per-question ratios) weights each question by its error, as in
    Hägele et al. (2026, arXiv 2601.23045). Returns NaN and warns `IncoherenceUndefined`
    when the total error is 0 within rounding (`ERROR_ROUNDING` per question), where the
    ratio would be noise over noise; raises ValueError for a 0/1-loss decomposition.
    """
    value, reason = incoherence_with_reason(decomposition)
    if reason is not None:
        warnings.warn(reason, IncoherenceUndefined, stacklevel=2)
    return value


def incoherence_with_reason(decomposition: Decomposition) -> tuple[float, str | None]:
    """`incoherence` without the warning: (value, None), or (NaN, why it is undefined)."""
    if isinstance(decomposition, ZeroOneDecomposition):
        raise ValueError(
            "incoherence is not defined for the 0/1-loss decomposition: its error is not "
            "bias + variance; use kl_decomposition or brier_decomposition"
        )
    error = np.asarray(decomposition.error, dtype=np.float64)
    if error.size == 0:
        return float("nan"), "incoherence is undefined: there are no questions"
    total_error = float(error.sum())
    if abs(total_error) <= ERROR_ROUNDING * error.size:
        return float("nan"), (
            "incoherence is undefined: total error is 0 within rounding (every sample hit "
            "the target), so there is no error to split into bias and variance"
        )
    return float(np.sum(decomposition.variance)) / total_error, None


def _as_float(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from None


def _leading_axis(array: np.ndarray, ndim: int, shape: str) -> tuple[np.ndarray, bool]:
    """Return `array` with a question axis, and whether it came without one (one question)."""
    if array.ndim == ndim:
        return array, False
    if array.ndim == ndim - 1:
        return array[np.newaxis], True
    raise ValueError(
        f"expected shape {shape}, or the same without the leading question axis for one "
        f"question; got an array of shape {array.shape}"
    )


def _require_samples(n_samples: int) -> None:
    if n_samples == 0:
        raise ValueError("the sample axis is empty: each question needs at least one sample")


def _targets(targets: npt.ArrayLike, n_questions: int, single: bool) -> np.ndarray:
    t = np.asarray(targets)
    expected = () if single else (n_questions,)
    if t.shape != expected:
        which = (
            "a scalar for one question" if single else f"shape ({n_questions},), one per question"
        )
        raise ValueError(f"targets must be {which}; got shape {t.shape}")
    if t.dtype.kind not in "iuf":
        raise ValueError(f"targets must be numbers; got dtype {t.dtype}")
    return t.reshape(n_questions)


def _class_targets(
    targets: npt.ArrayLike, n_questions: int, n_classes: int, single: bool
) -> IntArray:
    t = _targets(targets, n_questions, single)
    if t.dtype.kind == "f":
        integral = np.isfinite(t) & (t == np.round(t))
        if not integral.all():
            i = int(np.flatnonzero(~integral)[0])
            raise ValueError(
                f"targets must be class indices: {_where(i, None, single)} has target {t[i]!r}"
            )
    t = t.astype(np.int64)
    out_of_range = (t < 0) | (t >= n_classes)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(
            f"target out of range: {_where(i, None, single)} has target {t[i]}, but there are "
            f"{n_classes} classes (valid targets are 0..{n_classes - 1})"
        )
    return t


def _probabilities(
    probs: npt.ArrayLike, targets: npt.ArrayLike
) -> tuple[FloatArray, IntArray, bool]:
    """Validate [q, s, C] probabilities and [q] class targets; rescale rows off by more than rounding."""
    p, single = _leading_axis(_as_float(probs, "probs"), 3, "[questions, samples, classes]")
    q, s, n_classes = p.shape
    _require_samples(s)
    if n_classes == 0:
        raise ValueError("probs has an empty class axis: there must be at least one choice")
    t = _class_targets(targets, q, n_classes, single)
    if not (p >= 0).all():  # also catches NaN
        i, j, _ = np.argwhere(~(p >= 0))[0]
        raise ValueError(
            f"probabilities must be non-negative numbers: {_where(i, j, single)} has "
            f"{p[i, j].tolist()}"
        )
    sums = p @ np.ones(n_classes)  # [q, s]; a matmul is faster than .sum(axis=2)
    off = ~(np.abs(sums - 1.0) <= PROBABILITY_TOLERANCE)
    if off.any():
        i, j = np.argwhere(off)[0]
        raise ValueError(
            f"probability vectors must sum to 1 (within {PROBABILITY_TOLERANCE:g}): "
            f"{_where(i, j, single)} sums to {float(sums[i, j])!r}"
        )
    if not (np.abs(sums - 1.0) <= _ROUNDING).all():
        p = p / sums[:, :, None]
    return p, t, single


def _where(question: int, sample: int | None, single: bool) -> str:
    parts = [] if single else [f"question {int(question)}"]
    if sample is not None:
        parts.append(f"sample {int(sample)}")
    return ", ".join(parts) if parts else "the question"


def _result(
    kind: type[Decomposition],
    bias: FloatArray,
    variance: FloatArray,
    error: FloatArray,
    single: bool,
) -> Decomposition:
    if single:
        return kind(float(bias[0]), float(variance[0]), float(error[0]))
    return kind(bias, variance, error)
