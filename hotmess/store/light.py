"""The light view of an episode: what the statistics need, no observations, each action kept
as a checksum; and the fast parse of a store line into it, which builds no step object.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from json.decoder import scanstring  # type: ignore[attr-defined]  # json's C string scanner
from operator import itemgetter
from typing import Any

from hotmess.errors import StoreError


@dataclass(frozen=True, slots=True)
class LightEpisode:
    """What the statistics need of one episode: no observations, actions as checksums."""

    env: str
    agent: str
    horizon: int
    task_seed: int | str
    sample: int
    outcome: dict[str, Any]
    """The record's outcome dict (kind, prediction, target, choices, tests, success, ...)."""
    n_actions: int
    actions: tuple[int, ...]
    """crc32 (zlib) of each step's action string (UTF-8), in order."""
    key: str
    fork_of: str | None

    @classmethod
    def of(
        cls,
        record: Mapping[str, Any],
        actions: tuple[int, ...] | None = None,
        where: str = "episode",
    ) -> LightEpisode:
        """The light view of a record dict. `actions` are its action checksums when the
        record comes without `steps`. A malformed record is a StoreError naming `where`."""
        env, agent, horizon = record.get("env"), record.get("agent"), record.get("horizon")
        seed, outcome = record.get("task_seed"), record.get("outcome")
        if not (
            type(env) is str
            and type(agent) is str
            and type(horizon) is int
            and type(outcome) is dict
            and type(seed) in (int, str)
        ):
            _malformed(record, where)
        if actions is None:
            try:
                actions = tuple(
                    zlib.crc32(step["action"].encode()) for step in record.get("steps") or ()
                )
            except (TypeError, KeyError, AttributeError):
                raise StoreError(
                    f"{where}: `steps` must be a list of objects with a string `action`"
                ) from None
        n_actions = outcome.get("n_actions")  # type: ignore[union-attr]
        sample = record.get("sample", 0)
        fork_of = record.get("fork_of")
        return cls(
            env=env,  # type: ignore[arg-type]
            agent=agent,  # type: ignore[arg-type]
            horizon=horizon,  # type: ignore[arg-type]
            task_seed=seed,  # type: ignore[arg-type]
            sample=sample if type(sample) is int else 0,
            outcome=outcome,  # type: ignore[arg-type]
            n_actions=n_actions if type(n_actions) is int else len(actions),
            actions=actions,
            key=str(record.get("key", "")),
            fork_of=fork_of if isinstance(fork_of, str) else None,
        )


def _malformed(record: Mapping[str, Any], where: str) -> None:
    """Raise the StoreError that says which identifying field of `record` is malformed."""
    for name, kind in (("env", str), ("agent", str), ("horizon", int), ("outcome", dict)):
        value = record.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise StoreError(f"{where}: `{name}` must be {_A[kind]}, got {value!r}")
    seed = record.get("task_seed")
    raise StoreError(f"{where}: `task_seed` must be an integer or a string, got {seed!r}")


_A = {str: "a string", int: "an integer", dict: "an object"}


# Building every step object is most of the cost of `json.loads` on a store line, and the
# light view needs none of them. So the steps array is cut out by patterns and only its
# actions are decoded. Inside a JSON string every `"` is escaped, so a pattern whose `"`
# follows any character but a backslash matches structure, never text, wherever the fields
# stand. The cut is taken only when the steps are flat objects with one action each, which
# the checks below prove for any compact line (no space between tokens, as the run store
# writes it) that the full parse reads; any other line is parsed whole.
_STEPS = '"steps":['
_ACTION = '"action":"'
_STEP_BOUNDARY = '},{"'
_STEPS_CLOSE = '],"'
_NESTED_ARRAY = '":['  # a field whose value is an array
_AFTER_A_STRING = frozenset(("", ",", ":", "}", "]", " ", "\t", "\r", "\n"))
"""What may follow a closing quote, so what a name (after an opening quote) never starts
with here: a `"` followed by one of these may close a string."""
_SENTINEL = '"\\u0000"'  # stands in for the cut steps: a value no store holds
_DECODER = json.JSONDecoder()


