"""The episode loop, sweep expansion, executors and the JSONL run store."""

from hotmess.runner.cells import Cell, Finished, cell_key
from hotmess.runner.config import SweepConfig
from hotmess.runner.episode import EpisodeRecord, StepRecord, run_episode
from hotmess.runner.executors import EXECUTORS, make_executor
from hotmess.runner.store import RunStore
from hotmess.runner.sweep import SweepResult, expand, run_sweep

__all__ = [
    "EXECUTORS",
    "Cell",
    "EpisodeRecord",
    "Finished",
    "RunStore",
    "StepRecord",
    "SweepConfig",
    "SweepResult",
    "cell_key",
    "expand",
    "make_executor",
    "run_episode",
    "run_sweep",
]
