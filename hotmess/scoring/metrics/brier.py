"""`brier`: squared error of probabilistic categorical answers against the one-hot target."""

from __future__ import annotations

from hotmess.scoring.decompositions import brier_decomposition
from hotmess.scoring.metrics.registry import Metric, register_metric

BRIER = register_metric(
    Metric(
        name="brier",
        outcome_kind="categorical",
        decompose=brier_decomposition,
        has_incoherence=True,
        headline=False,
        unit="squared probability",
        missing="the uniform distribution (error 1 − 1/C)",
        description="bias = ‖y − p̄‖², variance = mean ‖pⱼ − p̄‖², error = mean ‖y − pⱼ‖²",
    )
)
