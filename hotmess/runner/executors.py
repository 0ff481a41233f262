"""Executors: where a sweep's episodes run. Each takes cells and yields finished episodes
(`Finished`: the store line plus a summary) back to the one process that writes the run store.

- `serial`: one episode at a time in this process.
- `pool`: a local process pool (`--workers N`), for CPU-bound and sandboxed envs.
- `threads`: many episodes in flight in this process (`--concurrency N`), for agents that
  spend their time waiting on an API. A thread pool: agents make blocking HTTP calls, which
  release the GIL; requests to each provider endpoint stay capped by the agent's
  `concurrency` option, which is process-wide here. (Once called `async`, still accepted.)
- `ray`: Ray actors on a local or remote Ray cluster (`--ray-address`), for sweeps across
  machines; results come back to the driver, which alone writes the store.

Every executor checks `stop()` before it starts another episode and still hands back the
episodes already running, so a budget or Ctrl-C loses nothing that finished. Each episode
slot (this process, a worker, a thread, an actor) keeps `warm` sandboxes starting ahead of
its next episodes (`hotmess.runner.warm`).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from typing import Any, get_args

from hotmess.errors import ConfigError
from hotmess.runner.cells import Cell, EpisodeRunner, Finished, episode_record, failed_episode
from hotmess.runner.config import ExecutorName, canonical_executor
from hotmess.runner.supervise import WORKER_DIED, Supervised, supervise_wanted
from hotmess.sandbox import lifecycle
from hotmess.sandbox.janitor import janitor

EXECUTORS: tuple[str, ...] = get_args(ExecutorName)

Stop = Callable[[], bool]


class Executor:
    """Runs cells; a context manager that releases its workers on exit."""

    name = "executor"

    def run(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers, envs and sandboxes."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """One episode at a time, in a supervised worker process (hotmess/runner/supervise.py)."""

    name = "serial"

    def __init__(self, warm: int = 0) -> None:
        self.runner = EpisodeRunner(warm)
        self.supervised = Supervised(1, _clean_after_death, self._in_process, warm)

    def run(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        return self.supervised.run(cells, stop)

    def _in_process(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        for cell in cells:
            if stop():
                return
            yield Finished.of(self.runner.run(cell))

    def close(self) -> None:
        self.supervised.close()
        self.runner.close()


def batch_size(n_cells: int, workers: int, fine: bool) -> int:
    """Cells per task sent to a worker: batches amortise inter-process overhead for fast
    episodes while keeping every worker busy to the end; `fine` (a budget is set) sends
    one cell at a time so the sweep stops close to the budget."""
    if fine:
        return 1
    return max(1, min(32, n_cells // (workers * 8)))


def _batches(cells: Sequence[Cell], size: int) -> Iterator[list[Cell]]:
    for start in range(0, len(cells), size):
        yield list(cells[start : start + size])


_worker_runner: EpisodeRunner | None = None
_worker_warm = 0


def _start_worker(parent: dict[str, str], warm: int) -> None:
    """Pool worker start-up: die with the sweep, and keep `warm` sandboxes ready."""
    global _worker_warm
    _worker_warm = warm
    _die_with_parent(parent)


def _die_with_parent(parent: dict[str, str] | None = None) -> None:
    """Worker start-up: when the sweep's process dies, even by SIGKILL, close this worker's
    sandboxes and exit, instead of outliving it.

    PR_SET_PDEATHSIG covers workers whose parent is the sweep; forkserver workers are the
    fork server's children, and it lives as long as they do, so a watchdog thread also
    checks on the sweep's process (pid and start time) twice a second.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    # Ctrl-C goes to the parent, which stops handing out work and waits for the episodes
    # in flight; the workers finish them instead of dying mid-episode.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        watch = threading.Thread(
            target=_watch_parent, args=(parent,), name="hotmess-parent-watch", daemon=True
        )
        watch.start()


def _watch_parent(parent: dict[str, str]) -> None:
    while lifecycle.owner_alive(parent["pid"], parent["start"], parent["host"]):
        time.sleep(0.5)
    lifecycle.abandon()  # including a sandbox being made this very moment
    os._exit(1)


def _run_batch(cells: list[Cell]) -> list[Finished]:
    """Worker side: run a batch of cells."""
    global _worker_runner
    if _worker_runner is None:
        _worker_runner = EpisodeRunner(_worker_warm)
    return [Finished.of(_worker_runner.run(cell), keep=False) for cell in cells]


