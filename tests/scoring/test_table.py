"""Scoring run stores: hand-built episodes against hand-computed rows."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hotmess.errors import StoreError
from hotmess.scoring import ScoreRow, load_episodes, mse_decomposition, score_episodes, score_run
from hotmess.scoring.decompositions import kl_error_floor
from hotmess.scoring.samples import outcome_sample
from hotmess.store import TornLineWarning

DELTA = 1e-12


def episode(
    seed: int,
    kind: str,
    prediction: Any,
    target: Any = None,
    *,
    env: str = "hotmess/KVSum-v0",
    agent: str = "noisy:p=0.1",
    horizon: int = 8,
    sample: int = 0,
    success: bool = False,
    truncated: bool = False,
    infra_error: str | None = None,
    choices: list[str] | None = None,
    tests: list[str] | None = None,
) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "kind": kind,
        "success": success,
        "n_actions": 3,
        "truncated": truncated,
        "infra_error": infra_error,
        "prediction": prediction,
        "target": target,
        "answer": "whatever",
    }
    if choices is not None:
        outcome["choices"] = choices
    if tests is not None:
        outcome["tests"] = tests
    return {
        # A real key is unique per cell: a censored record is superseded only by its own
        # cell's rerun (score_episodes drops it then).
        "key": f"cell-{env}-{agent}-{horizon}-{seed}-{sample}",
        "env": env,
        "horizon": horizon,
        "task_seed": seed,
        "task_index": seed,
        "sample": sample,
        "agent": agent,
        "outcome": outcome,
        "steps": [{"action": "{}", "observation": "ok"}],
    }


def only(rows: list[ScoreRow], metric: str) -> ScoreRow:
    (row,) = [r for r in rows if r.metric == metric]
    return row


def scalar_episodes() -> list[dict[str, Any]]:
    return [
        # seed 0: predictions 1, 3 around target 2 → bias 0, variance 1, error 1.
        episode(0, "scalar", 1.0, 2.0, truncated=True),
        episode(0, "scalar", 3.0, 2.0, sample=1),
        episode(0, "scalar", 100.0, 2.0, sample=2, infra_error="container died"),
        # seed 1: 4, 4, 4 against 1 (and a missing answer) → bias 9, variance 0, error 9.
        episode(1, "scalar", 4.0, 1.0, success=True),
        episode(1, "scalar", None, 1.0, sample=1),
        episode(1, "scalar", 4.0, 1.0, sample=2),
        episode(1, "scalar", 4.0, 1.0, sample=3),
        # seed 2: no usable sample at all → dropped.
        episode(2, "scalar", None, 5.0),
        # seed 3: 0, 0 against 0 → all zero; joins seed 0 in the two-sample group.
        episode(3, "scalar", 0.0, 0.0, success=True),
        episode(3, "scalar", 0.0, 0.0, sample=1, success=True),
    ]


def test_scalar_cell_with_ragged_questions_missing_and_censored() -> None:
    (row,) = score_episodes(scalar_episodes())
    scores = row.to_dict()
    # Seeds 0, 1 and 3 have two answers or more; seed 2 has none: counted, not scored.
    assert {key: scores.pop(key) for key in NEW_KEYS} == {
        "n_tasks_estimable": 3,
        "n_tasks_few": 1,
        "few_samples": False,
        "incoherence_note": None,
        # Non-censored (episodes, successes) per seed: (2, 0), (4, 1), (1, 0), (2, 2).
        "pass_at_k": {"1": pytest.approx((0 + 1 / 4 + 0 + 1) / 4), "4": None},
        "pass_hat_k": {"1": pytest.approx((0 + 1 / 4 + 0 + 1) / 4), "4": None},
    }
    assert scores == pytest.approx(
        {
            "env": "hotmess/KVSum-v0",
            "agent": "noisy:p=0.1",
            "horizon": 8,
            "metric": "mse",
            "n_tasks": 3,
            "n_samples": 7,
            "bias": 3.0,
            "variance": 1 / 3,
            "error": 10 / 3,
            "incoherence": 0.1,
            "success_rate": 3 / 9,
            "missing": 2,
            "truncated": 1,
            "infra_errors": 1,
            "forced_share": 0.0,
            "agent_failures": 0,
        }
    )


NEW_KEYS = (
    "n_tasks_estimable",
    "n_tasks_few",
    "few_samples",
    "incoherence_note",
    "pass_at_k",
    "pass_hat_k",
)
"""The keys issue 13 added to a row; every older key keeps its name and meaning."""


def kl_terms(samples: list[list[float]], target: int, n_classes: int) -> tuple[float, float, float]:
    """KL bias, variance, error by hand: p̂ = (p + δ)/(1 + Cδ), f̄ ∝ Π_j p̂_j^(1/s)."""
    smoothed = [[(p + DELTA) / (1 + n_classes * DELTA) for p in row] for row in samples]
    s = len(samples)
    geometric = [math.prod(row[c] for row in smoothed) ** (1 / s) for c in range(n_classes)]
    z = sum(geometric)
    bias = -math.log(geometric[target] / z)
    variance = -math.log(z)  # mean_j KL(f̄ ‖ p̂_j) reduces to −log Z
    error = -sum(math.log(row[target]) for row in smoothed) / s
    return bias, variance, error


def categorical_episodes() -> list[dict[str, Any]]:
    choices = ["red", "green", "blue"]
    return [
        # seed 0: a hard right answer and no answer (uniform), gold 0.
        episode(0, "categorical", [1.0, 0.0, 0.0], 0, choices=choices, success=True),
        episode(0, "categorical", None, 0, choices=choices, sample=1),
        # seed 1: the same wrong answer twice, gold 2.
        episode(1, "categorical", [0.0, 1.0, 0.0], 2, choices=choices),
        episode(1, "categorical", [0, 1, 0], 2, choices=choices, sample=1),
        episode(1, "categorical", None, 2, choices=choices, sample=2, infra_error="timeout"),
    ]


def test_categorical_cell_scores_kl_brier_and_zero_one() -> None:
    rows = score_episodes(categorical_episodes())
    assert [r.metric for r in rows] == ["kl", "brier", "zero_one"]
    for r in rows:
        assert (r.n_tasks, r.n_samples, r.missing, r.truncated, r.infra_errors) == (2, 4, 1, 0, 1)
        assert r.success_rate == 0.25

    third = 1 / 3
    b0, v0, e0 = kl_terms([[1, 0, 0], [third] * 3], 0, 3)
    b1, v1, e1 = kl_terms([[0, 1, 0], [0, 1, 0]], 2, 3)
    kl = only(rows, "kl")
    assert kl.bias == pytest.approx((b0 + b1) / 2, rel=1e-9)
    assert kl.variance == pytest.approx((v0 + v1) / 2, rel=1e-9)
    assert kl.error == pytest.approx((e0 + e1) / 2, rel=1e-9)
    # Seed 0 has one answer (the uniform stand-in is no answer): it is not estimable, so
    # incoherence pools seed 1 alone, whose wrong answer repeats.
    assert (kl.n_tasks_estimable, kl.n_tasks_few, kl.few_samples) == (1, 1, False)
    assert kl.incoherence == pytest.approx(v1 / e1, abs=1e-12)
    assert v1 == pytest.approx(0, abs=1e-15)

    # seed 0: p̄ = (2/3, 1/6, 1/6) → bias 1/6, variance 1/6, error 1/3; seed 1: 2, 0, 2.
    brier = only(rows, "brier")
    assert brier.bias == pytest.approx(13 / 12)
    assert brier.variance == pytest.approx(1 / 12)
    assert brier.error == pytest.approx(7 / 6)
    assert brier.incoherence == pytest.approx(0 / 2)

    # The missing answer is "no answer", never gold: seed 0's answers are (0, none), so
    # m = 0 (a tie with "no answer" goes to the real choice), bias 0, variance 1/2,
    # error 1/2; seed 1 is always wrong: 1, 0, 1.
    zero_one = only(rows, "zero_one")
    assert (zero_one.bias, zero_one.variance, zero_one.error) == (0.5, 0.25, 0.75)
    assert zero_one.incoherence is None


def test_tests_cell_with_questions_of_different_test_counts() -> None:
    rows = score_episodes(
        [
            # seed 0 (tests a, b): passes (1,1), (1,0) and a missing run (0,0).
            # Pass rates 2/3, 1/3 → bias 5/18, variance 2/9, error 1/2.
            episode(0, "tests", [True, True], tests=["a", "b"], success=True),
            episode(0, "tests", [True, False], tests=["a", "b"], sample=1),
            episode(0, "tests", None, tests=["a", "b"], sample=2, truncated=True),
            # seed 1 (tests x, y, z): one sample passing everything.
            episode(1, "tests", [1, 1, 1], tests=["x", "y", "z"], success=True),
        ]
    )
    (row,) = rows
    assert row.metric == "coverage"
    assert (row.n_tasks, row.n_samples, row.missing, row.truncated) == (2, 4, 1, 1)
    assert row.bias == pytest.approx(5 / 36)
    assert row.variance == pytest.approx(1 / 9)
    assert row.error == pytest.approx(1 / 4)
    assert row.incoherence == pytest.approx(4 / 9)
    assert row.success_rate == 0.5


def test_fully_censored_cell_still_has_its_rows() -> None:
    rows = score_episodes(
        [
            episode(s, "categorical", None, 0, choices=["a", "b"], infra_error="no docker")
            for s in range(3)
        ]
    )
    assert [r.metric for r in rows] == ["kl", "brier", "zero_one"]
    for r in rows:
        assert (r.n_tasks, r.n_samples, r.missing, r.truncated, r.infra_errors) == (0, 0, 0, 0, 3)
        assert math.isnan(r.bias) and math.isnan(r.variance) and math.isnan(r.error)
        assert math.isnan(r.success_rate)
        assert r.incoherence is None
        as_dict = r.to_dict()
        assert as_dict["bias"] is None and as_dict["success_rate"] is None
        json.dumps(as_dict, allow_nan=False)


def test_all_correct_cell_has_no_incoherence_and_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (row,) = score_episodes([episode(s, "scalar", 2.0, 2.0, success=True) for s in range(3)])
    assert (row.error, row.incoherence, row.success_rate) == (0.0, None, 1.0)


def test_always_right_categorical_cell_has_no_kl_incoherence() -> None:
    # δ smoothing leaves KL error ≈ (C − 1)δ when every sample is right: that is no error.
    choices = ["a", "b", "c"]
    eps = [
        episode(seed, "categorical", [0, 0, 1], 2, choices=choices, sample=j, success=True)
        for seed in range(3)
        for j in range(seed + 1)
    ]
    rows = score_episodes(eps)
    kl = only(rows, "kl")
    assert 0 < kl.error == pytest.approx(kl_error_floor(3), rel=1e-6)
    assert [r.incoherence for r in rows] == [None, None, None]
    # One sample hedging a little is a real error again; the right questions add only floor.
    eps[-1]["outcome"]["prediction"] = [0.0, 0.01, 0.99]
    _, variance, error = kl_terms([[0, 0, 1], [0, 0, 1], [0, 0.01, 0.99]], 2, 3)
    assert only(score_episodes(eps), "kl").incoherence == pytest.approx(
        variance / (error + 2 * kl_error_floor(3)), rel=1e-9
    )


def test_rows_are_sorted_by_env_agent_horizon_then_metric() -> None:
    eps = [
        episode(0, "scalar", 1.0, 1.0, env="b/Env-v0", horizon=2),
        episode(0, "categorical", [1, 0], 0, choices=["x", "y"], horizon=16),
        episode(0, "scalar", 1.0, 1.0, env="b/Env-v0", agent="a", horizon=2),
        episode(0, "categorical", [1, 0], 0, choices=["x", "y"], horizon=2),
        episode(0, "tests", [True], tests=["t"], env="a/Env-v0", horizon=4),
    ]
    keys = [(r.env, r.agent, r.horizon, r.metric) for r in score_episodes(eps)]
    assert keys == [
        ("a/Env-v0", "noisy:p=0.1", 4, "coverage"),
        ("b/Env-v0", "a", 2, "mse"),
        ("b/Env-v0", "noisy:p=0.1", 2, "mse"),
        ("hotmess/KVSum-v0", "noisy:p=0.1", 2, "kl"),
        ("hotmess/KVSum-v0", "noisy:p=0.1", 2, "brier"),
        ("hotmess/KVSum-v0", "noisy:p=0.1", 2, "zero_one"),
        ("hotmess/KVSum-v0", "noisy:p=0.1", 16, "kl"),
        ("hotmess/KVSum-v0", "noisy:p=0.1", 16, "brier"),
        ("hotmess/KVSum-v0", "noisy:p=0.1", 16, "zero_one"),
    ]


def test_ragged_cell_equals_per_question_decompositions() -> None:
    rng = np.random.default_rng(7)
    eps, per_question, samples = [], [], []
    for seed in range(40):
        n = int(rng.integers(1, 6))
        target = float(rng.normal())
        values = rng.normal(size=n)
        samples.append(values)
        eps += [episode(seed, "scalar", float(v), target, sample=j) for j, v in enumerate(values)]
        per_question.append(mse_decomposition(values, target))
    (row,) = score_episodes(eps)
    bias, variance, error = (np.array(column) for column in zip(*per_question, strict=True))
    assert (row.n_tasks, row.n_samples) == (40, len(eps))
    assert row.bias == pytest.approx(bias.mean(), rel=1e-12)
    assert row.variance == pytest.approx(variance.mean(), rel=1e-12)
    assert row.error == pytest.approx(error.mean(), rel=1e-12)
    # Questions with one sample have no variance to estimate: incoherence pools the others.
    two = np.array([len(p) >= 2 for p in samples])
    assert row.n_tasks_estimable == two.sum() and row.n_tasks_few == (~two).sum()
    assert row.incoherence == pytest.approx(variance[two].sum() / error[two].sum(), rel=1e-12)


def write_store(path: Path, lines: list[str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "episodes.jsonl").write_text("".join(lines), encoding="utf-8")
    return path


def test_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    eps = scalar_episodes()
    lines = [json.dumps(e) + "\n" for e in eps]
    torn = json.dumps(episode(9, "scalar", 1.0, 1.0))[:40]  # killed mid-write: no newline
    run = write_store(tmp_path / "run", [*lines, "\n", torn])
    with pytest.warns(TornLineWarning, match=f"line {len(eps) + 2}: skipping a torn last line"):
        loaded = load_episodes(run)
    assert loaded == eps
    with pytest.warns(TornLineWarning):
        assert score_run(run) == score_episodes(eps)
    with pytest.warns(TornLineWarning):
        assert all(
            "steps" not in e for e in load_episodes(run / "episodes.jsonl", keep_steps=False)
        )


def test_torn_line_cut_inside_a_multibyte_character_is_skipped(tmp_path: Path) -> None:
    line = json.dumps(episode(0, "scalar", 1.0, 1.0, agent="ünïcode"), ensure_ascii=False)
    raw = line.encode("utf-8")
    cut = raw[: raw.index("ü".encode()) + 1]
    run = tmp_path / "run"
    run.mkdir()
    (run / "episodes.jsonl").write_bytes(raw + b"\n" + cut)
    with pytest.warns(TornLineWarning):
        assert len(load_episodes(run)) == 1


def test_a_corrupt_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    good = json.dumps(episode(0, "scalar", 1.0, 1.0)) + "\n"
    run = write_store(tmp_path / "run", [good, "{not json\n", good])
    with pytest.raises(StoreError, match=r"episodes.jsonl, line 2: not valid JSON"):
        load_episodes(run)
    run = write_store(tmp_path / "array", [good, "[1, 2]\n"])
    with pytest.raises(StoreError, match="line 2: expected a JSON object, got list"):
        load_episodes(run)


def test_a_missing_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"episodes\.jsonl not found"):
        score_run(tmp_path)


@pytest.mark.parametrize(
    ("eps", "message"),
    [
        (
            [episode(0, "scalar", 1.0, 1.0), episode(1, "tests", None, tests=["t"])],
            "episode 1 .*outcome kind 'tests', but earlier episodes of this cell have kind 'scalar'",
        ),
        ([episode(0, "poll", 1.0, 1.0)], "outcome kind is 'poll'"),
        ([{**episode(0, "scalar", 1.0, 1.0), "horizon": "8"}], "`horizon` must be an integer"),
        (
            [{k: v for k, v in episode(0, "scalar", 1.0, 1.0).items() if k != "env"}],
            "`env` must be a string",
        ),
        ([episode(0, "scalar", "1.0", 1.0)], "scalar prediction must be a number or null"),
        ([episode(0, "scalar", 1.0, None)], "scalar target must be a finite number"),
        (
            [episode(0, "categorical", [0.5, 0.5], 0, choices=["a", "b", "c"])],
            "probability vector over the 3 choices",
        ),
        ([episode(0, "categorical", [0.5, 0.6], 0, choices=["a", "b"])], "summing to 1"),
        (
            [episode(0, "categorical", [1, 0], 2, choices=["a", "b"])],
            "index into the 2 choices, got 2",
        ),
        ([episode(0, "categorical", [1, 0], 0)], "non-empty `choices`"),
        ([episode(0, "tests", [True], tests=["a", "b"])], r"one true/false per test \(2 tests\)"),
        ([episode(0, "tests", [0.5], tests=["a"])], "one true/false per test"),
        ([episode(0, "tests", None, tests=[])], "non-empty `tests`"),
        (
            [episode(0, "scalar", 1.0, 1.0), episode(0, "scalar", 1.0, 2.0, sample=1)],
            "task_seed=0.*different targets",
        ),
        (
            [
                episode(0, "categorical", [1, 0], 0, choices=["a", "b"]),
                episode(0, "categorical", [1, 0, 0], 0, choices=["a", "b", "c"], sample=1),
            ],
            "different numbers of choices or tests",
        ),
    ],
)
def test_malformed_records_are_store_errors(eps: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(StoreError, match=message):
        score_episodes(eps)


def test_non_finite_scalar_prediction_counts_as_missing() -> None:
    (row,) = score_episodes(
        [episode(0, "scalar", float("nan"), 1.0), episode(0, "scalar", 3.0, 1.0, sample=1)]
    )
    assert (row.n_tasks, row.n_samples, row.missing, row.error) == (1, 1, 1, 4.0)


def test_outcome_sample_applies_the_missing_answer_rules() -> None:
    """The public sample rules the table, the statistics and adaptive sampling share."""
    eps = [
        episode(0, "scalar", 2.5, 1.0),
        episode(0, "scalar", float("inf"), 1.0),
        episode(0, "categorical", None, 1, choices=["a", "b", "c", "d"]),
        episode(0, "tests", None, tests=["t1", "t2"]),
        episode(0, "text", "hello"),
    ]
    samples = [outcome_sample(eps, i, eps[i]["outcome"]) for i in range(4)]
    assert samples == [(0, 2.5, 1.0), None, (4, [0.25] * 4, 1), (2, [False, False], 0.0)]
    with pytest.raises(StoreError, match=r"episode 4 \(env=.*outcome kind is 'text'"):
        outcome_sample(eps, 4, eps[4]["outcome"])
