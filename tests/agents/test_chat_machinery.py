"""What every LLM agent shares (`hotmess.agents.chat`): the context window, text-mode call
extraction, replies that are no call, per-request seeds, the concurrency cap, retries,
HTTP error classes and pricing. Network behaviour is tested against real HTTP servers on
127.0.0.1 (the `chat_server` fixture), through the `openai:` agent."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import pytest

from hotmess.agents import Task
from hotmess.agents.chat import (
    SHORTENED,
    TransientError,
    extract_json_call,
    http_failure,
    parse_retry_after,
)
from hotmess.agents.openai_agent import OpenAIAgent, OpenAIConfig
from hotmess.agents.pricing import PRICES, cost_usd, price, register_prices
from hotmess.envs import make_env
from hotmess.errors import ConfigError
from hotmess.runner import Fork, run_episode


def agent_for(url: str, **options: Any) -> OpenAIAgent:
    base = {"model": "scripted-model", "base_url": url, "backoff_s": 0.01, "max_retries": 3}
    return OpenAIAgent(OpenAIConfig(**{**base, **options}))


def kv_task(prompt: str = "Sum the values of alpha and beta.") -> Task:
    tools = make_env("hotmess/KVSum-v0", horizon=1).reset(seed=0)[1]["tools"]
    return Task("hotmess/KVSum-v0", 2, 0, prompt, tools, 20)


def answering(servers: Any, content: str | None = None, **call: Any) -> Any:
    """A `respond` that always gives the same completion."""
    body = servers.completion(content, **call)
    return lambda request: servers.Answer(200, body)


# -- the context window ---------------------------------------------------------------------


@pytest.mark.parametrize("tool_mode", ["native", "text"])
def test_old_observations_are_shortened_to_fit_the_window(chat_server, tool_mode):
    server = chat_server(
        answering(chat_server, "Reading on. " * 5, tool="lookup", arguments={"key": "alpha"})
        if tool_mode == "native"
        else answering(
            chat_server,
            'Reading on.\n```json\n{"tool": "lookup", "arguments": {"key": "alpha"}}\n```',
        )
    )
    agent = agent_for(server.base_url, context_tokens=1200, max_tokens=64, tool_mode=tool_mode)
    task = kv_task("Sum the values of these keys: " + ", ".join(f"key{i}" for i in range(40)))
    agent.reset(task, seed=1)
    observations = [f"observation {i}: " + "x" * 800 for i in range(6)]
    agent.act("the task")
    for observation in observations:
        agent.act(observation)
    sent = server.requests[-1].body["messages"]
    system, prompt, *middle, latest = sent
    assert system["content"] == agent.system_prompt and prompt["content"] == task.prompt
    assert latest["content"].endswith(observations[-1])  # the latest observation stays whole
    earlier = [m for m in middle if m["role"] in ("tool", "user")]
    assert len(earlier) == 5
    prefix = "" if tool_mode == "native" else "Observation:\n"
    shortened = [m for m in earlier if m["content"].startswith("[... observation shortened")]
    assert 0 < len(shortened) < len(earlier)
    assert shortened == earlier[: len(shortened)]  # oldest first
    for message, observation in zip(earlier, observations[:-1], strict=True):
        if message in shortened:
            assert message["content"] == SHORTENED.format(n=len(prefix + observation))
        else:
            assert message["content"] == prefix + observation
    # What is left fits the window by the agent's estimate (4 characters a token), tools
    # and the reply's max_tokens included.
    tools = len(json.dumps(task.tools)) if tool_mode == "native" else 0
    total = tools + sum(len(m["content"] or "") + 16 for m in sent)
    assert total <= 4 * (1200 - 64), f"transcript of {total} characters for a 1200-token window"
    # Every call the model made is still in the transcript.
    if tool_mode == "native":
        assert sum(1 for m in sent if m.get("tool_calls")) == 6
    else:
        assert (
            sum('"tool": "lookup"' in m["content"] for m in sent if m["role"] == "assistant") == 6
        )


@pytest.mark.parametrize("tool_mode", ["native", "text"])
def test_long_old_replies_lose_their_prose_but_keep_their_calls(chat_server, tool_mode):
    """A chatty model fills the window with its own words: once the observations are
    shortened, the oldest replies' prose goes too, never the calls."""
    prose = "Let me think about this carefully. " * 40
    call = '```json\n{"tool": "lookup", "arguments": {"key": "alpha"}}\n```'
    server = chat_server(
        answering(chat_server, prose, tool="lookup", arguments={"key": "alpha"})
        if tool_mode == "native"
        else answering(chat_server, f"{prose}\n{call}")
    )
    agent = agent_for(server.base_url, context_tokens=1500, max_tokens=64, tool_mode=tool_mode)
    agent.reset(kv_task(), seed=1)
    for observation in ["the task", "alpha = 1", "alpha = 1", "alpha = 1", "alpha = 1"]:
        agent.act(observation)
    replies = [m for m in server.requests[-1].body["messages"] if m["role"] == "assistant"]
    assert len(replies) == 4
    assert replies[-1]["content"].startswith(prose)  # the newest replies keep their words
    oldest = replies[0]
    if tool_mode == "native":
        assert oldest["content"] == ""
        assert json.loads(oldest["tool_calls"][0]["function"]["arguments"]) == {"key": "alpha"}
    else:
        assert oldest["content"].startswith("[... reply shortened to fit the context window")
        assert extract_json_call(oldest["content"]) == extract_json_call(call)


