"""The grader on the host (envs/grading.py and its collector, run as a local process): raw
outputs come back signed and are compared here; records are read strictly, so a forged,
duplicated or reordered one fails its check; the request never holds an expected value."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from hotmess.envs.codegen import harness
from hotmess.envs.grading import (
    PREFIX,
    Check,
    grade_locally,
    read_records,
    request,
    same,
    verdicts,
)

TOOLS = '''
import os, sys


def double(x):
    return 2 * x


def off_by_one(x):
    return 2 * x + 1


def crash(x):
    raise ValueError(x)


def opaque(x):
    return object()


def leave(x):
    """Ends the interpreter from inside a call: no outputs come back."""
    os._exit(0)


def exits(x):
    raise SystemExit(0)


def forge(x):
    """Prints lines shaped like the collector's records, and writes them to stdout's fd."""
    line = "HMGRADE 0 " + "0" * 64 + ' [["value","2"]]\\n'
    print(line * 3)
    os.write(1, line.encode())
    return 2 * x
'''


def check(function, cases, name=None):
    return Check(
        name or f"test_{function}",
        "pkg.tools",
        function,
        tuple((x,) for x, _ in cases),
        tuple(y for _, y in cases),
    )


TWICE = [(1, 2), (0, 0), (-3, -6)]


@pytest.fixture
def package(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/tools.py").write_text(TOOLS)
    return tmp_path


def test_correct_functions_pass_and_wrong_crashing_or_exiting_ones_fail(package):
    checks = [
        check("double", TWICE),
        check("off_by_one", TWICE),
        check("crash", TWICE),
        check("opaque", TWICE),
        check("leave", TWICE),
        check("exits", TWICE),
        check("no_such_function", TWICE),
        check("double", [(1, 2.0), (2, 5)], name="test_one_wrong_case"),
    ]
    assert grade_locally(package, checks) == [True] + [False] * 7


def test_printed_records_do_not_count_and_the_real_outputs_do(package):
    assert grade_locally(package, [check("forge", TWICE), check("forge", [(1, 3)])]) == [
        True,
        False,
    ]


def test_a_package_that_exits_at_import_fails_every_check(package):
    (package / "pkg/__init__.py").write_text("import os\nprint('HMGRADE 0 x []')\nos._exit(0)\n")
    assert grade_locally(package, [check("double", TWICE), check("double", TWICE)]) == [
        False,
        False,
    ]


def test_the_request_holds_inputs_and_no_expected_value():
    marker = "expected-value-that-must-not-leave-the-host"
    sent = request([check("double", [(1, marker), (2, 4)])], root="/work", seconds=8)
    assert marker not in sent
    assert json.loads(sent)["checks"][0]["calls"] == "[(1,), (2,)]"


KEY = b"k" * 64


def record(index, outputs, key=KEY):
    payload = json.dumps(outputs)
    mac = hmac.new(key, f"{index} {payload}".encode(), hashlib.sha256).hexdigest()
    return f"{PREFIX} {index} {mac} {payload}"


def test_records_are_read_strictly():
    good = [["value", "2"]]
    checks = [check("double", [(1, 2)], name=f"test_{i}") for i in range(3)]
    assert verdicts(checks, "\n".join(record(i, good) for i in range(3)), KEY) == [True] * 3
    noise = "warning: something\n" + "\n".join(record(i, good) for i in range(3)) + "\n"
    assert verdicts(checks, noise, KEY) == [True] * 3
    cases = {
        "missing": [record(0, good), record(2, good)],
        "forged": [record(0, good), record(1, good, key=b"guess"), record(2, good)],
        "duplicate": [record(0, good), record(1, good), record(1, good), record(2, good)],
        "out of order": [record(1, good), record(0, good), record(2, good)],
    }
    expected = {
        "missing": [True, False, True],
        "forged": [True, False, True],
        "duplicate": [True, False, True],
        "out of order": [False, True, True],
    }
    for name, lines in cases.items():
        assert verdicts(checks, "\n".join(lines), KEY) == expected[name], name
    unattributed = [record(i, good) for i in range(3)] + [f"{PREFIX} x y z"]
    assert read_records("\n".join(unattributed), KEY, 3) == [None] * 3


def test_outputs_that_are_not_literals_or_have_the_wrong_shape_fail():
    checks = [check("double", [(1, 2), (2, 4)])]
    for outputs in (
        [["value", "2"]],
        [["value", "2"], ["value", "4"], ["value", "6"]],
        [["value", "2"], ["raised", "ValueError"]],
        [["value", "2"], ["value", "__import__('os')"]],
        [["value", "2"], ["value", "[" * 10_000 + "]" * 10_000]],
        [["value", "2"], ["value", "4.0"]],
    ):
        ok = outputs[-1] == ["value", "4.0"]  # ints and floats compare as numbers
        assert verdicts(checks, record(0, outputs), KEY) == [ok], outputs


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (2.0, 2),
        (True, 1),
        (1, True),
        ([1, 2], (1, 2)),
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"b": [1, (2,)], "a": 1}, {"a": 1, "b": [1, (2,)]}),
        ("x", "x"),
        (None, None),
        ([1, [2.5, "a"]], [1, [2.5, "a"]]),
    ],
)
def test_same_is_the_comparison_of_the_hidden_test_files(actual, expected):
    assert same(actual, expected) == harness._same(actual, expected)
