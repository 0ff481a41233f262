"""`local:<model>`: a small GGUF model run in-process with llama-cpp-python, the real LLM
that needs no key and no network (`local:smollm2-135m`, `local:gemma3-270m`, or
`local:/path/to/model.gguf`).

A grammar built from the env's tool specs constrains every reply to one valid JSON tool
call, so even a 135M-parameter model produces well-formed actions: its errors are about the
task, never about the protocol, which is what a bias/variance study of the task needs. Two
scaffolds: `fewshot` (a completion after the env's worked examples; small and base models)
and `chat` (the model's chat template; instruction-tuned models).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import multiprocessing
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from hotmess.agents import fewshot
from hotmess.agents.base import Task
from hotmess.agents.chat import SHORTENED, ChatAgent, ChatConfig, Message, Reply
from hotmess.agents.local_models import BUILTIN_MODELS, DEFAULT_MODEL, INSTALL_HINT, model_file
from hotmess.envs.examples import MAX_EXAMPLES
from hotmess.errors import ConfigError, UnknownAgentError

__all__ = ["LocalAgent", "LocalConfig", "model_file"]

#: Used when a GGUF file carries no chat template of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
#: A JSON string character the grammar allows: printable ASCII (the env's action charset)
#: or a two-character escape. llama.cpp's own rule also admits raw control characters,
#: which strict JSON parsers reject, and 6-character \u escapes, which would loosen the
#: bound on a call's length.
JSON_CHAR_RULE = r'char ::= [ !#-\[\]-~] | "\\" ["\\/bfnrt]'
#: Longest number llama.cpp's number rule allows: sign, 16 digits, point, 16 digits, exponent.
NUMBER_CHARS = 1 + 16 + 1 + 16 + 2 + 16
INTEGER_CHARS = 1 + 16
MAX_ARRAY_ITEMS = 8
#: Stands in for the oldest actions and observations once a long episode outgrows n_ctx.
DROPPED = "[... {n} earlier actions and their observations removed to fit the context window ...]"
DROPPED_PATTERN = r"\[\.\.\. (\d+) earlier actions"


class LocalConfig(ChatConfig):
    """Options of `local:<model>` (`local:smollm2-135m,n_ctx=2048,temperature=0.7`)."""

    model: str = DEFAULT_MODEL
    """A built-in model (`smollm2-135m`, `gemma3-270m`; see `hotmess agents`) or a path to a
    .gguf file."""
    scaffold: Literal["fewshot", "chat"] | None = None
    """`fewshot`: a plain-text transcript after the env's worked examples, continued as a
    completion, one `Action:` line per call (small and base models). `chat`: the model's chat
    template with the tools in the system prompt (instruction-tuned models). Default: the
    built-in model's choice (fewshot for both); for a file, chat when it has a chat template."""
    examples: int = Field(2, ge=0, le=MAX_EXAMPLES)
    """Worked examples the fewshot transcript starts with (fewer when they would fill more
    than half of n_ctx)."""
    n_ctx: int = Field(4096, ge=256)
    """Context window in tokens to allocate; also the agent's `context_tokens`."""
    n_threads: int | None = Field(None, ge=1)
    """Generation threads. Default: every core this process may use; one inside a sweep's
    worker process, where the workers already share the cores between them."""
    tool_mode: Literal["text"] = "text"
    """Always `text`: the tools are listed in the prompt and a grammar makes the reply a call."""
    max_tokens: int = Field(96, ge=1)
    """Tokens a reply may have. Calls are short; a request is still given room for the longest
    call the grammar allows, so no call is ever cut off half-written."""
    max_string_chars: int = Field(48, ge=1)
    """Longest string argument the grammar allows. It bounds every call's length (a weak model
    at temperature 1 can otherwise ramble inside a string); raise it for tools taking code."""
    top_k: int = Field(40, ge=0)
    """Sample among the k likeliest tokens (llama.cpp's default); 0 keeps them all."""
    min_p: float = Field(0.3, ge=0, le=1)
    """Drop tokens less likely than min_p times the likeliest. A tiny model's tail is noise:
    at horizon 1 SmolLM2-135M copies PointerChase's answer right in 25 of 30 tasks with 0.3,
    21 with llama.cpp's 0.05, while what it cannot do (add, at horizon 2 and up) still varies
    from sample to sample. `top_k=0,min_p=0` samples the model's full distribution, as the API
    agents do at temperature 1."""
    price_in: float | None = 0.0
    """Free: it runs on your machine."""
    price_out: float | None = 0.0

    @model_validator(mode="after")
    def _context_is_n_ctx(self) -> LocalConfig:
        if "context_tokens" in self.model_fields_set and self.context_tokens != self.n_ctx:
            raise ValueError("the local agent's context window is n_ctx: set n_ctx instead")
        self.context_tokens = self.n_ctx
        return self


