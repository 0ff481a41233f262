"""AnthropicAgent against a real HTTP server on 127.0.0.1 that replays recorded Messages
API bodies (tests/agents/data/anthropic/): the requests the agent sends, how it reads
replies, and what it does when the API fails."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hotmess.agents import Task, make_agent
from hotmess.agents.anthropic_agent import AnthropicAgent, AnthropicConfig
from hotmess.agents.chat import Message, ToolCall
from hotmess.envs import make_env
from hotmess.errors import ConfigError
from hotmess.runner import run_episode

DATA = Path(__file__).parent / "data" / "anthropic"
MODEL = "claude-sonnet-4-5-20250929"  # priced as claude-sonnet-4-5: $3 in, $15 out per Mtok
KEY = "sk-ant-test-key"
MAX_REQUESTS = 50
"""The server answers at most this many requests: a runaway retry loop fails, not hangs."""


def fixture(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeAnthropic:
    """A real HTTP server that answers each POST with the next scripted response and
    records what it was sent."""

    def __init__(self) -> None:
        self.script: deque[Scripted] = deque()
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                with fake.lock:
                    fake.requests.append(
                        Recorded(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw),
                            time.monotonic(),
                        )
                    )
                    over = len(fake.requests) > MAX_REQUESTS
                    step = None if over or not fake.script else fake.script.popleft()
                if step is None:
                    step = Scripted(
                        400,
                        {
                            "type": "error",
                            "error": {
                                "type": "invalid_request_error",
                                "message": "test server: no scripted response left",
                            },
                        },
                    )
                time.sleep(step.delay)
                payload = json.dumps(step.body).encode()
                try:
                    self.send_response(step.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in step.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the time-out test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def reply(
        self,
        name: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        patch: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Queue a recorded body (optionally patched); returns the body as it will be sent."""
        body = fixture(name)
        if patch is not None:
            patch(body)
        self.script.append(Scripted(status, body, headers or {}, delay))
        return copy.deepcopy(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    yield server
    server.close()


def agent_for(api: FakeAnthropic, **options: Any) -> AnthropicAgent:
    settings: dict[str, Any] = {"model": MODEL, "backoff_s": 0.0, "timeout_s": 5.0}
    config = AnthropicConfig(base_url=api.url, api_key=KEY, **{**settings, **options})
    return AnthropicAgent(config)


def set_input(**arguments: Any) -> Callable[[dict[str, Any]], None]:
    def patch(body: dict[str, Any]) -> None:
        next(b for b in body["content"] if b["type"] == "tool_use")["input"] = arguments

    return patch


TASK = Task(
    env_id="test",
    horizon=1,
    task_seed=0,
    prompt="Sum the values.",
    tools=[
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Read a key.",
                "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
            },
        }
    ],
    max_actions=4,
)


def tokens_in(body: dict[str, Any]) -> int:
    usage = body["usage"]
    return (
        usage["input_tokens"]
        + usage["cache_creation_input_tokens"]
        + usage["cache_read_input_tokens"]
    )


