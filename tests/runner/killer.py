"""An agent plugin (`tests.runner.killer:Killer,task_seed=S,how=HOW`) that solves every task
like the oracle, except task `S`: there, once its first action has run (its sandbox exists
and holds state), it kills its own process."""

from __future__ import annotations

import ctypes
import os
import signal
import time

from hotmess.agents import Task

HOW = {
    "os_exit": lambda: os._exit(3),
    "sigkill": lambda: os.kill(os.getpid(), signal.SIGKILL),
    "segfault": lambda: ctypes.string_at(0),
}


class Killer:
    def __init__(self, task_seed: int, how: str = "os_exit", pids: str | None = None) -> None:
        self.task_seed = task_seed
        self.how = HOW[how]
        self.pids = pids
        """A file: each process about to die appends its PID (to look for its leftovers)."""

    def reset(self, task: Task, seed: int) -> None:
        assert task.oracle is not None
        self.oracle = task.oracle
        self.doomed = task.task_seed == self.task_seed
        self.acted = False

    def act(self, observation: str) -> str:
        if self.doomed and self.acted:
            if self.pids is not None:
                with open(self.pids, "a") as file:
                    file.write(f"{os.getpid()}\n")
            self.how()
        self.acted = True
        return self.oracle.act(observation)


class Slow:
    """The oracle, `sleep` seconds per action: episodes stay in flight long enough to be
    interrupted."""

    def __init__(self, sleep: float) -> None:
        self.sleep = sleep

    def reset(self, task: Task, seed: int) -> None:
        assert task.oracle is not None
        self.oracle = task.oracle

    def act(self, observation: str) -> str:
        time.sleep(self.sleep)
        return self.oracle.act(observation)
