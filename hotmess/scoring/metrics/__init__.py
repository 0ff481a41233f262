"""Metrics: one file per built-in metric, each a single `Metric` declaration registered by
name. Look them up with `get_metric`, `metrics_for(kind)` and `headline_metric(kind)`.
"""

from hotmess.scoring.metrics import brier, coverage, kl, mse, zero_one  # noqa: F401 (importing registers them)
from hotmess.scoring.metrics.registry import (
    ENTRY_POINT_GROUP,
    OUTCOME_KINDS,
    QUANTITIES,
    Metric,
    all_metrics,
    get_metric,
    headline_metric,
    metrics_for,
    register_metric,
    unregister_metric,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "OUTCOME_KINDS",
    "QUANTITIES",
    "Metric",
    "all_metrics",
    "get_metric",
    "headline_metric",
    "metrics_for",
    "register_metric",
    "unregister_metric",
]
