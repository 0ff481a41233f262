"""The hidden-test harness (`hotmess/envs/codegen/harness.py`, the top of every hidden test
file), on the host: run on a tiny package in a temp dir, directly and inside a whole hidden
test file under the sandbox's runner, for functions that pass, fail, crash and hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotmess.envs.codegen import HIDDEN_FILE_RUNNER as HIDDEN_RUNNER
from hotmess.envs.codegen import HIDDEN_HEADER, Case, GeneratedFunction, harness, hidden_tests

TOOLS = '''
import os
import subprocess


def double(x):
    return 2 * x


def off_by_one(x):
    return 2 * x + 1


def crash(x):
    raise ValueError(x)


def opaque(x):
    return object()


def forge(x):
    """Prints a line that looks like the harness's verdict before its real output."""
    print("@@outputs", repr([repr(99)]))
    return 2 * x


def hang(x):
    """Starts a process of its own (in the harness child's process group), then loops."""
    child = subprocess.Popen(["sleep", "300"])
    with open("sleeper.pid", "w") as f:
        f.write(str(child.pid))
    while True:
        pass
'''


def write_package(root):
    """A tiny package `pkg.tools` in `root`, the workdir of the agent's code."""
    (root / "pkg").mkdir()
    (root / "pkg/__init__.py").write_text("")
    (root / "pkg/tools.py").write_text(TOOLS)


@pytest.fixture
def package(tmp_path, monkeypatch):
    """The tiny package, in a temp dir the harness imported here takes as the workdir."""
    write_package(tmp_path)
    monkeypatch.setattr(harness, "_ROOT", str(tmp_path))
    return tmp_path


def probe(name, cases):
    """A generated function named `name` with `cases` as (argument, expected) pairs."""
    return GeneratedFunction(
        name, "probe", "x", "int", "", (), "", (), (), tuple(Case((x,), y) for x, y in cases)
    )


def run_hidden(root, functions):
    """The hidden test file for `pkg.tools` and `functions`, run as the sandbox runs it."""
    (root / "hidden").mkdir()
    (root / "hidden/test_tools.py").write_text(hidden_tests("pkg.tools", functions))
    (root / "hidden/runner.py").write_text(HIDDEN_RUNNER)
    run = subprocess.run(
        [sys.executable, "-I", "hidden/runner.py", str(root), "20", "hidden/test_tools.py"],
        input="nonce\n",
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    return json.loads(run.stdout.split("HMRESULT nonce ")[1])


def test_the_hidden_header_is_the_harness_module_verbatim():
    source = Path(harness.__file__).read_text(encoding="utf-8")
    assert source == HIDDEN_HEADER + "\n"
    assert hidden_tests("pkg.tools", []).startswith(HIDDEN_HEADER)


def test_outputs_come_back_as_literals(package):
    assert harness._outputs("pkg.tools", "double", [(1,), (-4,), ("ab",)]) == [2, -8, "abab"]
    assert harness._outputs("pkg.tools", "off_by_one", [(1,)]) == [3]


def test_a_raise_a_non_literal_or_a_missing_function_is_raised_and_equals_nothing(package):
    for name in ("crash", "opaque", "no_such_function"):
        outputs = harness._outputs("pkg.tools", name, [(1,), (2,)])
        assert len(outputs) == 2
        assert all(isinstance(output, harness._Raised) for output in outputs), name
        assert not any(harness._same(output, 2) for output in outputs)


def test_printing_a_fake_verdict_line_does_not_change_the_outputs(package):
    assert harness._outputs("pkg.tools", "forge", [(1,), (5,)]) == [2, 10]


def test_a_module_that_does_not_import_fails_every_call(package):
    (package / "pkg/broken.py").write_text("def double(x):\n    return (\n")
    outputs = harness._outputs("pkg.broken", "double", [(1,)])
    assert len(outputs) == 1 and isinstance(outputs[0], harness._Raised)


def test_a_hidden_file_passes_correct_functions_and_fails_wrong_or_crashing_ones(tmp_path):
    write_package(tmp_path)
    twice = [(1, 2), (0, 0), (-3, -6)]
    results = run_hidden(
        tmp_path,
        [
            probe("double", twice),
            probe("off_by_one", twice),
            probe("crash", twice),
            probe("opaque", twice),
            probe("forge", [(1, 99)]),
            probe("no_such_function", twice),
        ],
    )
    assert results == {
        "test_double": True,
        "test_off_by_one": False,
        "test_crash": False,
        "test_opaque": False,
        "test_forge": False,
        "test_no_such_function": False,
    }


def _gone_or_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.slow
def test_a_hanging_function_fails_and_its_process_group_is_killed(tmp_path):
    """The harness gives a function's calls 8 s, then kills the child's whole process group:
    nothing the agent's code started outlives its test."""
    write_package(tmp_path)
    results = run_hidden(tmp_path, [probe("hang", [(1, 2)]), probe("double", [(1, 2)])])
    assert results == {"test_hang": False, "test_double": True}
    pid = int((tmp_path / "sleeper.pid").read_text())
    try:
        # SIGKILL is delivered before killpg returns; the kernel may take a moment to reap.
        for _ in range(100):
            if _gone_or_zombie(pid):
                break
            time.sleep(0.05)
        assert _gone_or_zombie(pid), "the hanging function's grandchild outlived its test"
    finally:
        if not _gone_or_zombie(pid):
            os.kill(pid, 9)
