"""Supervised workers: the `serial` and `threads` executors run their episodes in one child
process that the sweep's process watches and alone writes the store for, so an agent that
kills its process (`os._exit`, a signal, a segfault) loses its own episode, never the sweep.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from typing import Any

import gymnasium as gym

from hotmess.runner.cells import Cell, EpisodeRunner, Finished, episode_record, failed_episode
from hotmess.sandbox import lifecycle

IN_PROCESS_ENV = "HOTMESS_IN_PROCESS"
"""Set to 1 to run `serial` and `threads` episodes in the sweep's own process (a debugger in
`act()` works there; an agent's `os._exit` ends the sweep)."""

WORKER_DIED = (
    "the worker process running this episode died twice on its own (os._exit, a signal or "
    "a crash caused by the agent's code)"
)

Stop = Callable[[], bool]


class WorkerDied(Exception):
    """The worker process ended without being asked to; `lost` are the cells it held."""

    def __init__(self, lost: list[Cell], exitcode: int | None) -> None:
        super().__init__(f"worker died (exit code {exitcode}) holding {len(lost)} episode(s)")
        self.lost = lost


class Unsupervisable(Exception):
    """The worker cannot load what the sweep runs (an env or agent defined in `__main__`
    or registered at run time from a module it cannot import)."""


class Worker:
    """One forkserver child running up to `slots` episodes at once (a thread each when
    `slots` > 1). The parent knows every cell it holds, so nothing is lost unknown."""

    def __init__(self, slots: int, cells: Sequence[Cell], warm: int = 0) -> None:
        context = multiprocessing.get_context("forkserver")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, slots, lifecycle.owner(), warm), name="hotmess-episodes"
        )
        with _main_not_rerun():
            self.process.start()
        child.close()
        self.slots = slots
        self.held: dict[int, Cell] = {}
        self.ids = itertools.count()
        self._set_up(cells)

    def _set_up(self, cells: Sequence[Cell]) -> None:
        """Hand the child this process's environment and the Gymnasium specs of the envs
        registered here at run time; it answers once it can load every env and agent."""
        envs = sorted({cell.env for cell in cells})
        specs = [gym.registry[env] for env in envs if env in gym.registry]
        agents = sorted({cell.agent for cell in cells})
        try:
            self.conn.send((dict(os.environ), specs, envs, agents))
            kind, _, detail = self._receive()
        except WorkerDied as died:
            raise Unsupervisable(str(died)) from None
        except Exception as exc:  # a spec that does not pickle: a class made at run time
            self.close(abandon=True)
            raise Unsupervisable(f"{type(exc).__name__}: {exc}") from None
        if kind != "ready":
            self.close()
            raise Unsupervisable(detail)

    @property
    def busy(self) -> int:
        return len(self.held)

    def submit(self, cell: Cell) -> None:
        index = next(self.ids)
        self.held[index] = cell
        self.conn.send((index, cell))

    def next(self) -> Finished:
        """The next finished episode; raises WorkerDied with the cells still held."""
        kind, index, payload = self._receive()
        del self.held[index]
        if kind == "raise":  # a HotmessError (bad key, image, option) or a bug: stop the sweep
            raise payload
        return payload  # type: ignore[no-any-return]

    def _receive(self) -> tuple[str, Any, Any]:
        while True:
            ready = wait([self.conn, self.process.sentinel])
            if self.conn in ready:
                try:
                    return self.conn.recv()  # type: ignore[no-any-return]
                except (EOFError, OSError):
                    break
            if not self.conn.poll():
                break  # ended, and nothing it sent is left to read
        self.process.join()
        self.conn.close()
        raise WorkerDied(list(self.held.values()), self.process.exitcode)

    def close(self, abandon: bool = False) -> None:
        """Stop the child: let it close its sandboxes, or with `abandon` (episodes still in
        flight, a second Ctrl-C) terminate it; SIGTERM closes its sandboxes too."""
        if self.process.exitcode is None:
            if abandon or self.held:
                self.process.terminate()
            else:
                with contextlib.suppress(OSError):
                    self.conn.send(None)
            self.process.join(60)
            if self.process.exitcode is None:
                self.process.kill()
                self.process.join()
        self.conn.close()


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Start the child without running the user's main module again (multiprocessing would,
    as `__mp_main__`: a script without an `if __name__ == "__main__"` guard would start its
    sweep over). Envs and agents defined in `__main__` then fail the set-up: in process."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _serve(conn: Connection, slots: int, parent: dict[str, str], warm: int = 0) -> None:
    """Child side: set up, then run cells as they come and send back each result; each
    episode slot keeps `warm` sandboxes starting ahead (`hotmess.runner.warm`)."""
    from hotmess.runner.executors import _die_with_parent  # the pool's workers do the same

    _die_with_parent(parent)
    signal.signal(signal.SIGTERM, _abandon)
    if not _ready(conn):
        return
    send_lock = threading.Lock()
    local = threading.local()
    runners: list[EpisodeRunner] = []

    def run(index: int, cell: Cell) -> None:
        runner = getattr(local, "runner", None)
        if runner is None:
            runner = local.runner = EpisodeRunner(warm)
            runners.append(runner)
        try:
            message: tuple[str, int, Any] = ("done", index, Finished.of(runner.run(cell), False))
        except BaseException as exc:  # the parent decides what it means; this carries it
            message = ("raise", index, _portable(exc))
        with send_lock:
            conn.send(message)

    threads = ThreadPoolExecutor(slots, thread_name_prefix="episode") if slots > 1 else None
    try:
        while (request := conn.recv()) is not None:
            if threads is None:
                run(*request)
            else:
                threads.submit(run, *request)
    except EOFError:
        pass  # the parent went away; the watchdog ends this process
    finally:
        if threads is not None:
            threads.shutdown(wait=True)
        for runner in runners:
            runner.close()


