"""An adversarial agent plugin (`tests.runner.adversary:Adversary,attack=NAME`): each attack
tries to get the agent's own failure censored, or to stop the sweep."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hotmess.agents import AgentStep, Task


def call(tool: str, **arguments: Any) -> str:
    return json.dumps({"tool": tool, "arguments": arguments})


FILL = (
    "for i in 1 2 3 4 5; do head -c 250M /dev/zero > fill$i; done; "
    "head -c 250M /dev/zero > /tmp/fill; df -k . /tmp"
)

ATTACKS: dict[str, list[Any]] = {
    "returns_none": [None],
    "returns_int": [3],
    "system_exit": [SystemExit(7)],
    "keyboard_interrupt": [KeyboardInterrupt()],
    "nested_json": ["[" * 100_000],
    "os_exit": ["os._exit"],
    # Sandboxed envs (FileChain, Ledger): actions the host must not choke on.
    "surrogate_command": [call("bash", command="echo \udc80"), call("submit", answer="x")],
    "surrogate_file": [
        call("write_file", path="x.txt", content="\udc80"),
        call("submit", answer="x"),
    ],
    "mkdir_cmd": [call("bash", command="mkdir -p /hm/cmd"), call("submit", answer="x")],
    # Fill the workdir (and /tmp) past the sandbox's memory, then end the shell, so a new
    # one must start in a full sandbox; then use it.
    "fill_work": [
        call("bash", command=FILL),
        call("bash", command="exit"),
        call("bash", command="echo alive; df -k . /tmp"),
        call("write_file", path="note.txt", content="x" * 4096),
        call("submit", answer="x"),
    ],
}


class Adversary:
    """Plays `attack`'s actions in order; a BaseException in the list is raised from act()."""

    def __init__(self, attack: str, once: str | None = None) -> None:
        self.attack = attack
        self.once = once
        """A file: when given, attack only while it does not exist (then play fair)."""

    def reset(self, task: Task, seed: int) -> None:
        self.actions = list(ATTACKS[self.attack])

    def act(self, observation: str) -> Any:
        action = self.actions.pop(0) if self.actions else call("submit", answer="0")
        if isinstance(action, BaseException):
            raise action
        if action == "os._exit":
            if self.once is not None and Path(self.once).exists():
                return call("submit", answer="0")
            if self.once is not None:
                Path(self.once).touch()
            os._exit(3)
        return action


class Flaky:
    """Reports an API that stayed down (censored) until the file `up` exists."""

    def __init__(self, up: str) -> None:
        self.up = up

    def reset(self, task: Task, seed: int) -> None:
        self.oracle = task.oracle

    def act(self, observation: str) -> AgentStep:
        if not Path(self.up).exists():
            return AgentStep(action="", infra_error="the API stayed down")
        assert self.oracle is not None
        return AgentStep(action=self.oracle.act(observation))
