"""What the import tests share: the CLI, run as a user runs it or in-process, and each
question's scores in an imported run."""

from __future__ import annotations

import io
import json
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hotmess.cli import main


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`hotmess ARGS` through the console script's `main`, in this process: the same exit
    code and output, without a second import of Inspect (seconds on a loaded machine)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def per_question(run: Path) -> dict[str, dict[str, Any]]:
    """Each question's score rows (metric -> row), keyed by its Inspect sample id, as
    `hotmess score --per-task --json` prints them: every task scored on its own."""
    result = cli("score", run, "--per-task", "--json")
    assert result.returncode == 0, result.stderr
    rows: dict[str, dict[str, Any]] = {}
    for data in json.loads(result.stdout):
        rows.setdefault(data["task"], {})[data["metric"]] = SimpleNamespace(**data)
    return rows
