"""The episode loop, sweep expansion and executors; runs are kept by `hotmess.store`."""

from hotmess.runner.cells import Cell, Finished, cell_key
from hotmess.runner.config import SweepConfig
from hotmess.runner.episode import run_episode
from hotmess.runner.executors import EXECUTORS, make_executor
from hotmess.runner.sweep import SweepResult, expand, run_sweep

__all__ = [
    "EXECUTORS",
    "Cell",
    "Finished",
    "SweepConfig",
    "SweepResult",
    "cell_key",
    "expand",
    "make_executor",
    "run_episode",
    "run_sweep",
]