def test_a_transcript_that_fits_is_sent_whole(chat_server):
    server = chat_server(answering(chat_server, None, tool="lookup", arguments={"key": "a"}))
    agent = agent_for(server.base_url)
    agent.reset(kv_task(), seed=1)
    for observation in ["the task", "a = 1", "a = 1"]:
        agent.act(observation)
    assert [m["content"] for m in server.requests[-1].body["messages"] if m["role"] == "tool"] == [
        "a = 1",
        "a = 1",
    ]


# -- text-mode calls ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n{"tool": "lookup", "arguments": {"key": "a"}}\n```', ("lookup", {"key": "a"})),
        (
            'Sure.\n```\n{"tool": "submit", "arguments": {"answer": 3}}\n```\nDone.',
            ("submit", {"answer": 3}),
        ),
        ('```JSON\n{"tool": "submit", "arguments": {"answer": 3}}\n```', ("submit", {"answer": 3})),
        (
            'I will call {"tool": "lookup", "arguments": {"key": "b"}} now.',
            ("lookup", {"key": "b"}),
        ),
        ('{"tool": "submit"}', ("submit", {})),
        (
            'First {"tool": "lookup", "arguments": {"key": "a"}}, then {"tool": "lookup", "arguments": {"key": "b"}}.',
            ("lookup", {"key": "b"}),
        ),
        (
            '```json\n{"tool": "lookup", "arguments": {"key": "a"}}\n```\n'
            '```json\n{"tool": "lookup", "arguments": {"key": "c"}}\n```',
            ("lookup", {"key": "c"}),
        ),
        (
            '```json\n{"tool": "lookup", "arguments": {"key": "a"}}\n```\n```json\n{"tool": broken}\n```',
            ("lookup", {"key": "a"}),
        ),
        (
            '```json\n{"note": "no tool"}\n```\n{"tool": "lookup", "arguments": {"key": "d"}}',
            ("lookup", {"key": "d"}),
        ),
        ("The answer is 42.", None),
        ('{"tool": "lookup", "arguments": "key=a"}', None),
        ('```json\n{"tool": 3}\n```', None),
        ("{not json at all}", None),
    ],
)
def test_text_mode_call_extraction(text, expected):
    call = extract_json_call(text)
    assert (call and (call.name, call.arguments)) == expected


def test_a_reply_that_is_no_call_becomes_an_error_observation(chat_server):
    server = chat_server(answering(chat_server, "I think the answer is 42."), max_requests=2)
    record = run_episode(
        make_env("hotmess/KVSum-v0", horizon=1, max_actions=2),
        agent_for(server.base_url),
        seed=3,
        agent_seed=0,
    )
    first = record.steps[0]
    assert first.action == "I think the answer is 42." == first.agent_message
    assert first.tool is None and first.tool_error
    assert first.observation.startswith("Error: the action is not valid JSON")
    assert record.outcome.truncated and record.outcome.infra_error is None
    messages = server.requests[1].body["messages"]
    assert messages[2] == {"role": "assistant", "content": "I think the answer is 42."}
    assert messages[3]["role"] == "user"
    assert messages[3]["content"] == f"Observation:\n{first.observation}"


def test_an_empty_reply_is_recorded_as_such(chat_server):
    server = chat_server(answering(chat_server, ""), max_requests=1)
    agent = agent_for(server.base_url)
    agent.reset(kv_task(), seed=1)
    assert agent.act("the task").action == "(empty reply)"


# -- seeds ------------------------------------------------------------------------------------


def seeds_sent(
    url: str, server: Any, sample_seed: int, steps: int = 3, **options: Any
) -> list[int]:
    agent = agent_for(url, **options)
    agent.reset(kv_task(), seed=sample_seed)
    start = server.count
    for _ in range(steps):
        agent.act("an observation")
    return [r.body["seed"] for r in server.requests[start:]]


