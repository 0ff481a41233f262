"""Generated Python functions for the coding families: a library of small function
templates, each with a written specification, a correct implementation, seeded bugs of
named kinds and test cases, plus what turns them into a sandboxed task.

A template draws its constants, separators and names from a `TaskRandom`, so a seed gives
the same functions on any machine. Every seeded bug is verified on the host when the task
is generated: it must fail a case an agent can see (so the task is solvable from what is
shown) and therefore a hidden case too (so no bug is invisible to scoring). Adding,
removing or reordering templates changes the tasks seeds generate: bump the families'
versions when you do.
"""

from __future__ import annotations

import ast
import copy
import string
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hotmess.envs.base import Tool, tool_call
from hotmess.envs.sandboxed import SandboxEnv
from hotmess.envs.taskgen import TaskRandom
from hotmess.outcome import Outcome

# -- what a template produces -------------------------------------------------------------


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


TEMPLATES: dict[str, Template] = {}


def template(
    key: str, topic: str, *, verbs: str, nouns: str
) -> Callable[[Callable[[TaskRandom], Draft]], Callable[[TaskRandom], Draft]]:
    """Register a template's draft function under `key`."""

    def register(draft: Callable[[TaskRandom], Draft]) -> Callable[[TaskRandom], Draft]:
        TEMPLATES[key] = Template(key, topic, tuple(verbs.split()), tuple(nouns.split()), draft)
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


def _ints(rng: TaskRandom, n: int, low: int, high: int) -> list[int]:
    return [rng.randint(low, high) for _ in range(n)]


# -- the templates ------------------------------------------------------------------------


@template(
    "clamp", "numbers", verbs="clamp bound limit cap", nouns="reading level score volume speed dose"
)
def _clamp(rng: TaskRandom) -> Draft:
    low = rng.randint(-20, 10)
    high = low + rng.randint(20, 80)
    body = code(
        """
        if value < $low:
            return $low
        if value > $high:
            return $high
        return value
        """,
        low=low,
        high=high,
    )
    return Draft(
        "value: int",
        "int",
        f"Clamp value into the range {low}..{high}, both ends included.",
        (
            f"Values below {low} give {low} and values above {high} give {high}.",
            "Values inside the range are returned unchanged.",
        ),
        body,
        (
            M("wrong return value", f"< {low}:\n    return {low}", f"< {low}:\n    return {high}"),
            M("off-by-one", f"if value > {high}:", f"if value >= {high - 1}:", subtle=True),
            M("missing branch", f"if value > {high}:\n    return {high}\n", ""),
            M("wrong comparison", f"if value < {low}:", f"if value > {low}:"),
        ),
        [
            (v,)
            for v in (
                low - 7,
                low - 1,
                low,
                low + 1,
                (low + high) // 2,
                high - 1,
                high,
                high + 1,
                high + rng.randint(1, 30),
            )
        ],
    )


@template(
    "running_total",
    "lists",
    verbs="accumulate tally cumulate total",
    nouns="deposits points steps sales hours rainfall",
)
def _running_total(rng: TaskRandom) -> Draft:
    start = rng.randint(1, 9)
    body = code(
        """
        total = $start
        totals = []
        for value in values:
            total += value
            totals.append(total)
        return totals
        """,
        start=start,
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        f"Return the running totals of values, starting from {start}: element i of the result is {start} plus the sum of values[0] to values[i].",
        ("An empty list gives an empty list.", "Values may be negative."),
        body,
        (
            M("wrong initial value", f"total = {start}", "total = 0"),
            M(
                "off-by-one",
                "total += value\n    totals.append(total)",
                "totals.append(total)\n    total += value",
                subtle=True,
            ),
            M("wrong operator", "total += value", "total -= value"),
            M(
                "early return",
                "    totals.append(total)\nreturn totals",
                "    totals.append(total)\n    return totals",
                subtle=True,
            ),
        ),
        [([],), ([5],), ([1, 2, 3],), ([4, -2, 7, 0],), (_ints(rng, rng.randint(3, 6), -9, 20),)],
    )


@template("running_max", "lists", verbs="track trace record", nouns="peaks highs records maxima")
def _running_max(rng: TaskRandom) -> Draft:
    body = code(
        """
        peaks = []
        best = None
        for value in values:
            if best is None or value > best:
                best = value
            peaks.append(best)
        return peaks
        """
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        "Return the running maximum of values: element i of the result is the largest of values[0] to values[i].",
        ("An empty list gives an empty list.", "Values may be negative."),
        body,
        (
            M(
                "wrong initial value",
                "best = None\nfor value in values:\n    if best is None or value > best:",
                "best = 0\nfor value in values:\n    if value > best:",
                subtle=True,
            ),
            M("wrong comparison", "value > best", "value < best"),
            M("wrong variable", "peaks.append(best)", "peaks.append(value)"),
            M(
                "mishandled duplicates",
                "        best = value\n    peaks.append(best)",
                "        best = value\n        peaks.append(best)",
                subtle=True,
            ),
        ),
        [
            ([],),
            ([3],),
            ([-5, -2, -9],),
            ([-3, -7, -1],),
            ([1, 3, 2, 5, 4],),
            ([2, 2, 1],),
            (_ints(rng, 5, -10, 10),),
        ],
    )


@template(
    "rle_encode",
    "strings",
    verbs="encode compress pack squeeze",
    nouns="text runs pixels signal letters",
)
def _rle_encode(rng: TaskRandom) -> Draft:
    count_first = rng.random() < 0.5
    joiner = rng.choice(("", ",", " ", "-"))
    piece = 'f"{count}{current}"' if count_first else 'f"{current}{count}"'
    body = code(
        """
        if not text:
            return ""
        pieces = []
        current, count = text[0], 1
        for char in text[1:]:
            if char == current:
                count += 1
            else:
                pieces.append($piece)
                current, count = char, 1
        pieces.append($piece)
        return "$joiner".join(pieces)
        """,
        piece=piece,
        joiner=joiner,
    )
    order = (
        "the count followed by the character"
        if count_first
        else "the character followed by its count"
    )
    letters = "abc"[: rng.randint(2, 3)]
    return Draft(
        "text: str",
        "str",
        f"Run-length encode text: each run of one repeated character becomes {order}, and the pieces are joined with {joiner!r}.",
        ("An empty string gives an empty string.", "A run of length 1 still gets the count 1."),
        body,
        (
            M("missing edge case", 'if not text:\n    return ""\n', "", subtle=True),
            M("wrong initial value", "current, count = text[0], 1", "current, count = text[0], 0"),
            M("off-by-one", "current, count = char, 1", "current, count = char, 0"),
            M("missing final step", f"pieces.append({piece})\nreturn", "return"),
        ),
        [
            ("",),
            ("a",),
            ("aaabcc",),
            ("abc",),
            ("aabbbaa",),
            ("".join(rng.choice(letters) for _ in range(rng.randint(5, 9))),),
        ],
    )


