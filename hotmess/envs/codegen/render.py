"""Rendering a generated function: its source with the spec as a docstring, the visible
pytest tests an agent sees, and the hidden test files that score it."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from importlib import resources
from typing import Any

from hotmess.envs.codegen.functions import Case, GeneratedFunction
from hotmess.envs.grading import Check


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


#: The top of every hidden test file: the harness module `harness.py`, verbatim. The hidden
#: test files are the readable record of a task's hidden tests (pinned, with the task, by
#: its fingerprint) and run on their own with HIDDEN_FILE_RUNNER; scoring never sends them
#: into a sandbox: it grades `hidden_checks`, the same cases as data (see envs/grading.py).
HIDDEN_HEADER = (
    resources.files("hotmess.envs.codegen").joinpath("harness.py").read_text(encoding="utf-8")
).rstrip("\n")


def hidden_checks(module: str, functions: Sequence[GeneratedFunction]) -> list[Check]:
    """The checks `hidden_tests` asserts, as data: one per function, `test_<name>`."""
    return [
        Check(
            f"test_{f.name}",
            module,
            f.name,
            tuple(tuple(case.args) for case in f.cases),
            tuple(case.expected for case in f.cases),
        )
        for f in functions
    ]


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


#: Runs hidden test files without pytest, outside the scoring path (to check a task on the
#: host): `python3 -I runner.py ROOT SECONDS FILE...` with a nonce on stdin, each test under
#: an alarm; prints one JSON line of verdicts after `HMRESULT <nonce> `.
HIDDEN_FILE_RUNNER = textwrap.dedent(
    """
    import importlib.util, json, signal, sys, traceback
    nonce = sys.stdin.readline().strip()  # not in argv, where /proc/<pid>/cmdline would show it
    root, per_test = sys.argv[1], float(sys.argv[2])
    sys.path.insert(0, root)
    results = {}

    def alarm(signum, frame):
        raise TimeoutError("test took too long")

    signal.signal(signal.SIGALRM, alarm)
    for path in sys.argv[3:]:
        spec = importlib.util.spec_from_file_location("hidden_" + str(len(results)), path)
        module = importlib.util.module_from_spec(spec)
        try:
            signal.setitimer(signal.ITIMER_REAL, per_test * 4)
            spec.loader.exec_module(module)
            signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException:
            signal.setitimer(signal.ITIMER_REAL, 0)
            print("import of", path, "failed:", traceback.format_exc(limit=2), file=sys.stderr)
            continue
        for name in sorted(n for n in vars(module) if n.startswith("test_")):
            try:
                signal.setitimer(signal.ITIMER_REAL, per_test)
                getattr(module, name)()
                results[name] = True
            except BaseException:
                results[name] = False
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stdout.write("\\nHMRESULT " + nonce + " " + json.dumps(results) + "\\n")
    """
)
