"""The episode loop, sweep expansion, executors and the JSONL run store."""

from hotmess.runner.config import SweepConfig
from hotmess.runner.episode import EpisodeRecord, StepRecord, run_episode
from hotmess.runner.store import RunStore
from hotmess.runner.sweep import Cell, SweepResult, cell_key, expand, run_sweep

__all__ = [
    "Cell",
    "EpisodeRecord",
    "RunStore",
    "StepRecord",
    "SweepConfig",
    "SweepResult",
    "cell_key",
    "expand",
    "run_episode",
    "run_sweep",
]