@template("dedupe", "lists", verbs="dedupe prune collapse", nouns="ids codes visits orders tickets")
def _dedupe(rng: TaskRandom) -> Draft:
    body = code(
        """
        seen = set()
        unique = []
        for item in items:
            if item not in seen:
                seen.add(item)
                unique.append(item)
        return unique
        """
    )
    pool = _ints(rng, 4, 1, 30)
    return Draft(
        "items: list[int]",
        "list[int]",
        "Return items without repeats, keeping the first occurrence of each in its original order.",
        ("An empty list gives an empty list.",),
        body,
        (
            M(
                "mishandled duplicates",
                "if item not in seen:",
                "if item not in unique[-1:]:",
                subtle=True,
            ),
            M("wrong return value", "return unique", "return sorted(seen)"),
            M("missing step", "        seen.add(item)\n", ""),
        ),
        [
            ([],),
            ([3],),
            ([3, 1, 3, 2, 1],),
            ([5, 5, 4],),
            ([2, 9, 2, 9, 7],),
            ([rng.choice(pool) for _ in range(7)],),
        ],
    )


@template(
    "dedupe_words", "strings", verbs="normalize dedupe merge", nouns="tags keywords labels topics"
)
def _dedupe_words(rng: TaskRandom) -> Draft:
    body = code(
        """
        seen = set()
        kept = []
        for word in words:
            key = word.lower()
            if key not in seen:
                seen.add(key)
                kept.append(word)
        return kept
        """
    )
    variants = [
        w.upper() if rng.random() < 0.3 else w.capitalize() if rng.random() < 0.5 else w
        for w in rng.sample(WORDS, 3) * 2
    ]
    rng.shuffle(variants)
    return Draft(
        "words: list[str]",
        "list[str]",
        "Return words without case-insensitive repeats: keep the first spelling of each word, in order.",
        (
            "Two words repeat when they are equal ignoring case.",
            "A kept word keeps its original case.",
        ),
        body,
        (
            M("mishandled duplicates", "seen.add(key)", "seen.add(word)", subtle=True),
            M("wrong variable", "kept.append(word)", "kept.append(key)"),
            M("missing normalization", "key = word.lower()", "key = word", subtle=True),
        ),
        [
            ([],),
            (["Tea"],),
            (["Tea", "tea", "Milk", "TEA", "milk"],),
            (["a", "B", "b", "A"],),
            (variants,),
        ],
    )


@template(
    "chunk", "lists", verbs="batch chunk split group", nouns="rows jobs records packets samples"
)
def _chunk(rng: TaskRandom) -> Draft:
    size = rng.randint(2, 4)
    body = code(
        """
        chunks = []
        for start in range(0, len(items), $size):
            chunks.append(items[start : start + $size])
        return chunks
        """,
        size=size,
    )
    return Draft(
        "items: list[int]",
        "list[list[int]]",
        f"Split items into consecutive chunks of {size}, in order; the last chunk may be shorter.",
        ("An empty list gives an empty list.",),
        body,
        (
            M("off-by-one", f"items[start : start + {size}]", f"items[start : start + {size - 1}]"),
            M(
                "missing edge case",
                f"range(0, len(items), {size})",
                f"range(0, len(items) - {size} + 1, {size})",
                subtle=True,
            ),
            M("wrong step", f"range(0, len(items), {size})", f"range(0, len(items), {size - 1})"),
            M(
                "early return",
                f"    chunks.append(items[start : start + {size}])\nreturn chunks",
                f"    chunks.append(items[start : start + {size}])\n    return chunks",
            ),
        ),
        [
            ([],),
            ([7],),
            (list(range(1, size + 1)),),
            (list(range(1, 2 * size + 2)),),
            (_ints(rng, 3 * size, 0, 9),),
        ],
    )


@template("flatten", "lists", verbs="flatten unnest splice", nouns="batches groups pages lists")
def _flatten(rng: TaskRandom) -> Draft:
    body = code(
        """
        flat = []
        for item in nested:
            if isinstance(item, list):
                flat.extend(item)
            else:
                flat.append(item)
        return flat
        """
    )
    deep = "flat.extend(x for sub in item for x in (sub if isinstance(sub, list) else [sub]))"
    return Draft(
        "nested: list",
        "list",
        "Flatten one level: items that are lists are replaced by their elements; other items stay as they are.",
        (
            "Lists nested two levels deep keep their inner lists.",
            "An empty list gives an empty list.",
        ),
        body,
        (
            M("wrong method", "flat.extend(item)", "flat.append(item)"),
            M("missing branch", "    else:\n        flat.append(item)\n", ""),
            M("off-by-one", "flat.extend(item)", "flat.extend(item[1:])"),
            M("too deep", "flat.extend(item)", deep, subtle=True),
        ),
        [
            ([],),
            ([1, 2],),
            ([[1, 2], 3, [4]],),
            ([[1, [2, 3]], [], 5],),
            ([[], [rng.randint(0, 9)]],),
            ([rng.randint(0, 9), [rng.randint(0, 9), [rng.randint(0, 9)]]],),
        ],
    )


@template("gcd", "numbers", verbs="compute find get", nouns="common_divisor shared_factor gcd")
def _gcd(rng: TaskRandom) -> Draft:
    body = code(
        """
        a, b = abs(a), abs(b)
        while b:
            a, b = b, a % b
        return a
        """
    )
    factor = rng.randint(2, 9)
    return Draft(
        "a: int, b: int",
        "int",
        "Return the greatest common divisor of a and b, which is never negative.",
        ("gcd(x, 0) is abs(x), and gcd(0, 0) is 0.", "a and b may be negative."),
        body,
        (
            M("missing edge case", "a, b = abs(a), abs(b)\n", "", subtle=True),
            M("off-by-one", "while b:", "while b > 1:", subtle=True),
            M("wrong return value", "return a", "return b"),
            M("swapped arguments", "a, b = b, a % b", "a, b = b, b % a"),
        ),
        [
            (12, 18),
            (7, 0),
            (0, 9),
            (0, 0),
            (-12, 18),
            (12, -18),
            (5, 3),
            (10, 4),
            (factor * rng.randint(2, 9), factor * rng.randint(2, 9)),
        ],
    )


