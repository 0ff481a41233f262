"""hotmess: measure how AI agents fail as their tasks get longer.

Importing hotmess registers its Gymnasium environments (`hotmess/KVSum-v0`, ...).
"""

__version__ = "0.1.0"

from hotmess.agents import Agent, AgentStep, Task, make_agent
from hotmess.envs import ToolEnv, env_ids, make_env
from hotmess.errors import HotmessError
from hotmess.outcome import Outcome
from hotmess.runner import SweepConfig, run_episode, run_sweep
from hotmess.scoring import (
    Decomposition,
    brier_decomposition,
    coverage_decomposition,
    incoherence,
    kl_decomposition,
    mse_decomposition,
    score_run,
    zero_one_decomposition,
)
from hotmess.store import EpisodeRecord

__all__ = [
    "Agent",
    "AgentStep",
    "Decomposition",
    "EpisodeRecord",
    "HotmessError",
    "Outcome",
    "SweepConfig",
    "Task",
    "ToolEnv",
    "__version__",
    "brier_decomposition",
    "coverage_decomposition",
    "env_ids",
    "incoherence",
    "kl_decomposition",
    "make_agent",
    "make_env",
    "mse_decomposition",
    "run_episode",
    "run_sweep",
    "score_run",
    "zero_one_decomposition",
]
