"""`hotmess ARGS` as a user runs it, for the tests: a subprocess with no standard input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def hotmess(
    *args: str | Path, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotmess", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )
