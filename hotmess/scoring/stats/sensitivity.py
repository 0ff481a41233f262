"""How much KL's numbers depend on its smoothing δ: one-hot answers put log δ into every
wrong choice's log-probability, so KL's scale follows δ. Each categorical cell is scored at
the paper's δ and at a larger one, and flagged where the two disagree by more than 2×."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hotmess.scoring.decompositions import KL_DELTA, kl_decomposition, kl_error_floor
from hotmess.scoring.stats.questions import Episodes, _as_light, _cells, _Group

LARGER_DELTA = 1e-6
"""The larger δ shown beside the paper's 1e-12."""
DISAGREEMENT = 2.0
"""Values at the two δ that differ by more than this factor are flagged."""


@dataclass(frozen=True)
class DeltaSensitivity:
    """KL's pooled bias, variance, error and incoherence of one cell at two δ."""

    env: str
    agent: str
    horizon: int
    delta: float
    """The larger δ; `reference` holds the values at `KL_DELTA` (the table's)."""
    values: dict[str, float | None]
    """bias, variance, error, incoherence at `delta`."""
    reference: dict[str, float | None]
    """The same at `KL_DELTA`."""
    disagrees: tuple[str, ...]
    """Quantities whose two values differ by more than `DISAGREEMENT`×."""


def kl_delta_sensitivity(episodes: Episodes, delta: float = LARGER_DELTA) -> list[DeltaSensitivity]:
    """One row per categorical cell with questions: KL at `KL_DELTA` and at `delta`."""
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    rows = []
    for data in _cells(_as_light(episodes)):
        if data.kind != "categorical" or not data.n_questions:
            continue
        few = any(row.metric == "kl" and row.few_samples for row in data.rows)
        at = {d: _pooled(data.groups, d, few) for d in (KL_DELTA, delta)}
        disagrees = tuple(
            name
            for name in at[delta]
            if _factor(at[delta][name], at[KL_DELTA][name]) > DISAGREEMENT
        )
        rows.append(
            DeltaSensitivity(
                data.env, data.agent, data.horizon, delta, at[delta], at[KL_DELTA], disagrees
            )
        )
    return rows


def _pooled(groups: list[_Group], delta: float, few: bool) -> dict[str, float | None]:
    """Means over every question, and incoherence as the table pools it: over the
    questions with two or more answered samples, not estimable when `few`."""
    sums, estimable = np.zeros(3), np.zeros(3)
    floor = 0.0
    n = n_estimable = 0
    for group in groups:
        parts = kl_decomposition(group.prediction, group.target.astype(np.int64), delta)
        sums += [float(np.sum(part)) for part in parts]
        n += len(group.target)
        two_answers = group.answered.sum(axis=1) >= 2
        estimable += [float(np.sum(np.asarray(part)[two_answers])) for part in parts]
        n_estimable += int(two_answers.sum())
        floor += int(two_answers.sum()) * kl_error_floor(group.width, delta)
    bias, variance, error = sums / n
    # As the table: error no larger than the smoothing floor is no error to split.
    defined = not few and estimable[2] > floor + 1e-9 * max(n_estimable, 1)
    return {
        "bias": float(bias),
        "variance": float(variance),
        "error": float(error),
        "incoherence": float(estimable[1] / estimable[2]) if defined else None,
    }


def _factor(one: float | None, two: float | None) -> float:
    """max / min of two values; 1 when either is undefined or both are (near) 0."""
    if one is None or two is None:
        return 1.0
    low, high = sorted((abs(one), abs(two)))
    if high <= 1e-9:
        return 1.0
    return math.inf if low <= 1e-12 else high / low
