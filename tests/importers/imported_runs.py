"""What the import tests share: the CLI, run as a user runs it or in-process, and each
question's scores in an imported run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from hotmess.cli import main
from hotmess.scoring import load_episodes, score_episodes


def hotmess(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`hotmess ARGS` as a user runs it: a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "hotmess", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`hotmess ARGS` through the console script's `main`, in this process: the same exit
    code and output, without a second import of Inspect (seconds on a loaded machine)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def per_question(run: Path) -> dict[str, dict[str, Any]]:
    """Each question's score rows (metric -> row), keyed by its Inspect sample id: every
    task scored as a cell of its own, through hotmess's scoring."""
    task_ids = json.loads((run / "sweep.json").read_text())["config"]["task_ids"]
    episodes = load_episodes(run, keep_steps=False)
    rows: dict[str, dict[str, Any]] = {}
    for seed in {e["task_seed"] for e in episodes}:
        mine = [e for e in episodes if e["task_seed"] == seed]
        sample_id = task_ids.get(str(seed), str(seed))
        rows[sample_id] = {row.metric: row for row in score_episodes(mine)}
    return rows
