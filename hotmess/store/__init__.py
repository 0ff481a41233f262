"""The run store: a sweep's directory of `sweep.json` and `episodes.jsonl`. The record
models, the writer (`RunStore`) and the one reader of `episodes.jsonl`, full or light.
"""

from hotmess.store.light import LightEpisode
from hotmess.store.reader import (
    EPISODES_FILE,
    TornLineWarning,
    episodes_path,
    iter_episodes,
    iter_records,
    load_episodes,
    load_light,
    load_unforked,
)
from hotmess.store.records import EpisodeRecord, StepRecord
from hotmess.store.writer import SWEEP_FILE, RunStore

__all__ = [
    "EPISODES_FILE",
    "SWEEP_FILE",
    "EpisodeRecord",
    "LightEpisode",
    "RunStore",
    "StepRecord",
    "TornLineWarning",
    "episodes_path",
    "iter_episodes",
    "iter_records",
    "load_episodes",
    "load_light",
    "load_unforked",
]
