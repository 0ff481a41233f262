"""Statistics of a run beyond the point table: bootstrap confidence intervals over tasks,
log-log trends against horizon, the horizon at which success falls to 50%, the paper's
split of samples by actions taken, and the step at which a task's samples first diverge.

Everything reads `LightEpisode`s (or record dicts) and builds questions with the rules of
`table.score_episodes`, so every point value here is the table's value.
"""

from hotmess.scoring.stats.actions import (
    ActionsGroup,
    Divergence,
    by_actions,
    divergence,
    divergence_summary,
)
from hotmess.scoring.stats.cells import (
    INTERVALS,
    CellStats,
    IntervalKind,
    cell_stats,
    score_estimated,
)
from hotmess.scoring.stats.horizons import HorizonFit, success_horizons
from hotmess.scoring.stats.intervals import Interval, expanded_interval
from hotmess.scoring.stats.questions import Episodes
from hotmess.scoring.stats.sensitivity import (
    LARGER_DELTA,
    DeltaSensitivity,
    kl_delta_sensitivity,
)
from hotmess.scoring.stats.trends import TrendFit, trend_fits

# What the statistics read; stays importable here, as it was from the single stats module.
from hotmess.store import LightEpisode

__all__ = [
    "INTERVALS",
    "LARGER_DELTA",
    "ActionsGroup",
    "CellStats",
    "DeltaSensitivity",
    "Divergence",
    "Episodes",
    "HorizonFit",
    "Interval",
    "IntervalKind",
    "LightEpisode",
    "TrendFit",
    "by_actions",
    "cell_stats",
    "divergence",
    "divergence_summary",
    "expanded_interval",
    "kl_delta_sensitivity",
    "score_estimated",
    "success_horizons",
    "trend_fits",
]
