"""`anthropic:<model>`: an agent over the Anthropic Messages API (`POST /v1/messages`).

Raw httpx, no SDK: the neutral transcript becomes Messages API turns here, and every
assistant turn is replayed to the API exactly as the API returned it (text, thinking with
its signature, tool use), because extended thinking is rejected when it comes back altered.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, ClassVar

import httpx
from pydantic import Field, ValidationInfo, field_validator

from hotmess.agents.base import AgentStep, Task
from hotmess.agents.chat import (
    ChatAgent,
    ChatConfig,
    Message,
    Reply,
    ToolCall,
    TransientError,
    Unreachable,
    http_failure,
    parse_retry_after,
)
from hotmess.errors import ConfigError

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_KEY_VARIABLE = "ANTHROPIC_API_KEY"
MIN_THINKING_BUDGET = 1024
"""The API's floor for `thinking.budget_tokens`."""
UNRUN_CALL = "Not run: only the first tool call of a reply is carried out; call one tool per reply."
EMPTY_REPLY = "(empty reply)"


class AnthropicConfig(ChatConfig):
    """Options of `anthropic:<model>` (`anthropic:claude-sonnet-4-5,thinking_budget=2048,max_tokens=4096`).

    Seeds: the Messages API has no seed parameter, so `seed` is accepted for symmetry with
    other agents but never sent; samples differ by the API's own sampling. That is what the
    bias-variance decomposition measures, but it also means a sample cannot be replayed.
    """

    base_url: str = Field(
        default_factory=lambda: os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
    )
    """API root without `/v1` (the SDK's convention); default `$ANTHROPIC_BASE_URL`, else the public API."""
    api_key: str = Field(
        default_factory=lambda: os.environ.get(API_KEY_VARIABLE, ""), repr=False, exclude=True
    )
    """Sent as `x-api-key`; default `$ANTHROPIC_API_KEY`. Kept out of reprs and dumps so it never reaches a run store."""
    seed: int | None = None
    """Not sent: the Messages API has no seed parameter (see above)."""
    anthropic_version: str = "2023-06-01"
    """The `anthropic-version` header: the API's wire format this module speaks."""
    thinking_budget: int | None = Field(None, ge=MIN_THINKING_BUDGET)
    """Extended thinking: the most tokens the model may think for, per reply. The API then
    needs temperature 1 (the default here; any other value is refused), top_p unset or
    at least 0.95, and max_tokens above the budget, since thinking counts towards max_tokens."""

    @field_validator("thinking_budget")
    @classmethod
    def _thinking_fits(cls, budget: int | None, info: ValidationInfo) -> int | None:
        """Refuse what the API would refuse, before a sweep spends its first request."""
        if budget is None:
            return budget
        max_tokens = info.data.get("max_tokens")
        if max_tokens is not None and max_tokens <= budget:
            raise ValueError(
                f"max_tokens ({max_tokens}) must exceed thinking_budget ({budget}): thinking "
                f"counts towards max_tokens; set max_tokens={budget + 1024} or more"
            )
        temperature = info.data.get("temperature")
        if temperature is not None and temperature != 1:
            raise ValueError(
                f"extended thinking needs temperature 1 (got {temperature}); drop the temperature option"
            )
        top_p = info.data.get("top_p")
        if top_p is not None and top_p < 0.95:
            raise ValueError(f"extended thinking needs top_p of at least 0.95 (got {top_p})")
        return budget