def test_request_seeds_differ_per_step_and_sample_and_reproduce(chat_server):
    server = chat_server(answering(chat_server, None, tool="lookup", arguments={"key": "a"}))
    url = server.base_url
    sample_a = seeds_sent(url, server, 1001)
    sample_b = seeds_sent(url, server, 1002)
    assert len(set(sample_a)) == 3 and len(set(sample_b)) == 3
    assert not set(sample_a) & set(sample_b)
    assert seeds_sent(url, server, 1001) == sample_a  # the same sample, the same requests
    assert all(0 <= s < 2**31 for s in sample_a + sample_b)
    # A configured seed changes every request but keeps the samples apart.
    seeded_a = seeds_sent(url, server, 1001, seed=7)
    seeded_b = seeds_sent(url, server, 1002, seed=7)
    assert seeded_a != sample_a and not set(seeded_a) & set(seeded_b)
    assert seeds_sent(url, server, 1001, seed=7) == seeded_a


# -- forks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_mode", ["native", "text"])
def test_a_fork_puts_the_trunks_prefix_into_the_transcript(chat_server, tool_mode):
    submit = {"answer": 0}
    reply = (
        answering(chat_server, None, tool="submit", arguments=submit)
        if tool_mode == "native"
        else answering(
            chat_server, f"```json\n{json.dumps({'tool': 'submit', 'arguments': submit})}\n```"
        )
    )
    server = chat_server(reply, max_requests=4)
    env = make_env("hotmess/KVSum-v0", horizon=1)
    env.reset(seed=3)
    lookup = json.dumps({"tool": "lookup", "arguments": {"key": env.keys[0]}})  # type: ignore[attr-defined]
    agent = agent_for(server.base_url, tool_mode=tool_mode)
    episode = run_episode(env, agent, 3, agent_seed=5, fork=Fork((lookup,), trunk_seed=4))
    assert [step.replayed for step in episode.steps] == [True, False]
    assert episode.steps[0].action == lookup and episode.steps[1].tool == "submit"
    assert server.count == 1  # the prefix was told to the agent, not asked of the model
    messages = server.requests[0].body["messages"]
    observation = episode.steps[0].observation
    if tool_mode == "native":
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
        (call,) = messages[2]["tool_calls"]
        assert call["function"]["name"] == "lookup" and call["id"] == messages[3]["tool_call_id"]
        assert json.loads(call["function"]["arguments"]) == {"key": env.keys[0]}  # type: ignore[attr-defined]
        assert messages[3]["content"] == observation
    else:
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[2]["content"] == lookup
        assert messages[3]["content"] == f"Observation:\n{observation}"
    # The continuation draws on the fork's seed, as an unforked episode of it would.
    assert server.requests[0].body["seed"] == seeds_sent(server.base_url, server, 5, steps=2)[1]


# -- concurrency ------------------------------------------------------------------------------


@pytest.mark.parametrize("cap", [2, 6])
def test_the_concurrency_cap_holds_across_agents(chat_server, cap):
    """Six threads, each with its own agent, against one slow server: never more than `cap`
    requests in flight, as the server counts them."""

    def slow(request: Any) -> Any:
        return chat_server.Answer(
            200, chat_server.completion(None, "submit", {"answer": 1}), delay_s=0.3
        )

    server = chat_server(slow, max_requests=12)
    steps: list[Any] = []

    def worker() -> None:
        agent = agent_for(server.base_url, concurrency=cap)
        agent.reset(kv_task(), seed=1)
        steps.append(agent.act("the task"))
        agent.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    assert len(steps) == 6 and all(s.infra_error is None for s in steps)
    assert server.count == 6
    if cap == 2:
        assert server.max_in_flight == 2
        assert elapsed >= 3 * 0.3 - 0.05  # three waves of two
    else:
        assert server.max_in_flight > 2  # the measurement can see more, when allowed


def test_a_retrying_request_gives_up_its_slot_while_it_waits(chat_server):
    """With a cap of 1, an agent told to come back in a second must not block another."""

    def respond(request: Any) -> Any:
        if request.body["messages"][1]["content"] == "first" and request.index == 0:
            return chat_server.Answer(429, {"error": {"message": "later"}}, {"Retry-After": "1"})
        return chat_server.Answer(200, chat_server.completion(None, "submit", {"answer": 1}))

    server = chat_server(respond, max_requests=5)
    agents = [agent_for(server.base_url, concurrency=1, backoff_s=0.001) for _ in range(2)]
    agents[0].reset(kv_task("first"), seed=1)
    agents[1].reset(kv_task("second"), seed=1)
    first = threading.Thread(target=agents[0].act, args=("the task",))
    first.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert agents[1].act("the task").infra_error is None
    assert time.monotonic() - started < 0.8
    first.join(timeout=10)
    order = [r.body["messages"][1]["content"] for r in server.requests]
    assert order == ["first", "second", "first"]


