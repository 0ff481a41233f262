"""The episode loop and the record the runner makes of it: forks through the `Replayable`
and `Reseedable` protocols, the refusal of other agents, and the one place where a cell and
what happened in its episode become a record."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import pytest

from hotmess.agents import Replayable, Reseedable, Task, make_agent
from hotmess.agents.base import require_forkable
from hotmess.agents.openai_agent import OpenAIAgent, OpenAIConfig
from hotmess.envs import make_env
from hotmess.envs.base import tool_call
from hotmess.envs.kvsum import KVSumEnv
from hotmess.errors import ConfigError
from hotmess.runner import Cell, Fork, episode_record, run_episode, single_cell
from hotmess.runner.cells import EpisodeRunner, agent_seed

KV = "hotmess/KVSum-v0"


class Parrot:
    """Forkable by structure alone (no base class): follows the oracle, and keeps what it
    was told to replay."""

    def __init__(self) -> None:
        self.seeds: list[int] = []
        self.replayed: list[tuple[str, str, str | None]] = []

    def reset(self, task: Task, seed: int) -> None:
        assert task.oracle is not None
        self.oracle = task.oracle
        self.seeds.append(seed)

    def act(self, observation: str) -> str:
        return self.oracle.act(observation)

    def replay(self, observation: str, action: str, message: str | None = None) -> None:
        self.replayed.append((observation, action, message))
        self.oracle.act(observation)  # keep the oracle's place in the task


class Stubborn:
    """Neither replayable nor reseedable."""

    def reset(self, task: Task, seed: int) -> None:
        self.oracle = task.oracle

    def act(self, observation: str) -> str:
        return self.oracle.act(observation)  # type: ignore[union-attr]


def test_forkable_agents_declare_it_through_the_protocols():
    assert isinstance(make_agent("noisy:p=0.2"), Reseedable)
    assert isinstance(make_agent("oracle"), Reseedable)
    assert not isinstance(make_agent("random"), Replayable)
    chat = OpenAIAgent(OpenAIConfig(model="m", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(chat, Replayable) and not isinstance(chat, Reseedable)
    assert isinstance(Parrot(), Replayable)
    assert not isinstance(Stubborn(), (Replayable, Reseedable))
    require_forkable(Parrot(), "parrot")
    with pytest.raises(ConfigError, match="agent stubborn cannot be forked"):
        require_forkable(Stubborn(), "stubborn")


def test_a_replayable_agent_is_told_the_prefix_then_acts_on_the_forks_seed():
    env = make_env(KV, horizon=3)
    trunk = run_episode(env, make_agent("oracle"), 5, agent_seed=1)
    prefix = tuple(step.action for step in trunk.steps[:2])
    parrot = Parrot()
    fork = run_episode(env, parrot, 5, agent_seed=77, fork=Fork(prefix, trunk_seed=1))
    assert parrot.seeds == [77]  # a replayed agent never needs the trunk's seed
    assert [action for _, action, _ in parrot.replayed] == list(prefix)
    assert parrot.replayed[0][0] == trunk.prompt  # each action with what it answered
    assert parrot.replayed[1][0] == trunk.steps[0].observation
    assert [step.replayed for step in fork.steps] == [True, True, False, False]
    assert [step.action for step in fork.steps] == [step.action for step in trunk.steps]
    assert fork.outcome.success and fork.prompt == trunk.prompt


def test_a_reseedable_agent_regenerates_the_prefix_from_the_trunks_seed():
    env = make_env("hotmess/PointerChase-v0", horizon=8)
    noisy = make_agent("noisy:p=0.5")
    trunk = run_episode(env, noisy, 2, agent_seed=11)
    prefix = tuple(step.action for step in trunk.steps[:4])
    forks = [
        run_episode(env, noisy, 2, agent_seed=seed, fork=Fork(prefix, trunk_seed=11))
        for seed in (12, 13, 14)
    ]
    for fork in forks:
        assert fork.outcome.infra_error is None
        assert [step.action for step in fork.steps[:4]] == list(prefix)
        assert all(step.replayed for step in fork.steps[:4])
        assert not any(step.replayed for step in fork.steps[4:])
    # Reseeded with their own seeds, the continuations go their own ways.
    assert len({tuple(step.action for step in fork.steps[4:]) for fork in forks}) > 1
    # From the wrong seed the regenerated prefix is not the trunk's: a crash, censored.
    wrong = run_episode(env, noisy, 2, agent_seed=12, fork=Fork(prefix, trunk_seed=12))
    assert wrong.outcome.infra_error is not None
    assert "fork prefix diverged at action" in wrong.outcome.infra_error


def test_a_prefix_the_agent_would_never_take_is_a_censored_crash():
    env = make_env(KV, horizon=2)
    odd = Fork((tool_call("lookup", key="no-such-key"),), trunk_seed=0)
    episode = run_episode(env, make_agent("oracle"), 0, agent_seed=1, fork=odd)
    assert episode.outcome.infra_error is not None
    assert episode.outcome.infra_error.startswith(
        "episode crashed: RuntimeError: fork prefix diverged at action 1"
    )
    assert not episode.steps


def test_an_agent_that_cannot_fork_is_refused_by_the_loop():
    env = make_env(KV, horizon=2)
    prefix = Fork((tool_call("lookup", key="a"),), trunk_seed=0)
    with pytest.raises(ConfigError, match="agent Stubborn cannot be forked"):
        run_episode(env, Stubborn(), 0, agent_seed=1, fork=prefix)
    # Without a fork the same agent runs as any other.
    assert run_episode(env, Stubborn(), 0, agent_seed=1).outcome.success


def test_the_record_is_the_cell_plus_what_happened():
    trunk = single_cell(KV, 3, 9, "noisy:p=0.3", sample=0)
    runner = EpisodeRunner()
    try:
        first = runner.run(trunk)
        fork = Cell(
            KV,
            (),
            3,
            0,
            9,
            0,
            "noisy:p=0.3",
            agent_seed(9, 3, 1),
            "none",
            round=2,
            fork_of=first.key,
            fork_at=2,
            fork=1,
            prefix=Fork(tuple(step.action for step in first.steps[:2]), first.agent_seed),
        )
        record = runner.run(fork)
    finally:
        runner.close()
    assert (first.key, first.fork_of, first.fork_at, first.fork, first.round) == (
        trunk.key,
        None,
        None,
        None,
        0,
    )
    assert (record.key, record.fork_of, record.fork_at, record.fork, record.round) == (
        fork.key,
        first.key,
        2,
        1,
        2,
    )
    assert (record.env, record.horizon, record.task_seed, record.sample) == (KV, 3, 9, 0)
    assert (record.agent, record.agent_seed, record.sandbox) == (
        "noisy:p=0.3",
        fork.agent_seed,
        "none",
    )
    assert [step.replayed for step in record.steps[:3]] == [True, True, False]
    assert record.outcome.infra_error is None and record.prompt == first.prompt


def test_a_stand_alone_episode_is_seeded_as_a_sweeps_sample():
    env = make_env(KV, horizon=4)
    cell = single_cell(KV, 4, 3, "noisy:p=0.4", sample=2, env_options={})
    record = episode_record(
        cell, run_episode(env, make_agent("noisy:p=0.4"), 3, agent_seed=cell.agent_seed)
    )
    runner = EpisodeRunner()
    try:
        stored = runner.run(cell)
    finally:
        runner.close()
    assert cell.agent_seed == agent_seed(3, 4, 2)
    assert record.model_dump(exclude={"started_at", "duration_s", "steps"}) == stored.model_dump(
        exclude={"started_at", "duration_s", "steps"}
    )
    assert [s.action for s in record.steps] == [s.action for s in stored.steps]


class _Unready(KVSumEnv):
    def _generate(self, seed: int) -> None:
        raise OSError("the task's files could not be written")


@pytest.fixture
def unready_env() -> Iterator[str]:
    env_id = "hotmess-test/Unready-v0"
    gym.register(id=env_id, entry_point=_Unready, disable_env_checker=True)
    yield env_id
    del gym.registry[env_id]


def test_an_env_that_cannot_start_an_episode_is_censored_by_the_runner(unready_env):
    cell = single_cell(unready_env, 2, 4, "oracle", sample=1)
    runner = EpisodeRunner()
    try:
        record = runner.run(cell)
    finally:
        runner.close()
    assert record.outcome.infra_error == (
        "episode could not run: OSError: the task's files could not be written"
    )
    assert record.outcome.kind == KVSumEnv.outcome_kind and record.steps == []
    assert (record.key, record.env, record.sample, record.agent_seed, record.sandbox) == (
        cell.key,
        unready_env,
        1,
        cell.agent_seed,
        "none",
    )
