"""Warm sandboxes: a small pool per episode runner that starts the next episodes' sandboxes
on background threads while the current episode runs, and closes used ones in the
background too. Each sandbox is handed out once, untouched, to an episode whose spec matches.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from hotmess.sandbox import Sandbox, create, lifecycle

#: Backends worth warming: their start-up is most of a short episode's time.
WARM_KINDS = frozenset({"docker", "bwrap"})
#: Specs the pool keeps sandboxes for at once; the least recently taken one goes first.
MAX_SPECS = 4

Spec = tuple[str, tuple[tuple[str, Any], ...]]


def spec_of(kind: str, options: dict[str, Any]) -> Spec:
    """What a sandbox must have been made with to serve a request: its backend and every
    option (image, limits, network, time-outs, run label), compared exactly."""
    return kind, tuple(sorted((name, repr(value)) for name, value in options.items()))


class WarmSandboxes:
    """A `SandboxSource` that keeps `size` sandboxes per spec starting or ready.

    `take` hands out the oldest warm sandbox of the requested spec (waiting for it if it is
    still starting: never longer than starting one now) and starts its replacement; a spec
    it has none of, or a warm one that failed to start or whose shell died meanwhile, gets a
    new sandbox made on the caller's thread, exactly as without the pool. `give_back` closes
    on a background thread. `close` (also run by the lifecycle's exit and signal hooks, via
    `lifecycle.track`) stops the starts, waits for those under way and closes everything.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a warm pool needs a size of at least 1, got {size}")
        self.size = size
        self.warm: OrderedDict[Spec, deque[Future[Sandbox]]] = OrderedDict()
        self.starts = ThreadPoolExecutor(max_workers=size, thread_name_prefix="hotmess-warm")
        self.closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotmess-close")
        self.lock = threading.Lock()
        self.closed = False
        self.errors: list[str] = []
        """Why background closes failed (the janitor removes what they left)."""
        self.hits = self.misses = 0
        lifecycle.track(self)

    def take(self, kind: str, options: dict[str, Any]) -> Sandbox:
        if kind not in WARM_KINDS:
            return create(kind, **options)
        spec = spec_of(kind, options)
        with self.lock:
            if self.closed:
                queue: deque[Future[Sandbox]] = deque()
            else:
                queue = self.warm.pop(spec, deque())
                self.warm[spec] = queue  # most recently used last
                while len(self.warm) > MAX_SPECS:
                    _, stale = self.warm.popitem(last=False)
                    for future in stale:
                        future.add_done_callback(self._discard)
            ahead = queue.popleft() if queue else None
            self._refill(spec, kind, options, queue)
        box = self._ready(ahead)
        if box is None:
            self.misses += 1
            return create(kind, **options)
        self.hits += 1
        begin = getattr(box, "begin_episode", None)
        if callable(begin):
            begin()
        return box

    def _refill(
        self, spec: Spec, kind: str, options: dict[str, Any], queue: deque[Future[Sandbox]]
    ) -> None:
        """Start sandboxes of `spec` until `size` are starting or ready (lock held)."""
        while not self.closed and len(queue) < self.size:
            try:
                queue.append(self.starts.submit(create, kind, **options))
            except RuntimeError:  # the thread pool shut down: the process is leaving
                return

    def _ready(self, future: Future[Sandbox] | None) -> Sandbox | None:
        """The sandbox `future` made, if it started and its shell is still alive."""
        if future is None:
            return None
        try:
            box = future.result()
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C while waiting: close it once made
                future.add_done_callback(self._discard)
                raise
            return None  # made again on the caller's thread, which reports the error as before
        shell = getattr(box, "shell", None)
        if getattr(box, "closed", False) or (shell is not None and not shell.alive):
            self.give_back(box)
            return None
        return box

    def give_back(self, sandbox: Sandbox) -> None:
        with self.lock:
            if not self.closed:
                try:
                    self.closer.submit(self._close, sandbox)
                    return
                except RuntimeError:
                    pass
        self._close(sandbox)

    def _close(self, sandbox: Sandbox) -> None:
        try:
            sandbox.close()
        except Exception as exc:  # the sweep goes on; the janitor removes what is left
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _discard(self, future: Future[Sandbox]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._close(future.result())

    def close(self) -> None:
        """Stop starting sandboxes, close the warm ones and wait for every close."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            queues, self.warm = list(self.warm.values()), OrderedDict()
        lifecycle.untrack(self)
        for queue in queues:
            for future in queue:
                if not future.cancel():
                    future.add_done_callback(self._discard)
        self.starts.shutdown(wait=True)
        self.closer.shutdown(wait=True)
        if self.errors:
            warnings.warn(
                f"{len(self.errors)} sandbox(es) did not close cleanly ({self.errors[0]}); "
                "run `hotmess janitor` to remove what they left",
                RuntimeWarning,
                stacklevel=2,
            )

    def __enter__(self) -> WarmSandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
