"""`zero_one`: 0/1 loss of categorical answers (Domingos-style). Its error is not bias +
variance, so it has no incoherence."""

from __future__ import annotations

from hotmess.scoring.decompositions import zero_one_decomposition
from hotmess.scoring.metrics.registry import Metric, register_metric

ZERO_ONE = register_metric(
    Metric(
        name="zero_one",
        outcome_kind="categorical",
        decompose=zero_one_decomposition,
        has_incoherence=False,
        headline=False,
        unit="share of samples",
        missing='its own category "no answer", never the target',
        takes_answered=True,
        description="bias = 1[m ≠ t], variance = P(argmax pⱼ ≠ m), error = P(argmax pⱼ ≠ t)",
    )
)