class PoolExecutor(Executor):
    """A process pool. A worker that dies (an agent calling `os._exit`) breaks the pool: its
    sandboxes are cleaned up, the pool restarts, and the episodes it held run again one at a
    time in a worker of their own; one that kills that worker twice is the agent's failure."""

    name = "pool"

    def __init__(self, workers: int, fine: bool = False, warm: int = 0) -> None:
        self.workers = workers
        self.fine = fine
        self.warm = warm
        self.pool = _process_pool(workers, warm)

    def run(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        size = batch_size(len(cells), self.workers, self.fine)
        batches = _batches(cells, size)
        pending: dict[Future[list[Finished]], list[Cell]] = {}
        lost: list[Cell] = []

        def submit(count: int) -> None:
            for batch in itertools.islice(batches, count):
                if stop():
                    return
                pending[self.pool.submit(_run_batch, batch)] = batch

        # Two batches per worker hide the round trip; under a budget, one, so the sweep
        # stops at most one episode per worker past it.
        ahead = self.workers * (1 if self.fine else 2)
        submit(ahead)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                batch = pending.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool:
                    lost += batch  # every episode in flight is lost with the pool
                    continue
                yield from results
                if not lost:
                    submit(1)
            if lost and not pending:
                self._restart(lost)
                for cell in lost:
                    if stop():
                        break
                    yield _alone(cell)
                lost = []
                submit(ahead)

    def _restart(self, lost: Sequence[Cell]) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        _clean_after_death(lost)
        self.pool = _process_pool(self.workers, self.warm)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _process_pool(workers: int, warm: int = 0) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=_start_worker,
        initargs=(lifecycle.owner(), warm),
    )


def _alone(cell: Cell) -> Finished:
    """Run `cell` again in a worker of its own (the pool's death may have been another
    episode's doing): its episode, or the agent's failure if that worker dies twice."""
    for _ in range(2):
        solo = _process_pool(1)
        try:
            return solo.submit(_run_batch, [cell]).result()[0]
        except BrokenProcessPool:
            pass
        finally:
            solo.shutdown(wait=True)
        _clean_after_death([cell])
    return Finished.of(episode_record(cell, failed_episode(cell, WORKER_DIED)))


def _clean_after_death(cells: Sequence[Cell]) -> None:
    """Remove what dead workers left (containers, directories, cgroups: their owner is
    dead, so the janitor takes them)."""
    janitor(docker=any(cell.sandbox == "docker" for cell in cells))


