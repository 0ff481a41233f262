"""Horizon sweeps: expand a config into cells, run the missing ones on an executor, and
append each finished episode to the run store as it arrives.

A sweep runs in phases, each resumable: the configured samples of every cell; then, with
`target_ci`, rounds of extra samples for the questions whose incoherence CI is still too
wide; then, with `fork_at`, the forks of each question's first sample. Budgets stop the
sweep between episodes in any phase.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotmess.agents.base import require_forkable
from hotmess.agents.registry import AgentSpec, make_agent, resolve_class
from hotmess.envs import env_class, make_env
from hotmess.errors import ConfigError
from hotmess.runner.cells import Cell, Finished, agent_seed, cell_key, task_seed
from hotmess.runner.config import SweepConfig
from hotmess.runner.episode import Fork, derive_seed
from hotmess.runner.executors import Executor, make_executor, prestart
from hotmess.runner.interrupts import forget_sigint, note_sigint
from hotmess.sandbox import resolve_kind
from hotmess.sandbox.janitor import janitor
from hotmess.scoring.adaptive import incoherence_ci
from hotmess.store import EPISODES_FILE, SWEEP_FILE, RunStore

__all__ = [
    "Cell",
    "SweepResult",
    "cell_key",
    "expand",
    "resolve_sandbox",
    "run_sweep",
    "task_seed",
    "validate",
]

ADAPTIVE_FILE = "adaptive.json"
"""Where adaptive sampling records its rule and each question's stopping decision."""


def _dataset_size(config: SweepConfig, env: str) -> int | None:
    """The number of tasks of a dataset env (None for generated tasks); refuses more
    `tasks` than it has: a task run twice would count as two questions."""
    size = env_class(env).dataset_size(config.env_options.get(env, {}))
    if size is not None and config.tasks > size:
        raise ConfigError(
            f"{env} has {size} task(s) at the path given, but --tasks is {config.tasks}: "
            f"use --tasks {size} or fewer (a task run twice would count as two questions; "
            "use --samples for repeats)"
        )
    return size


