"""What every LLM agent shares: the transcript, native or text tool calling, context-window
handling, retries with backoff, a concurrency cap per provider, and per-step accounting.

A provider subclass only turns the transcript into a request and the response into a
`Reply` (`_complete`). Everything else, and so every way a run can go wrong, lives here.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from hotmess.agents.base import AgentStep, FinalAnswering, Replayable, Task
from hotmess.agents.pricing import cost_usd
from hotmess.errors import ConfigError

SYSTEM_PROMPT = (
    "You are an agent solving a task step by step with tools. Each reply must call exactly one "
    "tool. Observations show each tool's output. When you know the answer, call submit."
)
TEXT_TOOLS_PROMPT = (
    "Call a tool by replying with one JSON object in a fenced block:\n"
    '```json\n{{"tool": "<name>", "arguments": {{...}}}}\n```\n'
    "Available tools (JSON Schema of their arguments):\n{tools}"
)
SHORTENED = "[... observation shortened to fit the context window: {n} characters removed ...]"
SHORTENED_REPLY = "[... reply shortened to fit the context window: {n} characters removed ...]"


class ChatConfig(BaseModel):
    """Options every LLM agent takes (`openai:gpt-4o,temperature=0.7,max_tokens=512`)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    """The model name the provider knows it by."""
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature. 1.0 by default: the paper measures the variance of sampled agents."""
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    """Most tokens one reply may have."""
    seed: int | None = None
    """Mixed into the per-request seed, which always depends on the sample and step too."""
    system_prompt: str = SYSTEM_PROMPT
    tool_mode: Literal["native", "text"] = "native"
    """`native` uses the API's tool calling; `text` asks for a fenced JSON block (for servers without it)."""
    context_tokens: int = Field(128_000, ge=256)
    """The model's context window; older observations are shortened to stay inside it."""
    max_retries: int = Field(6, ge=0)
    """Retries of a rate-limited (429), failing (5xx) or timed-out request before the episode
    is recorded as an infrastructure error."""
    backoff_s: float = Field(1.0, ge=0)
    """First retry delay; doubles each retry, with full jitter, capped at 60 s."""
    timeout_s: float = Field(120.0, gt=0)
    concurrency: int = Field(8, ge=1)
    """Requests in flight at once per provider endpoint, in this process."""
    price_in: float | None = None
    """US dollars per million input tokens; overrides the pricing table."""
    price_out: float | None = None
    """US dollars per million output tokens; overrides the pricing table."""
    extra: dict[str, Any] = {}
    """Extra request fields, merged into every request body."""


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass
class Reply:
    """One model response, provider-neutral."""

    text: str
    tool_call: ToolCall | None
    tokens_in: int
    tokens_out: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Message:
    """One transcript entry, provider-neutral."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_call: ToolCall | None = None
    """On assistant messages: the call the model made."""
    tool_call_id: str = ""
    """On tool messages: the call this observation answers."""
    full_length: int = 0


class TransientError(Exception):
    """A failure worth retrying: 429, 5xx, a time-out, a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unreachable(TransientError):
    """Nothing answered at all: the host name does not resolve or the connection is refused.
    Before the server has answered once, that is a wrong base_url, not a passing fault."""


class ContextOverflow(Exception):
    """The server refused the request because the transcript outgrew the model's context
    window: the episode ends as truncated (there is no room to act), the sweep goes on."""


class RetriesExhausted(Exception):
    """Every retry failed: the episode is censored as an infrastructure error."""


_semaphores: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


def provider_slot(provider: str, endpoint: str, limit: int) -> threading.BoundedSemaphore:
    """The semaphore capping concurrent requests to one provider endpoint."""
    with _semaphores_lock:
        key = (provider, endpoint)
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(limit)
        return _semaphores[key]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; dates are rare from APIs)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def extract_json_call(text: str) -> ToolCall | None:
    """The last tool call in a text reply: the last fenced JSON block that is one, else the
    last bare JSON object that is one. A candidate whose `arguments` is not an object is no
    call: the reply then goes to the env as it is, and the env says what is wrong."""
    fenced = re.findall(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S | re.I)
    candidates: list[Any] = []
    for block in fenced:
        try:
            candidates.append(json.loads(block))
        except json.JSONDecodeError:
            continue
    if not any(_is_call(c) for c in candidates):
        candidates = _bare_objects(text)
    for call in reversed(candidates):
        if _is_call(call):
            return ToolCall(call["tool"], call.get("arguments", {}))
    return None


def _is_call(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("tool"), str)
        and isinstance(value.get("arguments", {}), dict)
    )


