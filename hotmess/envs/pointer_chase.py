"""PointerChase: follow pointers through a hidden graph H times from a named start node
and submit the colour of the node reached. One hop per action; a wrong hop leaves the
path for good, so errors compound as they do in long agent trajectories."""

from __future__ import annotations

import re
from typing import Any

from hotmess.envs.base import (
    Tool,
    ToolEnv,
    ToolError,
    categorical_outcome,
    choice_schema,
    params,
    tool_call,
)
from hotmess.envs.taskgen import TaskRandom
from hotmess.outcome import Outcome

COLOURS = (
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "cyan",
    "magenta",
    "brown",
    "grey",
    "pink",
    "teal",
)


class PointerChaseEnv(ToolEnv):
    """Every node points to exactly one other node and has a colour out of C."""

    description = (
        "Follow H pointers through a hidden graph, submit the end node's colour (categorical)."
    )
    outcome_kind = "categorical"

    def __init__(self, horizon: int = 8, *, n_colours: int = 4, **kwargs: Any) -> None:
        if not 2 <= n_colours <= len(COLOURS):
            raise ValueError(f"n_colours must be between 2 and {len(COLOURS)}, got {n_colours}")
        super().__init__(horizon, **kwargs)
        self.choices = list(COLOURS[:n_colours])

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "PointerChase", len(self.choices))
        n_path = self.horizon + 1
        names = rng.words(3 * n_path + 8)
        path, decoys = names[:n_path], names[n_path:]
        # Decoys point only to decoys: a wrong hop never rejoins the true path by luck.
        self.successor = {node: rng.choice(decoys) for node in decoys}
        self.successor.update(zip(path, [*path[1:], rng.choice(decoys)], strict=True))
        self.colour = {node: rng.choice(self.choices) for node in names}
        self.start, self.end, self.decoys = path[0], path[-1], decoys

    def _prompt(self) -> str:
        return (
            f"A hidden graph: every node points to exactly one next node, and every node has a colour "
            f"({', '.join(self.choices)}). You are at node '{self.start}'. Call follow(node) with the node "
            f"you are at to move to the node it points to; do this exactly {self.horizon} times, then call "
            "submit(answer) with the colour of the node you end on."
        )

    def _tools(self) -> list[Tool]:
        return [
            Tool(
                "follow",
                "Move from a node to the node it points to.",
                params({"node": ("string", "The node you are at.")}),
                self._follow,
            )
        ]

    def _follow(self, node: str) -> str:
        if node not in self.successor:
            raise ToolError(f"there is no node '{node}' (names are case-sensitive).")
        nxt = self.successor[node]
        return f"{node} -> {nxt}. {nxt} is {self.colour[nxt]}."

    def _submit_schema(self) -> dict[str, Any]:
        return choice_schema(self.choices, "colours")

    def _min_actions(self) -> int:
        return self.horizon + 1

    def _judge(self, answer: Any) -> Outcome:
        return categorical_outcome(answer, self.choices, self.choices.index(self.colour[self.end]))

    def _missing_outcome(self) -> Outcome:
        return Outcome(
            kind="categorical",
            prediction=None,
            target=self.choices.index(self.colour[self.end]),
            choices=self.choices,
        )

    def _task_spec(self) -> Any:
        return {"successor": self.successor, "colour": self.colour, "start": self.start}

    def oracle(self) -> PointerChaseOracle:
        return PointerChaseOracle(self.start, self.horizon, self.decoys)


class PointerChaseOracle:
    """Follows from wherever the last observation says it is; a mistake follows a decoy."""

    def __init__(self, start: str, horizon: int, decoys: list[str]) -> None:
        self.node, self.horizon, self.decoys = start, horizon, decoys
        self.hops = 0
        self.colour = ""

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.hops > 0:
            match = re.search(r"-> (\S+)\. \S+ is (\w+)\.", observation)
            if match is None:
                raise RuntimeError(f"oracle could not read a hop from {observation!r}")
            self.node, self.colour = match.group(1), match.group(2)
        if self.hops == self.horizon:
            return tool_call("submit", answer=self.colour)
        self.hops += 1
        node = self.node
        if mistake is not None:
            wrong = [d for d in self.decoys if d != node]
            node = wrong[int(mistake * len(wrong)) % len(wrong)]
        return tool_call("follow", node=node)

    def guess(self) -> str | None:
        """Submit the colour of the node reached so far (None before the first hop)."""
        return tool_call("submit", answer=self.colour) if self.colour else None