def _abandon(signum: int, frame: object) -> None:
    """SIGTERM from the parent (episodes abandoned): close every sandbox and leave now,
    without finishing the episode in flight. A thread does it, so a lock the interrupted
    code holds is released before it is needed."""

    def leave() -> None:
        lifecycle.abandon()
        os._exit(128 + signum)

    threading.Thread(target=leave, name="hotmess-abandon", daemon=True).start()


def _ready(conn: Connection) -> bool:
    """Take the parent's environment and env specs; say whether every env and agent loads."""
    from hotmess.agents.registry import AgentSpec, resolve_class
    from hotmess.envs import env_class

    try:
        environ, specs, envs, agents = conn.recv()
        os.environ.clear()
        os.environ.update(environ)
        for spec in specs:
            if spec.id not in gym.registry:
                gym.registry[spec.id] = spec
        for env in envs:
            env_class(env)
        for agent in agents:
            resolve_class(AgentSpec.parse(agent))
    except Exception as exc:
        conn.send(("unavailable", None, "".join(traceback.format_exception_only(exc)).strip()))
        return False
    conn.send(("ready", None, None))
    return True


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a RuntimeError carrying its traceback."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        text = "".join(traceback.format_exception(exc))
        return RuntimeError(f"the episode worker failed:\n{text}")


class Supervised:
    """Runs cells on a supervised Worker with `slots` in flight; when the worker dies, its
    sandboxes are cleaned up, it restarts, and the cells it held run again one at a time in
    a worker of their own; a cell that kills that worker too is the agent's failure.

    `in_process` runs cells in this process instead: when IN_PROCESS_ENV asks for it, or
    when the worker cannot load the sweep's envs or agents (said once on stderr)."""

    def __init__(
        self,
        slots: int,
        clean: Callable[[Sequence[Cell]], None],
        in_process: Callable[[Sequence[Cell], Stop], Iterator[Finished]],
        warm: int = 0,
    ) -> None:
        self.slots = slots
        self.warm = warm
        self.clean = clean
        self.in_process = in_process
        self.supervised = supervise_wanted()
        self.worker: Worker | None = None

    def run(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        if not cells or stop():
            return
        if self.supervised and self.worker is None:
            try:
                self.worker = Worker(self.slots, cells, self.warm)
            except Unsupervisable as exc:
                self.supervised = False
                warn_unsupervised(f"the episode worker cannot load them: {exc}")
        if not self.supervised:
            yield from self.in_process(cells, stop)
            return
        yield from self._supervised(cells, stop)

    def _supervised(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        todo = collections.deque(cells)
        started = False

        def fill(worker: Worker) -> None:
            # The first cell goes without asking `stop()` again: it was asked before the
            # worker's start, whose time a wall-clock budget must not spend on nothing.
            nonlocal started
            while todo and worker.busy < self.slots and (not started or not stop()):
                started = True
                worker.submit(todo.popleft())

        while self.worker is not None or (todo and not stop()):
            worker = self.worker = self.worker or Worker(self.slots, cells, self.warm)
            fill(worker)
            if not worker.busy:
                return
            try:
                done = worker.next()
            except WorkerDied as died:
                self.worker = None
                self.clean(died.lost)
                # One cell in flight: it ran alone already, so one more try is its retry.
                tries = 1 if len(died.lost) == 1 else 2
                for cell in died.lost:
                    if stop():
                        break
                    yield self._alone(cell, tries)
                continue
            yield done

    def _alone(self, cell: Cell, tries: int) -> Finished:
        for _ in range(tries):
            solo = Worker(1, [cell])
            solo.submit(cell)
            try:
                done = solo.next()
            except WorkerDied:
                self.clean([cell])
                continue
            solo.close()
            return done
        return Finished.of(episode_record(cell, failed_episode(cell, WORKER_DIED)))

    def close(self) -> None:
        if self.worker is not None:
            abandoned = list(self.worker.held.values())
            self.worker.close()
            self.worker = None
            if abandoned:  # terminated mid-episode: whatever it could not close goes now
                self.clean(abandoned)


def supervise_wanted() -> bool:
    """Whether serial and threads episodes run in a supervised worker (the default)."""
    return os.environ.get(IN_PROCESS_ENV, "") not in ("1", "true", "yes")


def warn_unsupervised(reason: str) -> None:
    print(
        f"hotmess: running episodes in this process ({reason}); an agent that calls "
        "os._exit here ends the sweep",
        file=sys.stderr,
        flush=True,
    )
