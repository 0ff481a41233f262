"""The sweep config: envs x horizons x tasks x samples x agents, loadable from YAML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hotmess.agents.registry import AgentSpec
from hotmess.errors import ConfigError


class SweepConfig(BaseModel):
    """What to run. Every field but the execution ones (`workers`, `out`, `sandbox`) is part of
    the sweep's identity: `--resume` refuses a store written with different values."""

    model_config = ConfigDict(extra="forbid")

    envs: list[str] = Field(min_length=1)
    """Registered env ids, e.g. `hotmess/KVSum-v0`."""
    agents: list[str] = Field(min_length=1)
    """Agent specs, e.g. `noisy:p=0.1`, `openai:gpt-4o,temperature=1`, `my_pkg.agents:MyAgent`."""
    horizons: list[int] = Field(min_length=1)
    """The horizon knob: the number of actions each task needs."""
    tasks: int = Field(10, ge=1)
    """Task instances (questions) per env and horizon."""
    samples: int = Field(10, ge=1)
    """Episodes per task, agent and horizon: the samples bias and variance are estimated from."""
    seed: int = 0
    """Sweep seed: fixes every task seed and agent seed."""
    env_options: dict[str, dict[str, Any]] = {}
    """Extra keyword arguments per env id, e.g. `{"hotmess/PointerChase-v0": {"n_colours": 6}}`."""
    sandbox: str = Field(default_factory=lambda: os.environ.get("HOTMESS_SANDBOX") or "auto")
    """Where sandboxed envs run actions: auto, docker or bwrap (default: $HOTMESS_SANDBOX, else
    auto). Not part of the identity: the backends give the same results."""
    sandbox_options: dict[str, Any] = {}
    """Sandbox limits (`hotmess.sandbox.SandboxConfig` fields), e.g. `{"memory_mb": 2048}`."""
    workers: int = Field(1, ge=1)
    """Worker processes; 1 runs episodes in this process."""
    out: Path | None = None
    """The run directory."""

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
        return self.model_dump(mode="json", exclude={"workers", "out", "sandbox"})

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> SweepConfig:
        """Load a YAML file; non-None `overrides` (CLI flags) win over the file."""
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
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.build(data, source=str(path))

    @classmethod
    def build(cls, data: dict[str, Any], source: str = "sweep config") -> SweepConfig:
        """Validate, turning pydantic's report into one line naming each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid {source}: {problems}") from None
