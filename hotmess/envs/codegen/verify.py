"""Verification and generation: every seeded bug of a drawn function is run on the host and
kept only if it visibly fails a case, and functions are dealt from the templates with
unique names."""

from __future__ import annotations

import ast
import copy
import textwrap
from collections.abc import Sequence
from typing import Any

from hotmess.envs.codegen.functions import Case, Draft, GeneratedFunction, Template
from hotmess.envs.codegen.templates import TEMPLATES
from hotmess.envs.grading import same
from hotmess.envs.taskgen import TaskRandom

#: `same`, the grader's comparison, verifies bugs here as it scores there. Types must match
#: all the way down (ints and floats compare as numbers), so an object that claims to equal
#: everything fails. The hidden test files' `_same` is the same function, frozen with them.

QUALIFIERS = ("raw", "daily", "local", "net", "batch", "user", "legacy", "safe", "team", "shop")


class _Raised:
    """What a call that raised returns, in verification: equal to nothing."""


def run_cases(source: str, name: str, inputs: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Define `source` in a fresh namespace and call `name` on each input (a copy of it,
    so a function that mutates its argument cannot change the next case)."""
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)
    function = namespace[name]
    results = []
    for args in inputs:
        try:
            results.append(function(*copy.deepcopy(args)))
        except Exception:
            results.append(_Raised())
    return results


def _round_trips(value: Any) -> bool:
    text = repr(value)
    return "\\" not in text and '"""' not in text and same(ast.literal_eval(text), value)


def verify(name: str, tmpl: Template, draft: Draft) -> GeneratedFunction:
    """Run the correct body and every mutation on the draft's inputs; keep the mutations
    that visibly fail at least one case. A template bug (a mutation whose `old` is not in
    the body exactly once, a correct body that raises) is an error, not a dropped bug."""
    signature = f"def {name}({draft.params}) -> {draft.returns}:\n"
    inputs = list({repr(args): args for args in draft.inputs}.values())
    expected = run_cases(signature + textwrap.indent(draft.body, "    "), name, inputs)
    for args, value in zip(inputs, expected, strict=True):
        if isinstance(value, _Raised) or not (_round_trips(args) and _round_trips(value)):
            raise RuntimeError(
                f"template {tmpl.key}: the correct body fails or gives an unprintable value on {args!r}"
            )
    kept, exposing = [], []
    for mutation in draft.mutations:
        if draft.body.count(mutation.old) != 1:
            raise RuntimeError(
                f"template {tmpl.key}: {mutation.old!r} must occur exactly once in the body"
            )
        body = draft.body.replace(mutation.old, mutation.new, 1)
        actual = run_cases(signature + textwrap.indent(body, "    "), name, inputs)
        # `==` failing (what a visible test shows) implies `same` failing (the hidden test).
        failing = tuple(
            i
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            if isinstance(a, _Raised) or a != e
        )
        if failing:
            kept.append(mutation)
            exposing.append(failing)
    cases = tuple(Case(args, value) for args, value in zip(inputs, expected, strict=True))
    return GeneratedFunction(
        name,
        tmpl.key,
        draft.params,
        draft.returns,
        draft.summary,
        draft.rules,
        draft.body,
        tuple(kept),
        tuple(exposing),
        cases,
    )


def function_name(rng: TaskRandom, tmpl: Template, taken: set[str]) -> str:
    """A verb_noun name not in `taken` (which it joins)."""
    for attempt in range(40):
        name = f"{rng.choice(tmpl.verbs)}_{rng.choice(tmpl.nouns)}"
        if attempt >= 8:
            name = f"{rng.choice(tmpl.verbs)}_{rng.choice(QUALIFIERS)}_{rng.choice(tmpl.nouns)}"
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError(f"no free name for template {tmpl.key}")


def generate_function(rng: TaskRandom, tmpl: Template, taken: set[str]) -> GeneratedFunction:
    """A verified function from `tmpl` with a name not in `taken`, and at least two bugs
    (so a wrong fix of one seeded bug can be another)."""
    for _ in range(10):
        function = verify(function_name(rng, tmpl, taken), tmpl, tmpl.draft(rng))
        if len(function.mutations) >= 2:
            return function
        taken.discard(function.name)
    raise RuntimeError(
        f"template {tmpl.key} keeps producing functions with fewer than two detectable bugs"
    )


class TemplateDeck:
    """Deals templates like cards, every template once before any repeats, so a task uses
    as many different templates as its size allows."""

    def __init__(self, rng: TaskRandom) -> None:
        self.rng = rng
        self.cards: list[str] = []

    def draw(self, exclude: set[str] | frozenset[str] = frozenset()) -> Template:
        """The next template whose key is not in `exclude`."""
        while not any(key not in exclude for key in self.cards):
            fresh = list(TEMPLATES)
            self.rng.shuffle(fresh)
            self.cards += fresh
        key = next(key for key in self.cards if key not in exclude)
        self.cards.remove(key)
        return TEMPLATES[key]
