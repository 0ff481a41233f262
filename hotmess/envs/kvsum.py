"""KVSum: the long-horizon execution task. Look up H keys in a hidden dictionary and
submit their total; each lookup is one action, so the horizon is exactly H lookups."""

from __future__ import annotations

import re
from typing import Any

from hotmess.envs.base import Tool, ToolEnv, ToolError, params, tool_call
from hotmess.envs.taskgen import TaskRandom
from hotmess.outcome import Outcome


def parse_number(answer: Any) -> float:
    """A submitted number: a JSON number or a string holding one."""
    if isinstance(answer, bool):
        raise ToolError("the answer must be a number, got a boolean.")
    if isinstance(answer, (int, float)):
        return float(answer)
    if isinstance(answer, str):
        try:
            return float(answer.strip().replace(",", ""))
        except ValueError:
            pass
    raise ToolError(f"the answer must be a number, got {answer!r}.")


class KVSumEnv(ToolEnv):
    """Sum the values of H named keys, looked up one `lookup(key)` at a time."""

    description = "Look up H keys in a hidden dictionary, submit their sum (scalar)."
    outcome_kind = "scalar"

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "KVSum")
        words = rng.words(max(8, self.horizon + self.horizon // 2 + 4))
        self.table = {word: rng.randint(-99, 99) for word in words}
        # Keys may repeat, as in the original long-horizon execution task.
        self.keys = [rng.choice(words) for _ in range(self.horizon)]
        self.total = sum(self.table[key] for key in self.keys)

    def _prompt(self) -> str:
        return (
            f"A hidden dictionary maps words to integers. Compute the sum of the values of these "
            f"{self.horizon} keys (a key that appears twice counts twice):\n"
            f"{', '.join(self.keys)}\n"
            "Call lookup(key) once per key to read its value, then call submit(answer) with the total."
        )

    def _tools(self) -> list[Tool]:
        return [
            Tool(
                "lookup",
                "Read the integer value stored under a key.",
                params({"key": ("string", "The key to read.")}),
                self._lookup,
            )
        ]

    def _lookup(self, key: str) -> str:
        if key not in self.table:
            raise ToolError(f"there is no key '{key}' (keys are case-sensitive).")
        return f"{key} = {self.table[key]}"

    def _submit_schema(self) -> dict[str, Any]:
        schema = params({"answer": ("number", "The sum of the values.")})
        schema["properties"]["answer"]["type"] = ["number", "string"]
        return schema

    def _min_actions(self) -> int:
        return self.horizon + 1

    def _judge(self, answer: Any) -> Outcome:
        value = parse_number(answer)
        return Outcome(
            kind="scalar",
            prediction=value,
            target=float(self.total),
            answer=answer,
            success=value == self.total,
        )

    def _missing_outcome(self) -> Outcome:
        return Outcome(kind="scalar", prediction=None, target=float(self.total))

    def _task_spec(self) -> Any:
        return {"table": self.table, "keys": self.keys}

    def oracle(self) -> KVSumOracle:
        return KVSumOracle(self.keys)


class KVSumOracle:
    """Looks every key up in order, adds what it reads, submits the total."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.step = 0
        self.total = 0
        self.misread = 0

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.step > 0:
            match = re.search(r"=\s*(-?\d+)\s*$", observation)
            if match is None:
                raise RuntimeError(f"oracle could not read a lookup result from {observation!r}")
            self.total += int(match.group(1)) + self.misread
        self.step += 1
        if self.step > len(self.keys):
            return tool_call("submit", answer=self.total)
        # A mistake misreads this lookup's value by a non-zero offset in [-20, 20].
        self.misread = 0
        if mistake is not None:
            index = int(mistake * 40) % 40
            self.misread = index - 20 if index < 20 else index - 19
        return tool_call("lookup", key=self.keys[self.step - 1])

    def guess(self) -> str:
        """Submit the sum of the values read so far: the keys not yet read count as 0."""
        return tool_call("submit", answer=self.total)