@template(
    "median",
    "numbers",
    verbs="compute find measure",
    nouns="median median_delay median_price middle_score",
)
def _median(rng: TaskRandom) -> Draft:
    body = code(
        """
        if not values:
            return None
        ordered = sorted(values)
        middle = len(ordered) // 2
        if len(ordered) % 2 == 1:
            return float(ordered[middle])
        return (ordered[middle - 1] + ordered[middle]) / 2
        """
    )
    return Draft(
        "values: list[int]",
        "float | None",
        "Return the median of values as a float: the middle value once sorted, or the mean of the two middle values when there is an even number of values.",
        ("An empty list gives None.",),
        body,
        (
            M("missing step", "ordered = sorted(values)", "ordered = list(values)", subtle=True),
            M(
                "off-by-one",
                "(ordered[middle - 1] + ordered[middle]) / 2",
                "(ordered[middle] + ordered[middle + 1]) / 2",
            ),
            M("swapped branches", "if len(ordered) % 2 == 1:", "if len(ordered) % 2 == 0:"),
            M("missing edge case", "if not values:\n    return None\n", "", subtle=True),
            M("wrong operator", ") / 2", ") // 2", subtle=True),
        ),
        [
            ([],),
            ([4],),
            ([3, 1, 2],),
            ([4, 1, 3, 2],),
            ([5, 2],),
            ([7, 7, 1, 9, 2, 4],),
            (_ints(rng, rng.randint(1, 7), -10, 20),),
        ],
    )


@template(
    "word_frequency", "strings", verbs="count tally index", nouns="words terms tokens mentions"
)
def _word_frequency(rng: TaskRandom) -> Draft:
    punct = "".join(rng.sample(".,!?;:", rng.randint(2, 4)))
    body = code(
        """
        counts = {}
        for word in text.lower().split():
            word = word.strip("$punct")
            if word:
                counts[word] = counts.get(word, 0) + 1
        return counts
        """,
        punct=punct,
    )
    words = [rng.choice(WORDS) for _ in range(6)]
    sentence = " ".join(w.upper() if rng.random() < 0.3 else w for w in words) + punct[0]
    return Draft(
        "text: str",
        "dict[str, int]",
        f"Count how often each word occurs in text, ignoring case and stripping the characters {punct!r} from both ends of each word.",
        (
            "Words are separated by whitespace.",
            "A word that is empty after stripping is not counted.",
            "The result maps each lowercase word to its count.",
        ),
        body,
        (
            M("missing normalization", "text.lower().split()", "text.split()", subtle=True),
            M("wrong initial value", "counts.get(word, 0) + 1", "counts.get(word, 1) + 1"),
            M(
                "mishandled duplicates",
                "counts[word] = counts.get(word, 0) + 1",
                "counts[word] = 1",
                subtle=True,
            ),
            M("missing edge case", f'    word = word.strip("{punct}")\n', "", subtle=True),
        ),
        [
            ("",),
            ("the cat",),
            (f"The cat saw the CAT{punct[0]}",),
            (f"go{punct[-1]} go GO {punct[0]}",),
            (sentence,),
        ],
    )


@template(
    "caesar", "strings", verbs="shift rotate encode scramble", nouns="message letters text note"
)
def _caesar(rng: TaskRandom) -> Draft:
    shift = rng.choice([k for k in range(1, 26) if k != 13])
    body = code(
        """
        result = []
        for char in text:
            if char.islower():
                result.append(chr((ord(char) - ord("a") + $shift) % 26 + ord("a")))
            elif char.isupper():
                result.append(chr((ord(char) - ord("A") + $shift) % 26 + ord("A")))
            else:
                result.append(char)
        return "".join(result)
        """,
        shift=shift,
    )
    return Draft(
        "text: str",
        "str",
        f"Shift every ASCII letter {shift} places forward in the alphabet, wrapping around from z to a and keeping its case; other characters are unchanged.",
        (),
        body,
        (
            M(
                "missing edge case",
                f'ord("a") + {shift}) % 26 + ord("a")',
                f'ord("a") + {shift}) + ord("a")',
                subtle=True,
            ),
            M("wrong operator", f'ord("a") + {shift}) % 26', f'ord("a") - {shift}) % 26'),
            M("wrong constant", '% 26 + ord("A")))', '% 26 + ord("a")))'),
            M("missing branch", "    else:\n        result.append(char)\n", ""),
        ),
        [
            ("",),
            ("abc",),
            ("xyz",),
            ("Hello, World!",),
            ("Zebra zoo",),
            ("".join(rng.choice("abyzAZ .") for _ in range(8)),),
        ],
    )


@template("binary_search", "lists", verbs="locate find search", nouns="index slot position entry")
def _binary_search(rng: TaskRandom) -> Draft:
    body = code(
        """
        low, high = 0, len(items) - 1
        while low <= high:
            middle = (low + high) // 2
            if items[middle] == target:
                return middle
            if items[middle] < target:
                low = middle + 1
            else:
                high = middle - 1
        return -1
        """
    )
    items = sorted(rng.sample(range(0, 60), rng.randint(5, 9)))
    return Draft(
        "items: list[int], target: int",
        "int",
        "Return the index of target in items, a list of distinct integers in increasing order, or -1 when target is not in it. Use binary search.",
        (),
        body,
        (
            M("off-by-one", "while low <= high:", "while low < high:", subtle=True),
            M(
                "wrong initial value",
                "low, high = 0, len(items) - 1",
                "low, high = 0, len(items) - 2",
                subtle=True,
            ),
            M("wrong comparison", "if items[middle] < target:", "if items[middle] > target:"),
            M("wrong return value", "return -1", "return low"),
        ),
        [
            ([], 3),
            ([5], 5),
            ([5], 2),
            ([1, 3, 5, 7, 9], 9),
            ([1, 3, 5, 7, 9], 1),
            ([1, 3, 5, 7, 9], 4),
            ([2, 4, 6, 8], 8),
            (items, rng.choice(items)),
            (items, 61),
        ],
    )


@template(
    "merge_intervals",
    "intervals",
    verbs="merge combine coalesce",
    nouns="spans ranges intervals bookings slots",
)
def _merge_intervals(rng: TaskRandom) -> Draft:
    touching = rng.random() < 0.5
    cmp, other = ("<=", "<") if touching else ("<", "<=")
    body = code(
        """
        merged = []
        for start, end in sorted(intervals):
            if merged and start $cmp merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged
        """,
        cmp=cmp,
    )
    touch = "merged" if touching else "kept apart"
    random_spans = [(s, s + rng.randint(0, 4)) for s in _ints(rng, 4, 0, 12)]
    return Draft(
        "intervals: list[tuple[int, int]]",
        "list[tuple[int, int]]",
        "Merge overlapping intervals and return them sorted by start. Each interval is a (start, end) pair with start <= end.",
        (
            f"Intervals that only touch (one ends where the next starts) are {touch}.",
            "An empty list gives an empty list.",
        ),
        body,
        (
            M("missing step", "sorted(intervals)", "intervals"),
            M("wrong comparison", f"start {cmp} merged", f"start {other} merged", subtle=True),
            M("missing edge case", "max(merged[-1][1], end)", "end", subtle=True),
            M("wrong variable", "(merged[-1][0], max", "(start, max"),
        ),
        [
            ([],),
            ([(1, 3)],),
            ([(1, 3), (2, 6), (8, 10)],),
            ([(5, 8), (1, 2)],),
            ([(1, 4), (4, 6)],),
            ([(1, 10), (2, 3)],),
            ([(6, 7), (1, 5), (5, 6)],),
            (random_spans,),
        ],
    )


