"""Telling a real Ctrl-C from a `KeyboardInterrupt` an agent raised: the runner's own SIGINT
handlers note the signal here, and the episode loop treats any other one as the agent's."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from hotmess.sandbox import lifecycle

_received = threading.Event()


def note_sigint() -> None:
    """Record that this process got SIGINT (called by the runner's signal handlers)."""
    _received.set()


def forget_sigint() -> None:
    """The Ctrl-C noted is dealt with (its sweep or run is over)."""
    _received.clear()


def is_real_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is a Ctrl-C of the process, not a KeyboardInterrupt some code raised,
    or the SystemExit of a SIGTERM the sandbox lifecycle turned into one."""
    if isinstance(exc, SystemExit):
        return lifecycle.terminating()
    return isinstance(exc, KeyboardInterrupt) and _received.is_set()


@contextlib.contextmanager
def sigint_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual, noted as real (for `hotmess run`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        note_sigint()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        forget_sigint()
