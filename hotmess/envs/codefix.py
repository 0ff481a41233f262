"""CodeFix: a generated Python package in the sandbox with H seeded bugs, one in each of H
functions, among correct functions that serve as distractors. Visible tests show each bug
failing; hidden tests (one per buggy function, entering the sandbox only to score) decide.
The oracle makes one edit per bug, then submits: H + 1 actions."""

from __future__ import annotations

from dataclasses import dataclass

from hotmess.envs.codegen import (
    Case,
    CodeTask,
    EditStep,
    GeneratedCodeEnv,
    GeneratedFunction,
    Mutation,
    TemplateDeck,
    edit_action,
    generate_function,
    hidden_checks,
    hidden_tests,
    import_block,
    render_function,
    visible_test,
)
from hotmess.envs.taskgen import TaskRandom

#: Names of the package's modules (a task uses ceil(H / 4) of them).
MODULES = (
    "ledger", "metrics", "parsing", "textops", "shapes", "inventory", "schedule", "reports",
    "routing", "catalog", "sensors", "payroll", "archive", "layout", "signals", "grading",
    "billing", "weather", "library", "tickets", "fleet", "orders", "survey", "budget",
)  # fmt: skip
BUGS_PER_MODULE = 4
#: Per difficulty: which bugs to seed, docstring examples, visible asserts per function.
#: Easy bugs are plainly wrong code; hard ones are boundaries and edge cases shown once.
SEEDING = {"easy": (False, 3, 2), "medium": (None, 3, 2), "hard": (True, 2, 1)}


@dataclass(frozen=True)
class PlacedFunction:
    """A function in a module: seeded with `bug` (None for a correct distractor)."""

    function: GeneratedFunction
    bug: Mutation | None
    examples: tuple[Case, ...]
    visible: tuple[Case, ...]

    def text(self, body: str | None = None) -> str:
        """Its source with `body` (default: as placed, so buggy if it has a bug)."""
        if body is None:
            body = self.function.mutant(self.bug) if self.bug else self.function.body
        return render_function(self.function, body=body, examples=self.examples)

    def states(self) -> list[str]:
        """Every text the function can take during an episode: as placed, fixed, wrongly fixed."""
        fn = self.function
        return [
            self.text(),
            self.text(fn.body),
            *(self.text(fn.mutant(m)) for m in self.wrong_fixes()),
        ]

    def wrong_fixes(self) -> list[Mutation]:
        """Plausible wrong fixes: another of the function's bugs in place of this one."""
        return [m for m in self.function.mutations if m != self.bug]


class CodeFixEnv(GeneratedCodeEnv):
    """Fix the H seeded bugs of a generated package; scored by hidden tests per function."""

    description = "Fix H seeded bugs in a generated Python package in the sandbox; hidden tests per function (tests)."

    def _generate(self, seed: int) -> None:
        rng = TaskRandom(seed, "CodeFix", self.difficulty)
        n_modules = -(-self.horizon // BUGS_PER_MODULE)
        sizes = [
            self.horizon // n_modules + (i < self.horizon % n_modules) for i in range(n_modules)
        ]
        deck = TemplateDeck(rng)
        taken: set[str] = set()
        self.modules: dict[str, list[PlacedFunction]] = {}
        # Numbered names only past the list's end (horizons above 96).
        pool = [
            f"{name}{k or ''}" for k in range(-(-n_modules // len(MODULES))) for name in MODULES
        ]
        for module, n_bugs in zip(rng.sample(pool, n_modules), sizes, strict=True):
            used: set[str] = set()  # distinct templates within a module: no look-alike bodies
            placed = []
            for index in range(n_bugs + 1):  # the last one is a correct distractor
                tmpl = deck.draw(exclude=used)
                used.add(tmpl.key)
                function = generate_function(rng, tmpl, taken)
                placed.append(self._place(rng, function, seeded=index < n_bugs))
            rng.shuffle(placed)
            self.modules[module] = placed
        self.task = self._build()

    def _place(
        self, rng: TaskRandom, function: GeneratedFunction, *, seeded: bool
    ) -> PlacedFunction:
        """Choose the function's bug and the examples it shows: one visible example always
        exposes the bug, so the task is solvable from what the agent sees."""
        subtle, n_examples, n_visible = SEEDING[self.difficulty]
        indices = list(range(len(function.cases)))
        if not seeded:
            shown = sorted(rng.sample(indices, n_examples))
            examples = tuple(function.cases[i] for i in shown)
            return PlacedFunction(function, None, examples, examples[:n_visible])
        pool = [i for i, m in enumerate(function.mutations) if subtle is None or m.subtle == subtle]
        which = rng.choice(pool or list(range(len(function.mutations))))
        exposing = rng.choice(function.exposing[which])
        others = rng.sample([i for i in indices if i != exposing], n_examples - 1)
        examples = tuple(function.cases[i] for i in sorted([exposing, *others]))
        visible = (function.cases[exposing], *(function.cases[i] for i in others[: n_visible - 1]))
        return PlacedFunction(function, function.mutations[which], examples, visible)

    def _build(self) -> CodeTask:
        files = {
            "pkg/__init__.py": '"""Utilities shared by the services: one module per area."""\n'
        }
        hidden: dict[str, str] = {}
        checks = []
        names: list[str] = []
        steps: list[EditStep] = []
        for module, placed in self.modules.items():
            path = f"pkg/{module}.py"
            header = f'"""{module.capitalize()}: helper functions."""\n'
            files[path] = text = "\n\n".join([header, *(p.text() for p in placed)])
            functions = [p.function.name for p in placed]
            tests = "\n\n".join(visible_test(p.function, p.visible) for p in placed)
            files[f"tests/test_{module}.py"] = (
                import_block(f"pkg.{module}", functions) + "\n\n" + tests
            )
            buggy = [p for p in placed if p.bug is not None]
            hidden[f"test_{module}.py"] = hidden_tests(f"pkg.{module}", [p.function for p in buggy])
            checks += hidden_checks(f"pkg.{module}", [p.function for p in buggy])
            states = {p.function.name: p.states() for p in placed}
            for p in buggy:
                others = [state for q in placed if q is not p for state in states[q.function.name]]
                before = states[p.function.name][0]
                fixed, *wrong = (
                    edit_action(path, before, after, file_text=text, others=others)
                    for after in states[p.function.name][1:]
                )
                steps.append(EditStep(fixed, tuple(wrong)))
                names.append(f"test_{p.function.name}")
        return CodeTask(files, hidden, names, steps, checks)

    def _prompt(self) -> str:
        count = f"{self.horizon} bug{'s' if self.horizon > 1 else ''}"
        return (
            f"The Python package /work/pkg has {count}: {self.horizon} of its functions contain one bug "
            "each, and the other functions are correct. Every function's docstring says what it must "
            "do. The visible tests in /work/tests include a failing example for every buggy function; "
            "run them with run_tests. Fix every bug without renaming functions or changing their "
            "signatures: hidden tests check each function on more cases. When you are done, call "
            "submit with a one-line note."
        )
