"""The sweep config: envs x horizons x tasks x samples x agents, loadable from YAML. Each
field's docstring is also its `hotmess sweep` flag's help."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hotmess.agents.registry import AgentSpec
from hotmess.errors import ConfigError, HotmessDeprecationWarning, validation_problems

WARM_DEFAULT = 2
"""Default `warm_sandboxes`: the fastest setting measured by benchmarks/warm_sweep.py."""

ExecutorName = Literal["serial", "pool", "threads", "ray"]
EXECUTOR_ALIASES = {"async": "threads"}
"""Old executor names, still accepted with a warning that names the new one."""

EXECUTION_FIELDS = frozenset(
    {
        "workers",
        "out",
        "retry_censored",
        "sandbox",
        "executor",
        "concurrency",
        "ray_address",
        "max_cost",
        "max_tokens",
        "max_wall",
        "warm_sandboxes",
    }
)
"""Fields that say how and how far to run, not what: left out of the sweep's identity, so a
resumed sweep may change them."""


class SweepConfig(BaseModel):
    """What to run. Every field but the execution ones (EXECUTION_FIELDS) is part of the
    sweep's identity: `--resume` refuses a store written with different values."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    envs: list[str] = Field(min_length=1)
    """Registered env ids, e.g. `hotmess/KVSum-v0`."""
    agents: list[str] = Field(min_length=1)
    """Agent specs, e.g. `noisy:p=0.1`, `openai:gpt-4o,temperature=1`, `my_pkg.agents:MyAgent`."""
    horizons: list[int] = Field(min_length=1, examples=[[1, 2, 4, 8]])
    """The horizon knob: the number of actions each task needs."""
    tasks: int = Field(10, ge=1)
    """Task instances (questions) per env and horizon."""
    samples: int = Field(10, ge=1)
    """Episodes per task, agent and horizon: the samples bias and variance are estimated from."""
    seed: int = 0
    """Sweep seed: fixes every task seed and agent seed."""
    final_answer: bool = True
    """At the action cap, ask for the final answer: the last allowed action may only be
    `submit` (LLM agents are offered only it), and the episode records the answer as
    forced. Off: an agent that has not submitted by the cap is truncated with no answer."""
    env_options: dict[str, dict[str, Any]] = {}
    """Extra keyword arguments per env id, e.g. `{"hotmess/PointerChase-v0": {"n_colours": 6}}`."""
    sandbox: str = Field(default_factory=lambda: os.environ.get("HOTMESS_SANDBOX") or "auto")
    """Where sandboxed envs run actions: auto, docker, bwrap or none (default: $HOTMESS_SANDBOX,
    else auto). Not part of the identity: the backends give the same results."""
    sandbox_options: dict[str, Any] = {}
    """Sandbox limits (`hotmess.sandbox.SandboxConfig` fields), e.g. `{"memory_mb": 2048}`."""
    target_ci: float | None = Field(None, gt=0, le=1)
    """Adaptive sampling: keep adding samples to a question (task x horizon x agent) until
    the bootstrap CI of its incoherence is narrower than this (see docs/running-a-sweep.md)."""
    max_samples: int | None = Field(None, ge=1)
    """Adaptive sampling: the most samples any question gets (default 5 x `samples`)."""
    ci_level: float = Field(0.95, gt=0, lt=1)
    """Adaptive sampling: the confidence level of the stopping rule's CI."""
    bootstrap: int = Field(500, ge=50)
    """Adaptive sampling: bootstrap resamples per question and round."""
    fork_at: list[int] = Field([], examples=[[2, 4, 8]])
    """Prefix forking: replay this many of one sample's actions, then run `forks`
    continuations from there; one set of forks per value."""
    forks: int = Field(10, ge=1)
    """Prefix forking: continuations per trunk and `fork_at` value."""
    workers: int = Field(1, ge=1)
    """Worker processes (pool), or Ray actors (ray, where 1 means one per CPU of the cluster)."""
    executor: ExecutorName | None = None
    """Where episodes run: serial, pool (`workers` processes), threads (`concurrency`
    episodes in flight, for API agents) or ray; default: pool with more than one worker,
    else serial."""
    concurrency: int = Field(16, ge=1)
    """Episodes in flight at once with the `threads` executor."""
    warm_sandboxes: int = Field(WARM_DEFAULT, ge=0)
    """Sandboxes each episode slot (a worker, a thread, a Ray actor) keeps starting or ready
    for its next episodes, so their start-up overlaps the current one; 0 makes each
    sandbox when its episode starts. Every episode still gets a new, untouched sandbox."""
    ray_address: str | None = None
    """The Ray cluster to join (`auto`, `ray://host:10001`); default: a local Ray."""
    max_cost: float | None = Field(None, gt=0)
    """Stop starting episodes once this run has spent this many US dollars."""
    max_tokens: int | None = Field(None, gt=0)
    """Stop starting episodes once this run has used this many tokens (in + out)."""
    max_wall: float | None = Field(None, gt=0)
    """Stop starting episodes after this long: seconds, or a duration such as `90m` or `2h`."""
    out: Path | None = None
    """The run directory to write (`--resume` continues the sweep in it)."""
    retry_censored: bool = True
    """With --resume, run censored episodes (infrastructure errors) again; the new record
    supersedes the censored one in scoring."""

    @field_validator("max_wall", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_alias(cls, name: Any) -> Any:
        return canonical_executor(name) if isinstance(name, str) else name

    @field_validator("fork_at")
    @classmethod
    def _fork_points(cls, points: list[int]) -> list[int]:
        bad = [t for t in points if t < 1]
        if bad:
            raise ValueError(f"fork points must be positive numbers of actions, got {bad}")
        return sorted(set(points))

    @property
    def executor_name(self) -> str:
        """The executor to use, with the default resolved."""
        return self.executor or ("pool" if self.workers > 1 else "serial")

    @property
    def sample_cap(self) -> int:
        """The most samples adaptive sampling gives a question."""
        return max(self.samples, self.max_samples or 5 * self.samples)

    @field_validator("horizons")
    @classmethod
    def _positive(cls, horizons: list[int]) -> list[int]:
        bad = [h for h in horizons if h < 1]
        if bad:
            raise ValueError(f"horizons must be positive integers, got {bad}")
        return sorted(set(horizons))

    @field_validator("agents")
    @classmethod
    def _canonical_agents(cls, agents: list[str]) -> list[str]:
        return [str(AgentSpec.parse(spec)) for spec in agents]

    def identity(self) -> dict[str, Any]:
        """The fields that determine the sweep's results."""
        return self.model_dump(mode="json", exclude=set(EXECUTION_FIELDS))

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> SweepConfig:
        """Load a YAML file; non-None `overrides` (CLI flags) win over the file."""
        data = load_yaml(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.build(data, source=str(path))

    @classmethod
    def build(cls, data: dict[str, Any], source: str = "sweep config") -> SweepConfig:
        """Validate, turning pydantic's report into one line naming each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"invalid {source}: {validation_problems(exc)}") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of sweep settings in a YAML file (not yet validated)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of sweep settings, got {type(data).__name__}"
        )
    return data


def apply_settings(data: dict[str, Any], settings: Iterable[str]) -> dict[str, Any]:
    """`data` with each `KEY=VALUE` setting applied, in order. KEY may be a dotted path into
    a mapping field (`sandbox_options.memory_mb=2048`); VALUE is read as YAML (`5`,
    `[1, 2]`, `{n_colours: 6}`, else the text itself)."""
    data = dict(data)
    for setting in settings:
        key, sep, text = setting.partition("=")
        path = key.strip().split(".")
        if not sep or not all(path):
            raise ConfigError(f"--set takes KEY=VALUE (KEY may be dotted: a.b=1), got '{setting}'")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        node = data
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                dotted = ".".join(path[: depth + 1])
                raise ConfigError(f"--set {key}: {dotted} is {child!r}, not a mapping")
            node[part] = child = dict(child)
            node = child
        node[path[-1]] = value
    return data


def canonical_executor(name: str) -> str:
    """The executor `name` stands for: itself, or the new name of an old alias (warning)."""
    new = EXECUTOR_ALIASES.get(name)
    if new is None:
        return name
    warnings.warn(
        f"executor '{name}' is now called '{new}' (it is a thread pool); "
        f"'{name}' still works but will be removed",
        HotmessDeprecationWarning,
        stacklevel=2,
    )
    return new


def parse_duration(text: str) -> float:
    """Seconds in `90`, `90s`, `30m`, `2h`, `1h30m`."""
    parts = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not text.strip() or parts is None or not any(parts.groups()):
        raise ValueError(f"not a duration: {text!r} (write e.g. 3600, 90m or 2h)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
    return hours * 3600 + minutes * 60 + seconds
