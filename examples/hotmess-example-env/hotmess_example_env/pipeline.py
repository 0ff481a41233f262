"""Pipeline: feed a number through H hidden operations, one `apply` call each, and submit
the last output. Each call's output is the next call's input, so one wrong value derails
every step after it, as in a real chain of tool calls."""

from __future__ import annotations

import hashlib
from typing import Any

from hotmess.envs import Tool, ToolEnv, ToolError, params, tool_call
from hotmess.envs.taskgen import TaskRandom
from hotmess.outcome import Outcome

#: An operation adds to its input a multiple of STRIDE (1 to 100 of them, depending on the
#: input), so x % STRIDE never changes: two different inputs never meet again, and a slip in
#: the last digit (off by 1 to 9) can never be undone by luck.
STRIDE = 11


class PipelineEnv(ToolEnv):
    """Run a number through H hidden operations named in the prompt; submit the result."""

    description = (
        "Feed a number through H hidden operations, one call each; submit the output (scalar)."
    )
    outcome_kind = "scalar"

    def __init__(self, horizon: int = 8, *, n_operations: int = 3, **kwargs: Any) -> None:
        if not 1 <= n_operations <= 8:
            raise ValueError(f"n_operations must be between 1 and 8, got {n_operations}")
        super().__init__(horizon, **kwargs)
        self.n_operations = n_operations

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "Pipeline", self.n_operations)
        names = rng.words(self.n_operations)
        self.secrets = {name: rng.randint(0, 2**31 - 1) for name in names}
        self.start = rng.randint(1000, 9999)
        self.stages = [rng.choice(names) for _ in range(self.horizon)]
        self.outputs = [self.start]
        for name in self.stages:
            self.outputs.append(self._operate(name, self.outputs[-1]))

    def _operate(self, operation: str, x: int) -> int:
        """One operation: x plus an amount drawn by a keyed hash of x, so no number of
        probes reveals a rule to compute it in one's head: each stage takes a tool call."""
        digest = hashlib.sha256(f"{self.secrets[operation]}:{x}".encode()).digest()
        return x + STRIDE * (1 + int.from_bytes(digest[:8], "big") % 100)

    def _prompt(self) -> str:
        return (
            f"Start with the number {self.start} and feed it through this pipeline of "
            f"{self.horizon} operations, in order:\n{' -> '.join(self.stages)}\n"
            "The operations are hidden: apply(operation, x) runs one of them on x. Each "
            "operation's output is the next one's input. Submit the last output with "
            "submit(answer)."
        )

    def _tools(self) -> list[Tool]:
        schema = params(
            {
                "operation": ("string", f"One of: {', '.join(self.secrets)}."),
                "x": ("integer", "The input, a non-negative integer."),
            }
        )
        return [Tool("apply", "Run one hidden operation on a number.", schema, self._apply)]

    def _apply(self, operation: str, x: int) -> str:
        if operation not in self.secrets:
            known = ", ".join(self.secrets)
            raise ToolError(f"there is no operation '{operation}'; the operations are: {known}.")
        if x < 0:
            raise ToolError(f"x must be a non-negative integer, got {x}.")
        return f"{operation}({x}) = {self._operate(operation, x)}"

    def _submit_schema(self) -> dict[str, Any]:
        schema = params({"answer": ("integer", "The output of the last operation.")})
        schema["properties"]["answer"]["type"] = ["integer", "string"]
        return schema

    def _judge(self, answer: Any) -> Outcome:
        value = answer
        if isinstance(answer, str) and answer.strip().isdecimal():  # models quote numbers
            value = int(answer)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ToolError(f"the answer must be a whole number, got {answer!r}.")
        target = self.outputs[-1]
        return Outcome(
            kind="scalar",
            prediction=float(value),
            target=float(target),
            answer=answer,
            success=value == target,
        )

    def _missing_outcome(self) -> Outcome:
        return Outcome(kind="scalar", prediction=None, target=float(self.outputs[-1]))

    def _min_actions(self) -> int:
        return self.horizon + 1  # H calls of apply, then submit

    def _task_spec(self) -> Any:
        return {"secrets": self.secrets, "start": self.start, "stages": self.stages}

    def oracle(self) -> PipelineOracle:
        return PipelineOracle(self.start, self.stages)


class PipelineOracle:
    """Applies each stage to the last output it read, then submits that output. A mistake
    passes a value on with its last digit copied wrong."""

    def __init__(self, start: int, stages: list[str]) -> None:
        self.value, self.stages = start, stages
        self.done = 0

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.done > 0:  # the observation is "name(x) = y"
            self.value = int(observation.rsplit("=", 1)[1])
        if self.done == len(self.stages):
            return tool_call("submit", answer=self.value)  # nothing plausible to get wrong
        x = self.value
        if mistake is not None:  # `mistake` picks the wrong digit: x is off by 1 to 9
            x += (x % 10 + 1 + int(mistake * 9)) % 10 - x % 10
        self.done += 1
        return tool_call("apply", operation=self.stages[self.done - 1], x=x)
