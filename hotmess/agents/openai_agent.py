"""`openai:<model>`: any OpenAI-compatible chat-completions endpoint (OpenAI itself, vLLM,
llama.cpp's server, OpenRouter, ...) over plain httpx, with native or text tool calling.

Only the wire format lives here; the transcript, retries, context window and accounting are
`ChatAgent`'s.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator

from hotmess.agents.chat import (
    ChatAgent,
    ChatConfig,
    Message,
    Reply,
    ToolCall,
    TransientError,
    Unreachable,
    http_failure,
)
from hotmess.errors import ConfigError

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIConfig(ChatConfig):
    """Options of `openai:<model>` (`openai:gpt-4o-mini,base_url=http://127.0.0.1:8000/v1`)."""

    base_url: str = Field(
        default_factory=lambda: os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    )
    """The API root, up to and including `/v1`; default $OPENAI_BASE_URL, else OpenAI's."""
    api_key: str | None = Field(
        default_factory=lambda: os.environ.get("OPENAI_API_KEY") or None, repr=False
    )
    """Bearer token; default $OPENAI_API_KEY (prefer it: an option is written to the run store)."""
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    """For reasoning models (o-series); sent only when set, with `max_completion_tokens`."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {url!r}")
        return url.rstrip("/")


class OpenAIAgent(ChatAgent):
    """An LLM agent over `POST {base_url}/chat/completions`."""

    provider = "openai"
    Config = OpenAIConfig

    def __init__(self, config: OpenAIConfig) -> None:
        super().__init__(config)
        self.config: OpenAIConfig = config
        if config.api_key is None and config.base_url == DEFAULT_BASE_URL:
            raise ConfigError(
                f"openai:{config.model} needs an API key for {DEFAULT_BASE_URL}: set OPENAI_API_KEY "
                "(or point base_url= / $OPENAI_BASE_URL at another OpenAI-compatible server)"
            )
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        # One client per agent: its connection pool is reused across every step and episode.
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(config.timeout_s))

    def endpoint(self) -> str:
        return self.config.base_url

    def close(self) -> None:
        """Release the HTTP connections."""
        self.client.close()

    def _complete(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, seed: int
    ) -> Reply:
        url = f"{self.config.base_url}/chat/completions"
        what = f"openai {self.config.model} at {self.config.base_url}"
        try:
            response = self.client.post(url, json=self.request_body(messages, tools, seed))
        except httpx.TimeoutException:
            raise TransientError(f"{what}: no answer within {self.config.timeout_s} s") from None
        except httpx.UnsupportedProtocol as exc:
            raise ConfigError(f"{what}: {exc}") from None
        except httpx.ConnectError as exc:
            raise Unreachable(f"{what}: {type(exc).__name__}: {exc}") from None
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise http_failure(
                response.status_code, response.text, response.headers.get("retry-after"), what
            )
        try:
            data = response.json()
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            # A 200 that is no completion (a proxy's error page, an error object): retry it.
            raise TransientError(
                f"{what}: HTTP 200 without a completion: {response.text[:300]}"
            ) from None
        return parse_message(message, data.get("usage") or {}, f"call_{seed:08x}", data)

    def request_body(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, seed: int
    ) -> dict[str, Any]:
        """The JSON body of one chat-completions request."""
        config = self.config
        body: dict[str, Any] = {
            "model": config.model,
            "messages": [wire_message(m) for m in messages],
            "temperature": config.temperature,
            "seed": seed,
        }
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.reasoning_effort is not None:
            # Reasoning models reject `max_tokens`; their budget covers hidden reasoning too.
            body["reasoning_effort"] = config.reasoning_effort
            body["max_completion_tokens"] = config.max_tokens
        else:
            body["max_tokens"] = config.max_tokens
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
            if self.forced_tool is not None:
                body["tool_choice"] = {"type": "function", "function": {"name": self.forced_tool}}
        body.update(config.extra)
        return body


def wire_message(message: Message) -> dict[str, Any]:
    """A transcript entry in the chat-completions shape."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_call is not None:
        call = message.tool_call
        # "" rather than null: OpenAI takes either, llama.cpp's server rejects null.
        return {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
            ],
        }
    return {"role": message.role, "content": message.content}


def parse_message(
    message: dict[str, Any], usage: dict[str, Any], fallback_id: str, raw: dict[str, Any]
) -> Reply:
    """A `Reply` from `choices[0].message`. Only the first tool call is taken: an action is
    one call. A call whose arguments are not a JSON object becomes text the env rejects,
    so the model sees what was wrong instead of a silently emptied call."""
    text = message.get("content") or ""
    call: ToolCall | None = None
    calls = message.get("tool_calls") or []
    if calls:
        function = calls[0].get("function") or {}
        name = str(function.get("name") or "")
        raw_arguments = function.get("arguments")
        arguments: Any = raw_arguments
        if isinstance(raw_arguments, str):
            try:
                arguments = json.loads(raw_arguments) if raw_arguments.strip() else {}
            except json.JSONDecodeError:
                arguments = None
        if isinstance(arguments, dict) and name:
            call = ToolCall(name, arguments, str(calls[0].get("id") or fallback_id))
        else:
            # Deliberately not valid JSON as a whole, so the env reports a malformed call.
            shown = raw_arguments if isinstance(raw_arguments, str) else json.dumps(raw_arguments)
            text = f'{text}\n{{"tool": {json.dumps(name)}, "arguments": {shown}}}'.strip()
    return Reply(
        text=text,
        tool_call=call,
        tokens_in=int(usage.get("prompt_tokens") or 0),
        tokens_out=int(usage.get("completion_tokens") or 0),
        raw=raw,
    )
