"""The grader's host side: checks (a function, its inputs, their expected outputs), the
request that sends only the inputs into a scoring sandbox, and the strict reading of the
signed raw results that come back, compared with the expected values here, on the host."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hotmess.envs.grading_collector import PREFIX, VALUE_LIMIT

#: The collector program, uploaded verbatim into the scoring sandbox.
COLLECTOR = (
    resources.files("hotmess.envs").joinpath("grading_collector.py").read_text(encoding="utf-8")
)


@dataclass(frozen=True)
class Check:
    """One hidden test: `module.function(*args)` must equal each expected value (by `same`)."""

    name: str
    module: str
    function: str
    calls: tuple[tuple[Any, ...], ...]
    expected: tuple[Any, ...]


def same(actual: Any, expected: Any) -> bool:
    """Equal, with the same types all the way down (ints and floats count as numbers).
    The comparison of the v0 hidden test files (`codegen/harness.py`'s `_same`)."""
    numbers = (int, float)
    if type(expected) in numbers:
        return type(actual) in numbers and actual == expected
    if type(actual) is not type(expected):
        return False
    if type(expected) in (list, tuple):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if type(expected) is dict:
        return actual.keys() == expected.keys() and all(
            same(actual[k], expected[k]) for k in expected
        )
    return actual == expected


def request(checks: Sequence[Check], *, root: str, seconds: float) -> str:
    """What the collector is told: modules, functions and inputs. No expected value."""
    return json.dumps(
        {
            "root": root,
            "seconds": seconds,
            "checks": [
                {
                    "module": c.module,
                    "function": c.function,
                    "calls": repr(list(c.calls)),
                    "n_calls": len(c.calls),
                }
                for c in checks
            ],
        }
    )


def output_limit(checks: Sequence[Check]) -> int:
    """Bytes of collector output that every legitimate record fits in (a repr is printable,
    so its JSON form is at most twice as long)."""
    calls = sum(len(c.calls) for c in checks)
    return 4096 + 160 * len(checks) + calls * (2 * VALUE_LIMIT + 32)


class _Invalid:
    """A result that was an exception, malformed or missing: equal to nothing."""


def _value(entry: Any) -> Any:
    if entry[0] != "value" or len(entry[1]) > VALUE_LIMIT:
        return _Invalid()
    try:
        return ast.literal_eval(entry[1])
    except Exception:  # not a literal, too deep, too big: it cannot match
        return _Invalid()


def _passes(check: Check, outputs: Any) -> bool:
    if not isinstance(outputs, list) or len(outputs) != len(check.calls):
        return False
    for entry, expected in zip(outputs, check.expected, strict=True):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str)):
            return False
        if not same(_value(entry), expected):
            return False
    return True


def read_records(stdout: str, key: bytes, n_checks: int) -> list[Any]:
    """Each check's outputs from the collector's records; None where there is no valid one.

    Strict: a record counts only if its signature holds, it is the first for its check and
    comes after the previous check's. Anything else that looks like a record (a forgery, a
    duplicate, out of order) fails its check, or every check when it names none."""
    outputs: list[Any] = [None] * n_checks
    seen = [False] * n_checks
    poisoned = [False] * n_checks
    last = -1
    for line in stdout.split("\n"):
        if not line.startswith(PREFIX + " "):
            continue
        parts = line.split(" ", 3)
        index = int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else -1
        if not 0 <= index < n_checks:
            return [None] * n_checks
        mac = hmac.new(key, f"{index} {parts[3]}".encode(), hashlib.sha256).hexdigest()
        if seen[index] or index <= last or not hmac.compare_digest(mac, parts[2]):
            poisoned[index] = True
            continue
        seen[index], last = True, index
        try:
            outputs[index] = json.loads(parts[3])
        except ValueError:
            poisoned[index] = True
    return [None if bad else out for out, bad in zip(outputs, poisoned, strict=True)]


def verdicts(checks: Sequence[Check], stdout: str, key: bytes) -> list[bool]:
    """Pass/fail per check, in order: its outputs, as signed by the collector, equal every
    expected value."""
    outputs = read_records(stdout, key, len(checks))
    return [
        out is not None and _passes(check, out) for check, out in zip(checks, outputs, strict=True)
    ]


def grade_locally(
    root: str | Path, checks: Sequence[Check], *, seconds: float = 10.0
) -> list[bool]:
    """The grader's verdicts for the code in `root`, its collector run as a local process:
    no sandbox, so only for code known to be harmless (a task's own solution, in tests)."""
    key = secrets.token_hex(32).encode()
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "collector.py").write_text(COLLECTOR)
        Path(directory, "request.json").write_text(request(checks, root=str(root), seconds=seconds))
        Path(directory, "key").write_bytes(key)
        run = subprocess.run(
            [sys.executable, "-I", f"{directory}/collector.py", directory, "--keep-strays"],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
        )
    return verdicts(checks, run.stdout, key)
