"""`coverage`: squared error of pass/fail test vectors against every test passing, the
headline metric for `tests` outcomes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hotmess.scoring.decompositions import Decomposition, coverage_decomposition
from hotmess.scoring.metrics.registry import Metric, register_metric


def decompose_coverage(passes: npt.ArrayLike, targets: npt.ArrayLike) -> Decomposition:
    """`coverage_decomposition` of 0/1 passes; `targets` says nothing (every test passing)."""
    return coverage_decomposition(np.asarray(passes).astype(bool, copy=False))


COVERAGE = register_metric(
    Metric(
        name="coverage",
        outcome_kind="tests",
        decompose=decompose_coverage,
        has_incoherence=True,
        headline=True,
        unit="squared pass rate",
        missing="every test failing",
        description="bias = mean (1 − ȳₖ)², variance = mean (yⱼₖ − ȳₖ)², error = mean (1 − yⱼₖ)²",
    )
)