@template("transpose", "lists", verbs="transpose flip pivot", nouns="grid matrix table board")
def _transpose(rng: TaskRandom) -> Draft:
    body = code(
        """
        if not matrix:
            return []
        columns = []
        for col in range(len(matrix[0])):
            columns.append([row[col] for row in matrix])
        return columns
        """
    )
    rows, cols = rng.randint(1, 4), rng.randint(1, 4)
    return Draft(
        "matrix: list[list[int]]",
        "list[list[int]]",
        "Return the transpose of a rectangular matrix given as a list of rows: row i of the result is column i of the input.",
        ("An empty matrix gives an empty list.", "The matrix need not be square."),
        body,
        (
            M("missing edge case", "if not matrix:\n    return []\n", "", subtle=True),
            M("wrong dimension", "range(len(matrix[0]))", "range(len(matrix))", subtle=True),
            M("off-by-one", "for row in matrix])", "for row in matrix[1:]])"),
        ),
        [
            ([],),
            ([[1]],),
            ([[1, 2], [3, 4]],),
            ([[1, 2, 3], [4, 5, 6]],),
            ([[1], [2], [3]],),
            ([_ints(rng, cols, 0, 9) for _ in range(rows)],),
        ],
    )


@template(
    "parse_pairs",
    "parsing",
    verbs="parse read decode",
    nouns="settings options headers params fields",
)
def _parse_pairs(rng: TaskRandom) -> Draft:
    sep = rng.choice((";", ",", "&", "|"))
    kv = rng.choice(("=", ":"))
    body = code(
        """
        pairs = {}
        for piece in text.split("$sep"):
            if not piece.strip():
                continue
            key, _, value = piece.partition("$kv")
            pairs[key.strip()] = value.strip()
        return pairs
        """,
        sep=sep,
        kv=kv,
    )
    keys = rng.sample(NAMES, 3)
    random_text = sep.join(f"{k}{kv}{rng.randint(0, 99)}" for k in keys)
    return Draft(
        "text: str",
        "dict[str, str]",
        f"Parse text of the form 'key{kv}value{sep}key{kv}value' into a dict mapping keys to values, both strings.",
        (
            "Spaces around keys and values are removed.",
            f"Empty pieces (for example after a trailing {sep!r}) are skipped.",
            f"A value may itself contain {kv!r}: each piece is split at its first {kv!r}.",
            "When a key repeats, its last value wins.",
        ),
        body,
        (
            M("wrong method", f'piece.partition("{kv}")', f'piece.rpartition("{kv}")', subtle=True),
            M("missing step", "pairs[key.strip()] = value.strip()", "pairs[key] = value"),
            M(
                "missing edge case",
                "    if not piece.strip():\n        continue\n",
                "",
                subtle=True,
            ),
            M(
                "mishandled duplicates",
                "pairs[key.strip()] = value.strip()",
                "pairs.setdefault(key.strip(), value.strip())",
                subtle=True,
            ),
        ),
        [
            ("",),
            (f"a{kv}1",),
            (f"a{kv}1{sep}b{kv}2",),
            (f" x {kv} 7 {sep} y{kv}8{sep}",),
            (f"url{kv}a{kv}b{sep}n{kv}1",),
            (f"k{kv}1{sep}k{kv}2",),
            (random_text,),
        ],
    )


def _roman(number: int) -> str:
    pairs = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ]
    parts = []
    for value, symbol in pairs:
        while number >= value:
            parts.append(symbol)
            number -= value
    return "".join(parts)


@template("from_roman", "parsing", verbs="parse decode read", nouns="numeral roman year chapter")
def _from_roman(rng: TaskRandom) -> Draft:
    body = code(
        """
        values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
        total = 0
        for i, char in enumerate(numeral):
            value = values[char]
            if i + 1 < len(numeral) and values[numeral[i + 1]] > value:
                total -= value
            else:
                total += value
        return total
        """
    )
    return Draft(
        "numeral: str",
        "int",
        "Convert a Roman numeral (letters I, V, X, L, C, D, M, with subtractive pairs such as IV and CM) to an integer.",
        ("The input is a valid numeral for a number from 1 to 3999.",),
        body,
        (
            M(
                "wrong comparison",
                "values[numeral[i + 1]] > value",
                "values[numeral[i + 1]] >= value",
                subtle=True,
            ),
            M("wrong operator", "total -= value", "total += value"),
            M("off-by-one", "if i + 1 < len(numeral) and", "if i < len(numeral) and"),
            M("wrong initial value", "total = 0", "total = 1"),
        ),
        [
            (s,)
            for s in (
                "I",
                "III",
                "IV",
                "IX",
                "LVIII",
                "MCMXCIV",
                "XL",
                _roman(rng.randint(1, 3999)),
            )
        ],
    )


@template("to_roman", "parsing", verbs="format encode write", nouns="numeral year chapter page")
def _to_roman(rng: TaskRandom) -> Draft:
    body = code(
        """
        pairs = [
            (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
            (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
        ]
        parts = []
        for value, symbol in pairs:
            while number >= value:
                parts.append(symbol)
                number -= value
        return "".join(parts)
        """
    )
    value, symbol = rng.choice(
        ((900, "CM"), (400, "CD"), (90, "XC"), (40, "XL"), (9, "IX"), (4, "IV"))
    )
    return Draft(
        "number: int",
        "str",
        "Convert number, from 1 to 3999, to a Roman numeral, using the subtractive pairs CM, CD, XC, XL, IX and IV.",
        (),
        body,
        (
            M("wrong comparison", "while number >= value:", "while number > value:", subtle=True),
            M("loop runs once", "while number >= value:", "if number >= value:"),
            M("missing edge case", f'({value}, "{symbol}"),', "", subtle=True),
        ),
        [(n,) for n in (1, 3, 4, 9, 14, 40, 90, 400, 900, 1994, rng.randint(1, 3999))],
    )