class AnthropicAgent(ChatAgent):
    """An LLM agent over the Anthropic Messages API, with native tool use and optional
    extended thinking. One HTTP client per agent; `close()` releases it."""

    provider: ClassVar[str] = "anthropic"
    Config: ClassVar[type[ChatConfig]] = AnthropicConfig
    config: AnthropicConfig

    def __init__(self, config: AnthropicConfig) -> None:
        if not config.api_key:
            raise ConfigError(
                f"anthropic:{config.model} needs an API key: set {API_KEY_VARIABLE} "
                "(or pass api_key=...)"
            )
        super().__init__(config)
        self.url = config.base_url.rstrip("/") + "/v1/messages"
        self._client = httpx.Client(
            timeout=config.timeout_s,
            headers={
                "x-api-key": config.api_key,
                "anthropic-version": config.anthropic_version,
                "content-type": "application/json",
            },
        )
        # The content blocks of each assistant turn as the API sent them, keyed by the
        # transcript Message's id (the Message is kept in the value, so the id stays
        # unique): thinking blocks must go back unchanged, signature and all.
        self._blocks: dict[int, tuple[Message, list[dict[str, Any]]]] = {}
        self._pending: tuple[list[dict[str, Any]], str | None] | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def endpoint(self) -> str:
        return self.url

    # -- the Agent protocol, plus the raw blocks of each turn -----------------------------

    def reset(self, task: Task, seed: int) -> None:
        super().reset(task, seed)
        self._blocks.clear()
        self._pending = None

    def act(self, observation: str) -> AgentStep:
        self._pending = None
        step = super().act(observation)
        if self._pending is None:  # no reply: the step is an infrastructure error
            return step
        blocks, stop_reason = self._pending
        self._pending = None
        last = self.messages[-1]
        self._blocks[id(last)] = (last, blocks)
        if stop_reason in ("max_tokens", "refusal"):
            # Worth seeing next to the action: a cut-off reply is a failure of the budget,
            # not of the model's judgement.
            note = f"stop_reason={stop_reason}"
            step = replace(step, error=f"{step.error}; {note}" if step.error else note)
        return step

    # -- one request ----------------------------------------------------------------------

    def _complete(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, seed: int
    ) -> Reply:
        del seed  # the Messages API takes no seed (see AnthropicConfig)
        body = self.request_body(messages, tools)
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise TransientError(
                f"{self._what()}: no response within {self.config.timeout_s} s"
            ) from None
        except httpx.ConnectError as exc:
            raise Unreachable(f"{self._what()}: {type(exc).__name__}: {exc}") from None
        except httpx.TransportError as exc:
            raise TransientError(f"{self._what()}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise api_failure(response, self._what())
        try:
            data = response.json()
        except ValueError:
            raise TransientError(
                f"{self._what()}: HTTP 200 with a body that is not JSON: {response.text[:200]!r}"
            ) from None
        if not isinstance(data, dict) or data.get("type") == "error":
            raise api_failure(response, self._what())
        reply = parse_reply(data)
        self._pending = (list(data.get("content") or []), data.get("stop_reason"))
        return reply

    def request_body(
        self, messages: list[Message], tools: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """The JSON body of one Messages API request for this transcript."""
        config = self.config
        system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        body: dict[str, Any] = {"model": config.model, "max_tokens": config.max_tokens}
        if system:
            body["system"] = system
        body["messages"] = self.api_messages(messages)
        if tools:
            body["tools"] = [anthropic_tool(spec) for spec in tools]
            # One action per step is the env's contract; asking for one call keeps the
            # model from planning around calls that would never run.
            body["tool_choice"] = {"type": "auto", "disable_parallel_tool_use": True}
            # The API refuses a forced tool with extended thinking: then only the offered
            # tools (submit alone) and the env's notice ask for the final answer.
            if self.forced_tool is not None and config.thinking_budget is None:
                body["tool_choice"] = {
                    "type": "tool",
                    "name": self.forced_tool,
                    "disable_parallel_tool_use": True,
                }
        if config.thinking_budget is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": config.thinking_budget}
        # Recent models refuse temperature and top_p together: with top_p given, temperature
        # is sent only when asked for explicitly (its default, 1, is the API's own).
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.top_p is None or "temperature" in config.model_fields_set:
            body["temperature"] = config.temperature
        body.update(config.extra)
        return body

    def api_messages(self, messages: list[Message]) -> list[dict[str, Any]]:
        """Messages API turns for a neutral transcript.

        The system prompt goes to the top-level `system`, so it is skipped here. Tool
        observations become `tool_result` blocks in a user turn; consecutive user content
        is merged into one turn (the API requires user and assistant to alternate), with
        the tool results first, as the API requires. A tool call the agent did not carry
        out (a reply with several) is answered with an error result, since every
        `tool_use` must be answered in the next turn.
        """
        turns: list[dict[str, Any]] = []
        for message in messages:
            if message.role == "system":
                continue
            if message.role == "assistant":
                turns.append({"role": "assistant", "content": self._assistant_content(message)})
                continue
            if message.role == "tool":
                block: dict[str, Any] = {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id,
                    "content": message.content or "(no output)",
                }
            else:
                block = {"type": "text", "text": message.content or "(empty)"}
            if turns and turns[-1]["role"] == "user":
                turns[-1]["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
        for i, turn in enumerate(turns):
            if turn["role"] != "user":
                continue
            if i > 0:
                _answer_every_call(turns[i - 1]["content"], turn["content"])
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")  # stable
        return turns

    def _assistant_content(self, message: Message) -> list[dict[str, Any]]:
        """The turn's blocks as the API sent them, or rebuilt for a turn it did not send."""
        entry = self._blocks.get(id(message))
        if entry is not None and entry[0] is message:
            # The API refuses empty text blocks, which it occasionally sends itself.
            blocks = [b for b in entry[1] if b.get("type") != "text" or b.get("text")]
        else:
            blocks = [{"type": "text", "text": message.content}] if message.content else []
            if message.tool_call is not None:
                call = message.tool_call
                blocks.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                )
        return blocks or [{"type": "text", "text": EMPTY_REPLY}]

    def _what(self) -> str:
        return f"anthropic:{self.config.model} at {self.url}"


def _answer_every_call(assistant: list[dict[str, Any]], user: list[dict[str, Any]]) -> None:
    answered = {b.get("tool_use_id") for b in user if b["type"] == "tool_result"}
    for block in assistant:
        if block.get("type") == "tool_use" and block.get("id") not in answered:
            user.append(
                {
                    "type": "tool_result",
                    "tool_use_id": block["id"],
                    "content": UNRUN_CALL,
                    "is_error": True,
                }
            )


def anthropic_tool(spec: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function-shaped tool spec as a Messages API tool."""
    function = spec.get("function", spec)
    tool: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        tool["description"] = function["description"]
    return tool


def parse_reply(data: dict[str, Any]) -> Reply:
    """A Messages API response as a `Reply`: text blocks joined, the first `tool_use` as
    the call, and every input token counted, cached or not (each is read by the model)."""
    content = [b for b in data.get("content") or [] if isinstance(b, dict)]
    text = "\n".join(b["text"] for b in content if b.get("type") == "text" and b.get("text"))
    call = None
    for block in content:
        if block.get("type") == "tool_use":
            arguments = block.get("input")
            call = ToolCall(
                str(block.get("name", "")),
                arguments if isinstance(arguments, dict) else {},
                str(block.get("id", "")),
            )
            break
    usage = data.get("usage") or {}
    tokens_in = sum(
        int(usage.get(key) or 0)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return Reply(text, call, tokens_in, int(usage.get("output_tokens") or 0), raw=data)


def api_failure(response: httpx.Response, what: str) -> Exception:
    """The exception for a failed request, classified as the official SDK does: the
    server's `x-should-retry` header wins; an `overloaded_error` is transient whatever its
    status (it has come with statuses other than 529); otherwise `http_failure` decides."""
    kind, detail = _error_detail(response)
    status = response.status_code
    if status == 401:
        detail += f" (check {API_KEY_VARIABLE})"
    retry_after = _retry_after(response.headers)
    should_retry = response.headers.get("x-should-retry")
    if should_retry == "true" or (kind == "overloaded_error" and should_retry != "false"):
        return TransientError(f"{what}: HTTP {status}: {detail}", parse_retry_after(retry_after))
    if should_retry == "false":
        return ConfigError(f"{what}: HTTP {status}: {detail} (the API says not to retry)")
    return http_failure(status, detail, retry_after, what)


def _retry_after(headers: httpx.Headers) -> str | None:
    """Seconds to wait, from `retry-after-ms` (finer, when sent) or `retry-after`."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return str(float(milliseconds) / 1000)
        except ValueError:
            pass
    return headers.get("retry-after")


def _error_detail(response: httpx.Response) -> tuple[str, str]:
    """The error's type and a one-line description from `{"type": "error", "error": {...}}`."""
    try:
        body = response.json()
        error = body["error"]
        kind, message = str(error.get("type", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", response.text
    request_id = body.get("request_id") or response.headers.get("request-id")
    detail = f"{kind}: {message}" + (f" (request {request_id})" if request_id else "")
    return kind, detail


__all__ = ["AnthropicAgent", "AnthropicConfig", "anthropic_tool", "parse_reply"]