def test_multi_step_kvsum_episode_requests_and_replies(api: FakeAnthropic) -> None:
    seed = 7
    probe = make_env("hotmess/KVSum-v0", horizon=2)
    probe.reset(seed=seed)
    keys, table, total = probe.keys, probe.table, probe.total  # type: ignore[attr-defined]
    sent = [
        api.reply("tool_use_with_text", patch=set_input(key=keys[0])),
        api.reply("thinking_tool_use", patch=set_input(key=keys[1])),
        api.reply("end_turn_text"),
        api.reply("tool_use_only", patch=set_input(answer=total)),
    ]
    agent = agent_for(api, thinking_budget=2048, max_tokens=4096)
    env = make_env("hotmess/KVSum-v0", horizon=2)
    record = run_episode(env, agent, seed, agent_seed=0)
    agent.close()

    # What came of the replies: four actions, the third a reply that was no tool call.
    assert record.outcome.success and record.outcome.infra_error is None
    assert [json.loads(s.action)["tool"] if s.tool else None for s in record.steps] == [
        "lookup",
        "lookup",
        None,
        "submit",
    ]
    assert json.loads(record.steps[1].action) == {"tool": "lookup", "arguments": {"key": keys[1]}}
    assert record.steps[2].action == "I have read both values, so the total is their sum."
    assert record.steps[2].tool_error
    assert record.steps[0].agent_message == "I'll start by looking up the first key."
    for step, body in zip(record.steps, sent, strict=True):
        assert step.tokens_in == tokens_in(body)
        assert step.tokens_out == body["usage"]["output_tokens"]
        assert step.cost == pytest.approx((step.tokens_in * 3.0 + step.tokens_out * 15.0) / 1e6)
    assert record.steps[1].tokens_in == 48 + 702  # cache writes count as input

    # What the agent sent.
    assert len(api.requests) == 4
    for request in api.requests:
        assert request.path == "/v1/messages"
        assert request.headers["x-api-key"] == KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert request.headers["content-type"] == "application/json"
        body = request.body
        assert body["model"] == MODEL and body["max_tokens"] == 4096
        assert body["system"] == agent.system_prompt
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert body["temperature"] == 1.0
        assert "seed" not in body
        assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
        assert [t["name"] for t in body["tools"]] == ["lookup", "submit"]
        assert all(set(t) == {"name", "description", "input_schema"} for t in body["tools"])
        assert body["tools"][0]["input_schema"]["properties"]["key"]["type"] == "string"
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) + ["user"]
        assert all(m["role"] in ("user", "assistant") for m in body["messages"])

    first, last = api.requests[0].body["messages"], api.requests[3].body["messages"]
    assert first == [{"role": "user", "content": [{"type": "text", "text": record.prompt}]}]
    assert len(last) == 7
    # Assistant turns go back exactly as they came: text, thinking with its signature, tool use.
    assert last[1]["content"] == sent[0]["content"]
    assert last[3]["content"] == sent[1]["content"]
    thinking = last[3]["content"][0]
    assert thinking["type"] == "thinking"
    assert thinking["signature"] == fixture("thinking_tool_use")["content"][0]["signature"]
    assert last[5]["content"] == sent[2]["content"]
    # Observations answer the calls they belong to.
    assert last[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
            "content": f"{keys[0]} = {table[keys[0]]}",
        }
    ]
    assert last[4]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01WaeSyitUGJFaaPe68cJuEv",
            "content": f"{keys[1]} = {table[keys[1]]}",
        }
    ]
    assert last[6]["content"][0]["type"] == "text"
    assert last[6]["content"][0]["text"].startswith("Observation:\nError:")


def test_unknown_model_has_no_cost_and_text_only_reply_is_the_action(api: FakeAnthropic) -> None:
    api.reply("end_turn_text")
    agent = agent_for(api, model="claude-future-9")
    agent.reset(TASK, seed=1)
    step = agent.act("")
    assert step.action == "I have read both values, so the total is their sum."
    assert step.cost is None
    assert (step.tokens_in, step.tokens_out) == (83 + 702, 18)
    body = api.requests[0].body
    assert "thinking" not in body and body["temperature"] == 1.0
    assert body["tools"] == [
        {
            "name": "lookup",
            "description": "Read a key.",
            "input_schema": {"type": "object", "properties": {"key": {"type": "string"}}},
        }
    ]


def test_529_overloaded_is_retried(api: FakeAnthropic) -> None:
    api.reply("error_overloaded_529", status=529)
    api.reply("tool_use_with_text")
    agent = agent_for(api)
    agent.reset(TASK, seed=1)
    step = agent.act("")
    assert json.loads(step.action) == {"tool": "lookup", "arguments": {"key": "alpha"}}
    assert step.error == "1 retried request(s)" and step.infra_error is None
    assert len(api.requests) == 2
    assert api.requests[0].body == api.requests[1].body


def test_overloaded_error_body_is_transient_whatever_the_status(api: FakeAnthropic) -> None:
    api.reply("error_overloaded_529", status=400)
    api.reply("tool_use_with_text")
    agent = agent_for(api)
    agent.reset(TASK, seed=1)
    assert agent.act("").infra_error is None
    assert len(api.requests) == 2


def test_429_honours_retry_after(api: FakeAnthropic) -> None:
    api.reply("error_rate_limit_429", status=429, headers={"retry-after": "1"})
    api.reply("tool_use_with_text")
    agent = agent_for(api)  # backoff_s=0: any wait comes from retry-after
    agent.reset(TASK, seed=1)
    step = agent.act("")
    assert step.infra_error is None and step.error == "1 retried request(s)"
    waited = api.requests[1].at - api.requests[0].at
    assert 1.0 <= waited < 3.0


def test_time_out_is_retried(api: FakeAnthropic) -> None:
    api.reply("tool_use_with_text", delay=1.0)
    api.reply("tool_use_with_text")
    agent = agent_for(api, timeout_s=0.2)
    agent.reset(TASK, seed=1)
    step = agent.act("")
    assert step.infra_error is None and step.error == "1 retried request(s)"


def test_400_is_a_config_error_and_not_retried(api: FakeAnthropic) -> None:
    api.reply("error_invalid_request_400", status=400)
    agent = agent_for(api)
    env = make_env("hotmess/KVSum-v0", horizon=2)
    with pytest.raises(ConfigError, match=r"HTTP 400: invalid_request_error: max_tokens: 100000"):
        run_episode(env, agent, 3, agent_seed=0)
    assert len(api.requests) == 1