@template(
    "balanced", "parsing", verbs="check validate verify", nouns="brackets nesting parens delimiters"
)
def _balanced(rng: TaskRandom) -> Draft:
    kinds = rng.sample(("()", "[]", "{}", "<>"), rng.randint(2, 3))
    openers = "".join(k[0] for k in kinds)
    closers = "{" + ", ".join(f'"{k[1]}": "{k[0]}"' for k in kinds) + "}"
    body = code(
        """
        closers = $closers
        stack = []
        for char in text:
            if char in "$openers":
                stack.append(char)
            elif char in closers:
                if not stack or stack.pop() != closers[char]:
                    return False
        return not stack
        """,
        closers=closers,
        openers=openers,
    )
    a, b = kinds[0], kinds[1]
    random_text = "".join(
        rng.choice(openers + "".join(k[1] for k in kinds) + "x") for _ in range(6)
    )
    return Draft(
        "text: str",
        "bool",
        f"Return True when the brackets {' '.join(kinds)} in text are balanced and properly nested; other characters are ignored.",
        ("An empty string is balanced.",),
        body,
        (
            M("missing final step", "return not stack", "return True", subtle=True),
            M(
                "missing edge case",
                "if not stack or stack.pop() != closers[char]:",
                "if stack and stack.pop() != closers[char]:",
                subtle=True,
            ),
            M(
                "wrong comparison",
                "stack.pop() != closers[char]",
                f'stack.pop() not in "{openers}"',
                subtle=True,
            ),
            M("wrong return value", "        return False", "        return True"),
        ),
        [
            ("",),
            (a,),
            (a[0] + b + a[1],),
            (a[0] + b[1],),
            (a[0] * 2,),
            (a[1] * 2 + a[0],),
            (a[1] + a,),
            (f"x{a[0]}y{a[1]}z",),
            (a[0] + b[0] + a[1] + b[1],),
            (random_text,),
        ],
    )


@template("rotate", "lists", verbs="rotate shift cycle", nouns="queue ring playlist roster")
def _rotate(rng: TaskRandom) -> Draft:
    right = rng.random() < 0.5
    rotated, opposite = "items[-steps:] + items[:-steps]", "items[steps:] + items[:steps]"
    if not right:
        rotated, opposite = opposite, rotated
    body = code(
        """
        if not items:
            return []
        steps %= len(items)
        return $rotated
        """,
        rotated=rotated,
    )
    moves = (
        "the last element moves to the front" if right else "the first element moves to the back"
    )
    return Draft(
        "items: list[int], steps: int",
        "list[int]",
        f"Rotate items {'right' if right else 'left'} by steps places: at each step {moves}. Return a new list.",
        (
            "steps is never negative and may be larger than the list.",
            "An empty list gives an empty list.",
        ),
        body,
        (
            M("missing edge case", "if not items:\n    return []\n", "", subtle=True),
            M("missing wraparound", "steps %= len(items)\n", "", subtle=True),
            M("wrong direction", rotated, opposite),
        ),
        [
            ([], 3),
            ([1], 5),
            ([1, 2, 3, 4, 5], 2),
            ([1, 2, 3], 0),
            ([1, 2, 3], 4),
            ([1, 2, 3], 3),
            (_ints(rng, 4, 0, 9), rng.randint(1, 3)),
        ],
    )


@template(
    "top_k", "dicts", verbs="rank pick select", nouns="leaders winners top_players best_sellers"
)
def _top_k(rng: TaskRandom) -> Draft:
    k = rng.randint(2, 3)
    body = code(
        """
        ranked = sorted(scores, key=lambda name: (-scores[name], name))
        return ranked[:$k]
        """,
        k=k,
    )
    random_scores = {name: rng.randint(1, 5) for name in rng.sample(NAMES, 5)}
    return Draft(
        "scores: dict[str, int]",
        "list[str]",
        f"Return the names with the {k} highest scores, highest first; equal scores are ordered by name, alphabetically.",
        (f"With fewer than {k} names, return all of them, ranked.",),
        body,
        (
            M(
                "mishandled duplicates",
                "key=lambda name: (-scores[name], name)",
                "key=lambda name: -scores[name]",
                subtle=True,
            ),
            M("wrong order", "(-scores[name], name)", "(scores[name], name)"),
            M("off-by-one", f"ranked[:{k}]", f"ranked[:{k - 1}]"),
        ),
        [
            ({},),
            ({"ann": 3},),
            ({"ann": 5, "bob": 9, "cy": 7, "dee": 1},),
            ({"zed": 4, "amy": 4, "bo": 1, "cal": 4},),
            (random_scores,),
        ],
    )


@template("histogram", "numbers", verbs="bucket bin count", nouns="ages latencies scores sizes")
def _histogram(rng: TaskRandom) -> Draft:
    width, n = rng.randint(2, 5), rng.randint(3, 5)
    limit = width * n
    body = code(
        """
        counts = [0] * $n
        for value in values:
            if 0 <= value < $limit:
                counts[value // $width] += 1
        return counts
        """,
        n=n,
        limit=limit,
        width=width,
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        f"Count values into {n} buckets of width {width}: bucket i counts the values v with {width} * i <= v < {width} * (i + 1).",
        (f"Values below 0 or at least {limit} are ignored.", f"The result always has {n} counts."),
        body,
        (
            M("off-by-one", f"0 <= value < {limit}", f"0 <= value <= {limit}", subtle=True),
            M("wrong operator", f"value // {width}", f"value % {width}"),
            M("missing edge case", f"0 <= value < {limit}", f"value < {limit}", subtle=True),
            M("wrong initial value", f"counts = [0] * {n}", f"counts = [1] * {n}"),
        ),
        [
            ([],),
            ([0],),
            ([limit - 1, limit, -1],),
            ([width, width + 1, 0, limit + 2],),
            (_ints(rng, 7, -3, limit + 3),),
        ],
    )


@template(
    "camel_to_snake",
    "strings",
    verbs="convert format normalize",
    nouns="identifier field_name key column",
)
def _camel_to_snake(rng: TaskRandom) -> Draft:
    sep = rng.choice(("_", "-"))
    body = code(
        """
        words = []
        current = ""
        for char in name:
            if char.isupper() and current:
                words.append(current)
                current = char.lower()
            else:
                current += char.lower()
        if current:
            words.append(current)
        return "$sep".join(words)
        """,
        sep=sep,
    )
    random_name = "".join(rng.choice(WORDS).capitalize() for _ in range(3))
    if rng.random() < 0.5:
        random_name = random_name[0].lower() + random_name[1:]
    return Draft(
        "name: str",
        "str",
        f"Convert a camelCase or PascalCase name to lowercase words joined by {sep!r}.",
        (
            "A new word starts at each uppercase letter.",
            "The input has only ASCII letters, never two uppercase letters in a row.",
            "An empty string gives an empty string.",
        ),
        body,
        (
            M(
                "missing edge case",
                "if char.isupper() and current:",
                "if char.isupper():",
                subtle=True,
            ),
            M("wrong variable", "        current = char.lower()", '        current = ""'),
            M("missing final step", "if current:\n    words.append(current)\n", ""),
            M("missing normalization", "current += char.lower()", "current += char", subtle=True),
        ),
        [
            ("",),
            ("name",),
            ("userName",),
            ("UserName",),
            ("parseHttpRequest",),
            ("aB",),
            (random_name,),
        ],
    )


