"""Sweep progress for the command line: a rich display on a terminal, timestamped plain
lines for logs (CI, `nohup`, a pipe), or nothing."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from hotmess.runner.cells import Finished

MODES = ("auto", "rich", "plain", "quiet")


class Tally:
    """Running totals of the episodes this call has finished."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.total = 0
        self.todo = 0
        self.done = 0
        self.tokens = 0
        self.cost = 0.0
        self.unpriced = False
        self.infra_errors = 0
        self.agent_errors = 0

    def add(self, done: Finished) -> None:
        self.done += 1
        self.infra_errors += done.infra_error is not None
        self.tokens += done.tokens
        self.agent_errors += done.agent_errors
        self.unpriced |= done.unpriced
        self.cost += done.cost

    @property
    def rate(self) -> float:
        """Episodes per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        rate = self.rate
        return (self.todo - self.done) / rate if rate > 0 and self.todo >= self.done else None

    def money(self) -> str:
        return f"${self.cost:.4f}" + ("+?" if self.unpriced else "")

    def line(self) -> str:
        eta = self.eta()
        share = f" ({100 * self.done / self.todo:.1f}%)" if self.todo else ""
        return (
            f"{self.done}/{self.todo} episodes{share}, {self.rate:.2f}/s, "
            f"ETA {_duration(eta) if eta is not None else '?'}, tokens {self.tokens:,}, "
            f"cost {self.money()}, infra errors {self.infra_errors}, agent errors {self.agent_errors}"
        )


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class _TallyColumn(ProgressColumn):
    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self.tally = tally

    def render(self, task: Task) -> Text:
        t = self.tally
        errors = t.infra_errors + t.agent_errors
        return Text(
            f"{t.rate:.2f} ep/s  {t.tokens:,} tok  {t.money()}  {errors} err",
            style="red" if t.infra_errors else "",
        )


class SweepProgress:
    """`with SweepProgress(mode) as p: run_sweep(..., on_plan=p.plan, on_episode=p.episode)`."""

    def __init__(
        self,
        mode: str = "auto",
        console: Console | None = None,
        stream: TextIO | None = None,
        interval: float = 10.0,
    ) -> None:
        self.console = console or Console()
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "rich" if self.console.is_terminal else "plain"
        self.mode = mode
        self.interval = interval
        self.tally = Tally()
        self._last = 0.0
        self._progress: Progress | None = None
        self._bar: Any = None

    def __enter__(self) -> SweepProgress:
        if self.mode == "rich":
            self._progress = Progress(
                TextColumn("episodes"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                _TallyColumn(self.tally),
                console=self.console,
            )
            self._progress.__enter__()
            self._bar = self._progress.add_task("episodes", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
        elif self.mode == "plain" and self.tally.done:
            self._log()

    def plan(self, total: int, todo: int) -> None:
        self.tally.total, self.tally.todo = total, todo
        if self._progress is not None:
            self._progress.update(self._bar, total=todo)
        elif self.mode == "plain":
            self._log(f"planned {total} episodes, {todo} to run")

    def episode(self, done: Finished) -> None:
        self.tally.add(done)
        if self._progress is not None:
            self._progress.update(self._bar, completed=self.tally.done)
        elif self.mode == "plain":
            now = time.monotonic()
            if now - self._last >= self.interval or self.tally.done == self.tally.todo:
                self._log()

    def _log(self, text: str | None = None) -> None:
        self._last = time.monotonic()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {text or self.tally.line()}", file=self.stream, flush=True)
