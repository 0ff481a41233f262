"""Agent specs (`noisy:p=0.1,systematic=true`, `openai:gpt-4o`, `my_pkg.agents:MyAgent`)
and the registry that turns them into agents.

A spec is `NAME[:ARG][,KEY=VALUE...]`: NAME is a built-in or an entry point of the
`hotmess.agents` group, else a module path whose ARG names a class in it; ARG is the
model for LLM agents; the options are validated against the agent's `Config` model.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hotmess.agents.base import Agent
from hotmess.agents.local_models import BUILTIN_MODELS, DEFAULT_MODEL
from hotmess.errors import ConfigError, UnknownAgentError, validation_problems
from hotmess.loading import MissingObjectError, load_object

ENTRY_POINT_GROUP = "hotmess.agents"


class AgentSpec(BaseModel):
    """A parsed agent spec. `str(spec)` is its canonical form, used in cell keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    arg: str | None = None
    options: dict[str, Any] = {}

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        text = text.strip()
        if not text:
            raise ConfigError("empty agent spec; try `oracle`, `noisy:p=0.1` or `module:Class`")
        name, _, rest = text.partition(":")
        arg: str | None = None
        options: dict[str, Any] = {}
        for i, item in enumerate(filter(None, (part.strip() for part in rest.split(",")))):
            if "=" in item:
                key, _, value = item.partition("=")
                options[key.strip()] = _option_value(value.strip())
            elif i == 0:
                arg = item
            else:
                raise ConfigError(
                    f"agent spec '{text}': '{item}' is not KEY=VALUE (only the first item may be a model/class name)"
                )
        return cls(name=name.strip(), arg=arg, options=options)

    def __str__(self) -> str:
        head = self.name + (f":{self.arg}" if self.arg else "")
        opts = ",".join(f"{k}={_format_value(v)}" for k, v in sorted(self.options.items()))
        if not opts:
            return head
        return f"{head},{opts}" if self.arg else f"{head}:{opts}"


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _format_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class AgentEntry:
    """A registered agent kind."""

    name: str
    summary: str
    example: str
    load: Callable[[], type]
    """Imports and returns the agent class (lazily: LLM agents have optional dependencies)."""
    takes_model: bool = False


def _lazy(reference: str) -> Callable[[], type]:
    return lambda: load_object(reference)


BUILTIN_AGENTS: dict[str, AgentEntry] = {
    entry.name: entry
    for entry in [
        AgentEntry(
            "oracle",
            "replays the env's oracle solution; always succeeds",
            "oracle",
            _lazy("hotmess.agents.scripted:OracleAgent"),
        ),
        AgentEntry(
            "noisy",
            "the oracle, wrong with probability p per action; systematic=true repeats the same errors for every sample",
            "noisy:p=0.1",
            _lazy("hotmess.agents.scripted:NoisyAgent"),
        ),
        AgentEntry(
            "openai",
            "any OpenAI-compatible chat API (base_url= or $OPENAI_BASE_URL), native or text tool calling",
            "openai:gpt-4o-mini,temperature=1",
            _lazy("hotmess.agents.openai_agent:OpenAIAgent"),
            takes_model=True,
        ),
        AgentEntry(
            "anthropic",
            "the Anthropic Messages API with tool use ($ANTHROPIC_API_KEY)",
            "anthropic:claude-sonnet-4-5",
            _lazy("hotmess.agents.anthropic_agent:AnthropicAgent"),
            takes_model=True,
        ),
        AgentEntry(
            "local",
            "a small GGUF model in-process with llama-cpp-python (no key, no network); built in: "
            + "; ".join(model.listing() for model in BUILTIN_MODELS.values())
            + f"; default {DEFAULT_MODEL}; or local:/path/to/model.gguf",
            "\n".join(f"local:{alias}" for alias in BUILTIN_MODELS),
            _lazy("hotmess.agents.local:LocalAgent"),
            takes_model=True,
        ),
        AgentEntry(
            "random",
            "a random tool with random arguments each step",
            "random",
            _lazy("hotmess.agents.scripted:RandomAgent"),
        ),
    ]
}


def register_agent(entry: AgentEntry) -> None:
    """Add an agent kind by name (what the LLM agent modules and plugins call)."""
    BUILTIN_AGENTS[entry.name] = entry


def agent_entries() -> dict[str, AgentEntry]:
    """Built-in agents and those of the `hotmess.agents` entry-point group."""
    entries = dict(BUILTIN_AGENTS)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        entries.setdefault(ep.name, AgentEntry(ep.name, f"plugin ({ep.value})", ep.name, ep.load))
    return entries


def resolve_class(spec: AgentSpec) -> tuple[type, dict[str, Any]]:
    """The agent class a spec names and the keyword options to build it with."""
    options = dict(spec.options)
    entries = agent_entries()
    if spec.name in entries:
        entry = entries[spec.name]
        try:
            cls = entry.load()
        except ImportError as exc:
            raise UnknownAgentError(
                f"agent '{spec.name}' needs a package that is not installed: {exc}"
            ) from None
        if spec.arg is not None:
            if not entry.takes_model:
                raise ConfigError(
                    f"agent '{spec.name}' takes no model name, got '{spec.arg}'; options go as {spec.name}:KEY=VALUE"
                )
            options["model"] = spec.arg
        return cls, options
    if spec.arg is None:
        known = ", ".join(sorted(entries))
        raise UnknownAgentError(
            f"unknown agent '{spec.name}'; built-in: {known}; or give a class as module:Class"
        )
    try:
        found = load_object(f"{spec.name}:{spec.arg}")
    except MissingObjectError:
        found = None
    except ImportError as exc:
        known = ", ".join(sorted(entries))
        raise UnknownAgentError(
            f"unknown agent '{spec.name}:{spec.arg}': not a built-in ({known}) and module '{spec.name}' cannot be imported ({exc})"
        ) from None
    if not isinstance(found, type):
        raise UnknownAgentError(f"module '{spec.name}' has no class '{spec.arg}'")
    return found, options


def make_agent(spec: str | AgentSpec) -> Agent:
    """Build the agent a spec names, validating its options."""
    parsed = AgentSpec.parse(spec) if isinstance(spec, str) else spec
    cls, options = resolve_class(parsed)
    config_model = getattr(cls, "Config", None)
    try:
        if isinstance(config_model, type) and issubclass(config_model, BaseModel):
            agent = cls(config_model.model_validate(options))
        else:
            agent = cls(**options)
    except ValidationError as exc:
        takes = config_model.model_fields  # type: ignore[union-attr]
        problems = validation_problems(exc, takes=takes, whole="options")
        raise ConfigError(f"agent '{parsed}': {problems}") from None
    except TypeError as exc:
        raise ConfigError(f"agent '{parsed}': {exc}") from None
    if not isinstance(agent, Agent):
        raise UnknownAgentError(
            f"agent '{parsed}' ({cls.__name__}) lacks reset(task, seed) and act(observation)"
        )
    return agent