def _llama_cpp() -> Any:
    """The llama_cpp module, or an error that says how to install it."""
    # llama.cpp's OpenMP threads spin while they wait. When sweep workers (or anything else)
    # compete for the cores, spinning threads starve the ones with work and a step takes
    # tens of seconds instead of one; passive waiting costs nothing measurable when idle.
    # It must be set before the OpenMP runtime loads, i.e. before the first import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise UnknownAgentError(
            f"the local agent needs llama-cpp-python ({exc}): {INSTALL_HINT}"
        ) from None
    return llama_cpp


def default_threads() -> int:
    """All usable cores, or one in a worker process (the sweep's workers run in parallel)."""
    if multiprocessing.parent_process() is not None:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class LoadedModel:
    """One model in memory, with what every request needs and a lock: a llama.cpp context
    serves one request at a time."""

    llm: Any
    """The `llama_cpp.Llama`."""
    formatter: Any
    """Renders a transcript with the model's chat template."""
    lock: threading.Lock


_models: dict[tuple[str, int, int], LoadedModel] = {}
_models_lock = threading.Lock()


def load_model(path: Path, n_ctx: int, n_threads: int) -> LoadedModel:
    """The model at `path`, loaded once per process and shared by every agent that asks
    for the same file and settings (the runner makes one agent per spec and worker)."""
    key = (str(path), n_ctx, n_threads)
    with _models_lock:
        if key not in _models:
            llama_cpp = _llama_cpp()
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            # llama.cpp says that Gemma 3's sliding-window cache is kept in full (which
            # lets each step reuse the prompt so far) past verbose=False; nothing to act on.
            notes = io.StringIO()
            try:
                with contextlib.redirect_stderr(notes):
                    llm = llama_cpp.Llama(
                        model_path=str(path),
                        n_ctx=n_ctx,
                        n_threads=n_threads,
                        n_threads_batch=n_threads,
                        verbose=False,
                    )
            except Exception:
                sys.stderr.write(notes.getvalue())
                raise
            eos, bos = llm.token_eos(), llm.token_bos()
            formatter = Jinja2ChatFormatter(
                template=llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE,
                eos_token=llm.detokenize([eos], special=True).decode() if eos != -1 else "",
                bos_token=llm.detokenize([bos], special=True).decode() if bos != -1 else "",
            )
            _models[key] = LoadedModel(llm, formatter, threading.Lock())
            if len(_models) == 1:
                atexit.register(_free_models)
        return _models[key]


def _free_models() -> None:
    """Free the models before interpreter shutdown: llama_cpp's own finaliser runs after
    its C bindings are gone and prints a TypeError otherwise."""
    with _models_lock:
        for loaded in _models.values():
            loaded.llm.close()
        _models.clear()


# -- the grammar ------------------------------------------------------------------------