def test_401_names_the_key_variable(api: FakeAnthropic) -> None:
    unauthorized = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    api.script.append(Scripted(401, unauthorized))
    agent = agent_for(api)
    agent.reset(TASK, seed=1)
    with pytest.raises(ConfigError, match=r"authentication_error.*ANTHROPIC_API_KEY"):
        agent.act("")


def test_retries_exhausted_is_an_infra_error_in_the_episode(api: FakeAnthropic) -> None:
    for _ in range(3):
        api.reply("error_overloaded_529", status=529)
    agent = agent_for(api, max_retries=2)
    env = make_env("hotmess/KVSum-v0", horizon=2)
    record = run_episode(env, agent, 3, agent_seed=0)
    assert len(api.requests) == 3
    assert record.outcome.infra_error is not None
    assert "failed 3 time(s)" in record.outcome.infra_error
    assert "overloaded_error: Overloaded" in record.outcome.infra_error
    assert record.outcome.prediction is None and len(record.steps) == 1


def test_a_second_tool_call_is_answered_as_not_run(api: FakeAnthropic) -> None:
    def two_calls(body: dict[str, Any]) -> None:
        body["content"].append(
            {"type": "tool_use", "id": "toolu_01Second", "name": "lookup", "input": {"key": "b"}}
        )

    api.reply("tool_use_with_text", patch=two_calls)
    api.reply("tool_use_only")
    agent = agent_for(api)
    agent.reset(TASK, seed=1)
    agent.act("")
    agent.act("alpha = 3")
    results = api.requests[1].body["messages"][2]["content"]
    assert [r["tool_use_id"] for r in results] == [
        "toolu_01A09q90qw90lq917835lq9",
        "toolu_01Second",
    ]
    assert results[0]["content"] == "alpha = 3" and "is_error" not in results[0]
    assert results[1]["is_error"] is True


def test_consecutive_user_content_is_merged_with_tool_results_first(api: FakeAnthropic) -> None:
    agent = agent_for(api)
    call = ToolCall("lookup", {"key": "a"}, "toolu_1")
    turns = agent.api_messages(
        [
            Message("system", "sys"),
            Message("user", "task"),
            Message("user", "more"),
            Message("assistant", "", tool_call=call),
            Message("tool", "a = 1", tool_call_id="toolu_1"),
            Message("user", "Observation:\nnote"),
            Message("assistant", ""),
            Message("user", "again"),
        ]
    )
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[0]["content"] == [
        {"type": "text", "text": "task"},
        {"type": "text", "text": "more"},
    ]
    assert turns[1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"key": "a"}}
    ]
    assert [b["type"] for b in turns[2]["content"]] == ["tool_result", "text"]
    assert turns[3]["content"] == [{"type": "text", "text": "(empty reply)"}]


def test_missing_api_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        make_agent("anthropic:claude-sonnet-4-5")


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    agent = make_agent("anthropic:claude-sonnet-4-5")
    assert isinstance(agent, AnthropicAgent)
    assert agent.config.api_key == "sk-env"
    assert agent.url == "http://127.0.0.1:9/v1/messages"
    assert "sk-env" not in repr(agent.config) and "api_key" not in agent.config.model_dump()
    agent.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("thinking_budget=2048", r"max_tokens \(1024\) must exceed thinking_budget \(2048\)"),
        ("thinking_budget=2048,max_tokens=2048", r"max_tokens \(2048\) must exceed"),
        ("thinking_budget=2048,max_tokens=4096,temperature=0.5", "needs temperature 1"),
        ("thinking_budget=2048,max_tokens=4096,top_p=0.5", "top_p of at least 0.95"),
        ("thinking_budget=512,max_tokens=4096", "greater than or equal to 1024"),
    ],
)
def test_thinking_budget_validation(
    monkeypatch: pytest.MonkeyPatch, options: str, message: str
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    with pytest.raises(ConfigError, match=message):
        make_agent(f"anthropic:claude-sonnet-4-5,{options}")
    agent = make_agent("anthropic:claude-sonnet-4-5,thinking_budget=2048,max_tokens=4096")
    assert isinstance(agent, AnthropicAgent) and agent.config.temperature == 1.0
    agent.close()


def test_top_p_alone_leaves_temperature_to_the_api(api: FakeAnthropic) -> None:
    agent = agent_for(api, top_p=0.9)
    agent.reset(TASK, seed=1)
    body = agent.request_body(agent.messages, agent.tools)
    assert body["top_p"] == 0.9 and "temperature" not in body
    both = agent_for(api, top_p=0.9, temperature=0.7, extra={"top_k": 5})
    both.reset(TASK, seed=1)
    body = both.request_body(both.messages, both.tools)
    assert (body["top_p"], body["temperature"], body["top_k"]) == (0.9, 0.7, 5)
