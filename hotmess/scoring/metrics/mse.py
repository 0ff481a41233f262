"""`mse`: squared error of scalar answers, the headline metric for `scalar` outcomes."""

from __future__ import annotations

from hotmess.scoring.decompositions import mse_decomposition
from hotmess.scoring.metrics.registry import Metric, register_metric

MSE = register_metric(
    Metric(
        name="mse",
        outcome_kind="scalar",
        decompose=mse_decomposition,
        has_incoherence=True,
        headline=True,
        unit="squared answer units",
        missing="left out (drop, the default) or its question's farthest answer (worst)",
        description="bias = (ȳ − t)², variance = mean (y − ȳ)², error = mean (y − t)²",
    )
)
