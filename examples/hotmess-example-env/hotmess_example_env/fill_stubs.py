"""FillStubs: a Python file in the sandbox holds H stub functions whose docstrings say what
each returns; implement them, one edit each. Hidden checks, one per stub, score the work."""

from __future__ import annotations

from typing import Any

from hotmess.envs import Tool, params, tool_call
from hotmess.envs.grading import Check
from hotmess.envs.sandboxed import SandboxEnv
from hotmess.envs.taskgen import TaskRandom
from hotmess.outcome import Outcome

STUB = '''def stage_{i}(x: int) -> int:
    """Return (x * {a} + {b}) % {m}."""
    raise NotImplementedError("stage_{i}")
'''


class FillStubsEnv(SandboxEnv):
    """Implement the H stubs of /work/stages.py; each has one hidden test."""

    description = "Implement H stub functions in the sandbox; one hidden test each (tests)."
    outcome_kind = "tests"

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "FillStubs")
        self.specs = [
            (rng.randint(2, 99), rng.randint(0, 99), rng.randint(101, 997))
            for _ in range(self.horizon)
        ]
        self.test_names = [f"test_stage_{i}" for i in range(1, self.horizon + 1)]

    def _files(self) -> dict[str, str | bytes]:
        stubs = [STUB.format(i=i, a=a, b=b, m=m) for i, (a, b, m) in enumerate(self.specs, 1)]
        return {"stages.py": "\n\n".join(stubs)}

    def _prompt(self) -> str:
        return (
            f"The file /work/stages.py holds {self.horizon} stub functions. Implement each "
            "one as its docstring says, replacing its `raise NotImplementedError` line, "
            "then call submit. Hidden tests check every function."
        )

    def _tools(self) -> list[Tool]:
        return self.shell_tools()  # bash, read_file, write_file, edit_file

    def _submit_schema(self) -> dict[str, Any]:
        return params({"answer": ("string", "A one-line summary; the hidden tests score.")})

    def _judge(self, answer: Any) -> Outcome:
        calls = ((0,), (1,), (7,), (12345,))
        checks = [
            Check(
                f"test_stage_{i}",
                "stages",
                f"stage_{i}",
                calls,
                tuple((x * a + b) % m for (x,) in calls),
            )
            for i, (a, b, m) in enumerate(self.specs, 1)
        ]
        passed = self.grade(checks)
        return Outcome(
            kind="tests",
            prediction=passed,
            tests=self.test_names,
            answer=answer,
            success=all(passed),
        )

    def _missing_outcome(self) -> Outcome:
        return Outcome(kind="tests", prediction=None, tests=self.test_names)

    def _min_actions(self) -> int:
        return self.horizon + 1  # one edit per stub, then submit

    def _task_spec(self) -> Any:
        return self.specs

    def oracle(self) -> FillStubsOracle:
        return FillStubsOracle(self.specs)


class FillStubsOracle:
    """Replaces each stub's `raise` line with the right expression, then submits."""

    def __init__(self, specs: list[tuple[int, int, int]]) -> None:
        self.specs = specs
        self.done = 0

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.done == len(self.specs):
            return tool_call("submit", answer="implemented every stub")
        self.done += 1
        a, b, m = self.specs[self.done - 1]
        if mistake is not None:
            b += 1 + int(mistake * 9)  # a wrong constant: this stub's test fails, no other
        return tool_call(
            "edit_file",
            path="stages.py",
            old=f'    raise NotImplementedError("stage_{self.done}")',
            new=f"    return (x * {a} + {b}) % {m}",
        )
