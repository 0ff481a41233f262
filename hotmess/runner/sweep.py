"""Horizon sweeps: expand a config into cells, run the missing ones on an executor, and
append each finished episode to the run store as it arrives."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotmess.agents.registry import AgentSpec, make_agent, resolve_class
from hotmess.envs import env_class, make_env
from hotmess.envs.base import ToolEnv
from hotmess.errors import ConfigError, HotmessError
from hotmess.outcome import Outcome
from hotmess.runner.config import SweepConfig
from hotmess.runner.episode import EpisodeRecord, derive_seed, run_episode
from hotmess.runner.store import RunStore
from hotmess.sandbox import resolve_kind
from hotmess.sandbox.janitor import janitor


@dataclass(frozen=True)
class Cell:
    """One episode to run: the unit of work, resume and scoring."""

    env: str
    env_options: tuple[tuple[str, Any], ...]
    horizon: int
    task_index: int
    task_seed: int
    sample: int
    agent: str
    agent_seed: int
    sandbox: str
    sandbox_options: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        return cell_key(
            self.env, dict(self.env_options), self.horizon, self.task_seed, self.sample, self.agent
        )


def cell_key(
    env: str, env_options: dict[str, Any], horizon: int, task_seed: int, sample: int, agent: str
) -> str:
    """Content hash of everything that determines an episode's distribution. The env's
    version is in its id; the package version covers changes to the env code."""
    from hotmess import __version__

    blob = json.dumps(
        [env, env_options, horizon, task_seed, sample, agent, __version__], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def task_seed(sweep_seed: int, task_index: int) -> int:
    """The seed of task `task_index`: shared by every horizon and agent of the sweep."""
    return derive_seed("task", sweep_seed, task_index)


def expand(config: SweepConfig, sandbox: str | None = None) -> list[Cell]:
    """Every cell of the sweep, ordered so partial results cover every horizon early:
    sample-major, so a sweep stopped halfway has half the samples of every cell.
    `sandbox` is the resolved backend (default: the config's, unresolved)."""
    sandbox = sandbox or config.sandbox
    sandbox_options = tuple(sorted(config.sandbox_options.items()))
    cells = []
    for sample in range(config.samples):
        for env in config.envs:
            options = tuple(sorted(config.env_options.get(env, {}).items()))
            for horizon in config.horizons:
                for index in range(config.tasks):
                    seed = task_seed(config.seed, index)
                    for agent in config.agents:
                        agent_seed = derive_seed(seed, horizon, sample)
                        cells.append(
                            Cell(
                                env,
                                options,
                                horizon,
                                index,
                                seed,
                                sample,
                                agent,
                                agent_seed,
                                sandbox,
                                sandbox_options,
                            )
                        )
    return cells


def validate(config: SweepConfig) -> None:
    """Fail fast, before any episode runs, on unknown envs, agents or options."""
    for env in config.envs:
        env_class(env)
    unknown = set(config.env_options) - set(config.envs)
    if unknown:
        raise ConfigError(
            f"env_options names env(s) not in the sweep: {', '.join(sorted(unknown))}"
        )
    for env in config.envs:
        make_env(env, horizon=config.horizons[0], **config.env_options.get(env, {})).close()
    for spec in config.agents:
        resolve_class(AgentSpec.parse(spec))
        make_agent(spec)


def resolve_sandbox(config: SweepConfig) -> str:
    """The backend this sweep runs on: `none` when no env needs one, else the config's
    choice with `auto` resolved to what works on this machine."""
    if config.sandbox != "auto":
        resolve_kind(config.sandbox)  # an unknown name is an error even if unused
    if not any(env_class(env).needs_sandbox for env in config.envs):
        return "none"
    return resolve_kind(config.sandbox)


class _EpisodeRunner:
    """Runs cells, reusing one env per (env, options, horizon) and one agent per spec."""

    def __init__(self) -> None:
        self.envs: dict[tuple[Any, ...], ToolEnv] = {}
        self.agents: dict[str, Any] = {}

    def run(self, cell: Cell) -> EpisodeRecord:
        try:
            env_key = (cell.env, cell.env_options, cell.horizon, cell.sandbox, cell.sandbox_options)
            if env_key not in self.envs:
                self.envs[env_key] = make_env(
                    cell.env,
                    horizon=cell.horizon,
                    sandbox=cell.sandbox,
                    sandbox_options=dict(cell.sandbox_options),
                    **dict(cell.env_options),
                )
            if cell.agent not in self.agents:
                self.agents[cell.agent] = make_agent(cell.agent)
            return run_episode(
                self.envs[env_key],
                self.agents[cell.agent],
                cell.task_seed,
                sample=cell.sample,
                agent_seed=cell.agent_seed,
                agent_spec=cell.agent,
                key=cell.key,
                task_index=cell.task_index,
                env_options=dict(cell.env_options),
            )
        except HotmessError:
            raise  # a bad key, image or option: stop the sweep with one clear line
        except Exception as exc:
            # The env itself failed (a sandbox that would not start): censor the episode.
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return _infra_record(cell, f"episode could not run: {detail}")

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs.clear()
        for agent in self.agents.values():
            close = getattr(agent, "close", None)
            if callable(close):
                close()
        self.agents.clear()


def _infra_record(cell: Cell, reason: str) -> EpisodeRecord:
    kind = env_class(cell.env).outcome_kind
    return EpisodeRecord(
        key=cell.key,
        env=cell.env,
        env_options=dict(cell.env_options),
        horizon=cell.horizon,
        task_seed=cell.task_seed,
        task_index=cell.task_index,
        sample=cell.sample,
        agent=cell.agent,
        agent_seed=cell.agent_seed,
        outcome=Outcome(kind=kind, infra_error=reason),
        steps=[],
        sandbox=cell.sandbox,
        started_at=time.time(),
        duration_s=0.0,
    )


_worker_runner: _EpisodeRunner | None = None


def _run_batch(cells: list[Cell]) -> list[str]:
    """Worker side: run a batch of cells, return their records as JSON lines."""
    global _worker_runner
    if _worker_runner is None:
        _worker_runner = _EpisodeRunner()
    return [_worker_runner.run(cell).model_dump_json() for cell in cells]


def _batches(cells: list[Cell], size: int) -> Iterator[list[Cell]]:
    for start in range(0, len(cells), size):
        yield cells[start : start + size]


@dataclass
class SweepResult:
    """What a call to `run_sweep` did."""

    out: Path
    total: int
    """Cells in the sweep."""
    skipped: int
    """Cells already in the store (resume)."""
    ran: int
    """Episodes run and written by this call."""
    infra_errors: int


def run_sweep(
    config: SweepConfig,
    *,
    resume: bool = False,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run every missing cell of `config`, writing each episode to `config.out` as it ends.

    `on_start(total, todo)` is called once the work is known; `on_episode(record)` after
    each episode is stored. Ctrl-C stops the sweep between episodes: everything finished is
    kept, and `resume=True` runs exactly what is missing.
    """
    if config.out is None:
        raise ConfigError(
            "the sweep needs an output directory (--out DIR, or `out:` in the config file)"
        )
    validate(config)
    sandbox = resolve_sandbox(config)
    janitor(docker=sandbox == "docker")  # leftovers of killed runs go before new ones start
    execution = {"workers": config.workers, "sandbox": sandbox}
    cells = expand(config, sandbox)
    with RunStore.open_for_sweep(config.out, config.identity(), execution, resume=resume) as store:
        done = store.done_keys() if resume else set()
        todo = [cell for cell in cells if cell.key not in done]
        if on_start:
            on_start(len(cells), len(todo))
        ran = infra = 0
        for record in _execute(todo, config.workers):
            store.append(record)
            ran += 1
            infra += record.outcome.infra_error is not None
            if on_episode:
                on_episode(record)
    return SweepResult(Path(config.out), len(cells), len(cells) - len(todo), ran, infra)


def _execute(cells: list[Cell], workers: int) -> Iterable[EpisodeRecord]:
    if workers <= 1 or len(cells) <= 1:
        runner = _EpisodeRunner()
        try:
            for cell in cells:
                yield runner.run(cell)
        finally:
            runner.close()
        return
    # Batches amortise inter-process overhead for fast episodes while keeping every
    # worker busy to the end.
    size = max(1, min(32, len(cells) // (workers * 8)))
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending: set[Future[list[str]]] = set()
    batches = _batches(cells, size)
    try:
        for batch in batches:
            pending.add(pool.submit(_run_batch, batch))
            if len(pending) >= workers * 2:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                for line in future.result():
                    yield EpisodeRecord.model_validate_json(line)
                for batch in itertools.islice(batches, 1):
                    pending.add(pool.submit(_run_batch, batch))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
