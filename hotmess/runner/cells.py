"""Cells, the unit of work, resume and scoring, and the runner that turns one into an
episode record (built here, from the cell and what happened). Executors ship cells to
wherever they run; everything here pickles."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from hotmess.agents.base import Agent
from hotmess.agents.registry import make_agent
from hotmess.envs import env_class, make_env
from hotmess.envs.base import ToolEnv
from hotmess.envs.sandboxed import SandboxEnv
from hotmess.errors import HotmessError
from hotmess.outcome import Outcome, OutcomeKind
from hotmess.runner.episode import Episode, Fork, derive_seed, run_episode
from hotmess.runner.warm import WarmSandboxes
from hotmess.store import EpisodeRecord


@dataclass(frozen=True)
class Cell:
    """One episode to run."""

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
    round: int = 0
    """The adaptive-sampling round that scheduled this cell (0: the sweep's own samples)."""
    fork_of: str | None = None
    """For a fork: the key of the trunk episode whose first `fork_at` actions it replays."""
    fork_at: int | None = None
    fork: int | None = None
    """For a fork: which of the K continuations this is."""
    prefix: Fork | None = None
    """For a fork: the trunk's first `fork_at` actions and its agent seed."""
    final_answer: bool = False
    """Whether the env asks for a final answer at the action cap (`SweepConfig.final_answer`)."""

    @property
    def key(self) -> str:
        base = cell_key(
            self.env, dict(self.env_options), self.horizon, self.task_seed, self.sample, self.agent
        )
        if self.final_answer:
            # Off keeps the keys episodes had before the setting existed, which ran without it.
            base = _hash(["final_answer", base])
        if self.fork_of is None:
            return base
        return _hash(["fork", base, self.fork_of, self.fork_at, self.fork])


def _hash(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def cell_key(
    env: str, env_options: dict[str, Any], horizon: int, task_seed: int, sample: int, agent: str
) -> str:
    """Content hash of everything that determines an episode's distribution: the env id
    (which carries its version), its options, the horizon, the task seed, the sample index,
    the agent spec with its options, and the version of the package the env's code ships in
    (hotmess for built-in envs, the plugin's distribution for the others)."""
    return _hash([env, env_options, horizon, task_seed, sample, agent, env_code_version(env)])


@functools.cache
def env_code_version(env: str) -> str:
    """`name==version` of the distribution that ships `env`'s class."""
    from hotmess import __version__

    try:
        module = env_class(env).__module__
    except HotmessError:
        return f"hotmess=={__version__}"
    top = module.split(".")[0]
    if top == "hotmess":
        return f"hotmess=={__version__}"
    for dist in importlib.metadata.packages_distributions().get(top, []):
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return f"{top}==unversioned"


def task_seed(sweep_seed: int, task_index: int) -> int:
    """The seed of task `task_index`: shared by every horizon and agent of the sweep."""
    return derive_seed("task", sweep_seed, task_index)


def agent_seed(task_seed: int, horizon: int, sample: int) -> int:
    """The seed of one sample's agent."""
    return derive_seed(task_seed, horizon, sample)


def single_cell(
    env: str,
    horizon: int,
    task_seed: int,
    agent: str,
    *,
    sample: int = 0,
    env_options: dict[str, Any] | None = None,
    sandbox: str = "none",
    final_answer: bool = True,
) -> Cell:
    """The cell of a stand-alone episode (`hotmess run`): task index 0, seeded as a sweep
    seeds its samples."""
    return Cell(
        env,
        tuple(sorted((env_options or {}).items())),
        horizon,
        0,
        task_seed,
        sample,
        agent,
        agent_seed(task_seed, horizon, sample),
        sandbox,
        final_answer=final_answer,
    )


def episode_record(cell: Cell, episode: Episode) -> EpisodeRecord:
    """The store's line for `cell`: the cell says which episode it was, `episode` what
    happened in it."""
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
        outcome=episode.outcome,
        steps=episode.steps,
        prompt=episode.prompt,
        system_prompt=episode.system_prompt,
        sandbox=episode.sandbox,
        started_at=episode.started_at,
        duration_s=episode.duration_s,
        round=cell.round,
        fork_of=cell.fork_of,
        fork_at=cell.fork_at,
        fork=cell.fork,
    )


def _kind(cell: Cell) -> OutcomeKind:
    return env_class(cell.env).outcome_kind_for(dict(cell.env_options))


def infra_episode(cell: Cell, reason: str) -> Episode:
    """What happened to a cell whose episode could not run: censored, never scored."""
    outcome = Outcome(kind=_kind(cell), infra_error=reason)
    return Episode(outcome=outcome, steps=[], sandbox=cell.sandbox, started_at=time.time())


def failed_episode(cell: Cell, reason: str) -> Episode:
    """What happened to a cell whose agent broke the process running it (a worker that died
    twice): the agent's failure, scored as a missing answer against the task's target (the
    env makes the task again, without the agent, to know it)."""
    runner = EpisodeRunner()
    try:
        env = runner._env(cell)
        env.reset(seed=cell.task_seed)
        outcome = env.fail(reason)
    except HotmessError:
        raise
    except Exception as exc:  # the task cannot be made again (a sandbox engine down)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return infra_episode(cell, f"{reason}; its task could not be made again: {detail}")
    finally:
        runner.close()
    return Episode(outcome=outcome, steps=[], sandbox=cell.sandbox, started_at=time.time())


class EpisodeRunner:
    """Runs cells, reusing one env per (env, options, horizon) and one agent per spec.
    With `warm` > 0, sandboxed envs take their sandboxes from a pool that keeps `warm` of
    them starting or ready (`WarmSandboxes`), made when the first sandboxed env is."""

    def __init__(self, warm: int = 0) -> None:
        self.envs: dict[tuple[Any, ...], ToolEnv] = {}
        self.agents: dict[str, Any] = {}
        self.warm = warm
        self.pool: WarmSandboxes | None = None

    def run(self, cell: Cell) -> EpisodeRecord:
        try:
            episode = run_episode(
                self._env(cell),
                self._agent(cell),
                cell.task_seed,
                agent_seed=cell.agent_seed,
                fork=cell.prefix,
            )
        except HotmessError:
            raise  # a bad key, image or option: stop the sweep with one clear line
        except Exception as exc:
            # The env itself failed (a sandbox that would not start): censor the episode.
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            episode = infra_episode(cell, f"episode could not run: {detail}")
        return episode_record(cell, episode)

    def _env(self, cell: Cell) -> ToolEnv:
        key = (
            cell.env,
            cell.env_options,
            cell.horizon,
            cell.sandbox,
            cell.sandbox_options,
            cell.final_answer,
        )
        if key not in self.envs:
            self.envs[key] = make_env(
                cell.env,
                horizon=cell.horizon,
                sandbox=cell.sandbox,
                sandbox_options=dict(cell.sandbox_options),
                final_answer=cell.final_answer,
                **dict(cell.env_options),
            )
            env = self.envs[key]
            if self.warm and isinstance(env, SandboxEnv):
                if self.pool is None:
                    self.pool = WarmSandboxes(self.warm)
                env.sandbox_source = self.pool
        return self.envs[key]

    def _agent(self, cell: Cell) -> Agent:
        if cell.agent not in self.agents:
            self.agents[cell.agent] = make_agent(cell.agent)
        return self.agents[cell.agent]

    def close(self) -> None:
        try:
            for env in self.envs.values():
                env.close()
            self.envs.clear()
        finally:
            if self.pool is not None:  # after the envs: it closes what they gave back
                self.pool.close()
                self.pool = None
        for agent in self.agents.values():
            close = getattr(agent, "close", None)
            if callable(close):
                close()
        self.agents.clear()


@dataclass
class Finished:
    """An episode an executor finished: its store line, and what budgets and progress need,
    so the process that writes the store never parses what a worker serialised."""

    key: str
    line: str
    """The episode record as one JSON line, exactly as the store keeps it."""
    agent: str
    steps: int
    tokens: int
    cost: float
    """US dollars of the priced steps."""
    unpriced: bool
    """Some step used tokens at an unknown price."""
    infra_error: str | None
    agent_errors: int
    _record: EpisodeRecord | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, record: EpisodeRecord, keep: bool = True) -> Finished:
        """Summarise `record`; `keep` holds on to it (in-process executors), else only its
        JSON travels (worker processes)."""
        tokens = unpriced = agent_errors = 0
        cost = 0.0
        for step in record.steps:
            used = step.tokens_in + step.tokens_out
            tokens += used
            agent_errors += step.agent_error is not None
            if step.cost is None:
                unpriced |= bool(used)
            else:
                cost += step.cost
        return cls(
            key=record.key,
            line=record.model_dump_json(),
            agent=record.agent,
            steps=len(record.steps),
            tokens=tokens,
            cost=cost,
            unpriced=bool(unpriced),
            infra_error=record.outcome.infra_error,
            agent_errors=agent_errors,
            _record=record if keep else None,
        )

    @property
    def record(self) -> EpisodeRecord:
        """The full record (parsed on first use when it came from another process)."""
        if self._record is None:
            self._record = EpisodeRecord.model_validate_json(self.line)
        return self._record