class ThreadExecutor(Executor):
    """The `threads` executor: up to `concurrency` episodes in flight, on threads of one
    supervised worker process (hotmess/runner/supervise.py)."""

    name = "threads"

    def __init__(self, concurrency: int, warm: int = 0) -> None:
        self.concurrency = concurrency
        self.warm = warm
        self.threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="episode")
        self.local = threading.local()
        self.runners: list[EpisodeRunner] = []
        self.lock = threading.Lock()
        self.supervised = Supervised(concurrency, _clean_after_death, self._in_process, warm)

    def _run(self, cell: Cell) -> Finished:
        runner = getattr(self.local, "runner", None)
        if runner is None:
            runner = self.local.runner = EpisodeRunner(self.warm)
            with self.lock:
                self.runners.append(runner)
        return Finished.of(runner.run(cell))

    def run(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        return self.supervised.run(cells, stop)

    def _in_process(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        todo = iter(cells)
        pending: set[Future[Finished]] = set()

        def submit(count: int) -> None:
            for cell in itertools.islice(todo, count):
                if stop():
                    return
                pending.add(self.threads.submit(self._run, cell))

        submit(self.concurrency)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                submit(1)

    def close(self) -> None:
        self.supervised.close()
        self.threads.shutdown(wait=True, cancel_futures=True)
        for runner in self.runners:
            runner.close()
        self.runners.clear()


class _EpisodeActor:
    """A Ray actor holding one EpisodeRunner (its envs, agents and sandboxes)."""

    def __init__(self, warm: int = 0) -> None:
        _die_with_parent()
        self.runner = EpisodeRunner(warm)

    def run_batch(self, cells: list[Cell]) -> list[Finished]:
        return [Finished.of(self.runner.run(cell), keep=False) for cell in cells]

    def close(self) -> None:
        self.runner.close()


class RayExecutor(Executor):
    """Episodes on Ray actors, one per CPU of the cluster (or `workers`)."""

    name = "ray"

    def __init__(
        self, address: str | None, workers: int | None, fine: bool = False, warm: int = 0
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'hotmess[ray]'") from None
        self.ray: Any = ray
        self.fine = fine
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            if address is not None:
                _probe(address)
            try:
                ray.init(
                    address=address,
                    # A local Ray gets as many CPUs as workers asked for (default: all).
                    num_cpus=workers if address is None else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except ConnectionError as exc:
                raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, workers or cpus)
        actor: Any = ray.remote(num_cpus=1)(_EpisodeActor)
        self.warm = warm
        self.actors = [actor.remote(warm) for _ in range(self.workers)]
        self.replaced: dict[Any, Any] = {}
        """Dead actor -> the one made in its place."""

    def run(self, cells: Sequence[Cell], stop: Stop) -> Iterator[Finished]:
        ray = self.ray
        size = batch_size(len(cells), self.workers, self.fine)
        batches = _batches(cells, size)
        owner: dict[Any, Any] = {}
        held: dict[Any, list[Cell]] = {}

        def submit(actor: Any) -> None:
            if stop():
                return
            for batch in itertools.islice(batches, 1):
                ref = actor.run_batch.remote(batch)
                owner[ref], held[ref] = actor, batch

        for actor in self.actors:  # two batches per actor keep it busy between round trips
            submit(actor)
            if not self.fine:
                submit(actor)
        while owner:
            ready, _ = ray.wait(list(owner), num_returns=1)
            for ref in ready:
                actor, batch = owner.pop(ref), held.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayActorError:
                    # The agent killed its actor (os._exit): as the pool does, a new actor,
                    # which runs the batch's cells one at a time.
                    actor = self._replace(actor, batch)
                    for cell in batch:
                        if stop():
                            break
                        done, actor = self._alone(cell, actor)
                        yield done
                    submit(actor)
                    continue
                yield from results
                submit(actor)

    def _replace(self, dead: Any, cells: Sequence[Cell]) -> Any:
        """The live actor in `dead`'s place (a new one, unless made already: the dead
        actor's other batch fails too). Its sandboxes on this machine go to the janitor;
        on other nodes, to the next sweep's janitor there."""
        if dead not in self.replaced:
            _clean_after_death(cells)
            actor = self.ray.remote(num_cpus=1)(_EpisodeActor).remote(self.warm)
            self.actors = [actor if a is dead else a for a in self.actors]
            self.replaced[dead] = actor
        actor = self.replaced[dead]
        while actor in self.replaced:
            actor = self.replaced[actor]
        return actor

    def _alone(self, cell: Cell, actor: Any) -> tuple[Finished, Any]:
        """`cell` alone on `actor`: its episode, or the agent's failure if it kills the
        actor twice; and the live actor after it."""
        for _ in range(2):
            try:
                return self.ray.get(actor.run_batch.remote([cell]))[0], actor
            except self.ray.exceptions.RayActorError:
                actor = self._replace(actor, [cell])
        return Finished.of(episode_record(cell, failed_episode(cell, WORKER_DIED))), actor

    def close(self) -> None:
        ray = self.ray
        with contextlib.suppress(Exception):
            ray.get([actor.close.remote() for actor in self.actors], timeout=120)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.actors = []
        if self.owns_ray:
            ray.shutdown()


def _probe(address: str) -> None:
    """Fail fast on a cluster address nothing answers at: Ray itself retries for minutes."""
    target = address.removeprefix("ray://")
    if target == "auto" or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10):
            return
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address}: {exc}; start it with `ray start --head` "
            "or fix --ray-address"
        ) from None


def prestart(name: str) -> None:
    """Start what executor `name` needs in the background, to overlap with the sweep's own
    set-up: for `pool`, the fork server, importing hotmess once so workers fork ready (it
    takes ~0.5 s; each worker would otherwise pay it on start), and for the supervised
    `serial` and `threads` workers alike."""
    if name == "pool" or (name in ("serial", "threads") and supervise_wanted()):
        multiprocessing.set_forkserver_preload(["hotmess.runner.executors"])
        multiprocessing.get_context("forkserver")
        from multiprocessing import forkserver

        forkserver.ensure_running()


def make_executor(
    name: str,
    *,
    workers: int = 1,
    concurrency: int = 16,
    ray_address: str | None = None,
    fine: bool = False,
    warm: int = 0,
) -> Executor:
    """The executor called `name` (one of EXECUTORS, or an old alias of one); `warm`
    sandboxes kept ready per episode slot (`hotmess.runner.warm`)."""
    name = canonical_executor(name)
    if name == "serial":
        return SerialExecutor(warm)
    if name == "pool":
        return PoolExecutor(workers, fine, warm)
    if name == "threads":
        return ThreadExecutor(concurrency, warm)
    if name == "ray":
        return RayExecutor(ray_address, workers if workers > 1 else None, fine, warm)
    raise ConfigError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