def bounded_schema(schema: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """`schema` with every string, array and free-form object given a finite size, so the
    longest value it admits is known. Free-form objects (no properties) shrink to `{}`, or
    drop out of a union that has another type: their keys are unbounded. A value with no
    type at all may be any string, number, boolean or null."""
    kinds = schema.get("type")
    if kinds is None and not {"anyOf", "oneOf", "const", "enum", "properties"} & set(schema):
        kinds = ["string", "number", "boolean", "null"]
        schema = {**schema, "type": kinds}
    if isinstance(kinds, list):
        rest = {k: v for k, v in schema.items() if k != "type"}
        options = [
            bounded_schema({**rest, "type": kind}, max_chars)
            for kind in kinds
            if not (kind == "object" and "properties" not in schema and len(kinds) > 1)
        ]
        return options[0] if len(options) == 1 else {"anyOf": options}
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return {"anyOf": [bounded_schema(option, max_chars) for option in schema[union]]}
    if "const" in schema or "enum" in schema:
        return schema
    if kinds == "string":
        limit = min(schema.get("maxLength", max_chars), max_chars)
        return {**schema, "maxLength": limit}
    if kinds == "array":
        items = bounded_schema(schema.get("items", {"type": "string"}), max_chars)
        limit = min(schema.get("maxItems", MAX_ARRAY_ITEMS), MAX_ARRAY_ITEMS)
        return {**schema, "items": items, "maxItems": limit}
    if kinds == "object" or "properties" in schema:
        properties = {
            name: bounded_schema(sub, max_chars)
            for name, sub in schema.get("properties", {}).items()
        }
        return {**schema, "properties": properties, "additionalProperties": False}
    return schema


def longest_value(schema: dict[str, Any]) -> int:
    """Most characters a value of a bounded schema can take in the grammar, counting the
    optional space after each value. Every generated token is at least one character, so
    this bounds the tokens a reply needs."""
    if "anyOf" in schema:
        return max(longest_value(option) for option in schema["anyOf"])
    if "const" in schema:
        return len(json.dumps(schema["const"])) + 1
    if "enum" in schema:
        return max(len(json.dumps(value)) for value in schema["enum"]) + 1
    kinds = schema.get("type")
    if kinds == "string":
        return 2 + 2 * int(schema["maxLength"]) + 1
    if kinds == "array":
        return 2 + int(schema["maxItems"]) * (longest_value(schema["items"]) + 2) + 2
    if kinds == "object" or "properties" in schema:
        pairs = [
            len(json.dumps(name)) + 3 + longest_value(sub)
            for name, sub in schema.get("properties", {}).items()
        ]
        return 2 + sum(pairs) + 2 * max(0, len(pairs) - 1) + 2
    sizes = {"number": NUMBER_CHARS, "integer": INTEGER_CHARS, "boolean": 5, "null": 4}
    if kinds in sizes:
        return sizes[kinds] + 1
    raise ValueError(f"no bound for schema {schema}")


def call_schema(tools: list[dict[str, Any]], max_chars: int) -> dict[str, Any]:
    """JSON Schema of one call to any of `tools`: `{"tool": NAME, "arguments": {...}}`."""
    calls = []
    for spec in tools:
        function = spec["function"]
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        calls.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": function["name"]},
                    "arguments": bounded_schema(parameters, max_chars),
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    return calls[0] if len(calls) == 1 else {"anyOf": calls}


@dataclass(frozen=True)
class CallGrammar:
    """The grammar of one env's tool calls, and the most tokens a call can take."""

    grammar: Any
    """A `llama_cpp.LlamaGrammar`."""
    text: str
    max_tokens: int


_grammars: dict[str, CallGrammar] = {}


def call_grammar(tools: list[dict[str, Any]], max_chars: int, lead: str = "") -> CallGrammar:
    """The grammar that admits exactly the valid calls to `tools`, each after `lead` (the
    space that follows `Action:` in the few-shot transcript); cached per tool set."""
    key = json.dumps([tools, max_chars, lead], sort_keys=True)
    if key not in _grammars:
        from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

        schema = call_schema(tools, max_chars)
        rules = json_schema_to_gbnf(json.dumps(schema)).splitlines()
        # Swap in the strict JSON string character (see JSON_CHAR_RULE).
        rules = [JSON_CHAR_RULE if rule.startswith("char ::=") else rule for rule in rules]
        if lead:
            rules = [f"hm-call{r[4:]}" if r.startswith("root ::=") else r for r in rules]
            rules.append(f"root ::= {json.dumps(lead)} hm-call")
        text = "\n".join(rules)
        grammar = LlamaGrammar.from_string(text, verbose=False)
        _grammars[key] = CallGrammar(grammar, text, longest_value(schema) + len(lead) + 1)
    return _grammars[key]


def submit_grammar(tools: list[dict[str, Any]], max_chars: int) -> CallGrammar:
    """The grammar of a final answer: a call to `submit` alone."""
    return call_grammar([s for s in tools if s["function"]["name"] == "submit"], max_chars)


# -- the agent --------------------------------------------------------------------------


class LocalAgent(ChatAgent):
    """An LLM agent on a GGUF model in this process; every reply is a grammatical tool call."""

    provider = "local"
    Config = LocalConfig

    def __init__(self, config: LocalConfig) -> None:
        super().__init__(config)
        self.config: LocalConfig = config
        _llama_cpp()
        self.path = model_file(config.model)
        self.n_threads = config.n_threads or default_threads()
        self._model: LoadedModel | None = None
        self._calls: CallGrammar | None = None
        self._fewshot = False

    @property
    def model(self) -> LoadedModel:
        """The loaded model; loading waits for the first request, so building an agent to
        validate a sweep (in the parent of its workers) costs nothing."""
        if self._model is None:
            self._model = load_model(self.path, self.config.n_ctx, self.n_threads)
        return self._model

    def endpoint(self) -> str:
        return str(self.path)

    def count_tokens(self, text: str) -> int:
        return len(self.model.llm.tokenize(text.encode(), add_bos=False, special=False))

    @property
    def scaffold(self) -> Literal["fewshot", "chat"]:
        """As configured; else the built-in model's choice; else, for a file, `chat` when it
        carries a chat template of its own (a base model's GGUF does not)."""
        if self.config.scaffold is not None:
            return self.config.scaffold
        builtin = BUILTIN_MODELS.get(self.config.model.lower())
        if builtin is not None:
            return builtin.scaffold
        return "chat" if self.model.llm.metadata.get("tokenizer.chat_template") else "fewshot"

    def reset(self, task: Task, seed: int) -> None:
        super().reset(task, seed)
        self._fewshot = self.scaffold == "fewshot"
        # After `Action:` the call starts with a space, as in the examples: a prompt ending
        # in a space would split the model's usual " {" token.
        lead = " " if self._fewshot else ""
        self._calls = call_grammar(task.tools, self.config.max_string_chars, lead)
        if self._fewshot:
            self.messages[0] = Message("system", self._preamble(task))

    def _preamble(self, task: Task) -> str:
        """The fewshot transcript's start, with as many of the env's worked examples (up to
        `examples`) as leave half the window for the task and the episode."""
        chosen: list[Any] = []
        for example in task.examples[: self.config.examples]:
            text = fewshot.preamble(task.tools, [*chosen, example])
            if self.count_tokens(f"{text}\n\nTask: {task.prompt}") > self.config.n_ctx // 2:
                break
            chosen.append(example)
        return fewshot.preamble(task.tools, chosen)

    def grammar(self) -> CallGrammar:
        """This request's grammar: one call to any of the task's tools, or to `submit`
        alone when the request asks for the final answer (`forced_tool`)."""
        assert self._calls is not None, "reset() first"
        if self.forced_tool is not None:
            return submit_grammar(self.tools, self.config.max_string_chars)
        return self._calls

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The transcript as the model reads it: the fewshot text, or its chat template;
        then its tokenizer."""
        if self._fewshot:
            text = fewshot.transcript(messages)
            return list(self.model.llm.tokenize(text.encode(), add_bos=True, special=False))
        rendered = self.model.formatter(
            messages=[{"role": m.role, "content": m.content} for m in messages]
        )
        return list(
            self.model.llm.tokenize(
                rendered.prompt.encode(), add_bos=not rendered.added_special, special=True
            )
        )

    def request(self, messages: list[Message], seed: int) -> dict[str, Any]:
        """The keyword arguments of `Llama.create_completion` for this step. The benchmark
        sends the same ones straight to llama-cpp-python."""
        calls = self.grammar()
        max_tokens = max(self.config.max_tokens, calls.max_tokens)
        kwargs: dict[str, Any] = {
            "prompt": self._fit_window(messages, max_tokens),
            "grammar": calls.grammar,
            "max_tokens": max_tokens,
            "temperature": self.config.temperature,
            "top_p": 1.0 if self.config.top_p is None else self.config.top_p,
            "top_k": self.config.top_k,
            "min_p": self.config.min_p,
            "seed": seed,
        }
        return {**kwargs, **self.config.extra}

    def _fit_window(self, messages: list[Message], max_tokens: int) -> list[int]:
        """The prompt's tokens, made to fit n_ctx with room for the longest call. ChatAgent
        has already fitted the transcript with estimates; this pass is exact, as the window
        is a hard limit. In order, until it fits: shorten old observations (oldest first),
        drop the oldest actions with their observations (a long episode's calls alone can
        outgrow a small window), cut the middle of the latest observation.

        Any of these changes the prompt near its start, so llama.cpp must evaluate everything
        after it again (tens of seconds for a full window on a CPU). Once the window is full,
        a quarter of it is freed at once rather than a message per step, so that cost comes
        once every several steps instead of at every step."""
        budget = self.config.n_ctx - max_tokens
        tokens = self.prompt_tokens(messages)
        if len(tokens) <= budget:
            return tokens
        target = budget - self.config.n_ctx // 4
        for message in messages[2:-1]:
            if len(tokens) <= target:
                return tokens
            if message.role in ("user", "tool") and not message.content.startswith("[..."):
                message.content = SHORTENED.format(n=len(message.content))
                tokens = self.prompt_tokens(messages)
        earlier = re.match(DROPPED_PATTERN, messages[2].content) if len(messages) > 2 else None
        dropped = int(earlier.group(1)) if earlier else 0
        if earlier:
            del messages[2]
        # Keep the latest call and its observation: the next call follows from them.
        while len(tokens) > target and len(messages) - 2 > 2:
            del messages[2:4]
            dropped += 1
            tokens = self.prompt_tokens(messages)
        if dropped:
            messages.insert(2, Message("user", DROPPED.format(n=dropped)))
            tokens = self.prompt_tokens(messages)
        latest = messages[-1]
        while len(tokens) > budget and len(messages) > 2 and len(latest.content) > 200:
            keep = len(latest.content) // 4
            cut = len(latest.content) - 2 * keep
            latest.content = (
                f"{latest.content[:keep]}\n[... {cut} characters cut to fit the context window ...]\n"
                f"{latest.content[-keep:]}"
            )
            tokens = self.prompt_tokens(messages)
        if len(tokens) > budget:
            raise ConfigError(
                f"local:{self.config.model}: the task and the latest observation need {len(tokens)} "
                f"prompt tokens and a call up to {max_tokens}, more than n_ctx={self.config.n_ctx}: "
                "raise n_ctx"
            )
        return tokens

    def _complete(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, seed: int
    ) -> Reply:
        model = self.model
        with model.lock:
            kwargs = self.request(messages, seed)
            try:
                response = model.llm.create_completion(**kwargs)
            except TypeError as exc:
                raise ConfigError(
                    f"local:{self.config.model}: extra={self.config.extra} is not understood by "
                    f"llama-cpp-python: {exc}"
                ) from None
        choice, usage = response["choices"][0], response["usage"]
        return Reply(
            text=choice["text"],
            tool_call=None,
            tokens_in=usage["prompt_tokens"],
            tokens_out=usage["completion_tokens"],
            raw={"finish_reason": choice["finish_reason"]},
        )