@template(
    "second_largest", "lists", verbs="find pick get", nouns="runner_up second_best second_highest"
)
def _second_largest(rng: TaskRandom) -> Draft:
    body = code(
        """
        distinct = sorted(set(values))
        if len(distinct) < 2:
            return None
        return distinct[-2]
        """
    )
    return Draft(
        "values: list[int]",
        "int | None",
        "Return the second largest distinct value in values, or None when values has fewer than two distinct values.",
        (),
        body,
        (
            M("mishandled duplicates", "sorted(set(values))", "sorted(values)", subtle=True),
            M("off-by-one", "len(distinct) < 2", "len(distinct) < 1", subtle=True),
            M("wrong index", "return distinct[-2]", "return distinct[1]"),
        ),
        [
            ([],),
            ([4],),
            ([4, 4],),
            ([1, 2],),
            ([5, 9, 9, 3],),
            ([7, 3, 7, 1, 5],),
            (_ints(rng, 6, -5, 15),),
        ],
    )


@template("longest_run", "lists", verbs="measure find count", nouns="streak run winning_streak")
def _longest_run(rng: TaskRandom) -> Draft:
    body = code(
        """
        if not values:
            return 0
        best = current = 1
        for previous, value in zip(values, values[1:]):
            if value == previous:
                current += 1
                best = max(best, current)
            else:
                current = 1
        return best
        """
    )
    return Draft(
        "values: list[int]",
        "int",
        "Return the length of the longest run of equal adjacent values.",
        ("An empty list gives 0.",),
        body,
        (
            M("missing edge case", "if not values:\n    return 0\n", "", subtle=True),
            M("wrong reset value", "        current = 1", "        current = 0", subtle=True),
            M("missing step", "        best = max(best, current)\n", ""),
            M("wrong comparison", "value == previous", "value >= previous", subtle=True),
        ),
        [
            ([],),
            ([3],),
            ([1, 1, 2, 2, 2, 1],),
            ([5, 5, 1, 5],),
            ([1, 2, 3],),
            ([2, 2, 2],),
            (_ints(rng, 8, 1, 2),),
        ],
    )


@template("invert", "dicts", verbs="invert group index", nouns="owners assignments lookup roster")
def _invert(rng: TaskRandom) -> Draft:
    body = code(
        """
        inverted = {}
        for key, value in mapping.items():
            inverted.setdefault(value, []).append(key)
        for keys in inverted.values():
            keys.sort()
        return inverted
        """
    )
    random_mapping = {name: rng.randint(1, 3) for name in rng.sample(NAMES, 5)}
    return Draft(
        "mapping: dict[str, int]",
        "dict[int, list[str]]",
        "Invert mapping: map each value to the list of keys that had it, sorted alphabetically.",
        ("An empty dict gives an empty dict.",),
        body,
        (
            M(
                "mishandled duplicates",
                "inverted.setdefault(value, []).append(key)",
                "inverted[value] = [key]",
                subtle=True,
            ),
            M("missing step", "for keys in inverted.values():\n    keys.sort()\n", "", subtle=True),
            M(
                "swapped arguments",
                "inverted.setdefault(value, []).append(key)",
                "inverted.setdefault(key, []).append(value)",
            ),
        ),
        [({},), ({"a": 1},), ({"b": 1, "a": 1, "c": 2},), ({"x": 3, "y": 4},), (random_mapping,)],
    )


@template(
    "merge_counts", "dicts", verbs="merge combine add", nouns="inventories tallies stock votes"
)
def _merge_counts(rng: TaskRandom) -> Draft:
    body = code(
        """
        merged = dict(first)
        for key, count in second.items():
            merged[key] = merged.get(key, 0) + count
        return merged
        """
    )
    names = rng.sample(NAMES, 4)
    first = {n: rng.randint(1, 9) for n in names[:3]}
    second = {n: rng.randint(1, 9) for n in names[1:]}
    return Draft(
        "first: dict[str, int], second: dict[str, int]",
        "dict[str, int]",
        "Merge two dicts of counts into a new dict with every key of either, adding the counts of keys in both.",
        (),
        body,
        (
            M(
                "mishandled duplicates",
                "merged[key] = merged.get(key, 0) + count",
                "merged[key] = count",
                subtle=True,
            ),
            M("wrong initial value", "merged = dict(first)", "merged = {}"),
            M("wrong operator", "+ count", "- count"),
            M("wrong default", "merged.get(key, 0)", "merged.get(key, 1)"),
        ),
        [
            ({}, {}),
            ({"a": 1}, {}),
            ({}, {"b": 2}),
            ({"a": 1, "b": 2}, {"b": 3, "c": 4}),
            (first, second),
        ],
    )


@template(
    "window_sums", "lists", verbs="smooth window slide", nouns="readings load traffic samples"
)
def _window_sums(rng: TaskRandom) -> Draft:
    w = rng.randint(2, 4)
    body = code(
        """
        sums = []
        for start in range(len(values) - $w + 1):
            sums.append(sum(values[start : start + $w]))
        return sums
        """,
        w=w,
    )
    return Draft(
        "values: list[int]",
        "list[int]",
        f"Return the sum of every window of {w} consecutive values, from left to right.",
        (f"A list shorter than {w} gives an empty list.",),
        body,
        (
            M(
                "off-by-one",
                f"range(len(values) - {w} + 1)",
                f"range(len(values) - {w})",
                subtle=True,
            ),
            M(
                "wrong window size",
                f"values[start : start + {w}]",
                f"values[start : start + {w - 1}]",
            ),
            M("missing edge case", f"range(len(values) - {w} + 1)", "range(len(values))"),
        ),
        [
            ([],),
            ([1] * (w - 1),),
            (list(range(1, w + 1)),),
            (_ints(rng, w + rng.randint(1, 4), -5, 9),),
        ],
    )


@template(
    "format_duration",
    "strings",
    verbs="format render show",
    nouns="duration elapsed uptime runtime",
)
def _format_duration(rng: TaskRandom) -> Draft:
    clock = rng.random() < 0.5
    pattern = (
        'f"{hours}:{minutes:02d}:{secs:02d}"' if clock else 'f"{hours}h{minutes:02d}m{secs:02d}s"'
    )
    shown = "H:MM:SS" if clock else "HhMMmSSs"
    body = code(
        """
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        return $pattern
        """,
        pattern=pattern,
    )
    return Draft(
        "seconds: int",
        "str",
        f"Format a number of seconds (never negative) as {shown}: minutes and seconds always have two digits, hours as many as needed.",
        (),
        body,
        (
            M("wrong variable", "divmod(rest, 60)", "divmod(seconds, 60)"),
            M("missing padding", "{minutes:02d}", "{minutes}", subtle=True),
            M("wrong padding", "{secs:02d}", "{secs:2d}", subtle=True),
        ),
        [(s,) for s in (0, 5, 59, 60, 61, 3599, 3600, 3661, 86399, 90061, rng.randint(0, 99999))],
    )


