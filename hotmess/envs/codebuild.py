"""CodeBuild: implement H functions from their written specifications. `/work/solution.py`
holds H stubs (signature, docstring spec with examples, `raise NotImplementedError`); the
visible tests are the docstring examples; hidden tests (one per function, more cases and
edge cases) enter the sandbox only to score. The oracle replaces each stub's body with a
correct one, then submits: H + 1 actions."""

from __future__ import annotations

import textwrap

from hotmess.envs.base import tool_call
from hotmess.envs.codegen import (
    CodeTask,
    EditStep,
    GeneratedCodeEnv,
    GeneratedFunction,
    TemplateDeck,
    generate_function,
    hidden_checks,
    hidden_tests,
    import_block,
    render_function,
    visible_test,
)
from hotmess.envs.taskgen import TaskRandom

#: Spec styles each difficulty draws from: rules as a list, rules in prose, or examples alone.
STYLES = {
    "easy": ("constraints",),
    "medium": ("prose", "constraints", "examples"),
    "hard": ("prose", "examples"),
}
#: (most, fewest) docstring examples per style and difficulty. An examples-only spec needs
#: enough of them to pin every edge case down.
EXAMPLES = {
    "easy": {"constraints": (4, 3)},
    "medium": {"prose": (3, 2), "constraints": (3, 2), "examples": (5, 4)},
    "hard": {"prose": (2, 2), "examples": (4, 3)},
}


def stub_line(name: str) -> str:
    return f'    raise NotImplementedError("{name}")'


def choose_examples(
    rng: TaskRandom, function: GeneratedFunction, most: int, fewest: int
) -> list[int]:
    """Examples that expose as many of the function's bugs as `most` examples can (greedy
    set cover), topped up at random to `fewest`: the spec shows what a wrong
    implementation gets wrong. Returns case indices, in order."""
    uncovered = set(range(len(function.mutations)))
    chosen: list[int] = []
    while uncovered and len(chosen) < most:
        best = max(
            range(len(function.cases)),
            key=lambda i: (sum(i in function.exposing[m] for m in uncovered), -i),
        )
        if not any(best in function.exposing[m] for m in uncovered):
            break
        chosen.append(best)
        uncovered -= {m for m in uncovered if best in function.exposing[m]}
    rest = [i for i in range(len(function.cases)) if i not in chosen]
    chosen += rng.sample(rest, max(0, fewest - len(chosen)))
    return sorted(chosen)


class CodeBuildEnv(GeneratedCodeEnv):
    """Implement H functions from their specifications; scored by hidden tests per function."""

    description = "Implement H functions from docstring specifications in the sandbox; hidden tests per function (tests)."

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "CodeBuild", self.difficulty)
        deck = TemplateDeck(rng)
        taken: set[str] = set()
        stubs, tests, hidden_names, steps = [], [], [], []
        self.functions: list[GeneratedFunction] = []
        for _ in range(self.horizon):
            function = generate_function(rng, deck.draw(), taken)
            style = rng.choice(STYLES[self.difficulty])
            shown = choose_examples(rng, function, *EXAMPLES[self.difficulty][style])
            examples = [function.cases[i] for i in shown]
            # A mistake writes one of the bugs the examples expose: wrong, and visibly so.
            mistakes = [
                m
                for m, cases in zip(function.mutations, function.exposing, strict=True)
                if set(cases) & set(shown)
            ]
            stub = stub_line(function.name)
            stubs.append(
                render_function(function, body=stub.strip(), examples=examples, style=style)
            )
            tests.append(visible_test(function, examples))
            steps.append(
                EditStep(
                    self._implement(function.name, function.body),
                    tuple(self._implement(function.name, function.mutant(m)) for m in mistakes),
                )
            )
            hidden_names.append(f"test_{function.name}")
            self.functions.append(function)
        header = '"""Functions to implement: each docstring is the specification."""\n'
        files = {
            "solution.py": "\n\n".join([header, *stubs]),
            "tests/test_solution.py": import_block("solution", [f.name for f in self.functions])
            + "\n\n"
            + "\n\n".join(tests),
        }
        hidden = {"test_solution.py": hidden_tests("solution", self.functions)}
        checks = hidden_checks("solution", self.functions)
        self.task = CodeTask(files, hidden, hidden_names, steps, checks)

    @staticmethod
    def _implement(name: str, body: str) -> str:
        """The edit replacing a stub's `raise` line (unique: it names the function) by `body`."""
        return tool_call(
            "edit_file", path="solution.py", old=stub_line(name), new=textwrap.indent(body, "    ")
        )

    def _prompt(self) -> str:
        count = f"{self.horizon} function stub{'s' if self.horizon > 1 else ''}"
        return (
            f"/work/solution.py defines {count} that raise NotImplementedError. Implement each one as "
            "its docstring specifies. The docstring examples are also the visible tests in /work/tests; "
            "run them with run_tests. Hidden tests check every function on more cases, edge cases "
            "included. Keep the names and signatures. When you are done, call submit with a one-line note."
        )