# -- retries and HTTP errors ------------------------------------------------------------------


def test_backoff_grows_but_stays_under_its_cap(chat_server):
    server = chat_server(lambda r: chat_server.Answer(503, "unavailable"), max_requests=10)
    agent = agent_for(server.base_url, max_retries=3, backoff_s=0.1)
    agent.reset(kv_task(), seed=1)
    step = agent.act("the task")
    assert step.infra_error is not None and "failed 4 time(s)" in step.infra_error
    assert "HTTP 503: unavailable" in step.infra_error
    times = [r.received_at for r in server.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3
    for attempt, gap in enumerate(gaps):  # full jitter: anywhere in [0, backoff * 2^attempt]
        assert gap <= 0.1 * 2**attempt + 0.15


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_transient_statuses(status):
    failure = http_failure(status, "busy\nnow", "2", "openai")
    assert isinstance(failure, TransientError)
    assert failure.retry_after == 2.0
    assert str(failure) == f"openai: HTTP {status}: busy now"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_statuses_that_will_not_heal_are_config_errors(status):
    failure = http_failure(status, "x" * 1000, None, "openai")
    assert isinstance(failure, ConfigError)
    assert len(str(failure)) < 350


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.5", 0.5),
        ("-1", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_retry_after_parsing(header, seconds):
    assert parse_retry_after(header) == seconds


# -- pricing ----------------------------------------------------------------------------------


def test_pricing_matches_dated_snapshots_and_the_longest_family():
    assert price("gpt-4o") == PRICES["gpt-4o"]
    assert price("gpt-4o-2024-08-06") == PRICES["gpt-4o"]
    assert price("gpt-4o-mini-2024-07-18") == PRICES["gpt-4o-mini"]
    assert price("claude-sonnet-4-5-20250929") == PRICES["claude-sonnet-4-5"]
    assert price("gpt-4o-mini") != price("gpt-4o")
    assert price("gpt-4omni") is None and price("smollm2-135m") is None


def test_cost_is_none_when_unknown_and_overrides_win(monkeypatch):
    assert cost_usd("smollm2-135m", 1000, 1000) is None
    assert cost_usd("smollm2-135m", 1000, 1000, price_in=1.0) is None  # half a price is no price
    assert cost_usd("smollm2-135m", 1_000_000, 2_000_000, 1.0, 2.0) == pytest.approx(5.0)
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(2.5 + 10.0)
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000, price_out=0.0) == pytest.approx(2.5)
    monkeypatch.setattr("hotmess.agents.pricing.PRICES", dict(PRICES))
    register_prices({"my-model": (1, 3), "gpt-4o": (5, 20)})
    assert cost_usd("my-model-v2", 1_000_000, 1_000_000) == pytest.approx(4.0)
    assert cost_usd("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(5.0)


@pytest.mark.parametrize("cap", [3, 8])
def test_the_threads_executor_keeps_many_episodes_in_flight_under_the_provider_cap(
    chat_server, tmp_path, monkeypatch, cap
):
    """A sweep on the `threads` executor (8 episodes in flight) against one server: the
    server sees at most `cap` requests at once, and exactly `cap` when the cap allows more
    than one. The first `cap` requests are held until `cap` are in flight together, so the
    count does not depend on how fast this machine starts threads; a cap that did not hold
    would let more arrive during the grace period and be counted."""
    from hotmess.runner import SweepConfig, run_sweep

    arrivals = itertools.count(1)

    def held(request: Any) -> Any:
        if next(arrivals) <= cap:
            deadline = time.monotonic() + 120  # a liveness guard, not a measurement
            while server.in_flight < cap and time.monotonic() < deadline:
                time.sleep(0.01)
        return chat_server.Answer(
            200, chat_server.completion(None, "submit", {"answer": 1}), delay_s=0.2
        )

    server = chat_server(held, max_requests=16)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    agent = f"openai:scripted-model,base_url={server.base_url},max_retries=0,concurrency={cap}"
    result = run_sweep(
        SweepConfig(
            envs=["hotmess/KVSum-v0"],
            agents=[agent],
            horizons=[1],
            tasks=8,
            samples=1,
            executor="threads",
            concurrency=8,
            out=tmp_path / "run",
        )
    )
    assert result.ran == 8 and result.infra_errors == 0 and server.count == 8
    assert server.max_in_flight == cap
