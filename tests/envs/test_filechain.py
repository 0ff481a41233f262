"""FileChain's generator and the shared sandbox tools, exercised through FileChain."""

from __future__ import annotations

import posixpath

import pytest

from hotmess.envs import make_env
from hotmess.envs.base import tool_call


def chain_env(**kwargs):
    env = make_env("hotmess/FileChain-v0", sandbox="none", **kwargs)
    return env


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_generator_invariants(difficulty):
    env = chain_env(horizon=24, difficulty=difficulty)
    for seed in range(5):
        env._generate(seed)
        names = [posixpath.basename(p) for p in env.contents]
        assert len(names) == len(set(names))  # a bare name identifies one file
        assert len(env.chain) == 24 and not set(env.chain) & set(env.decoys)
        assert all(env.successor[d] in set(env.decoys) for d in env.decoys)
        for path, nxt in zip(env.chain, env.chain[1:], strict=False):
            assert env.successor[path] == nxt
        kinds = {env.pointer_kind[p] for p in env.contents}
        assert (
            kinds
            <= {
                "easy": {"path"},
                "medium": {"path", "relative"},
                "hard": {"path", "relative", "name"},
            }[difficulty]
        )


def test_hard_tasks_use_every_pointer_kind_and_more_filler():
    easy, hard = chain_env(horizon=32, difficulty="easy"), chain_env(horizon=32, difficulty="hard")
    easy._generate(3)
    hard._generate(3)
    assert {hard.pointer_kind[p] for p in hard.contents} == {"path", "relative", "name"}
    lines = lambda env: sum(c.count("\n") for c in env.contents.values()) / len(env.contents)  # noqa: E731
    assert lines(hard) > lines(easy) + 3


def test_bad_n_labels():
    from hotmess.errors import ConfigError

    with pytest.raises(ConfigError, match="n_labels must be between 2 and 12"):
        chain_env(n_labels=20)


@pytest.fixture
def env(sandbox_kind):
    environment = make_env("hotmess/FileChain-v0", horizon=3, sandbox=sandbox_kind, max_actions=100)
    environment.reset(seed=0)
    yield environment
    environment.close()


def observe(env, tool, **arguments):
    observation, _, terminated, _, info = env.step(tool_call(tool, **arguments))
    assert not terminated
    return observation, info


def test_bash_shows_output_and_exit_code_like_a_terminal(env):
    observation, info = observe(env, "bash", command="ls; echo oops >&2; (exit 3)")
    assert env.chain[0].split("/")[0] in observation
    assert observation.endswith("oops\n[exit code 3]") and not info["error"]
    observation, _ = observe(env, "bash", command="true")
    assert observation == "(no output)\n[exit code 0]"


def test_files_tools_and_their_errors(env):
    observation, info = observe(env, "read_file", path="nope.txt")
    assert info["error"] and observation == "Error: no such file: nope.txt"
    observation, _ = observe(env, "write_file", path="notes/a.txt", content="alpha\nbeta\nalpha\n")
    assert observation == "Wrote 17 bytes to notes/a.txt."
    assert observe(env, "read_file", path="notes/a.txt")[0] == "alpha\nbeta\nalpha\n"
    observation, info = observe(env, "edit_file", path="notes/a.txt", old="alpha", new="x")
    assert info["error"] and "occurs 2 times" in observation
    observation, info = observe(env, "edit_file", path="notes/a.txt", old="gamma", new="x")
    assert info["error"] and "does not occur" in observation
    observation, info = observe(env, "edit_file", path="notes/a.txt", old="", new="x")
    assert info["error"] and "empty" in observation
    observation, info = observe(env, "edit_file", path="notes/a.txt", old="beta\n", new="BETA\n")
    assert (
        not info["error"]
        and observe(env, "bash", command="cat notes/a.txt")[0]
        == "alpha\nBETA\nalpha\n[exit code 0]"
    )
    observation, info = observe(env, "read_file", path="notes")
    assert info["error"] and "is a directory" in observation


def test_no_run_tests_tool_without_tests(env):
    observation, info = observe(env, "run_tests")
    assert info["error"] and "there is no tool 'run_tests'" in observation


def test_a_long_command_output_is_capped_in_the_observation(env):
    observation, _ = observe(env, "bash", command="seq 1 200000")
    assert (
        "bytes cut" in observation
        and observation.startswith("1\n2\n")
        and "200000\n[exit code 0]" in observation
    )


def test_a_new_episode_gets_a_fresh_sandbox(env):
    observe(env, "bash", command="echo leftover > /work/mark")
    first = env.sandbox
    env.reset(seed=1)
    assert env.sandbox is not first
    assert "No such file" in observe(env, "bash", command="cat /work/mark")[0]
