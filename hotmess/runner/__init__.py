"""The episode loop, sweep expansion and executors; runs are kept by `hotmess.store`."""

from hotmess.runner.cells import Cell, Finished, cell_key, episode_record, single_cell
from hotmess.runner.config import SweepConfig
from hotmess.runner.episode import Episode, Fork, run_episode
from hotmess.runner.executors import EXECUTORS, make_executor
from hotmess.runner.sweep import SweepResult, expand, run_sweep

__all__ = [
    "EXECUTORS",
    "Cell",
    "Episode",
    "Finished",
    "Fork",
    "SweepConfig",
    "SweepResult",
    "cell_key",
    "episode_record",
    "expand",
    "make_executor",
    "run_episode",
    "run_sweep",
    "single_cell",
]
