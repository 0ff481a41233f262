"""Harbor task folders (Terminal-Bench 2.0's format) as the `hotmess/Harbor-v0` environment:
task parsing, the task's image, its container, Harbor's verifier and the env itself."""

from hotmess.envs.harbor.env import HarborEnv, HarborOracle
from hotmess.envs.harbor.task import HarborTask, find_tasks, load_task

__all__ = ["HarborEnv", "HarborOracle", "HarborTask", "find_tasks", "load_task"]