def parse_light(line: bytes) -> tuple[Any, tuple[int, ...] | None]:
    """(the record without `steps`, the crc32 of each step's action), or (the whole
    record, None) when the fast path cannot vouch for the line. Invalid JSON raises
    ValueError, as `json.loads` does."""
    text = line.decode()
    try:
        cut = _cut_steps(text)
    except ValueError:
        cut = None  # json decides below
    if cut is not None:
        return cut
    return json.loads(text), None


def _cut_steps(text: str) -> tuple[dict[str, Any], tuple[int, ...]] | None:
    at = text.find(_STEPS)
    if at <= 0 or text[at - 1] not in "{,":
        return None
    start = at + len(_STEPS) - 1  # the steps' "["
    actions: tuple[int, ...]
    if text.startswith("[]", start):
        end, actions = start + 1, ()
    else:
        # Split the whole line: an action field outside the steps fails the checks below.
        pieces = text.split(_ACTION)
        if len(pieces) < 2 or len(pieces[0]) <= start or not text.startswith("[{", start):
            return None
        end = _steps_end(text, len(text) - len(pieces[-1]))
        if (
            end < 0
            # each action field is a field of an object (its `"` opens the name) ...
            or not all(map(str.endswith, pieces[:-1], repeat(("{", ","))))
            # ... of one of the steps, which are as many as the actions
            or _flat_objects(text, start + 1, end) != len(pieces) - 1
        ):
            return None
        # Each piece starts inside an action string: decode it (json's own C scanner,
        # every escape undone) and checksum its UTF-8; maps keep the loop in C.
        strings = map(itemgetter(0), map(scanstring, pieces[1:], repeat(0)))
        actions = tuple(map(zlib.crc32, map(str.encode, strings)))
    record = _DECODER.decode(text[:start] + _SENTINEL + text[end + 1 :])
    # A cut that was not the top level's whole steps array leaves no sentinel there.
    if type(record) is not dict or record.get("steps") != "\x00":
        return None
    del record["steps"]
    return record, actions


def _flat_objects(text: str, start: int, end: int) -> int:
    """How many objects text[start:end] (an array's elements) holds when no field of
    theirs is an array; -1 when that is in doubt. Fields that are objects may stay: they
    hold no `},{"`, so any action field in them makes the actions outnumber the steps."""
    # A lone `[` is found at memchr speed, and most steps hold none.
    if text.find("[", start, end) >= 0 and text.find(_NESTED_ARRAY, start, end) >= 0:
        # After one backslash the `"` is escaped, text in a string; after two it may not
        # be, so doubt; anywhere else it closes the name of a field that is an array.
        if text.find("\\\\" + _NESTED_ARRAY, start, end) >= 0:
            return -1
        if text.count(_NESTED_ARRAY, start, end) != text.count("\\" + _NESTED_ARRAY, start, end):
            return -1
    # With no arrays in them, `},{"` between two objects is the only way to separate
    # them; the same characters ending a string ("...},{") are followed by what ends one.
    objects, find = 1, text.find
    at = find(_STEP_BOUNDARY, start, end)
    while at >= 0:
        if text[at + 4] in _AFTER_A_STRING:  # within the steps: `]` comes after
            return -1
        objects += 1
        at = find(_STEP_BOUNDARY, at + 4, end)
    return objects


def _steps_end(text: str, last_action: int) -> int:
    """The index of the `]` that closes the steps, searched from the last action on, or
    -1. A wrong one (in a string ending with "}],") fails the parse of the rest."""
    end = text.find(_STEPS_CLOSE, last_action)  # then a field follows the steps
    if end < 0:  # or the steps are the record's last field
        tail = text.rstrip()
        if not tail.endswith("]}"):
            return -1
        end = len(tail) - 2
    return end if text[end - 1] == "}" else -1
