"""The pure-Python envs: the Gymnasium contract, determinism, the oracle, and every way an
agent can get the protocol wrong."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import hotmess
from hotmess.envs import make_env
from hotmess.envs.base import tool_call

PURE_ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]
HORIZONS = [1, 2, 4, 8, 16, 32, 64]


def play(env, actions):
    env.reset(seed=0)
    results = [env.step(action) for action in actions]
    return results


def run_oracle(env, seed):
    observation, _ = env.reset(seed=seed)
    oracle = env.oracle()
    while True:
        observation, reward, terminated, truncated, info = env.step(oracle.act(observation))
        if terminated or truncated:
            return reward, terminated, truncated, info


@pytest.mark.parametrize("env_id", PURE_ENVS)
@pytest.mark.parametrize("horizon", [1, 5, 16])
def test_check_env_passes(env_id, horizon):
    check_env(gym.make(env_id, horizon=horizon).unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", PURE_ENVS)
@pytest.mark.parametrize("horizon", HORIZONS)
def test_oracle_succeeds_at_every_horizon(env_id, horizon):
    env = make_env(env_id, horizon=horizon)
    for seed in range(3):
        reward, terminated, truncated, info = run_oracle(env, seed)
        outcome = info["outcome"]
        assert (reward, terminated, truncated) == (1.0, True, False)
        assert outcome.success and outcome.n_actions == horizon + 1 and not outcome.truncated


@pytest.mark.parametrize("env_id", PURE_ENVS)
def test_same_seed_same_task_different_seed_different_task(env_id):
    a, b = make_env(env_id, horizon=8), make_env(env_id, horizon=8)
    prompt_a, _ = a.reset(seed=11)
    prompt_b, _ = b.reset(seed=11)
    assert prompt_a == prompt_b and a.task_fingerprint() == b.task_fingerprint()
    b.reset(seed=12)
    assert a.task_fingerprint() != b.task_fingerprint()


@pytest.mark.parametrize("env_id", PURE_ENVS)
def test_task_fingerprint_is_the_same_in_another_process(env_id):
    env = make_env(env_id, horizon=16)
    env.reset(seed=1234)
    code = f"import hotmess; e = hotmess.make_env({env_id!r}, horizon=16); e.reset(seed=1234); print(e.task_fingerprint())"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "77", "PATH": ""},
    )
    assert other.stdout.strip() == env.task_fingerprint()


def test_reset_info_carries_prompt_and_openai_tool_specs():
    env = make_env("hotmess/KVSum-v0", horizon=3)
    prompt, info = env.reset(seed=0)
    assert info["prompt"] == prompt and info["horizon"] == 3 and info["task_seed"] == 0
    assert info["max_actions"] == 8  # 2 x (3 lookups + submit)
    names = [spec["function"]["name"] for spec in info["tools"]]
    assert names == ["lookup", "submit"]
    for spec in info["tools"]:
        assert spec["type"] == "function"
        assert spec["function"]["parameters"]["type"] == "object"
        json.dumps(spec)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("not json", "not valid JSON"),
        ('["lookup"]', 'no "tool" name'),
        ('{"tool": "fly", "arguments": {}}', "there is no tool 'fly'. Tools: lookup, submit"),
        ('{"tool": "lookup", "arguments": {}}', "missing required argument(s): key"),
        ('{"tool": "lookup", "arguments": {"key": 3}}', "argument 'key' must be of type string"),
        ('{"tool": "lookup", "arguments": {"key": "a", "x": 1}}', "unknown argument(s): x"),
        ('{"tool": "lookup", "arguments": "a"}', '"arguments" must be a JSON object'),
        ('{"tool": "lookup", "args": {}}', "unexpected key(s) args"),
        ('{"tool": "lookup", "arguments": {"key": "zzzzzzz"}}', "there is no key 'zzzzzzz'"),
        ('{"tool": "submit", "arguments": {"answer": "lots"}}', "the answer must be a number"),
    ],
)
def test_malformed_actions_become_observations_and_count(action, message):
    env = make_env("hotmess/KVSum-v0", horizon=2)
    env.reset(seed=0)
    observation, reward, terminated, truncated, info = env.step(action)
    assert observation.startswith("Error: ") and message in observation
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["error"] and env.n_actions == 1


def test_action_cap_truncates_and_records_a_missing_answer():
    env = make_env("hotmess/KVSum-v0", horizon=2, max_actions=3)
    env.reset(seed=0)
    lookup = tool_call("lookup", key="nope")
    results = [env.step(lookup) for _ in range(3)]
    *_, (observation, reward, terminated, truncated, info) = results
    assert not any(r[3] for r in results[:2])
    assert truncated and not terminated and reward == 0.0
    assert "Action cap of 3 reached" in observation
    outcome = info["outcome"]
    assert (
        outcome.truncated
        and outcome.prediction is None
        and outcome.n_actions == 3
        and not outcome.success
    )
    with pytest.raises(RuntimeError, match="reset"):
        env.step(lookup)


def test_default_cap_is_a_multiple_of_the_horizon():
    for horizon in (1, 7, 64):
        assert make_env("hotmess/PointerChase-v0", horizon=horizon).max_actions == 2 * (horizon + 1)


def test_kvsum_scalar_outcome_and_string_numbers():
    env = make_env("hotmess/KVSum-v0", horizon=3)
    env.reset(seed=5)
    _, reward, terminated, _, info = env.step(tool_call("submit", answer=f" {env.total} "))
    assert terminated and reward == 1.0
    assert (
        info["outcome"].prediction == env.total
        and info["outcome"].target == env.total
        and info["outcome"].kind == "scalar"
    )
    assert info["outcome"].n_actions == 1


def test_kvsum_keys_may_repeat_and_values_are_in_range():
    env = make_env("hotmess/KVSum-v0", horizon=64)
    repeats = 0
    for seed in range(5):
        env.reset(seed=seed)
        assert all(-99 <= v <= 99 for v in env.table.values())
        repeats += len(env.keys) - len(set(env.keys))
    assert repeats > 0


def test_pointer_chase_categorical_answers():
    env = make_env("hotmess/PointerChase-v0", horizon=2, n_colours=6)
    _, info = env.reset(seed=3)
    assert "purple, orange" in info["prompt"]
    gold = env.colour[env.end]
    observation, *_ = env.step(tool_call("submit", answer="ultraviolet"))
    assert (
        "not a valid answer; give one of: red, green, blue, yellow, purple, orange" in observation
    )
    wrong = next(c for c in env.choices if c != gold)
    _, reward, terminated, _, info = env.step(tool_call("submit", answer={gold: 3, wrong: 1}))
    outcome = info["outcome"]
    assert terminated and reward == 1.0
    assert outcome.prediction[env.choices.index(gold)] == pytest.approx(0.75)
    assert outcome.target == env.choices.index(gold) and outcome.choices == env.choices


def test_pointer_chase_json_string_distribution_and_case():
    env = make_env("hotmess/PointerChase-v0", horizon=1)
    env.reset(seed=0)
    gold = env.colour[env.end]
    _, reward, *_ = env.step(tool_call("submit", answer=json.dumps({gold: 1.0})))
    assert reward == 1.0
    env.reset(seed=0)
    _, reward, *_ = env.step(tool_call("submit", answer=gold.upper()))
    assert reward == 1.0


def test_pointer_chase_bad_n_colours():
    with pytest.raises(hotmess.errors.ConfigError, match="n_colours must be between 2 and 12"):
        make_env("hotmess/PointerChase-v0", horizon=2, n_colours=1)


def test_wrong_hop_never_rejoins_the_path():
    env = make_env("hotmess/PointerChase-v0", horizon=32)
    env.reset(seed=9)
    path, node = [env.start], env.start
    for _ in range(32):
        node = env.successor[node]
        path.append(node)
    decoys = set(env.decoys)
    assert len(set(path)) == 33 and not decoys & set(path)
    assert all(env.successor[d] in decoys for d in decoys)


def test_non_ascii_is_escaped_into_the_observation_space():
    env = make_env("hotmess/KVSum-v0", horizon=1)
    env.reset(seed=0)
    observation, *_ = env.step(tool_call("lookup", key="caf\u00e9\u0007"))
    assert env.observation_space.contains(observation)
    assert "caf\\xe9\\x07" in observation


def test_bad_horizon_is_rejected():
    with pytest.raises(hotmess.errors.ConfigError, match="horizon must be a positive integer"):
        make_env("hotmess/KVSum-v0", horizon=0)


def test_unknown_env_is_a_clear_error():
    with pytest.raises(hotmess.errors.UnknownEnvError, match=r"registered: .*hotmess/KVSum-v0"):
        make_env("hotmess/Nope-v0")


def test_render_ansi_shows_the_transcript():
    env = make_env("hotmess/KVSum-v0", horizon=1, render_mode="ansi")
    env.reset(seed=0)
    env.step(tool_call("lookup", key=env.keys[0]))
    text = env.render()
    assert env.keys[0] in text and "> {" in text