def _bare_objects(text: str) -> list[Any]:
    """Every top-level JSON object in free text, left to right (a greedy regex would swallow
    two objects and the prose between them as one)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        found.append(value)
        start = text.find("{", end)
    return found


class ChatAgent(Replayable, FinalAnswering):
    """An LLM agent over a chat API. Subclasses set `provider` and implement `_complete`;
    while `forced_tool` is set (a final answer), the request must make the model call it."""

    provider: ClassVar[str] = "chat"
    Config: ClassVar[type[ChatConfig]] = ChatConfig

    def __init__(self, config: ChatConfig) -> None:
        self.config = config
        self.messages: list[Message] = []
        self.tools: list[dict[str, Any]] = []
        self.step = 0
        self.forced_tool: str | None = None
        """The tool this request must call (`submit`, for a final answer), else None."""
        self._sleep = time.sleep
        self._answered = False
        """Whether the server has answered once: until then, an unreachable host is a
        configuration error (exit 2 before every episode is censored), after, a fault."""

    # -- what a provider implements -----------------------------------------------------

    def _complete(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, seed: int
    ) -> Reply:
        """Send one request; raise `TransientError` for what is worth retrying."""
        raise NotImplementedError

    def endpoint(self) -> str:
        """Identifies the server, for the per-provider concurrency cap."""
        return ""

    def count_tokens(self, text: str) -> int:
        """Tokens in `text`; a provider with a tokenizer at hand overrides this estimate."""
        return len(text) // 4 + 1

    # -- the Agent protocol -------------------------------------------------------------

    def reset(self, task: Task, seed: int) -> None:
        self.tools = task.tools
        # A configured seed is mixed with the sample's, never replaces it: with one seed for
        # every sample, a seeded server would return the same episode s times and the
        # measured variance would be zero.
        self.seed = (
            seed if self.config.seed is None else (self.config.seed * 1_000_003 + seed) & 0x7FFFFFFF
        )
        self.step = 0
        system = self.config.system_prompt
        if self.config.tool_mode == "text":
            listing = "\n".join(json.dumps(spec["function"]) for spec in task.tools)
            system = f"{system}\n\n{TEXT_TOOLS_PROMPT.format(tools=listing)}"
        self.messages = [Message("system", system), Message("user", task.prompt)]

    @property
    def system_prompt(self) -> str:
        return self.messages[0].content if self.messages else self.config.system_prompt

    def final_answer(self, observation: str) -> AgentStep:
        """`act`, with only `submit` offered and the request forcing the model to call it
        (`tool_choice` for the APIs, the grammar for `local:`)."""
        tools = self.tools
        self.tools = [spec for spec in tools if spec["function"]["name"] == "submit"]
        self.forced_tool = "submit" if self.tools else None
        try:
            return self.act(observation)
        finally:
            self.tools, self.forced_tool = tools, None

    def act(self, observation: str) -> AgentStep:
        if self.step > 0:
            self._add_observation(observation)
        self.step += 1
        self._fit_context()
        seed = (self.seed * 1_000_003 + self.step) & 0x7FFFFFFF
        tools = self.tools if self.config.tool_mode == "native" else None
        try:
            reply, retries = self._with_retries(lambda: self._complete(self.messages, tools, seed))
        except RetriesExhausted as exc:
            return AgentStep(action="", infra_error=str(exc), cost=None)
        except ContextOverflow as exc:
            return AgentStep(action="", truncated=f"context window full: {exc}", cost=None)
        call = reply.tool_call or extract_json_call(reply.text)
        if call is None:
            # Not a tool call at all: the env turns it into an observation that says so.
            action = reply.text.strip() or "(empty reply)"
            self.messages.append(Message("assistant", reply.text))
        else:
            action = json.dumps({"tool": call.name, "arguments": call.arguments})
            self.messages.append(
                Message("assistant", reply.text, tool_call=call if reply.tool_call else None)
            )
        error = f"{retries} retried request(s)" if retries else None
        return AgentStep(
            action=action,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            cost=cost_usd(
                self.config.model,
                reply.tokens_in,
                reply.tokens_out,
                self.config.price_in,
                self.config.price_out,
            ),
            error=error,
            message=reply.text or None,
        )

    def replay(self, observation: str, action: str, message: str | None = None) -> None:
        """Forking: put `action`, taken at `observation`, into the transcript as if this
        agent had chosen it, without asking the model."""
        if self.step > 0:
            self._add_observation(observation)
        self.step += 1
        call = extract_json_call(action)
        if call is not None and self.config.tool_mode == "native":
            call.id = call.id or f"call_replay_{self.step}"
            self.messages.append(Message("assistant", message or "", tool_call=call))
        else:
            self.messages.append(Message("assistant", message or action))

    def _add_observation(self, observation: str) -> None:
        last = self.messages[-1]
        if last.role == "assistant" and last.tool_call is not None:
            self.messages.append(
                Message(
                    "tool",
                    observation,
                    tool_call_id=last.tool_call.id,
                    full_length=len(observation),
                )
            )
        else:
            self.messages.append(
                Message("user", f"Observation:\n{observation}", full_length=len(observation))
            )

    def _fit_context(self) -> None:
        """Shorten the oldest observations, then the oldest replies' prose, until the
        transcript fits the window, keeping the system prompt, the task and the latest
        observation whole (and every tool call, so the model still sees what it did)."""
        budget = self.config.context_tokens - self.config.max_tokens
        total = sum(self._message_tokens(m) for m in self.messages)
        if self.config.tool_mode == "native" and self.tools:
            total += self.count_tokens(json.dumps(self.tools))  # the specs use the window too
        older = self.messages[2:-1]
        observations = [m for m in older if m.role in ("tool", "user")]
        replies = [m for m in older if m.role == "assistant"]
        for message in [*observations, *replies]:
            if total <= budget:
                return
            if message.content.startswith("[... "):
                continue
            before = self._message_tokens(message)
            if message.role == "assistant":
                message.content = _shortened_reply(message)
            else:
                message.content = SHORTENED.format(n=len(message.content))
            total -= before - self._message_tokens(message)

    def _message_tokens(self, message: Message) -> int:
        tokens = self.count_tokens(message.content) + 4  # + the role and delimiters
        if message.tool_call is not None:
            tokens += self.count_tokens(json.dumps(message.tool_call.arguments)) + 4
        return tokens

    def _with_retries(self, request: Any) -> tuple[Reply, int]:
        slot = provider_slot(self.provider, self.endpoint(), self.config.concurrency)
        failures: list[str] = []
        for attempt in range(self.config.max_retries + 1):
            try:
                with slot:
                    reply = request()
                self._answered = True
                return reply, attempt
            except TransientError as exc:
                failures.append(str(exc))
                retry_after = self._failed(exc)
            if attempt < self.config.max_retries:
                delay = min(60.0, self.config.backoff_s * 2**attempt) * random.random()
                self._sleep(delay if retry_after is None else max(delay, retry_after))
        raise RetriesExhausted(
            f"{self.provider} request failed {len(failures)} time(s); last: {failures[-1]}"
        )

    def _failed(self, exc: TransientError) -> float | None:
        """Note a failed request; an unreachable server that never answered is a wrong
        base_url (ConfigError). Returns the server's Retry-After."""
        if not isinstance(exc, Unreachable):
            self._answered = True  # a server that says it is busy is reachable
        elif not self._answered:
            raise ConfigError(
                f"{exc}; nothing answers at {self.endpoint() or 'the API'}: check base_url "
                "and that the server is running"
            ) from None
        return exc.retry_after