def expand(config: SweepConfig, sandbox: str | None = None) -> list[Cell]:
    """Every cell of the sweep's first phase, ordered so partial results cover every horizon
    early: sample-major, so a sweep stopped halfway has half the samples of every cell.
    `sandbox` is the resolved backend (default: the config's, unresolved)."""
    sandbox = sandbox or config.sandbox
    sandbox_options = tuple(sorted(config.sandbox_options.items()))
    # A dataset's tasks (Harbor-v0) are its folders in order: task i is seed i.
    dataset = {env: _dataset_size(config, env) is not None for env in config.envs}
    cells = []
    for sample in range(config.samples):
        for env in config.envs:
            options = tuple(sorted(config.env_options.get(env, {}).items()))
            for horizon in config.horizons:
                for index in range(config.tasks):
                    seed = index if dataset[env] else task_seed(config.seed, index)
                    for agent in config.agents:
                        cells.append(
                            Cell(
                                env,
                                options,
                                horizon,
                                index,
                                seed,
                                sample,
                                agent,
                                agent_seed(seed, horizon, sample),
                                sandbox,
                                sandbox_options,
                                final_answer=config.final_answer,
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
        agent = make_agent(spec)
        if config.fork_at:
            require_forkable(agent, spec)


def resolve_sandbox(config: SweepConfig) -> str:
    """The backend this sweep runs on: `none` when no env needs one, else the config's
    choice with `auto` resolved to what works on this machine."""
    if config.sandbox != "auto":
        resolve_kind(config.sandbox)  # an unknown name is an error even if unused
    if not any(env_class(env).needs_sandbox for env in config.envs):
        return "none"
    return resolve_kind(config.sandbox)


@dataclass
class SweepResult:
    """What a call to `run_sweep` did."""

    out: Path
    total: int
    """Cells planned, over every phase so far."""
    skipped: int
    """Cells already in the store (resume)."""
    ran: int
    """Episodes run and written by this call."""
    infra_errors: int
    stopped: str | None = None
    """Why the sweep stopped before its end (a budget), None when it finished."""
    rounds: int = 0
    """Adaptive-sampling rounds that added samples."""
    forks_skipped: int = 0
    """Trunks too short to fork at some `fork_at` (they ended within the prefix)."""
    tokens: int = 0
    """Tokens (in + out) this call used."""
    cost: float = 0.0
    """US dollars this call spent (unpriced steps count 0)."""


class Budget:
    """This call's spending against `--max-cost`, `--max-tokens` and `--max-wall`."""

    def __init__(self, config: SweepConfig) -> None:
        self.max_cost, self.max_tokens, self.max_wall = (
            config.max_cost,
            config.max_tokens,
            config.max_wall,
        )
        self.started = time.monotonic()
        self.cost = 0.0
        self.tokens = 0
        self.unpriced: str | None = None
        self.reason: str | None = None

    def add(self, done: Finished) -> None:
        self.tokens += done.tokens
        self.cost += done.cost
        if done.unpriced:
            self.unpriced = done.agent

    def exhausted(self) -> bool:
        """Whether to stop starting episodes; sets `reason` the first time it is so."""
        if self.reason is None:
            self.reason = self._check()
        return self.reason is not None

    def _check(self) -> str | None:
        if self.max_cost is not None and self.unpriced is not None:
            return (
                f"--max-cost cannot be enforced: agent {self.unpriced} has no known price "
                "(give it price_in= and price_out= options)"
            )
        if self.max_cost is not None and self.cost >= self.max_cost:
            return f"cost budget reached: ${self.cost:.4f} of ${self.max_cost:g}"
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"token budget reached: {self.tokens:,} of {self.max_tokens:,}"
        elapsed = time.monotonic() - self.started
        if self.max_wall is not None and elapsed >= self.max_wall:
            return f"time budget reached: {elapsed:.0f} s of {self.max_wall:g} s"
        return None


Plan = Callable[[int, int], None]
"""`on_plan(total, todo)`: called whenever the planned work grows."""


def run_sweep(
    config: SweepConfig,
    *,
    resume: bool = False,
    on_episode: Callable[[Finished], None] | None = None,
    on_plan: Plan | None = None,
    stop: Callable[[], bool] | None = None,
) -> SweepResult:
    """Run every missing cell of `config`, writing each episode to `config.out` as it ends.

    `on_plan(total, todo)` is called when the work is known and again whenever a phase adds
    to it; `on_episode(done)` after each episode is stored (a `Finished`: the
    store line, tokens, cost and errors; `done.record` parses the full record). Budgets, `stop()` returning
    true and Ctrl-C end the sweep between episodes: episodes in flight finish and are stored
    (a second Ctrl-C abandons them), and `resume=True` later runs exactly what is missing.
    """
    if config.out is None:
        raise ConfigError(
            "the sweep needs an output directory (--out DIR, or `out:` in the config file)"
        )
    prestart(config.executor_name)
    validate(config)
    sandbox = resolve_sandbox(config)
    janitor(docker=sandbox == "docker")  # leftovers of killed runs go before new ones start
    execution = {
        "executor": config.executor_name,
        "workers": config.workers,
        "sandbox": sandbox,
        "warm_sandboxes": config.warm_sandboxes,
    }
    budget = Budget(config)
    result = SweepResult(Path(config.out), 0, 0, 0, 0)
    with _no_empty_store(Path(config.out), result):
        store = RunStore.open_for_sweep(config.out, config.identity(), execution, resume=resume)
        with store:
            run = _PhaseRunner(config, store, budget, result, resume, on_plan, on_episode, stop)
            with _interrupts_stop(budget):
                try:
                    run(expand(config, sandbox))
                    if config.target_ci is not None:
                        _adaptive_rounds(config, store, run, sandbox)
                    if config.fork_at and not run.stopped():
                        run(_fork_cells(config, store.episodes(), sandbox, result))
                finally:
                    run.close()
    result.stopped = budget.reason
    result.tokens, result.cost = budget.tokens, budget.cost
    return result


@contextlib.contextmanager
def _no_empty_store(out: Path, result: SweepResult) -> Iterator[None]:
    """A new sweep that fails before it stores an episode (a wrong base_url, a bad image)
    leaves no run directory behind, so the same command can run again once it is fixed."""
    new_dir = not out.exists()
    new_store = new_dir or not (out / SWEEP_FILE).exists()
    try:
        yield
    except BaseException:
        if new_store and result.ran == 0 and not _stored_any(out):
            for name in (SWEEP_FILE, EPISODES_FILE, f"{SWEEP_FILE}.tmp"):
                (out / name).unlink(missing_ok=True)
            if new_dir:
                with contextlib.suppress(OSError):
                    out.rmdir()
        raise


def _stored_any(out: Path) -> bool:
    episodes = out / EPISODES_FILE
    return episodes.exists() and episodes.stat().st_size > 0


INTERRUPTED = "interrupted"
"""`SweepResult.stopped` after Ctrl-C."""


@contextlib.contextmanager
def _interrupts_stop(budget: Budget) -> Iterator[None]:
    """Make the first Ctrl-C stop the sweep between episodes (those in flight finish and
    are stored) and a second one abandon them. Only the main thread can take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        note_sigint()  # a KeyboardInterrupt from here on is the user's, not an agent's
        if budget.reason == INTERRUPTED:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        budget.reason = INTERRUPTED
        print(
            "hotmess: stopping once the episodes in flight finish (Ctrl-C again to abandon "
            "them); continue later with --resume",
            file=sys.stderr,
            flush=True,
        )

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        forget_sigint()


class _PhaseRunner:
    """Runs one phase's cells on a lazily started executor, skipping those in the store."""

    def __init__(
        self,
        config: SweepConfig,
        store: RunStore,
        budget: Budget,
        result: SweepResult,
        resume: bool,
        on_plan: Plan | None,
        on_episode: Callable[[Finished], None] | None,
        stop: Callable[[], bool] | None,
    ) -> None:
        self.config, self.store, self.budget, self.result = config, store, budget, result
        self.done = store.done_keys(censored=not config.retry_censored) if resume else set()
        self.on_plan, self.on_episode, self.user_stop = on_plan, on_episode, stop
        self.executor: Executor | None = None

    def stopped(self) -> bool:
        if self.user_stop is not None and self.budget.reason is None and self.user_stop():
            self.budget.reason = "stopped by the caller"
        return self.budget.exhausted()

    def __call__(self, cells: Iterable[Cell]) -> None:
        cells = list(cells)
        todo = [cell for cell in cells if cell.key not in self.done]
        self.result.total += len(cells)
        self.result.skipped += len(cells) - len(todo)
        if self.on_plan:
            self.on_plan(self.result.total, self.result.total - self.result.skipped)
        if not todo or self.stopped():
            return
        if self.executor is None:
            self.executor = make_executor(
                self.config.executor_name,
                workers=self.config.workers,
                concurrency=self.config.concurrency,
                ray_address=self.config.ray_address,
                warm=self.config.warm_sandboxes,
                fine=any(
                    v is not None
                    for v in (self.config.max_cost, self.config.max_tokens, self.config.max_wall)
                ),
            )
        for done in self.executor.run(todo, self.stopped):
            self.store.append_line(done.line)
            self.done.add(done.key)
            self.budget.add(done)
            self.result.ran += 1
            self.result.infra_errors += done.infra_error is not None
            if self.on_episode:
                self.on_episode(done)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()


def question_id(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """What identifies a question in a sweep: env, options, horizon, task and agent."""
    options = json.dumps(record.get("env_options") or {}, sort_keys=True)
    return (record["env"], options, record["horizon"], record["task_seed"], record["agent"])


def _adaptive_rounds(config: SweepConfig, store: RunStore, run: _PhaseRunner, sandbox: str) -> None:
    """Add `samples` more samples to every question whose CI is wider than `target_ci`,
    until none is or each has `sample_cap`; write the decisions to adaptive.json."""
    assert config.target_ci is not None
    base = {question_id(_cell_record(c)): c for c in expand(config, sandbox) if c.sample == 0}
    round_number = 0
    while True:
        by_question: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for record in store.episodes():
            if record.get("fork_of") is None:
                by_question[question_id(record)].append(record)
        decisions, cells = [], []
        for qid, first in base.items():
            records = by_question.get(qid, [])
            n = len(records)
            ci = incoherence_ci(
                [r["outcome"] for r in records],
                n_boot=config.bootstrap,
                level=config.ci_level,
                seed=derive_seed("adaptive", first.key, n),
            )
            width = None if ci is None else ci[1] - ci[0]
            if width is not None and width <= config.target_ci:
                reason = "ci"
            elif n >= config.sample_cap:
                reason = "max_samples"
            else:
                reason = "sampling"
                extra = range(n, min(n + config.samples, config.sample_cap))
                cells += [_resample(first, sample, round_number + 1) for sample in extra]
            decisions.append(
                {
                    "env": first.env,
                    "env_options": dict(first.env_options),
                    "horizon": first.horizon,
                    "task_seed": first.task_seed,
                    "agent": first.agent,
                    "samples": n,
                    "ci": ci,
                    "width": width,
                    "decision": reason,
                }
            )
        _write_adaptive(config, store.path, decisions, round_number)
        if not cells or run.stopped():
            return
        round_number += 1
        run.result.rounds = round_number
        run(cells)
        if run.stopped():
            return


def _cell_record(cell: Cell) -> dict[str, Any]:
    return {
        "env": cell.env,
        "env_options": dict(cell.env_options),
        "horizon": cell.horizon,
        "task_seed": cell.task_seed,
        "agent": cell.agent,
    }


def _resample(first: Cell, sample: int, round_number: int) -> Cell:
    return Cell(
        first.env,
        first.env_options,
        first.horizon,
        first.task_index,
        first.task_seed,
        sample,
        first.agent,
        agent_seed(first.task_seed, first.horizon, sample),
        first.sandbox,
        first.sandbox_options,
        round=round_number,
        final_answer=first.final_answer,
    )


def _write_adaptive(
    config: SweepConfig, out: Path, decisions: list[dict[str, Any]], round_number: int
) -> None:
    rule = {
        "rule": "add `samples` samples to a question until the bootstrap percentile CI of its "
        "incoherence (variance / error of its headline decomposition) is at most "
        "`target_ci` wide, or it has `max_samples`",
        "target_ci": config.target_ci,
        "ci_level": config.ci_level,
        "bootstrap": config.bootstrap,
        "samples_per_round": config.samples,
        "max_samples": config.sample_cap,
        "rounds": round_number,
        "questions": decisions,
    }
    tmp = out / f".{ADAPTIVE_FILE}.tmp"
    tmp.write_text(json.dumps(rule, indent=1))
    tmp.replace(out / ADAPTIVE_FILE)


def _fork_cells(
    config: SweepConfig, records: list[dict[str, Any]], sandbox: str, result: SweepResult
) -> list[Cell]:
    """The forks of every question's trunk (its sample 0) at every `fork_at` it outlives."""
    trunks = {
        question_id(r): r for r in records if r.get("fork_of") is None and r.get("sample") == 0
    }
    sandbox_options = tuple(sorted(config.sandbox_options.items()))
    cells = []
    for trunk in sorted(
        trunks.values(), key=lambda r: (r["env"], r["horizon"], r["task_index"], r["agent"])
    ):
        if trunk["outcome"].get("infra_error") is not None:
            continue
        actions = [step["action"] for step in trunk["steps"]]
        for t in config.fork_at:
            if len(actions) <= t:
                result.forks_skipped += 1  # the trunk ended at or before action t
                continue
            for k in range(config.forks):
                cells.append(
                    Cell(
                        trunk["env"],
                        tuple(sorted((trunk.get("env_options") or {}).items())),
                        trunk["horizon"],
                        trunk["task_index"],
                        trunk["task_seed"],
                        trunk["sample"],
                        trunk["agent"],
                        derive_seed("fork", trunk["key"], t, k),
                        sandbox,
                        sandbox_options,
                        fork_of=trunk["key"],
                        fork_at=t,
                        fork=k,
                        prefix=Fork(tuple(actions[:t]), trunk["agent_seed"]),
                        final_answer=config.final_answer,
                    )
                )
    return cells
