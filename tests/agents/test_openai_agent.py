"""The `openai:` agent against real servers: scripted chat-completions servers on 127.0.0.1
(an oracle policy speaking the wire format, and failures on cue: 429, 500, 401, time-outs)
and llama.cpp's own OpenAI-compatible server running SmolLM2 (`local_model`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hotmess.agents import Task, make_agent
from hotmess.agents.openai_agent import DEFAULT_BASE_URL, OpenAIAgent, OpenAIConfig
from hotmess.envs import make_env
from hotmess.envs.base import ToolEnv
from hotmess.errors import ConfigError
from hotmess.runner import (
    SweepConfig,
    episode_record,
    run_episode,
    run_sweep,
    single_cell,
)
from hotmess.runner.sweep import task_seed
from hotmess.scoring import score_run
from hotmess.store import EpisodeRecord

ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]
MODEL = "scripted-model"
"""Not in the pricing table: cost is None unless prices are given."""


def agent_for(url: str, **options: Any) -> OpenAIAgent:
    base = {"model": MODEL, "base_url": url, "backoff_s": 0.01, "max_retries": 3}
    return OpenAIAgent(OpenAIConfig(**{**base, **options}))


def task(prompt: str = "Look up the key 'alpha' and submit its value.") -> Task:
    spec = make_env("hotmess/KVSum-v0", horizon=1).reset(seed=0)[1]["tools"]
    return Task("hotmess/KVSum-v0", 1, 0, prompt, spec, 4)


class OraclePolicy:
    """A chat-completions "model" that plays the env's oracle: it finds the task by its
    prompt, replays the observations in the transcript through a fresh oracle, and answers
    with the next call (native, or a fenced JSON block in text mode). It answers 400 to a
    request that breaks the wire protocol, which fails the test with the reason."""

    def __init__(
        self, servers: Any, envs: list[str], horizons: list[int], seeds: list[int], *, native: bool
    ) -> None:
        self.servers = servers
        self.native = native
        self.tasks: dict[str, tuple[str, int, int, list[dict[str, Any]]]] = {}
        for env_id in envs:
            for horizon in horizons:
                for seed in seeds:
                    info = make_env(env_id, horizon=horizon).reset(seed=seed)[1]
                    self.tasks[info["prompt"]] = (env_id, horizon, seed, info["tools"])

    def __call__(self, request: Any) -> Any:
        Answer, completion = self.servers.Answer, self.servers.completion
        body = request.body
        problem = self.protocol_problem(body)
        if problem:
            return Answer(400, {"error": {"message": f"protocol violation: {problem}"}})
        messages = body["messages"]
        env_id, horizon, seed, _ = self.tasks[messages[1]["content"]]
        env = make_env(env_id, horizon=horizon)
        prompt = env.reset(seed=seed)[0]
        oracle = env.oracle()
        observations = [prompt] + [
            m["content"].removeprefix("Observation:\n")
            for m in messages[2:]
            if m["role"] in ("tool", "user")
        ]
        for observation in observations:
            action = oracle.act(observation)
        call = json.loads(action)
        tokens = {"prompt_tokens": 20 + len(messages), "completion_tokens": 5}
        if self.native:
            return Answer(
                200,
                completion(
                    None, call["tool"], call["arguments"], call_id=f"call_{len(messages)}", **tokens
                ),
            )
        return Answer(200, completion(f"Next:\n```json\n{action}\n```", **tokens))

    def protocol_problem(self, body: dict[str, Any]) -> str | None:
        messages = body["messages"]
        if [m["role"] for m in messages[:2]] != ["system", "user"]:
            return "the transcript must open with the system prompt and the task"
        if messages[1]["content"] not in self.tasks:
            return "unknown task prompt"
        tools = self.tasks[messages[1]["content"]][3]
        if not self.native:
            if "tools" in body or "```json" not in messages[0]["content"]:
                return "text mode must not send tools and must describe the JSON format"
            return None
        if body.get("tools") != tools or body.get("tool_choice") != "auto":
            return "native mode must send the env's tool specs as given, with tool_choice auto"
        for i, message in enumerate(messages[2:], start=2):
            if message["role"] == "assistant":
                calls = message.get("tool_calls") or []
                if len(calls) != 1 or not isinstance(calls[0]["function"]["arguments"], str):
                    return f"message {i}: an assistant turn must carry its one call, arguments as a JSON string"
                answer = messages[i + 1] if i + 1 < len(messages) else {}
                if answer.get("role") != "tool" or answer.get("tool_call_id") != calls[0]["id"]:
                    return f"message {i + 1}: a tool result must answer call {calls[0]['id']}"
        return None


# -- configuration ------------------------------------------------------------------------


def test_config_reads_the_environment_and_requires_a_key_only_for_openai(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert OpenAIConfig(model="gpt-4o").base_url == DEFAULT_BASE_URL
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        make_agent("openai:gpt-4o")
    # Another server needs no key.
    local = make_agent("openai:m,base_url=http://127.0.0.1:9/v1/")
    assert isinstance(local, OpenAIAgent)
    assert local.config.base_url == "http://127.0.0.1:9/v1"
    assert "authorization" not in {k.lower() for k in local.client.headers}
    local.close()
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    agent = make_agent("openai:gpt-4o")
    assert isinstance(agent, OpenAIAgent)
    assert agent.config.base_url == "http://127.0.0.1:9/v1"
    assert agent.client.headers["authorization"] == "Bearer sk-test"
    assert "sk-test" not in repr(agent.config)
    agent.close()
    assert agent.client.is_closed
    with pytest.raises(ConfigError, match="base_url"):
        make_agent("openai:m,base_url=127.0.0.1:8000")
    with pytest.raises(ConfigError, match="reasoning_effort"):
        make_agent("openai:m,reasoning_effort=extreme")


def test_request_body_follows_the_chat_completions_shape(chat_server):
    server = chat_server(
        lambda r: chat_server.Answer(200, chat_server.completion("ok", "lookup", {"key": "alpha"}))
    )
    agent = agent_for(
        server.base_url,
        api_key="sk-local",
        temperature=0.3,
        top_p=0.9,
        max_tokens=77,
        seed=5,
        extra={"stop": ["<end>"]},
    )
    agent.reset(task(), seed=11)
    agent.act("the task")
    agent.act("alpha = 3")
    first, second = (r.body for r in server.requests)
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == "Bearer sk-local"
    assert first["model"] == MODEL
    assert (first["temperature"], first["top_p"], first["max_tokens"]) == (0.3, 0.9, 77)
    assert first["stop"] == ["<end>"] and "reasoning_effort" not in first
    assert first["tools"] == task().tools and first["tool_choice"] == "auto"
    assert isinstance(first["seed"], int) and first["seed"] != second["seed"]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assistant, tool = second["messages"][2:]
    assert assistant == {
        "role": "assistant",
        "content": "ok",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"key": "alpha"}'},
            }
        ],
    }
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "alpha = 3"}

    reasoning = agent_for(server.base_url, reasoning_effort="high", max_tokens=50)
    reasoning.reset(task(), seed=1)
    reasoning.act("the task")
    body = server.requests[-1].body
    assert body["reasoning_effort"] == "high" and body["max_completion_tokens"] == 50
    assert "max_tokens" not in body and "top_p" not in body

    text = agent_for(server.base_url, tool_mode="text")
    text.reset(task(), seed=1)
    text.act("the task")
    assert "tools" not in server.requests[-1].body and "tool_choice" not in server.requests[-1].body


# -- whole episodes against an oracle policy ----------------------------------------------


def run_record(env: ToolEnv, agent: OpenAIAgent, seed: int, spec: str) -> EpisodeRecord:
    """One episode (a sweep's sample 0 of task `seed`) as the run store would keep it."""
    cell = single_cell(env.env_id, env.horizon, seed, spec)
    return episode_record(cell, run_episode(env, agent, seed, agent_seed=cell.agent_seed))


def check_record(record: EpisodeRecord, cost: float | None) -> None:
    """A record that survives the run store, with per-step accounting."""
    assert EpisodeRecord.model_validate_json(record.model_dump_json()) == record
    assert record.outcome.infra_error is None
    assert record.steps and record.outcome.n_actions == len(record.steps)
    for step in record.steps:
        assert step.tokens_in > 0 and step.tokens_out > 0
        assert step.latency_s > 0
        assert step.cost == cost


@pytest.mark.parametrize("native", [True, False], ids=["native", "text"])
@pytest.mark.parametrize("horizon", [1, 2, 3, 4])
@pytest.mark.parametrize("env_id", ENVS)
def test_episodes_end_to_end_against_an_oracle_policy(chat_server, env_id, horizon, native):
    server = chat_server(OraclePolicy(chat_server, [env_id], [horizon], [42], native=native))
    agent = agent_for(server.base_url, tool_mode="native" if native else "text")
    record = run_record(make_env(env_id, horizon=horizon), agent, 42, "openai:x")
    check_record(record, cost=None)
    assert record.outcome.success, record.steps[-1].observation
    assert len(record.steps) == horizon + 1 == server.count
    for step in record.steps:
        call = json.loads(step.action)
        assert step.tool == call["tool"] and not step.tool_error
    assert record.steps[-1].tool == "submit"
    # Text mode keeps the model's prose beside the call; native calls here carry none.
    assert all((s.agent_message is None) == native for s in record.steps)
    agent.close()


def test_cost_is_priced_per_step_from_usage(chat_server):
    server = chat_server(OraclePolicy(chat_server, ENVS[:1], [2], [7], native=True))
    priced = agent_for(server.base_url, price_in=3.0, price_out=15.0)
    record = run_episode(make_env(ENVS[0], horizon=2), priced, seed=7, agent_seed=0)
    assert record.outcome.success
    for step in record.steps:
        assert step.cost == pytest.approx((step.tokens_in * 3.0 + step.tokens_out * 15.0) / 1e6)
    known = agent_for(server.base_url, model="gpt-4o-mini-2024-07-18")
    record = run_episode(make_env(ENVS[0], horizon=2), known, seed=7, agent_seed=0)
    assert record.steps[0].cost == pytest.approx(
        (record.steps[0].tokens_in * 0.15 + record.steps[0].tokens_out * 0.60) / 1e6
    )


def test_missing_tool_call_ids_are_generated_and_answered(chat_server):
    answers = iter(
        [
            chat_server.completion(None, "lookup", {"key": "alpha"}, call_id=None),
            chat_server.completion(None, "lookup", {"key": "beta"}, call_id=None),
            chat_server.completion("done"),
        ]
    )
    server = chat_server(lambda r: chat_server.Answer(200, next(answers)), max_requests=3)
    agent = agent_for(server.base_url)
    agent.reset(task(), seed=3)
    for observation in ["the task", "alpha = 1", "beta = 2"]:
        agent.act(observation)
    messages = server.requests[-1].body["messages"]
    ids = [m["tool_calls"][0]["id"] for m in messages if m.get("tool_calls")]
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert len(set(ids)) == 2 and all(ids) and answered == ids


def test_unparsable_arguments_reach_the_env_as_a_malformed_call(chat_server):
    answers = iter(
        [
            chat_server.completion(None, "lookup", '{"key": "alpha"', call_id="c1"),
            chat_server.completion(None, "submit", '"nope"', call_id="c2"),
        ]
    )
    server = chat_server(lambda r: chat_server.Answer(200, next(answers)), max_requests=2)
    env = make_env(ENVS[0], horizon=1, max_actions=2)
    record = run_episode(env, agent_for(server.base_url), seed=1, agent_seed=0)
    first, second = record.steps
    assert first.action == '{"tool": "lookup", "arguments": {"key": "alpha"}'
    assert first.tool is None and first.tool_error
    assert first.observation.startswith("Error: the action is not valid JSON")
    assert second.tool is None and second.tool_error
    assert '"arguments" must be a JSON object' in second.observation
    assert record.outcome.truncated and record.outcome.infra_error is None
    # The failed call went back as plain text, its error as an observation, not a tool result.
    messages = server.requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "tool_calls" not in messages[2]
    assert messages[3]["content"].startswith("Observation:\nError: the action is not valid JSON")


def test_text_mode_works_against_a_server_without_tool_calling(chat_server):
    policy = OraclePolicy(chat_server, ENVS[:1], [3], [5], native=False)

    def no_tools(request: Any) -> Any:
        if "tools" in request.body:
            return chat_server.Answer(400, {"error": {"message": "tools are not supported"}})
        return policy(request)

    server = chat_server(no_tools)
    record = run_episode(
        make_env(ENVS[0], horizon=3),
        agent_for(server.base_url, tool_mode="text"),
        seed=5,
        agent_seed=0,
    )
    assert record.outcome.success and server.count == 4
    native = agent_for(server.base_url)
    with pytest.raises(ConfigError, match=r"HTTP 400: .*tools are not supported"):
        run_episode(make_env(ENVS[0], horizon=3), native, seed=5, agent_seed=0)


def test_sweep_with_an_openai_agent_then_score(chat_server, tmp_path):
    seeds = [task_seed(0, i) for i in range(2)]
    server = chat_server(OraclePolicy(chat_server, ENVS, [1, 2], seeds, native=True))
    spec = f"openai:{MODEL},base_url={server.base_url}"
    config = SweepConfig(
        envs=ENVS,
        agents=[spec],
        horizons=[1, 2],
        tasks=2,
        samples=2,
        workers=1,
        out=tmp_path / "run",
    )
    result = run_sweep(config)
    assert (result.total, result.ran, result.infra_errors) == (16, 16, 0)
    rows = score_run(tmp_path / "run")
    assert {(r.env, r.horizon) for r in rows} == {(e, h) for e in ENVS for h in (1, 2)}
    assert all(r.success_rate == 1.0 and r.n_tasks == 2 and r.infra_errors == 0 for r in rows)
    assert server.count == 2 * 2 * 2 * (2 + 3)


# -- failures: what is retried, what is censored, what stops the run ------------------------


def test_429_waits_for_retry_after_then_succeeds(chat_server):
    def respond(request: Any) -> Any:
        if request.index == 0:
            return chat_server.Answer(
                429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}
            )
        return chat_server.Answer(200, chat_server.completion(None, "lookup", {"key": "alpha"}))

    server = chat_server(respond, max_requests=5)
    agent = agent_for(server.base_url, backoff_s=0.001)
    agent.reset(task(), seed=1)
    step = agent.act("the task")
    assert step.infra_error is None and json.loads(step.action)["tool"] == "lookup"
    assert step.error == "1 retried request(s)"
    assert server.count == 2
    waited = server.requests[1].received_at - server.requests[0].received_at
    assert waited >= 0.95, f"retried after {waited:.2f} s despite Retry-After: 1"


