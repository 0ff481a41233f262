"""Worked examples (`ToolEnv.examples`, `info["examples"]`): oracle episodes on tasks no
sweep draws, made only when read, leaving the current task alone; an env may override."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hotmess.envs import make_env
from hotmess.envs.base import ToolEnv
from hotmess.envs.examples import EXAMPLE_SEED, Example
from hotmess.envs.kvsum import KVSumEnv
from hotmess.runner.cells import task_seed


@pytest.mark.parametrize("env_id", ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"])
@pytest.mark.parametrize("horizon", [1, 4])
def test_examples_are_oracle_episodes_at_the_envs_horizon(env_id: str, horizon: int) -> None:
    env = make_env(env_id, horizon=horizon)
    prompt, info = env.reset(seed=5)
    fingerprint = env.task_fingerprint()
    examples = info["examples"][:2]
    assert len(examples) == 2 and examples[0] != examples[1]
    for example in examples:
        assert example.prompt != prompt
        assert len(example.steps) == horizon + 1  # H tool calls, then submit
        *calls, (last_action, last_observation) = example.steps
        assert json.loads(last_action)["tool"] == "submit"
        assert last_observation == "Answer submitted."
        assert all(json.loads(action)["tool"] != "submit" for action, _ in calls)
    # Reading them left the current task as it was, and the episode goes on.
    assert env.task_fingerprint() == fingerprint
    assert env.step(env.oracle().act(prompt))[2:4] == (False, False)
    # Seeds no sweep draws: the same examples for every task, other than every task.
    assert make_env(env_id, horizon=horizon).examples(2) == examples
    assert env.reset(seed=EXAMPLE_SEED)[0] == examples[0].prompt
    assert max(task_seed(s, i) for s in range(20) for i in range(50)) < EXAMPLE_SEED


def test_examples_keep_the_envs_options() -> None:
    env = make_env("hotmess/PointerChase-v0", horizon=2, n_colours=2)
    env.reset(seed=0)
    (example,) = env.examples(1)
    assert "(red, green)" in example.prompt


def test_examples_are_made_only_when_read_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_env("hotmess/KVSum-v0", horizon=2)
    made: list[int] = []
    real = ToolEnv.examples

    def counting(self: ToolEnv, n: int) -> list[Example]:
        made.append(n)
        return real(self, n)

    monkeypatch.setattr(ToolEnv, "examples", counting)
    _, info = env.reset(seed=0)
    assert made == []
    first = info["examples"][:1]
    assert made == [1] and info["examples"][0] == first[0]
    assert len(info["examples"]) == 8
    assert info["examples"][-1] == env.examples(8)[-1]
    assert env.examples(3) == env.examples(8)[:3]  # a prefix, from the cache


class HandWritten(KVSumEnv):
    def examples(self, n: int) -> list[Example]:
        call = json.dumps({"tool": "submit", "arguments": {"answer": 0}})
        return [Example("Sum no keys.", ((call, "Answer submitted."),))][:n]


def test_an_env_can_hand_write_its_examples() -> None:
    _, info = HandWritten(horizon=3).reset(seed=0)
    assert [e.prompt for e in info["examples"][:4]] == ["Sum no keys."]
    assert len(info["examples"]) == 1


@pytest.mark.bwrap
def test_a_sandboxed_envs_examples_run_in_sandboxes_of_their_own(bwrap_ready: Any) -> None:
    env = make_env("hotmess/FileChain-v0", horizon=2, sandbox="bwrap")
    try:
        prompt, info = env.reset(seed=3)
        sandbox = env.sandbox
        (example,) = info["examples"][:1]
        assert len(example.steps) >= 3 and example.steps[-1][1] == "Answer submitted."
        assert env.sandbox is sandbox
        oracle = env.oracle()
        observation, done = prompt, False
        while not done:  # the episode's own sandbox still works
            observation, _, terminated, truncated, info = env.step(oracle.act(observation))
            done = terminated or truncated
        assert info["outcome"].success
    finally:
        env.close()
