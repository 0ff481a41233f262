"""Agent specs, the registry, third-party agents, and the scripted baselines' ground truth."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from hotmess.agents import AgentSpec, make_agent
from hotmess.envs import make_env
from hotmess.errors import ConfigError, UnknownAgentError
from hotmess.runner import run_episode
from hotmess.runner.cells import agent_seed


@pytest.mark.parametrize(
    ("text", "name", "arg", "options", "canonical"),
    [
        ("oracle", "oracle", None, {}, "oracle"),
        ("noisy:p=0.1", "noisy", None, {"p": 0.1}, "noisy:p=0.1"),
        (
            "noisy:systematic=true,p=0.25",
            "noisy",
            None,
            {"p": 0.25, "systematic": True},
            "noisy:p=0.25,systematic=true",
        ),
        (
            "openai:gpt-4o,temperature=0.7",
            "openai",
            "gpt-4o",
            {"temperature": 0.7},
            "openai:gpt-4o,temperature=0.7",
        ),
        (
            "my_pkg.agents:MyAgent,name=x",
            "my_pkg.agents",
            "MyAgent",
            {"name": "x"},
            "my_pkg.agents:MyAgent,name=x",
        ),
    ],
)
def test_spec_parsing_and_canonical_form(text, name, arg, options, canonical):
    spec = AgentSpec.parse(text)
    assert (spec.name, spec.arg, spec.options) == (name, arg, options)
    assert str(spec) == canonical
    assert AgentSpec.parse(str(spec)) == spec


def test_spec_errors_are_clear():
    with pytest.raises(ConfigError, match="empty agent spec"):
        AgentSpec.parse(" ")
    with pytest.raises(ConfigError, match="'b' is not KEY=VALUE"):
        AgentSpec.parse("openai:a,b")
    with pytest.raises(
        UnknownAgentError,
        match="unknown agent 'wizard'; built-in: anthropic, local, noisy, openai, oracle, random",
    ):
        make_agent("wizard")
    with pytest.raises(UnknownAgentError, match="module 'no_such_module' cannot be imported"):
        make_agent("no_such_module:Agent")
    with pytest.raises(ConfigError, match=r"unknown option 'q' \(it takes: p, systematic\)"):
        make_agent("noisy:q=1")
    with pytest.raises(ConfigError, match="p: Input should be less than or equal to 1"):
        make_agent("noisy:p=2")
    with pytest.raises(ConfigError, match="takes no model name"):
        make_agent("oracle:gpt-4o")


def test_third_party_agent_from_module_and_class(tmp_path, monkeypatch):
    (tmp_path / "thirdparty_agent.py").write_text(
        textwrap.dedent(
            """
            import json

            class AlwaysSubmit:
                def __init__(self, answer=0):
                    self.answer = answer

                def reset(self, task, seed):
                    self.task = task

                def act(self, observation):
                    return json.dumps({"tool": "submit", "arguments": {"answer": self.answer}})

            class NotAnAgent:
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = make_agent("thirdparty_agent:AlwaysSubmit,answer=7")
    record = run_episode(make_env("hotmess/KVSum-v0", horizon=2), agent, 0, agent_seed=0)
    assert record.outcome.prediction == 7.0 and record.outcome.n_actions == 1
    with pytest.raises(ConfigError, match="unexpected keyword argument 'colour'"):
        make_agent("thirdparty_agent:AlwaysSubmit,colour=red")
    with pytest.raises(UnknownAgentError, match="lacks reset"):
        make_agent("thirdparty_agent:NotAnAgent")
    with pytest.raises(UnknownAgentError, match="has no class 'Missing'"):
        make_agent("thirdparty_agent:Missing")


def success_rate(spec: str, env_id: str, horizon: int, n: int) -> float:
    env, agent = make_env(env_id, horizon=horizon), make_agent(spec)
    return float(
        np.mean(
            [
                run_episode(
                    env, agent, seed, agent_seed=agent_seed(seed, horizon, seed)
                ).outcome.success
                for seed in range(n)
            ]
        )
    )


@pytest.mark.parametrize("horizon", [1, 4, 8, 16])
def test_noisy_success_follows_the_per_step_error_rate(horizon):
    n = 600
    rate = success_rate("noisy:p=0.1", "hotmess/KVSum-v0", horizon, n)
    expected = 0.9**horizon
    # Two misreads can cancel (offsets are symmetric), so success may sit a hair above 0.9^H.
    assert abs(rate - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 0.01


def test_noisy_extremes():
    assert success_rate("noisy:p=0", "hotmess/PointerChase-v0", 8, 20) == 1.0
    assert success_rate("noisy:p=1", "hotmess/KVSum-v0", 8, 20) < 0.1


def test_noisy_never_emits_a_malformed_call():
    env, agent = make_env("hotmess/PointerChase-v0", horizon=16), make_agent("noisy:p=0.5")
    for seed in range(20):
        record = run_episode(env, agent, seed, agent_seed=agent_seed(seed, 16, seed))
        assert not any(step.tool_error for step in record.steps)
        assert record.outcome.n_actions == 17


def test_systematic_noise_repeats_the_same_errors_for_every_sample():
    env, agent = make_env("hotmess/KVSum-v0", horizon=16), make_agent("noisy:p=0.3,systematic=true")
    for task_seed in range(5):
        answers = {
            run_episode(
                env, agent, task_seed, agent_seed=agent_seed(task_seed, 16, s)
            ).outcome.prediction
            for s in range(6)
        }
        assert len(answers) == 1


def test_independent_noise_differs_between_samples():
    env, agent = make_env("hotmess/KVSum-v0", horizon=16), make_agent("noisy:p=0.3")
    answers = {
        run_episode(env, agent, 0, agent_seed=agent_seed(0, 16, s)).outcome.prediction
        for s in range(8)
    }
    assert len(answers) > 1


def test_same_sample_same_episode():
    env, agent = make_env("hotmess/PointerChase-v0", horizon=8), make_agent("noisy:p=0.3")
    first = run_episode(env, agent, 4, agent_seed=agent_seed(4, 8, 2))
    second = run_episode(env, agent, 4, agent_seed=agent_seed(4, 8, 2))
    assert [s.action for s in first.steps] == [s.action for s in second.steps]


def test_random_almost_never_succeeds():
    assert success_rate("random", "hotmess/KVSum-v0", 4, 200) < 0.03
    assert success_rate("random", "hotmess/PointerChase-v0", 8, 200) < 0.15


def test_agent_exception_is_recorded_as_the_agents_failure(tmp_path, monkeypatch):
    (tmp_path / "crashing_agent.py").write_text(
        "class Crash:\n    def reset(self, task, seed): pass\n    def act(self, observation): raise ValueError('boom')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    record = run_episode(
        make_env("hotmess/KVSum-v0", horizon=2), make_agent("crashing_agent:Crash"), 0, agent_seed=0
    )
    # The agent's code is under test: its exception counts against it, it is not censored.
    assert record.outcome.agent_failure == "agent.act raised ValueError: boom"
    assert record.outcome.infra_error is None
    assert not record.outcome.success and record.outcome.prediction is None