def test_a_server_that_keeps_failing_censors_the_episode(chat_server, tmp_path):
    server = chat_server(
        lambda r: chat_server.Answer(500, {"error": {"message": "overloaded"}}), max_requests=30
    )
    agent = agent_for(server.base_url, max_retries=2)
    record = run_episode(make_env(ENVS[0], horizon=2), agent, seed=1, agent_seed=0)
    assert server.count == 3
    assert record.outcome.infra_error is not None
    assert "failed 3 time(s)" in record.outcome.infra_error
    assert "HTTP 500" in record.outcome.infra_error
    assert len(record.steps) == 1 and record.steps[0].agent_error == record.outcome.infra_error
    assert not record.outcome.success and record.outcome.prediction is None

    # Through a sweep and `hotmess score`: censored, not counted as wrong answers.
    spec = f"openai:{MODEL},base_url={server.base_url},max_retries=2,backoff_s=0.01"
    out = tmp_path / "run"
    result = run_sweep(
        SweepConfig(envs=ENVS[:1], agents=[spec], horizons=[1], tasks=1, samples=2, out=out)
    )
    assert result.infra_errors == 2
    scored = subprocess.run(
        [sys.executable, "-m", "hotmess", "score", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert scored.returncode == 0, scored.stderr
    (row,) = json.loads(scored.stdout)
    assert (row["infra_errors"], row["missing"], row["n_tasks"], row["n_samples"]) == (2, 0, 0, 0)


def test_401_is_a_config_error_and_not_retried(chat_server):
    server = chat_server(
        lambda r: chat_server.Answer(401, {"error": {"message": "Incorrect API key provided"}}),
        max_requests=5,
    )
    with pytest.raises(ConfigError, match=r"HTTP 401: .*Incorrect API key"):
        run_episode(make_env(ENVS[0], horizon=1), agent_for(server.base_url), seed=1, agent_seed=0)
    assert server.count == 1


def test_a_time_out_is_retried(chat_server):
    def respond(request: Any) -> Any:
        delay = 2.0 if request.index == 0 else 0.0
        return chat_server.Answer(
            200, chat_server.completion("", "submit", {"answer": 1}), delay_s=delay
        )

    server = chat_server(respond, max_requests=5)
    agent = agent_for(server.base_url, timeout_s=0.3)
    agent.reset(task(), seed=1)
    started = time.monotonic()
    step = agent.act("the task")
    assert step.infra_error is None and step.error == "1 retried request(s)"
    assert json.loads(step.action) == {"tool": "submit", "arguments": {"answer": 1}}
    assert server.count == 2 and time.monotonic() - started < 1.5


def test_refused_connections_and_non_completions_are_transient(chat_server):
    dead = chat_server(lambda r: chat_server.Answer(), max_requests=5)
    url = dead.base_url
    agent = agent_for(url, max_retries=1)
    agent.reset(task(), seed=1)
    agent.act("the task")  # the server answered once: from now on it is a reachable host
    dead.stop()
    step = agent.act("the task")
    assert step.infra_error is not None and "ConnectError" in step.infra_error
    # A host that never answered is a wrong base_url: a configuration error, no retries.
    never = agent_for(url, max_retries=5)
    never.reset(task(), seed=1)
    with pytest.raises(ConfigError, match="nothing answers at"):
        never.act("the task")

    garbage = chat_server(
        lambda r: chat_server.Answer(200, "<html>bad gateway</html>"), max_requests=5
    )
    agent = agent_for(garbage.base_url, max_retries=1)
    agent.reset(task(), seed=1)
    step = agent.act("the task")
    assert garbage.count == 2 and "without a completion" in (step.infra_error or "")


# -- llama.cpp's server running SmolLM2 -----------------------------------------------------


def call_schema(envs: list[str]) -> dict[str, Any]:
    """`response_format` for any call to these envs' tools, for llama.cpp's `response_format`: it
    turns into a grammar, so even a 135M model writes parsable calls (short strings keep
    the replies, and the test, short)."""

    def short(schema: Any) -> Any:
        if isinstance(schema, dict):
            schema = {k: short(v) for k, v in schema.items() if k != "description"}
            if schema.get("type") == "string":
                schema["maxLength"] = 16
            if isinstance(schema.get("type"), list):  # ["number", "string"]: keep it simple
                schema["type"] = schema["type"][0]
        return schema

    options = []
    for env_id in envs:
        for spec in make_env(env_id, horizon=1).reset(seed=0)[1]["tools"]:
            function = spec["function"]
            options.append(
                {
                    "type": "object",
                    "properties": {
                        "tool": {"const": function["name"]},
                        "arguments": short(function["parameters"]),
                    },
                    "required": ["tool", "arguments"],
                    "additionalProperties": False,
                }
            )
    return {"type": "json_object", "schema": {"anyOf": options}}


def llama_agent(url: str, env_id: str = ENVS[0], **options: Any) -> OpenAIAgent:
    base: dict[str, Any] = {
        "model": "smollm2-135m",
        "base_url": url,
        "tool_mode": "text",
        "max_tokens": 40,
        "context_tokens": 3072,  # under the server's 4096: the token count is an estimate
        "extra": {"response_format": call_schema([env_id])},
    }
    return OpenAIAgent(OpenAIConfig(**{**base, **options}))


@pytest.mark.local_model
@pytest.mark.parametrize("horizon", [1, 2, 3, 4])
@pytest.mark.parametrize("env_id", ENVS)
def test_text_mode_episodes_against_llama_server(llama_server, env_id, horizon):
    agent = llama_agent(llama_server, env_id)
    env = make_env(env_id, horizon=horizon, max_actions=horizon + 1)
    record = run_record(env, agent, horizon, "openai:smollm2-135m")
    agent.close()
    check_record(record, cost=None)
    assert len(record.steps) <= horizon + 1
    assert record.outcome.success or record.outcome.truncated or record.steps[-1].tool == "submit"
    parsed = [s for s in record.steps if s.tool is not None]
    assert parsed, [s.action for s in record.steps]
    for step in parsed:
        assert json.loads(step.action)["tool"] == step.tool
    for step in record.steps:
        assert step.agent_message  # the model's own words are kept beside the action


@pytest.mark.local_model
def test_llama_server_costs_are_priced_when_given(llama_server):
    agent = llama_agent(llama_server, price_in=1.0, price_out=2.0)
    record = run_record(
        make_env(ENVS[0], horizon=1, max_actions=1), agent, 0, "openai:smollm2-135m"
    )
    agent.close()
    (step,) = record.steps
    assert step.tokens_in > 0 and step.cost == pytest.approx(
        (step.tokens_in + 2 * step.tokens_out) / 1e6
    )


@pytest.mark.local_model
def test_native_tool_calls_from_llama_server(llama_server_tools):
    agent = llama_agent(llama_server_tools, tool_mode="native", extra={})
    record = run_record(
        make_env(ENVS[1], horizon=1, max_actions=2), agent, 0, "openai:smollm2-135m"
    )
    agent.close()
    check_record(record, cost=None)
    assert record.steps[0].tool in ("follow", "submit")
    call = agent.messages[2].tool_call
    assert call is not None and call.id.startswith("call_")


@pytest.mark.local_model
def test_sweep_against_llama_server_then_score(llama_server, tmp_path):
    spec = (
        f"openai:smollm2-135m,base_url={llama_server},tool_mode=text,max_tokens=8,"
        "context_tokens=3072"
    )
    # One action per episode keeps 16 episodes of a CPU-bound model quick; truncation is
    # recorded as such, and every cell still gets a scored row.
    config = SweepConfig(
        envs=ENVS,
        agents=[spec],
        horizons=[1, 2],
        tasks=2,
        samples=2,
        workers=1,
        env_options={env: {"max_actions": 1} for env in ENVS},
        out=tmp_path / "run",
    )
    result = run_sweep(config)
    assert (result.total, result.ran, result.infra_errors) == (16, 16, 0)
    rows = score_run(tmp_path / "run")
    assert {(r.env, r.horizon) for r in rows} == {(e, h) for e in ENVS for h in (1, 2)}
    assert all(r.infra_errors == 0 for r in rows)
    episodes = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").open()]
    assert all(s["tokens_in"] > 0 and s["tokens_out"] > 0 for e in episodes for s in e["steps"])


def test_a_full_context_window_truncates_the_episode(chat_server) -> None:
    body = {
        "error": {
            "message": "This model's maximum context length is 2048 tokens.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    server = chat_server(lambda r: chat_server.Answer(400, body), max_requests=5)
    env = make_env("hotmess/KVSum-v0", horizon=2)
    record = run_episode(env, agent_for(server.base_url), 0, agent_seed=0)
    assert record.outcome.truncated and record.outcome.infra_error is None
    assert "context window full" in (record.steps[-1].agent_error or "")
    assert server.count == 1  # not retried: it will not fit on a second try


@pytest.mark.local_model
@pytest.mark.slow
def test_a_sweep_against_a_2048_token_llama_server_completes_truncated(
    llama_server_2048: str, tmp_path: Path
) -> None:
    from hotmess.runner import SweepConfig, run_sweep
    from hotmess.scoring import load_episodes

    # The agent believes its window is larger than the server's, and the task's prompt
    # (1,000 keys to look up) alone outgrows the server's: the server answers HTTP 400.
    agent = (
        f"openai:smollm2,base_url={llama_server_2048},tool_mode=text,max_tokens=16,"
        "context_tokens=32000,temperature=0"
    )
    config = SweepConfig(
        envs=["hotmess/KVSum-v0"],
        agents=[agent],
        horizons=[1000],
        tasks=1,
        samples=2,
        out=tmp_path / "run",
    )
    result = run_sweep(config)
    assert (result.ran, result.infra_errors) == (2, 0)
    outcomes = [r["outcome"] for r in load_episodes(tmp_path / "run")]
    assert any(o["truncated"] for o in outcomes)
    reasons = [s["agent_error"] or "" for r in load_episodes(tmp_path / "run") for s in r["steps"]]
    assert any("context_length_exceeded" in reason for reason in reasons)
