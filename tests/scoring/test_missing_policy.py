"""Issue 13's missing-answer policy, few-sample counting and pass@k, each against a small
independent implementation written here (exact fractions, loops, brute force)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmess.scoring import score_episodes
from hotmess.scoring.decompositions import (
    brier_decomposition,
    hard_answers,
    incoherence_with_reason,
    kl_decomposition,
    mse_decomposition,
    zero_one_decomposition,
)
from hotmess.scoring.passk import default_ks, mean_pass, pass_at_k, pass_hat_k
from hotmess.scoring.samples import impute_missing_scalars

PC = "hotmess/PointerChase-v0"
COLOURS = ["red", "green", "blue", "yellow"]


def record(seed: int, sample: int, outcome: dict[str, Any], horizon: int = 4) -> dict[str, Any]:
    return {"key": f"k{seed}-{sample}", "env": PC, "agent": "a", "horizon": horizon,
            "task_seed": seed, "sample": sample, "outcome": outcome}  # fmt: skip


def categorical(prediction: Any, target: int, success: bool = False) -> dict[str, Any]:
    return {"kind": "categorical", "prediction": prediction, "target": target,
            "choices": COLOURS, "success": success, "truncated": prediction is None,
            "infra_error": None}  # fmt: skip


def scalar(prediction: Any, target: float) -> dict[str, Any]:
    return {"kind": "scalar", "prediction": prediction, "target": target, "success": False,
            "truncated": False, "infra_error": None}  # fmt: skip


def row(rows: list[Any], metric: str) -> Any:
    (found,) = [r for r in rows if r.metric == metric]
    return found


# ------------------------------------------------------------------- 0/1 loss


def reference_zero_one(answers: list[int | None], target: int, n_choices: int) -> tuple:
    """Hard answers (None: no answer) → (bias, variance, error) by counting, exactly."""
    categories = [*range(n_choices), None]  # "no answer" last, so real choices win ties
    counts = [sum(a == c for a in answers) for c in categories]
    main = categories[counts.index(max(counts))]
    s = len(answers)
    return (
        float(main != target),
        float(Fraction(sum(a != main for a in answers), s)),
        float(Fraction(sum(a != target for a in answers), s)),
    )


@given(
    st.integers(1, 5).flatmap(
        lambda c: st.tuples(
            st.just(c),
            st.integers(0, c - 1),
            st.lists(st.one_of(st.none(), st.integers(0, c - 1)), min_size=1, max_size=8),
        )
    )
)
def test_zero_one_with_missing_answers_matches_reference(case: tuple) -> None:
    n_choices, target, answers = case
    # A missing answer reaches the decomposition as the uniform row, flagged unanswered.
    rows = [np.eye(n_choices)[a] if a is not None else np.full(n_choices, 1 / n_choices)
            for a in answers]  # fmt: skip
    answered = [a is not None for a in answers]
    got = zero_one_decomposition(np.array(rows), target, answered)
    assert tuple(got) == reference_zero_one(answers, target, n_choices)


def test_an_all_missing_pointerchase_cell_is_all_error() -> None:
    """150 of 150 answers missing, success 0: 0/1 error is exactly 1 (it was 0.80)."""
    targets = np.random.default_rng(0).integers(0, 4, size=30)
    episodes = [
        record(seed, j, categorical(None, int(targets[seed])))
        for seed in range(30)
        for j in range(5)
    ]
    rows = score_episodes(episodes)
    zero_one = row(rows, "zero_one")
    assert (zero_one.error, zero_one.bias, zero_one.variance) == (1.0, 1.0, 0.0)
    assert zero_one.missing == 150 and zero_one.n_samples == 150
    for metric in ("kl", "brier"):  # an agent that never answers is not "coherent"
        r = row(rows, metric)
        assert r.incoherence is None and r.few_samples and r.n_tasks_estimable == 0
        assert r.to_dict()["incoherence"] is None and "not estimable" in r.incoherence_note


def test_uniform_rows_tie_to_the_first_choice_whatever_the_rounding() -> None:
    rng = np.random.default_rng(1)
    for _ in range(3000):
        c = int(rng.integers(2, 12))
        # Uniform rows as different code computes them: each term rounded its own way.
        row_ = np.full(c, 1.0) / c * (1 + rng.uniform(-1e-15, 1e-15, size=c))
        assert hard_answers(row_) == 0
        assert hard_answers(row_ / row_.sum()) == 0
    # A real preference beyond the tolerance still wins.
    assert hard_answers(np.array([0.5 - 1e-6, 0.5 + 1e-6])) == 1


# ------------------------------------------------------------------- incoherence near 0


def test_incoherence_is_not_estimable_when_error_is_rounding() -> None:
    one_choice = np.ones((3, 4, 1))  # one choice: always right, KL error is rounding only
    rounding = [
        kl_decomposition(one_choice, np.zeros(3, dtype=int)),
        brier_decomposition(np.full((2, 3, 3), 1 / 3), np.zeros(2, dtype=int)) ._replace(
            error=np.array([1e-17, -2e-17]), variance=np.array([3e-17, 0.0])),
        mse_decomposition(np.full((2, 2), 0.1 + 0.2), np.full(2, 0.3)),
    ]  # fmt: skip
    for parts in rounding:
        value, reason = incoherence_with_reason(parts)
        assert math.isnan(value) and "within rounding" in str(reason)


# ------------------------------------------------------------------- few samples


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=5), min_size=1, max_size=12))
def test_estimable_tasks_are_those_with_two_answers(answered: list[list[bool]]) -> None:
    episodes = [record(seed, j, categorical([1.0, 0, 0, 0] if a else None, seed % 4))
                for seed, flags in enumerate(answered) for j, a in enumerate(flags)]  # fmt: skip
    kl = row(score_episodes(episodes), "kl")
    estimable = sum(sum(flags) >= 2 for flags in answered)
    assert kl.n_tasks_estimable == estimable
    assert kl.n_tasks_few == len(answered) - estimable
    assert kl.few_samples == (2 * estimable < len(answered))
    if kl.few_samples:
        assert kl.incoherence is None and kl.warning is not None


def test_one_answer_per_task_is_not_estimable_never_zero() -> None:
    """The issue's local model: one answer per task among missing ones, each erratic."""
    episodes = [record(seed, j, scalar(float(seed * 7 % 5) if j == 0 else None, 1.0))
                for seed in range(4) for j in range(3)]  # fmt: skip
    (mse,) = score_episodes(episodes)
    assert mse.n_tasks == 4 and mse.n_tasks_estimable == 0 and mse.missing == 8
    assert mse.incoherence is None and mse.few_samples
    assert "0 of 4 tasks" in str(mse.warning)


