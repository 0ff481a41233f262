"""Nothing leaks: every sandbox is labelled with its owner (PID and process start time, so
a reused PID is not mistaken for the owner), closed on normal exit, on an exception, on
SIGINT and SIGTERM, and found by the janitor after a SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing.util
import os
import signal
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

#: Prefix of every host directory a sandbox makes; the owner is encoded after it.
TMP_PREFIX = "hotmess-sbx-"

_live: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_hooks_installed = False


class _Closable(Protocol):
    def close(self) -> None: ...


def process_start_time(pid: int) -> str | None:
    """The start time of `pid` in clock ticks since boot, None if it is not running. A
    zombie (dead, not yet reaped by its parent) is not running: a sweep killed under a
    parent that reaps late must not keep its workers and sandboxes alive meanwhile."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):  # field 3 of stat: the state
            return None
        return fields[19]  # field 22 of stat; counted after the ")" that ends comm
    except (OSError, IndexError):
        return None


def owner() -> dict[str, str]:
    """Who owns sandboxes made by this process."""
    pid = os.getpid()
    return {"pid": str(pid), "start": process_start_time(pid) or "0", "host": socket.gethostname()}


def owner_alive(pid: str, start: str, host: str) -> bool:
    """Whether the process that made a sandbox still runs (always True for other hosts:
    their sandboxes are theirs to clean)."""
    if host != socket.gethostname():
        return True
    try:
        return process_start_time(int(pid)) == start
    except ValueError:
        return False


def make_tmp_dir() -> Path:
    """A host directory for one sandbox, named for its owner so the janitor can tell."""
    me = owner()
    path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{me['pid']}-{me['start']}-"))
    path.chmod(0o711)  # traversable by the sandbox user, listable by no one else
    return path


def parse_tmp_dir(name: str) -> tuple[str, str] | None:
    """(pid, start) from a sandbox directory name."""
    if not name.startswith(TMP_PREFIX):
        return None
    parts = name[len(TMP_PREFIX) :].split("-")
    return (parts[0], parts[1]) if len(parts) >= 3 else None


def track(sandbox: _Closable) -> None:
    """Close `sandbox` at interpreter exit and on SIGTERM, if its owner did not."""
    global _hooks_installed
    with _lock:
        _live.add(sandbox)
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(close_all)
    # Pool workers leave through os._exit, which skips atexit; multiprocessing's
    # finalizers still run.
    multiprocessing.util.Finalize(None, close_all, exitpriority=100)
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _terminate)


_creating = 0
_abandoned = False


@contextlib.contextmanager
def creating() -> Iterator[None]:
    """Wrap the making of a sandbox up to its `track`: `abandon` waits for it to finish,
    so a sandbox half made when its process must go is closed, not leaked."""
    global _creating
    with _lock:
        if _abandoned:
            raise RuntimeError("this process is shutting down: no new sandbox")
        _creating += 1
    try:
        yield
    finally:
        with _lock:
            _creating -= 1


def abandon(timeout: float = 30.0) -> None:
    """Refuse new sandboxes, wait (up to `timeout` s) for those being made, close them all.
    For a worker whose sweep died: it leaves right after, without unwinding."""
    global _abandoned
    with _lock:
        _abandoned = True
    deadline = time.monotonic() + timeout
    while _creating and time.monotonic() < deadline:
        time.sleep(0.05)
    close_all()


def untrack(sandbox: _Closable) -> None:
    with _lock:
        _live.discard(sandbox)


def close_all() -> None:
    """Close every sandbox this process still has open."""
    with _lock:
        live = list(_live)
    for sandbox in live:
        try:
            sandbox.close()
        except Exception:  # closing the rest matters more than one failure here
            pass


_terminating = threading.Event()


def terminating() -> bool:
    """Whether this process got SIGTERM (its `SystemExit` is the signal's, not an agent's)."""
    return _terminating.is_set()


def _terminate(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C does, so `with` blocks and `finally` clauses close sandboxes.
    _terminating.set()
    raise SystemExit(128 + signum)
