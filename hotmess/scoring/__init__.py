"""Bias-variance decompositions of agent error, incoherence, and scoring of run stores.
Decompositions are numpy over a leading question axis; `score_run` turns a run into rows.
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
    "ActionsGroup",
    "CellStats",
    "Decomposition",
    "Divergence",
    "HorizonFit",
    "IncoherenceUndefined",
    "LightEpisode",
    "ScoreRow",
    "TrendFit",
    "brier_decomposition",
    "by_actions",
    "cell_stats",
    "coverage_decomposition",
    "divergence",
    "divergence_summary",
    "incoherence",
    "kl_decomposition",
    "load_episodes",
    "load_light",
    "mse_decomposition",
    "score_episodes",
    "score_forks",
    "score_run",
    "success_horizons",
    "trend_fits",
    "zero_one_decomposition",
]
