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
from hotmess.scoring.table import ScoreRow, load_episodes, score_episodes, score_run

__all__ = [
    "Decomposition",
    "IncoherenceUndefined",
    "ScoreRow",
    "brier_decomposition",
    "coverage_decomposition",
    "incoherence",
    "kl_decomposition",
    "load_episodes",
    "mse_decomposition",
    "score_episodes",
    "score_run",
    "zero_one_decomposition",
]
