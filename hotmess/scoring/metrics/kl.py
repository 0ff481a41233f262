"""`kl`: log loss of probabilistic categorical answers, split as Hägele et al. (2026) do;
the headline metric for `categorical` outcomes."""

from __future__ import annotations

from hotmess.scoring.decompositions import kl_decomposition, kl_error_floor
from hotmess.scoring.metrics.registry import Metric, register_metric

KL = register_metric(
    Metric(
        name="kl",
        outcome_kind="categorical",
        decompose=kl_decomposition,
        has_incoherence=True,
        headline=True,
        unit="nats",
        missing="the uniform distribution (error log C)",
        description="bias = −log f̄[t], variance = mean KL(f̄ ‖ p̂ⱼ), error = mean −log p̂ⱼ[t]",
        # δ smoothing keeps the error of answers that are always right at ≈ (C − 1)δ.
        error_floor=kl_error_floor,
    )
)
