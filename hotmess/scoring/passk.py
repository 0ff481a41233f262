"""pass@k and pass^k: the unbiased combinatorial estimators over each task's n episodes of
which c succeeded (Chen et al. 2021 for pass@k; τ-bench, Yao et al. 2024, for pass^k).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k episodes drawn without replacement succeeds) = 1 − C(n−c, k)/C(n, k)."""
    _check(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """P(all k episodes drawn without replacement succeed) = C(c, k)/C(n, k): reliability."""
    _check(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def mean_pass(tally: Iterable[tuple[int, int]], k: int) -> tuple[float | None, float | None]:
    """(pass@k, pass^k) averaged over tasks given as (episodes, successes); None for both
    when any task has fewer than k episodes (its estimate would not exist) or there is none."""
    tally = list(tally)
    if not tally or any(n < k for n, _ in tally):
        return None, None
    at = math.fsum(pass_at_k(n, c, k) for n, c in tally) / len(tally)
    hat = math.fsum(pass_hat_k(n, c, k) for n, c in tally) / len(tally)
    return at, hat


def default_ks(episodes_per_task: Sequence[int]) -> tuple[int, ...]:
    """k = 1 and the largest power of two not above the most episodes any task has."""
    most = max(episodes_per_task, default=1)
    return tuple(sorted({1, 1 << (max(most, 1).bit_length() - 1)}))


def _check(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 ≤ c ≤ n and 1 ≤ k ≤ n; got n={n}, c={c}, k={k}")