@template(
    "truncate",
    "strings",
    verbs="truncate shorten clip abbreviate",
    nouns="title caption summary headline label",
)
def _truncate(rng: TaskRandom) -> Draft:
    n = rng.randint(8, 16)
    marker = rng.choice(("...", "~", "+"))
    cut = n - len(marker)
    body = code(
        """
        if len(text) <= $n:
            return text
        return text[:$cut] + "$marker"
        """,
        n=n,
        cut=cut,
        marker=marker,
    )
    letters = "abcdefghijklmnopqrstuvwxyz"
    return Draft(
        "text: str",
        "str",
        f"Shorten text to at most {n} characters. Text of {n} characters or fewer is returned unchanged; longer text is cut so that, ending in {marker!r}, it is exactly {n} characters long.",
        (),
        body,
        (
            M("wrong comparison", f"len(text) <= {n}", f"len(text) < {n}", subtle=True),
            M("missing step", f"text[:{cut}]", f"text[:{n}]"),
            M("off-by-one", f"text[:{cut}]", f"text[:{cut - 1}]"),
            M("wrong return value", "return text\n", f'return text + "{marker}"\n'),
        ),
        [
            ("",),
            ("short",),
            (letters[:n],),
            (letters[: n + 1],),
            ("the quick brown fox jumps over the lazy dog",),
            (letters[: rng.randint(1, 25)],),
        ],
    )


@template("diagonal_sum", "numbers", verbs="sum total score", nouns="diagonals cross board")
def _diagonal_sum(rng: TaskRandom) -> Draft:
    body = code(
        """
        n = len(matrix)
        total = 0
        for i in range(n):
            total += matrix[i][i] + matrix[i][n - 1 - i]
        if n % 2 == 1:
            total -= matrix[n // 2][n // 2]
        return total
        """
    )
    size = rng.randint(2, 4)
    return Draft(
        "matrix: list[list[int]]",
        "int",
        "Return the sum of both diagonals of a square matrix given as a list of rows; when the size is odd the centre cell is counted once.",
        ("An empty matrix gives 0.",),
        body,
        (
            M(
                "missing edge case",
                "if n % 2 == 1:\n    total -= matrix[n // 2][n // 2]\n",
                "",
                subtle=True,
            ),
            M("off-by-one", "matrix[i][n - 1 - i]", "matrix[i][n - i]"),
            M("wrong comparison", "n % 2 == 1", "n % 2 == 0"),
            M("wrong initial value", "total = 0", "total = n"),
        ),
        [
            ([],),
            ([[5]],),
            ([[1, 2], [3, 4]],),
            ([[1, 2, 3], [4, 5, 6], [7, 8, 9]],),
            ([_ints(rng, size, -5, 9) for _ in range(size)],),
        ],
    )


@template("valid_ipv4", "parsing", verbs="validate check accept", nouns="address ip host")
def _valid_ipv4(rng: TaskRandom) -> Draft:
    body = code(
        """
        parts = text.split(".")
        if len(parts) != 4:
            return False
        for part in parts:
            if not part.isdigit() or int(part) > 255:
                return False
            if len(part) > 1 and part[0] == "0":
                return False
        return True
        """
    )
    return Draft(
        "text: str",
        "bool",
        "Return True when text is an IPv4 address: four decimal numbers from 0 to 255 separated by dots, without leading zeros (0 itself is fine).",
        (),
        body,
        (
            M("off-by-one", "int(part) > 255", "int(part) > 256", subtle=True),
            M(
                "missing edge case",
                '    if len(part) > 1 and part[0] == "0":\n        return False\n',
                "",
                subtle=True,
            ),
            M("wrong comparison", "len(parts) != 4", "len(parts) < 4", subtle=True),
            M("missing check", "not part.isdigit() or ", ""),
        ),
        [
            (s,)
            for s in (
                "1.2.3.4",
                "255.255.255.255",
                "256.1.1.1",
                "1.2.3",
                "1.2.3.4.5",
                "01.2.3.4",
                "0.0.0.0",
                "1.2.a.4",
                "",
                ".".join(str(rng.randint(0, 255)) for _ in range(4)),
            )
        ],
    )


@template(
    "transactions",
    "numbers",
    verbs="apply settle process",
    nouns="transactions payments ledger transfers",
)
def _transactions(rng: TaskRandom) -> Draft:
    opening, floor = rng.randint(5, 50), -rng.randint(0, 30)
    room = opening - floor
    body = code(
        """
        balance = $opening
        rejected = 0
        for amount in amounts:
            if amount < 0 and balance + amount < $floor:
                rejected += 1
            else:
                balance += amount
        return balance, rejected
        """,
        opening=opening,
        floor=floor,
    )
    return Draft(
        "amounts: list[int]",
        "tuple[int, int]",
        f"Apply amounts in order to a balance that starts at {opening}: positive amounts are deposits, negative ones withdrawals. A withdrawal that would take the balance below {floor} is rejected and skipped. Return (final balance, number of rejected withdrawals).",
        (),
        body,
        (
            M(
                "off-by-one",
                f"balance + amount < {floor}",
                f"balance + amount <= {floor}",
                subtle=True,
            ),
            M("wrong initial value", f"balance = {opening}", "balance = 0"),
            M("swapped return values", "return balance, rejected", "return rejected, balance"),
        ),
        [
            ([],),
            ([10],),
            ([-5],),
            ([-room],),
            ([-room - 1, 3],),
            ([rng.randint(-30, 30) for _ in range(5)],),
        ],
    )


@template(
    "title_case", "strings", verbs="titleize capitalize format", nouns="heading title headline"
)
def _title_case(rng: TaskRandom) -> Draft:
    small = tuple(
        sorted(
            rng.sample(("a", "an", "the", "of", "and", "or", "in", "on", "to"), rng.randint(3, 5))
        )
    )
    body = code(
        """
        titled = []
        for index, word in enumerate(text.split(" ")):
            if index > 0 and word.lower() in $small:
                titled.append(word.lower())
            else:
                titled.append(word[:1].upper() + word[1:].lower())
        return " ".join(titled)
        """,
        small=repr(small),
    )
    s = small[0]
    return Draft(
        "text: str",
        "str",
        f"Capitalize each word of text (first letter upper case, the rest lower case), except the small words {', '.join(small)}, which are all lower case unless they are the first word.",
        ("Words are separated by single spaces.",),
        body,
        (
            M("missing edge case", "index > 0 and ", "", subtle=True),
            M("missing normalization", "word[1:].lower()", "word[1:]", subtle=True),
            M("case-sensitive comparison", "word.lower() in", "word in", subtle=True),
            M("wrong method", "titled.append(word.lower())", "titled.append(word)"),
        ),
        [
            ("",),
            ("hello",),
            (f"{s} lord {s} rings",),
            (f"WAR {s.upper()} PEACE",),
            (f"{s} tale {s} two cities",),
            (" ".join(rng.choice((*small, *WORDS)) for _ in range(5)),),
        ],
    )