def _shortened_reply(message: Message) -> str:
    """An old reply without its prose: a native call stays in `tool_call`; a text-mode call
    is kept as its fenced block."""
    if message.tool_call is not None:
        return ""
    call = extract_json_call(message.content)
    if call is None:
        return SHORTENED_REPLY.format(n=len(message.content))
    block = json.dumps({"tool": call.name, "arguments": call.arguments})
    return f"{SHORTENED_REPLY.format(n=len(message.content))}\n```json\n{block}\n```"


CONTEXT_OVERFLOW = (
    "context_length_exceeded",  # OpenAI, vLLM, llama_cpp.server
    "maximum context length",
    "exceed context window",  # llama.cpp's own message
    "prompt is too long",  # Anthropic
)
"""What a 400 says when the transcript outgrew the model's window."""


def http_failure(status: int, body: str, retry_after: str | None, what: str) -> Exception:
    """The exception for a failed HTTP request: transient for 408/409/429/5xx, otherwise
    a `ConfigError` (a bad key, an unknown model, a malformed request will not heal)."""
    snippet = body.strip().replace("\n", " ")[:300]
    if status in (400, 413) and any(sign in body for sign in CONTEXT_OVERFLOW):
        return ContextOverflow(f"{what}: HTTP {status}: {snippet}")
    if status in (408, 409, 429) or status >= 500:
        return TransientError(f"{what}: HTTP {status}: {snippet}", parse_retry_after(retry_after))
    return ConfigError(f"{what}: HTTP {status}: {snippet}")
