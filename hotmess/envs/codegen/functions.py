"""What a function template is and what it produces: a template draws a `Draft` (spec,
correct body, seeded bugs, inputs) from a `TaskRandom`; verification turns it into a
`GeneratedFunction` with its test cases. `template` registers one under its key."""

from __future__ import annotations

import string
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hotmess.envs.taskgen import TaskRandom


@dataclass(frozen=True)
class Mutation:
    """A seeded bug: replace `old` (exactly one occurrence in the correct body) by `new`."""

    kind: str
    old: str
    new: str
    subtle: bool = False
    """Hard to spot by reading (a boundary, an edge case) rather than plainly wrong."""


@dataclass(frozen=True)
class Draft:
    """One draw of a template: everything but the function's name, not yet verified."""

    params: str
    returns: str
    summary: str
    rules: tuple[str, ...]
    body: str
    mutations: tuple[Mutation, ...]
    inputs: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Template:
    """A family of functions: names come from `verbs` x `nouns`, the rest from `draft`."""

    key: str
    topic: str
    verbs: tuple[str, ...]
    nouns: tuple[str, ...]
    draft: Callable[[TaskRandom], Draft] = field(repr=False)


@dataclass(frozen=True)
class Case:
    """Arguments and the output the correct implementation gives for them."""

    args: tuple[Any, ...]
    expected: Any

    def call(self, name: str) -> str:
        return f"{name}({', '.join(map(repr, self.args))})"


@dataclass(frozen=True)
class GeneratedFunction:
    """A named, verified function: its spec, correct body, bugs and test cases.

    `exposing[i]` lists the cases on which `mutations[i]` visibly fails (`==` is false or
    it raises); every mutation here has at least one.
    """

    name: str
    template: str
    params: str
    returns: str
    summary: str
    rules: tuple[str, ...]
    body: str
    mutations: tuple[Mutation, ...]
    exposing: tuple[tuple[int, ...], ...]
    cases: tuple[Case, ...]

    @property
    def signature(self) -> str:
        return f"def {self.name}({self.params}) -> {self.returns}:"

    def mutant(self, mutation: Mutation) -> str:
        """The body with `mutation` applied."""
        return self.body.replace(mutation.old, mutation.new, 1)


#: Every template defined, by key, in the order their modules were imported; the deck deals
#: from `hotmess.envs.codegen.templates.TEMPLATES`, which fixes the order.
REGISTERED: dict[str, Template] = {}


def template(
    key: str, topic: str, *, verbs: str, nouns: str
) -> Callable[[Callable[[TaskRandom], Draft]], Callable[[TaskRandom], Draft]]:
    """Register a template's draft function under `key`."""

    def register(draft: Callable[[TaskRandom], Draft]) -> Callable[[TaskRandom], Draft]:
        if key in REGISTERED:
            raise RuntimeError(f"two templates are named {key!r}")
        REGISTERED[key] = Template(key, topic, tuple(verbs.split()), tuple(nouns.split()), draft)
        return draft

    return register


def code(text: str, **values: object) -> str:
    """A body from an indented template string whose `$name`s are filled from `values`
    (`$`, unlike braces, never occurs in the generated Python)."""
    body = textwrap.dedent(text).strip("\n")
    return string.Template(body).substitute({k: str(v) for k, v in values.items()})


M = Mutation
WORDS = ("apple", "tea", "red", "go", "stop", "sun", "moon", "cat", "blue", "tree")
NAMES = ("ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ida", "jo")


def ints(rng: TaskRandom, n: int, low: int, high: int) -> list[int]:
    """`n` integers drawn from `low`..`high`, both ends included."""
    return [rng.randint(low, high) for _ in range(n)]
