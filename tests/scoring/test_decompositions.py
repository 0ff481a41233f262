"""The vectorised decompositions against literal per-question transcriptions of DESIGN's formulas."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hotmess.scoring import (
    Decomposition,
    IncoherenceUndefined,
    brier_decomposition,
    coverage_decomposition,
    incoherence,
    kl_decomposition,
    mse_decomposition,
    zero_one_decomposition,
)
from hotmess.scoring.decompositions import incoherence_with_reason

DELTA = 1e-12
RTOL = ATOL = 1e-9


# Reference implementations: one question at a time, straight from the formulas.


def reference_mse(y: list[float], t: float) -> tuple[float, float, float]:
    mean = sum(y) / len(y)
    bias = (mean - t) ** 2
    variance = sum((v - mean) ** 2 for v in y) / len(y)
    error = sum((v - t) ** 2 for v in y) / len(y)
    return bias, variance, error


def reference_kl(p: np.ndarray, t: int, delta: float = DELTA) -> tuple[float, float, float]:
    n_classes = p.shape[1]
    smoothed = (p + delta) / (1 + n_classes * delta)
    geometric = np.exp(np.log(smoothed).mean(axis=0))
    f = geometric / geometric.sum()
    bias = -math.log(f[t])
    variance = float(np.mean([np.sum(f * (np.log(f) - np.log(pj))) for pj in smoothed]))
    error = float(np.mean([-math.log(pj[t]) for pj in smoothed]))
    return bias, variance, error


def reference_brier(p: np.ndarray, t: int) -> tuple[float, float, float]:
    y = np.zeros(p.shape[1])
    y[t] = 1.0
    mean = p.mean(axis=0)
    bias = float(np.sum((y - mean) ** 2))
    variance = float(np.mean([np.sum((pj - mean) ** 2) for pj in p]))
    error = float(np.mean([np.sum((y - pj) ** 2) for pj in p]))
    return bias, variance, error


def reference_zero_one(p: np.ndarray, t: int) -> tuple[float, float, float]:
    main = int(np.argmax(p.mean(axis=0)))
    answers = [int(np.argmax(pj)) for pj in p]
    bias = float(main != t)
    variance = sum(a != main for a in answers) / len(answers)
    error = sum(a != t for a in answers) / len(answers)
    return bias, variance, error


def reference_coverage(y: np.ndarray) -> tuple[float, float, float]:
    s, n_tests = y.shape
    rate = [sum(float(y[j, k]) for j in range(s)) / s for k in range(n_tests)]
    bias = sum((1 - r) ** 2 for r in rate) / n_tests
    variance = sum((float(y[j, k]) - rate[k]) ** 2 for j in range(s) for k in range(n_tests))
    error = sum((1 - float(y[j, k])) ** 2 for j in range(s) for k in range(n_tests))
    return bias, variance / (s * n_tests), error / (s * n_tests)


def assert_matches(got: Decomposition, expected: list[tuple[float, float, float]]) -> None:
    want = np.array(expected).reshape(-1, 3)
    for column, name in enumerate(("bias", "variance", "error")):
        np.testing.assert_allclose(
            np.asarray(getattr(got, name)), want[:, column], rtol=RTOL, atol=ATOL, err_msg=name
        )


# Strategies.

dims = st.tuples(st.integers(1, 6), st.integers(1, 8), st.integers(1, 5))
# Plain values plus the ones the δ smoothing exists for: exact zeros, denormal-ish and
# sharply peaked masses, and exact ones (one-hot rows).
weights = st.one_of(
    st.floats(0, 1),
    st.sampled_from([0.0, 1.0, 1e-300, 1e-15, 1e-9, 0.5]),
)


@st.composite
def categorical(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    q, s, c = draw(dims)
    w = draw(hnp.arrays(np.float64, (q, s, c), elements=weights))
    sums = w.sum(axis=2, keepdims=True)
    one_hot = np.zeros_like(w)
    one_hot[..., 0] = 1.0
    probs = np.where(sums > 0, w / np.where(sums > 0, sums, 1.0), one_hot)
    targets = draw(hnp.arrays(np.int64, (q,), elements=st.integers(0, c - 1)))
    return probs, targets


@st.composite
def scalar(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    q, s, _ = draw(dims)
    values = st.floats(-100, 100)
    return (
        draw(hnp.arrays(np.float64, (q, s), elements=values)),
        draw(hnp.arrays(np.float64, (q,), elements=values)),
    )


@st.composite
def pass_fail(draw: st.DrawFn) -> np.ndarray:
    q, s, n_tests = draw(dims)
    return draw(hnp.arrays(np.bool_, (q, s, n_tests)))


# Agreement with the references.


@given(scalar())
def test_mse_matches_reference(case: tuple[np.ndarray, np.ndarray]) -> None:
    y, t = case
    got = mse_decomposition(y, t)
    assert_matches(got, [reference_mse(list(y[i]), float(t[i])) for i in range(len(t))])


@given(categorical())
@settings(max_examples=300)
def test_kl_matches_reference(case: tuple[np.ndarray, np.ndarray]) -> None:
    p, t = case
    assert_matches(kl_decomposition(p, t), [reference_kl(p[i], t[i]) for i in range(len(t))])


@given(categorical())
def test_brier_matches_reference(case: tuple[np.ndarray, np.ndarray]) -> None:
    p, t = case
    assert_matches(brier_decomposition(p, t), [reference_brier(p[i], t[i]) for i in range(len(t))])


def _near_tie(values: np.ndarray) -> bool:
    """Two top values within rounding of each other (exactly equal included): which one an
    argmax picks then depends on summation order, so these cases are tested on hard answers."""
    if values.shape[-1] < 2:
        return False
    top = np.sort(values, axis=-1)[..., -2:]
    return bool(np.any(top[..., 1] - top[..., 0] < 1e-9))


@given(categorical())
def test_zero_one_matches_reference(case: tuple[np.ndarray, np.ndarray]) -> None:
    p, t = case
    assume(not _near_tie(p) and not _near_tie(p.mean(axis=1)))
    got = zero_one_decomposition(p, t)
    assert_matches(got, [reference_zero_one(p[i], t[i]) for i in range(len(t))])


@given(dims, st.data())
def test_zero_one_matches_reference_on_hard_answers_with_ties(
    shape: tuple[int, int, int], data: st.DataObject
) -> None:
    # One-hot rows: p̄ is counts / s, exact in any summation order, so ties are exact too.
    q, s, c = shape
    answers = data.draw(hnp.arrays(np.int64, (q, s), elements=st.integers(0, c - 1)))
    t = data.draw(hnp.arrays(np.int64, (q,), elements=st.integers(0, c - 1)))
    p = np.eye(c)[answers]
    got = zero_one_decomposition(p, t)
    assert_matches(got, [reference_zero_one(p[i], t[i]) for i in range(q)])


@given(pass_fail())
def test_coverage_matches_reference(y: np.ndarray) -> None:
    assert_matches(coverage_decomposition(y), [reference_coverage(yi) for yi in y])


@pytest.mark.parametrize("seed", range(5))
def test_seeded_cases_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    q, s, c = 40, int(rng.integers(1, 30)), int(rng.integers(2, 7))
    p = rng.dirichlet(np.full(c, 0.3), size=(q, s))
    p[: q // 4] = np.eye(c)[rng.integers(0, c, size=(q // 4, s))]  # hard answers
    t = rng.integers(0, c, size=q)
    for decompose, reference in (
        (kl_decomposition, reference_kl),
        (brier_decomposition, reference_brier),
        (zero_one_decomposition, reference_zero_one),
    ):
        assert_matches(decompose(p, t), [reference(p[i], t[i]) for i in range(q)])
    y = rng.normal(size=(q, s))
    targets = rng.normal(size=q)
    assert_matches(
        mse_decomposition(y, targets), [reference_mse(list(y[i]), targets[i]) for i in range(q)]
    )
    passes = rng.random((q, s, c)) < 0.7
    assert_matches(coverage_decomposition(passes), [reference_coverage(yi) for yi in passes])


def test_kl_delta_matters_for_zero_probabilities() -> None:
    # One sample puts no mass on the gold class: without δ the error would be infinite.
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    got = kl_decomposition(p, 0)
    expected = reference_kl(p, 0)
    np.testing.assert_allclose(np.array(got), expected, rtol=RTOL, atol=ATOL)
    assert got.error == pytest.approx(-0.5 * math.log(DELTA / (1 + 2 * DELTA)), rel=1e-12)
    bigger = kl_decomposition(p, 0, delta=1e-6)
    np.testing.assert_allclose(
        np.array(bigger), reference_kl(p, 0, delta=1e-6), rtol=RTOL, atol=ATOL
    )
    assert bigger.error < got.error


def test_kl_accepts_rows_summing_to_one_within_tolerance() -> None:
    p = np.array([[0.7 + 5e-7, 0.3], [0.2, 0.8 - 5e-7]])
    exact = p / p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        np.array(kl_decomposition(p, 1)), np.array(kl_decomposition(exact, 1)), rtol=1e-14
    )


# The identity error = bias + variance.


def assert_additive(d: Decomposition) -> None:
    np.testing.assert_allclose(d.error, np.add(d.bias, d.variance), rtol=1e-12, atol=1e-12)
    assert np.all(np.asarray(d.bias) >= 0) and np.all(np.asarray(d.variance) >= 0)


@given(scalar())
def test_mse_is_additive(case: tuple[np.ndarray, np.ndarray]) -> None:
    assert_additive(mse_decomposition(*case))


@given(categorical())
def test_kl_and_brier_are_additive(case: tuple[np.ndarray, np.ndarray]) -> None:
    assert_additive(kl_decomposition(*case))
    assert_additive(brier_decomposition(*case))


@given(pass_fail())
def test_coverage_is_additive(y: np.ndarray) -> None:
    assert_additive(coverage_decomposition(y))


# One question without the leading axis.


@given(categorical(), scalar(), pass_fail())
def test_single_question_returns_floats_equal_to_batched(
    cat: tuple[np.ndarray, np.ndarray], sca: tuple[np.ndarray, np.ndarray], passes: np.ndarray
) -> None:
    p, t = cat
    y, yt = sca
    cases: list[
        tuple[Callable[..., Decomposition], tuple[np.ndarray, ...], tuple[np.ndarray, ...]]
    ] = [
        (kl_decomposition, (p,), (t,)),
        (brier_decomposition, (p,), (t,)),
        (zero_one_decomposition, (p,), (t,)),
        (mse_decomposition, (y,), (yt,)),
        (coverage_decomposition, (passes,), ()),
    ]
    for decompose, batched_args, target_args in cases:
        batched = decompose(*batched_args, *target_args)
        single = decompose(*(a[0] for a in batched_args), *(a[0] for a in target_args))
        assert type(single) is type(batched)
        for got, want in zip(single, batched, strict=True):
            assert type(got) is float
            assert got == pytest.approx(float(np.asarray(want)[0]), rel=1e-12, abs=1e-15)


def test_single_question_accepts_python_lists() -> None:
    got = mse_decomposition([1.0, 3.0], 2.0)
    assert got == Decomposition(0.0, 1.0, 1.0)
    assert brier_decomposition([[1, 0], [0, 1]], 0) == Decomposition(0.5, 0.5, 1.0)


def test_empty_question_axis_gives_empty_arrays() -> None:
    d = kl_decomposition(np.zeros((0, 3, 2)), np.zeros(0, dtype=int))
    assert all(np.shape(part) == (0,) for part in d)


# Degenerate cases.


def test_identical_samples_have_no_variance() -> None:
    rng = np.random.default_rng(1)
    p = np.repeat(rng.dirichlet(np.ones(4), size=(5, 1)), 6, axis=1)
    t = rng.integers(0, 4, 5)
    assert np.all(kl_decomposition(p, t).variance < 1e-12)
    # The mean of identical samples is their value up to rounding, hence atol not == 0.
    np.testing.assert_allclose(brier_decomposition(p, t).variance, 0, atol=1e-15)
    assert np.all(zero_one_decomposition(p, t).variance == 0)
    y = np.repeat(rng.normal(size=(5, 1)), 6, axis=1)
    np.testing.assert_allclose(mse_decomposition(y, rng.normal(size=5)).variance, 0, atol=1e-15)
    passes = np.repeat(rng.random((5, 1, 3)) < 0.5, 6, axis=1)
    assert np.all(coverage_decomposition(passes).variance == 0)


def test_all_correct_has_no_error_and_undefined_incoherence() -> None:
    t = np.array([0, 2, 1])
    p = np.repeat(np.eye(3)[t][:, None, :], 4, axis=1)
    decompositions = [
        mse_decomposition(np.full((3, 4), 7.0), np.full(3, 7.0)),
        brier_decomposition(p, t),
        coverage_decomposition(np.ones((3, 4, 5), dtype=bool)),
    ]
    for d in decompositions:
        assert np.all(d.error == 0)
        with pytest.warns(IncoherenceUndefined, match="total error is 0"):
            assert math.isnan(incoherence(d))
        value, reason = incoherence_with_reason(d)
        assert math.isnan(value) and "total error is 0" in str(reason)
    assert np.all(zero_one_decomposition(p, t).error == 0)
    # δ smoothing leaves KL an error of about (C − 1)δ, all of it bias.
    kl = kl_decomposition(p, t)
    assert np.all(kl.error < 3 * DELTA) and np.all(kl.variance < 1e-15)


def test_systematic_error_is_fully_coherent() -> None:
    t = np.array([0, 1])
    wrong = np.repeat(np.array([[0.1, 0.2, 0.7], [0.6, 0.1, 0.3]])[:, None, :], 5, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert incoherence(kl_decomposition(wrong, t)) == pytest.approx(0, abs=1e-12)
        assert incoherence(brier_decomposition(wrong, t)) == 0
        assert incoherence(mse_decomposition(np.full((2, 5), 3.0), np.zeros(2))) == 0
        assert incoherence(coverage_decomposition(np.zeros((2, 5, 3)))) == 0


def test_incoherence_pools_over_questions() -> None:
    d = Decomposition(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert incoherence(d) == 0.5
    # A mean of per-question ratios would weight the small-error question equally.
    d = Decomposition(np.array([9.0, 0.0]), np.array([0.0, 1.0]), np.array([9.0, 1.0]))
    assert incoherence(d) == pytest.approx(0.1)
    assert incoherence(Decomposition(1.0, 3.0, 4.0)) == 0.75


def test_incoherence_refuses_zero_one() -> None:
    d = zero_one_decomposition(np.array([[[0.9, 0.1]]]), np.array([1]))
    assert isinstance(d, Decomposition)
    with pytest.raises(ValueError, match="not defined for the 0/1-loss"):
        incoherence(d)


def test_zero_one_ties_go_to_the_lowest_index() -> None:
    # Uniform answers pick choice 0; an even split between 1 and 2 makes 1 the main answer.
    assert zero_one_decomposition([[0.5, 0.5]], 0) == (0.0, 0.0, 0.0)
    split = np.array([[0, 1, 0], [0, 0, 1]], dtype=float)
    assert zero_one_decomposition(split, 2) == (1.0, 0.5, 0.5)


# Bad input.

P = np.full((2, 3, 2), 0.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kl_decomposition(P, [0, 1, 0]), r"targets must be shape \(2,\)"),
        (lambda: kl_decomposition(P, 0), r"targets must be shape \(2,\)"),
        (lambda: kl_decomposition(P[0], [0]), "targets must be a scalar"),
        (lambda: kl_decomposition(P[0, 0], 0), r"expected shape \[questions, samples, classes\]"),
        (lambda: kl_decomposition(np.ones((2, 0, 2)), [0, 1]), "sample axis is empty"),
        (lambda: kl_decomposition(np.ones((2, 3, 0)), [0, 1]), "empty class axis"),
        (lambda: kl_decomposition(P, [0, 2]), "target out of range: question 1 has target 2"),
        (lambda: kl_decomposition(P, [-1, 0]), "target out of range: question 0"),
        (lambda: kl_decomposition(P, [0.5, 0]), "class indices: question 0"),
        (lambda: kl_decomposition(P, ["a", "b"]), "targets must be numbers"),
        (lambda: kl_decomposition(P, [0, 1], delta=0), "delta must be positive"),
        (lambda: brier_decomposition(P * 1.1, [0, 1]), "sum to 1.*question 0, sample 0 sums to"),
        (
            lambda: zero_one_decomposition(_poke(P, (1, 2, 0), -0.1), [0, 1]),
            "non-negative.*question 1, sample 2",
        ),
        (
            lambda: kl_decomposition(_poke(P, (0, 1, 1), np.nan), [0, 1]),
            "non-negative.*question 0, sample 1",
        ),
        (lambda: kl_decomposition(_poke(P, (0, 1, 1), np.inf), [0, 1]), "sums to inf"),
        (lambda: brier_decomposition([[0.2, 0.2]], 0), "sample 0 sums to 0.4"),
        (lambda: kl_decomposition([[[1, 0]], [[1, 0], [0, 1]]], [0, 0]), "rectangular array"),
        (lambda: mse_decomposition(np.ones((2, 3)), np.ones(3)), r"shape \(2,\)"),
        (lambda: mse_decomposition([[1.0, np.nan]], [0.0]), "finite: question 0, sample 1"),
        (lambda: mse_decomposition([[1.0]], [np.inf]), "targets must be finite"),
        (lambda: mse_decomposition(np.ones((2, 0)), np.ones(2)), "sample axis is empty"),
        (
            lambda: coverage_decomposition(np.full((1, 2, 2), 0.5)),
            "bool or 0/1: question 0, sample 0",
        ),
        (lambda: coverage_decomposition(np.ones((1, 2, 0))), "empty test axis"),
        (lambda: coverage_decomposition(np.array([["yes"]])), "dtype"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def _poke(array: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    copy = array.copy()
    copy[index] = value
    return copy