# ------------------------------------------------------------------- scalar policy


def test_worst_scores_a_missing_scalar_at_the_farthest_answer() -> None:
    episodes = [
        record(0, 0, scalar(1.0, 2.0)),
        record(0, 1, scalar(7.0, 2.0)),
        record(0, 2, scalar(None, 2.0)),
        record(1, 0, scalar(None, 0.0)),  # no answer at all: stays missing
    ]
    (drop,) = score_episodes(episodes)
    (worst,) = score_episodes(episodes, missing_scalar="worst")
    assert (drop.n_samples, drop.missing) == (2, 2)
    assert (worst.n_samples, worst.missing) == (3, 2)
    # Reference: seed 0 scored as [1, 7, 7] against 2.
    y = np.array([1.0, 7.0, 7.0])
    assert worst.error == pytest.approx(np.mean((y - 2) ** 2))
    assert worst.variance == pytest.approx(np.var(y))
    # The stand-in does not make a question estimable: seed 0 has two real answers anyway.
    assert worst.n_tasks_estimable == 1
    filled = impute_missing_scalars(episodes, "worst")
    assert (
        filled[2]["outcome"]["prediction"] == 7.0 and episodes[2]["outcome"]["prediction"] is None
    )


# ------------------------------------------------------------------- pass@k


def brute_force(successes: list[bool], k: int) -> tuple[float, float]:
    subsets = list(itertools.combinations(successes, k))
    return (
        sum(any(s) for s in subsets) / len(subsets),
        sum(all(s) for s in subsets) / len(subsets),
    )


@given(st.lists(st.booleans(), min_size=1, max_size=9), st.data())
def test_pass_at_k_and_pass_hat_k_match_enumeration(successes: list[bool], data: Any) -> None:
    k = data.draw(st.integers(1, len(successes)))
    at, hat = brute_force(successes, k)
    n, c = len(successes), sum(successes)
    assert pass_at_k(n, c, k) == pytest.approx(at, abs=1e-12)
    assert pass_hat_k(n, c, k) == pytest.approx(hat, abs=1e-12)


def test_pass_columns_of_the_score_table() -> None:
    wins = [[True, False, False, True, False], [False] * 5, [True] * 4 + [False]]
    episodes = [record(seed, j, categorical([1.0, 0, 0, 0] if w else [0, 1.0, 0, 0], 0, success=w))
                for seed, flags in enumerate(wins) for j, w in enumerate(flags)]  # fmt: skip
    rows = score_episodes(episodes)
    assert default_ks([5, 5, 5]) == (1, 4)
    for r in rows:
        for k in (1, 4):
            expected = [brute_force(flags, k) for flags in wins]
            assert r.pass_at_k[k] == pytest.approx(np.mean([e[0] for e in expected]))
            assert r.pass_hat_k[k] == pytest.approx(np.mean([e[1] for e in expected]))
    chosen = score_episodes(episodes, ks=[2, 6])[0]
    assert chosen.pass_at_k[2] is not None and chosen.pass_at_k[6] is None  # 6 > 5 episodes
    assert mean_pass([], 1) == (None, None)
