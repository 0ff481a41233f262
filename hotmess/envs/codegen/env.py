"""What the coding families share: the edits an oracle makes (each unique whatever the
other functions have become), the generated task, and the env base that scores by hidden
tests, run by the grader (envs/grading.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hotmess.envs.base import Tool, tool_call
from hotmess.envs.grading import Check
from hotmess.envs.sandboxed import SandboxEnv
from hotmess.outcome import Outcome


def edit_action(
    path: str, before: str, after: str, *, file_text: str, others: Sequence[str]
) -> str:
    """An `edit_file` call turning function text `before` (as it is in `file_text`) into
    `after`: the changed lines plus as much context as makes `old` occur exactly once in the
    file and in none of `others` (every text the file's other functions can take), so the
    edit applies whichever other edits came first. Context comes from the body (lines above
    first, as a person would copy them), then from the docstring and the def line, which is
    unique: so a window always exists."""
    b, a = before.split("\n"), after.split("\n")
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    body_start = next((i + 1 for i, line in enumerate(b) if line.strip() == '"""'), 1)
    low, high = prefix, len(b) - suffix
    while True:
        old = "\n".join(b[low:high])
        changed = low < high and low < len(a) - (len(b) - high)  # both sides non-empty
        if changed and file_text.count(old) == 1 and not any(old in text for text in others):
            break
        if low > body_start or (low > 0 and high == len(b)):
            low -= 1
        elif high < len(b):
            high += 1
        else:
            raise RuntimeError(f"no unique edit for {b[0]!r} in {path}")
    return tool_call(
        "edit_file", path=path, old=old, new="\n".join(a[low : len(a) - (len(b) - high)])
    )


@dataclass(frozen=True)
class EditStep:
    """One oracle step: the right edit, and the plausible wrong ones a mistake picks from."""

    right: str
    wrong: tuple[str, ...]


class EditOracle:
    """Makes one edit per function, then submits; a mistake makes a wrong edit instead (a
    well-formed call that leaves the function buggy)."""

    def __init__(self, steps: Sequence[EditStep]) -> None:
        self.steps = list(steps)
        self.index = 0

    def act(self, observation: str, *, mistake: float | None = None) -> str:
        if self.index == len(self.steps):
            return tool_call("submit", answer="done")
        step = self.steps[self.index]
        self.index += 1
        if mistake is not None and step.wrong:
            return step.wrong[int(mistake * len(step.wrong)) % len(step.wrong)]
        return step.right


@dataclass(frozen=True)
class CodeTask:
    """A generated coding task: workdir files, hidden test files and names, oracle steps,
    and the hidden tests as checks (what the grader runs: the files are their record)."""

    files: dict[str, str]
    hidden: dict[str, str]
    test_names: list[str]
    steps: list[EditStep]
    checks: list[Check]


class GeneratedCodeEnv(SandboxEnv):
    """What the coding families share: the shell tools with `run_tests`, scoring by hidden
    tests (outcome `tests`), and an edit-per-function oracle. A family builds `self.task`."""

    outcome_kind = "tests"
    #: Room for reading the code and running the tests besides the oracle's edits.
    cap_factor = 3.0
    test_command: ClassVar[str | None] = "cd /work && python3 -m pytest -q tests 2>&1 | tail -n 40"
    task: CodeTask

    def _files(self) -> dict[str, str | bytes]:
        return dict(self.task.files)

    def _tools(self) -> list[Tool]:
        return self.shell_tools()

    def _min_actions(self) -> int:
        return len(self.task.steps) + 1

    def _judge(self, answer: Any) -> Outcome:
        passed = self.grade(self.task.checks)
        return Outcome(
            kind="tests",
            prediction=passed,
            tests=self.task.test_names,
            answer=answer,
            success=all(passed),
        )

    def _missing_outcome(self) -> Outcome:
        return Outcome(kind="tests", tests=self.task.test_names)

    def _task_spec(self) -> Any:
        return {"files": self.task.files, "hidden": self.task.hidden}

    def oracle(self) -> EditOracle:
        return EditOracle(self.task.steps)
