"""The corrected estimator against reference computations, and the coverage of the default
(population) intervals in simulation with known true bias and variance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hotmess.scoring import get_metric, score_episodes
from hotmess.scoring.estimators import corrected, estimate
from hotmess.scoring.stats import cell_stats, score_estimated

# --------------------------------------------------------------------------- reference


def test_quadratic_metrics_use_the_unbiased_within_question_variance() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(7, 5))
    t = rng.normal(size=7)
    parts = corrected(get_metric("mse"), y, t)
    variance = y.var(axis=1, ddof=1)  # the textbook unbiased variance, computed independently
    np.testing.assert_allclose(parts.variance, variance, rtol=1e-12)
    np.testing.assert_allclose(parts.bias, (y.mean(axis=1) - t) ** 2 - variance / 5, rtol=1e-10)
    np.testing.assert_allclose(parts.error, ((y - t[:, None]) ** 2).mean(axis=1), rtol=1e-12)

    p = rng.dirichlet(np.ones(3), size=(4, 6))
    target = np.array([0, 1, 2, 0])
    brier = corrected(get_metric("brier"), p, target.astype(float))
    unbiased = p.var(axis=1, ddof=1).sum(axis=1)
    np.testing.assert_allclose(brier.variance, unbiased, rtol=1e-12)
    np.testing.assert_allclose(brier.bias + brier.variance, brier.error, rtol=1e-12)


def test_kl_correction_is_the_delete_one_jackknife() -> None:
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4), size=(3, 5))
    t = np.array([0.0, 2.0, 3.0])
    kl = get_metric("kl")
    plug = kl.decompose(p, t)
    left_out = np.mean([kl.decompose(np.delete(p, i, axis=1), t).variance for i in range(5)], 0)
    parts = corrected(kl, p, t)
    np.testing.assert_allclose(parts.variance, 5 * plug.variance - 4 * left_out, rtol=1e-10)
    np.testing.assert_allclose(parts.error, plug.error, rtol=1e-12)
    np.testing.assert_allclose(parts.bias + parts.variance, parts.error, rtol=1e-10)


def test_kl_jackknife_removes_most_of_the_plug_in_bias() -> None:
    # Soft answers p_j = softmax(logit_q + noise): the population variance is the plug-in's
    # limit at many samples; at 4 samples the jackknife lands much closer on average.
    rng = np.random.default_rng(3)
    q, c = 400, 3
    logits = rng.normal(size=(q, 1, c))

    def draw(s: int) -> np.ndarray:
        z = logits + rng.normal(0.0, 1.0, size=(q, s, c))
        return np.exp(z) / np.exp(z).sum(axis=2, keepdims=True)

    t = np.zeros(q)
    kl = get_metric("kl")
    truth = np.mean(kl.decompose(draw(4000), t).variance)
    plug = np.mean([np.mean(kl.decompose(draw(4), t).variance) for _ in range(20)])
    jack = np.mean([np.mean(corrected(kl, draw(4), t).variance) for _ in range(20)])
    assert abs(jack - truth) < 0.3 * abs(plug - truth), (truth, plug, jack)


def test_zero_one_and_single_samples_keep_the_plug_in() -> None:
    p = np.eye(3)[[[0, 1, 1], [2, 2, 0]]]
    t = np.array([1.0, 2.0])
    zero_one = get_metric("zero_one")
    assert np.array_equal(
        np.asarray(corrected(zero_one, p, t)), np.asarray(zero_one.decompose(p, t))
    )
    y, target = np.array([[1.0], [3.0]]), np.array([0.0, 1.0])
    mse = get_metric("mse")
    assert np.array_equal(
        np.asarray(corrected(mse, y, target)), np.asarray(mse.decompose(y, target))
    )
    with pytest.raises(ValueError, match="estimator"):
        estimate(mse, y, target, "jackknife")  # type: ignore[arg-type]


def test_plug_in_rows_are_the_score_table_and_corrected_rows_differ() -> None:
    records = scalar_records(np.random.default_rng(4), 1, 20, 4)
    assert score_estimated(records) == score_episodes(records)
    (row,) = score_estimated(records, "corrected")
    (plug,) = score_episodes(records)
    assert row.error == pytest.approx(plug.error)
    assert row.variance == pytest.approx(plug.variance * 4 / 3)
    assert row.bias == pytest.approx(plug.error - plug.variance * 4 / 3)
    assert row.incoherence == pytest.approx(row.variance / row.error)


# --------------------------------------------------------------------------- coverage

TRUE_BIAS, SIGMA2_LOW, SIGMA2_HIGH = 0.03, 0.02, 0.20
"""Scalar case: y = t + b_q + σ_q ε with b_q ~ N(0, 0.03) and σ_q² ~ U(0.02, 0.20): true
bias E b² = 0.03, true variance E σ² = 0.11, the regime the issue measured."""


def scalar_records(rng: np.random.Generator, n_data: int, n: int, s: int) -> list[dict[str, Any]]:
    records = []
    for d in range(n_data):
        offset = rng.normal(0.0, np.sqrt(TRUE_BIAS), n)
        sigma = np.sqrt(rng.uniform(SIGMA2_LOW, SIGMA2_HIGH, n))
        y = offset[:, None] + sigma[:, None] * rng.normal(size=(n, s))
        for q in range(n):
            for j in range(s):
                outcome = {"kind": "scalar", "prediction": float(y[q, j]), "target": 0.0}
                records.append(record(d, q, j, {**outcome, "success": False}))
    return records


ALPHA = np.array([3.0, 1.0, 0.5, 0.5])
"""Categorical case: each question's answer distribution π_q ~ Dirichlet(ALPHA), gold 0,
hard answers drawn from π_q. Brier: bias = ‖e₀ − π‖², variance = 1 − ‖π‖², and
the Dirichlet moments E π₀ = α₀/A, E π_c² = α_c(α_c + 1)/(A(A + 1)) give the truth."""


def categorical_records(rng: np.random.Generator, n_data: int, n: int, s: int) -> list[Any]:
    records = []
    for d in range(n_data):
        pi = rng.dirichlet(ALPHA, size=n)
        for q in range(n):
            for j, answer in enumerate(rng.choice(len(ALPHA), size=s, p=pi[q])):
                outcome = {
                    "kind": "categorical",
                    "choices": ["a", "b", "c", "d"],
                    "prediction": np.eye(len(ALPHA))[answer].tolist(),
                    "target": 0,
                    "success": bool(answer == 0),
                }
                records.append(record(d, q, j, outcome))
    return records


def record(d: int, q: int, j: int, outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "env": f"sim/{d}",
        "agent": "sim",
        "horizon": 1,
        "task_seed": q,
        "sample": j,
        "outcome": outcome,
    }


def truth(metric: str) -> dict[str, float]:
    if metric == "mse":
        bias, variance = TRUE_BIAS, (SIGMA2_LOW + SIGMA2_HIGH) / 2
    else:
        total = ALPHA.sum()
        square = float((ALPHA * (ALPHA + 1)).sum() / (total * (total + 1)))
        bias, variance = 1.0 - 2.0 * ALPHA[0] / total + square, 1.0 - square
    return {
        "bias": bias,
        "variance": variance,
        "error": bias + variance,
        "incoherence": variance / (bias + variance),
    }


def coverage(records: list[Any], metric: str, n_data: int) -> dict[str, float]:
    known = truth(metric)
    stats = [s for s in cell_stats(records, n_boot=200) if s.metric == metric]
    assert len(stats) == n_data and all(s.intervals == "population" for s in stats)
    hits = dict.fromkeys(known, 0)
    for stat in stats:
        for name, value in known.items():
            interval = getattr(stat, f"{name}_ci")
            assert interval is not None
            hits[name] += interval[0] <= value <= interval[1]
    return {name: count / n_data for name, count in hits.items()}


@pytest.mark.parametrize("kind", ["scalar", "categorical"])
def test_default_intervals_cover_the_population_quantities(kind: str) -> None:
    """A fast variant: 100 tasks x 5 samples, 60 replications."""
    check_coverage(kind, n_data=60, s=5, least=0.85)


@pytest.mark.slow
@pytest.mark.parametrize("s", [5, 20])
@pytest.mark.parametrize("kind", ["scalar", "categorical"])
def test_default_intervals_cover_the_population_quantities_at_200_replications(
    kind: str, s: int
) -> None:
    check_coverage(kind, n_data=200, s=s, least=0.90)


def check_coverage(kind: str, n_data: int, s: int, least: float) -> None:
    rng = np.random.default_rng(20260513 + s)
    if kind == "scalar":
        found = coverage(scalar_records(rng, n_data, 100, s), "mse", n_data)
    else:
        found = coverage(categorical_records(rng, n_data, 100, s), "brier", n_data)
    print(f"{kind}, 100 x {s}: coverage of 95% population intervals", found)
    assert all(value >= least for value in found.values()), found


def test_population_intervals_do_not_depend_on_the_point_estimator() -> None:
    records = scalar_records(np.random.default_rng(5), 2, 30, 5)
    plug = cell_stats(records, n_boot=300)
    fixed = cell_stats(records, n_boot=300, estimator="corrected")
    assert [s.bias_ci for s in plug] == [s.bias_ci for s in fixed]
    assert [s.incoherence_ci for s in plug] == [s.incoherence_ci for s in fixed]
    for stat in fixed:  # a reflected interval holds the value it is centred on
        for value, (low, high) in ((stat.bias, stat.bias_ci), (stat.variance, stat.variance_ci)):
            assert low <= value <= high
    # The task-only intervals of the plug-in sit lower for variance (its (s − 1)/s).
    tasks = cell_stats(records, n_boot=300, intervals="tasks")
    assert all(t.variance_ci[1] < p.variance_ci[1] for t, p in zip(tasks, plug, strict=True))
    with pytest.raises(ValueError, match="intervals"):
        cell_stats(records, intervals="reflected")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="estimator"):
        cell_stats(records, estimator="jackknife")  # type: ignore[arg-type]


def test_compare_uses_the_chosen_estimator(tmp_path: Any) -> None:
    from hotmess.runner import SweepConfig, run_sweep
    from hotmess.scoring.compare import compare_runs
    from hotmess.store import load_episodes

    options: dict[str, Any] = dict(envs=["hotmess/KVSum-v0"], horizons=[2, 4], tasks=4)
    for name, agent in (("one", "noisy:p=0.2"), ("two", "noisy:p=0.4")):
        run_sweep(
            SweepConfig(out=tmp_path / name, sandbox="none", agents=[agent], samples=4, **options)
        )
    rows = {
        (r.horizon, r.metric): r
        for r in score_estimated(load_episodes(tmp_path / "one"), "corrected")
    }
    for estimator in ("plugin", "corrected"):
        found = compare_runs(tmp_path / "one", tmp_path / "two", n_boot=50, estimator=estimator)
        assert [(c.horizon, c.metric) for c in found] == [(2, "mse"), (4, "mse")]
        for c in found:
            variance = c.quantities["variance"].first
            corrected_variance = rows[c.horizon, "mse"].variance
            assert (variance == pytest.approx(corrected_variance)) == (estimator == "corrected")
