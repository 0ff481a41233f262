"""Bias-variance decompositions of agent error, incoherence, and scoring of run stores.
Decompositions are numpy over a leading question axis; each metric of the registry
(`hotmess.scoring.metrics`) is one of them; `score_run` turns a run into rows.
"""

from hotmess.scoring.decompositions import (
    Decomposition,
    IncoherenceUndefined,
    brier_decomposition,
    coverage_decomposition,
    incoherence,
    kl_decomposition,
    mse_decomposition,
    zero_one_decomposition,
)
from hotmess.scoring.metrics import (
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
from hotmess.scoring.stats import (
    ActionsGroup,
    CellStats,
    Divergence,
    HorizonFit,
    TrendFit,
    by_actions,
    cell_stats,
    divergence,
    divergence_summary,
    success_horizons,
    trend_fits,
)
from hotmess.scoring.table import ScoreRow, score_episodes, score_forks, score_run

# Reading a run belongs to the store; these stay importable here for scoring's users.
from hotmess.store import LightEpisode, load_episodes, load_light

__all__ = [
    "OUTCOME_KINDS",
    "QUANTITIES",
    "ActionsGroup",
    "CellStats",
    "Decomposition",
    "Divergence",
    "HorizonFit",
    "IncoherenceUndefined",
    "LightEpisode",
    "Metric",
    "ScoreRow",
    "TrendFit",
    "all_metrics",
    "brier_decomposition",
    "by_actions",
    "cell_stats",
    "coverage_decomposition",
    "divergence",
    "divergence_summary",
    "get_metric",
    "headline_metric",
    "incoherence",
    "kl_decomposition",
    "load_episodes",
    "load_light",
    "metrics_for",
    "mse_decomposition",
    "register_metric",
    "score_episodes",
    "score_forks",
    "score_run",
    "success_horizons",
    "trend_fits",
    "unregister_metric",
    "zero_one_decomposition",
]
