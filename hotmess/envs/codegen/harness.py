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