# -- verification and generation ----------------------------------------------------------

#: The comparison hidden tests use, defined once: run here to verify bugs, written into the
#: hidden test files to score. Types must match all the way down (ints and floats compare
#: as numbers), so an object that claims to equal everything does not pass.
SAME_SOURCE = '''
def _same(actual, expected):
    """Equal, with the same types all the way down (ints and floats count as numbers)."""
    numbers = (int, float)
    if type(expected) in numbers:
        return type(actual) in numbers and actual == expected
    if type(actual) is not type(expected):
        return False
    if type(expected) in (list, tuple):
        return len(actual) == len(expected) and all(map(_same, actual, expected))
    if type(expected) is dict:
        return actual.keys() == expected.keys() and all(_same(actual[k], expected[k]) for k in expected)
    return actual == expected
'''.strip()
_NAMESPACE: dict[str, Any] = {}
exec(SAME_SOURCE, _NAMESPACE)
same: Callable[[Any, Any], bool] = _NAMESPACE["_same"]

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


# -- rendering: sources and tests ---------------------------------------------------------


def _wrap(text: str, indent: str = "    ", hanging: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=92, initial_indent=indent, subsequent_indent=hanging or indent)


def render_function(
    function: GeneratedFunction, *, body: str, examples: Sequence[Case], style: str = "prose"
) -> str:
    """The function's source: signature, docstring, body. The docstring states the spec in
    `style`: "prose" (summary and rules), "constraints" (rules as a list) or "examples"
    (summary only: the examples carry the rules); then the examples, as doctests."""
    lines = _wrap(function.summary)
    lines[0] = '    """' + lines[0].lstrip()
    if style == "prose" and function.rules:
        lines += ["", *_wrap(" ".join(function.rules))]
    elif style == "constraints" and function.rules:
        lines += ["", "    Constraints:"] + [
            line for rule in function.rules for line in _wrap(f"- {rule}", "    ", "      ")
        ]
    lines += ["", "    Examples:"]
    for case in examples:
        if case.expected is None:  # the interpreter shows nothing for None
            lines += [f"    >>> {case.call(function.name)} is None", "    True"]
        else:
            lines += [f"    >>> {case.call(function.name)}", f"    {case.expected!r}"]
    lines.append('    """')
    return "\n".join([function.signature, *lines, textwrap.indent(body, "    ")]) + "\n"


def _assertion(call: str, expected: Any) -> str:
    if expected is None or isinstance(expected, bool):
        return f"assert {call} is {expected!r}"
    return f"assert {call} == {expected!r}"


def visible_test(function: GeneratedFunction, cases: Sequence[Case]) -> str:
    """A pytest test asserting `cases`, named so that it never matches a hidden test."""
    lines = [f"def test_{function.name}_examples():"]
    lines += [f"    {_assertion(case.call(function.name), case.expected)}" for case in cases]
    return "\n".join(lines) + "\n"


def import_block(module: str, names: Sequence[str]) -> str:
    return f"from {module} import (\n" + "".join(f"    {name},\n" for name in names) + ")\n"


#: The top of every hidden test file. The agent's code never runs in the process that
#: decides the verdict: each function runs in a child interpreter that only sends back the
#: `repr` of its outputs, which are compared here. So patching `sys.stdout`, builtins or the
#: runner from inside the agent's module changes nothing; passing takes correct outputs.
HIDDEN_HEADER = (
    r'''
"""Scoring tests: every case of every function, compared outside the agent's code."""

import sys

# The runner puts the workdir first on sys.path: nothing there may shadow these imports.
_ROOT = sys.path[0]
_path, sys.path[:] = sys.path[:], sys.path[1:]
import ast
import os
import signal
import subprocess

sys.path[:] = _path

_CHILD = """
import sys
root, module, name = sys.argv[1:]
sys.path.insert(0, root)
import ast
function = getattr(__import__(module, fromlist=[name]), name)
results = []
for args in ast.literal_eval(sys.stdin.read()):
    try:
        results.append(repr(function(*args)))
    except Exception:
        results.append(None)
print()
print("@@outputs", repr(results))
"""


class _Raised:
    """An output that was an exception, or did not come back: equal to nothing."""


def _outputs(module, name, calls):
    """module.name(*args) for each of `calls`, run in a child interpreter (whose process
    group is killed afterwards); an output that does not parse as a literal is _Raised."""
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", _CHILD, _ROOT, module, name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, cwd=_ROOT, start_new_session=True,
    )
    try:
        stdout = child.communicate(repr(calls), timeout=8)[0]
    except subprocess.TimeoutExpired:
        stdout = ""
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        child.wait()
    outputs = [_Raised()] * len(calls)
    for line in stdout.splitlines():
        if line.startswith("@@outputs "):
            try:
                texts = ast.literal_eval(line[len("@@outputs ") :])
                outputs = [_Raised() if t is None else ast.literal_eval(t) for t in texts]
            except Exception:
                outputs = [_Raised()] * len(calls)
    return outputs + [_Raised()] * (len(calls) - len(outputs))
'''.strip()
    + "\n\n\n"
    + SAME_SOURCE
)


def hidden_tests(module: str, functions: Sequence[GeneratedFunction]) -> str:
    """One test per function, `test_<name>`, asserting every case. Each runs its own
    function, so one function that does not import fails only its own test."""
    parts = [HIDDEN_HEADER]
    for function in functions:
        calls = "".join(f"        {case.args!r},\n" for case in function.cases)
        lines = [
            f"def test_{function.name}():",
            f"    got = _outputs({module!r}, {function.name!r}, [\n{calls}    ])",
        ]
        lines += [
            f"    assert _same(got[{i}], {case.expected!r})  # {case.call(function.name)}"
            for i, case in enumerate(function.cases)
        ]
        parts.append("\n".join(lines))
    return "\n\n\n".join(parts) + "\n"


# -- edits and the oracle -----------------------------------------------------------------


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
    """A generated coding task: workdir files, hidden test files and names, oracle steps."""

    files: dict[str, str]
    hidden: dict[str, str]
    test_names: list[str]
    steps: list[EditStep]


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
        passed = self.run_hidden_tests(self.task.hidden, self.task.test_names)
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
