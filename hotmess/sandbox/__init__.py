"""Where agents' actions run. `create(kind, **options)` returns a `Sandbox`: `docker`
(primary), `bwrap`, or `none` for environments that run no commands; `auto` picks docker
when an engine answers, else bwrap. Third-party backends register by name in the
`hotmess.sandboxes` entry-point group (a class taking a `SandboxConfig`). Envs get their
sandboxes from a `SandboxSource`: made on demand, or handed out warm by a sweep's pool."""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any, Protocol

from pydantic import ValidationError

from hotmess.errors import ConfigError, SandboxError, validation_problems
from hotmess.loading import load_object
from hotmess.sandbox.base import TIMEOUT_EXIT_CODE, ExecResult, Sandbox, SandboxConfig

ENTRY_POINT_GROUP = "hotmess.sandboxes"
ENV_VAR = "HOTMESS_SANDBOX"

BACKENDS: dict[str, str] = {
    "docker": "hotmess.sandbox.docker:DockerSandbox",
    "bwrap": "hotmess.sandbox.bwrap:BwrapSandbox",
    "none": "hotmess.sandbox:NoSandbox",
}


class NoSandbox:
    """For environments whose tools are pure Python: there is nothing to isolate, and any
    attempt to run a command is refused rather than run unisolated on the host."""

    kind = "none"

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()

    def _refuse(self) -> SandboxError:
        return SandboxError(
            "the 'none' sandbox runs no commands: this environment needs --sandbox docker or bwrap"
        )

    def exec(self, cmd: str, timeout: float | None = None) -> ExecResult:
        raise self._refuse()

    def write_file(self, path: str, data: bytes | str) -> None:
        raise self._refuse()

    def read_file(self, path: str) -> bytes:
        raise self._refuse()

    def close(self) -> None:
        pass

    def __enter__(self) -> NoSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def backend_names() -> list[str]:
    return sorted(
        {*BACKENDS, *(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))}
    )


def default_kind() -> str:
    """`HOTMESS_SANDBOX` if set, else auto."""
    return os.environ.get(ENV_VAR) or "auto"


def resolve_kind(kind: str | None = None) -> str:
    """The backend `kind` names; `auto` becomes docker or bwrap, whichever works here."""
    kind = kind or default_kind()
    if kind in BACKENDS:  # without reading every installed package's entry points (~20 ms)
        return kind
    if kind != "auto":
        if kind not in backend_names():
            raise ConfigError(
                f"unknown sandbox '{kind}'; choose one of: auto, {', '.join(backend_names())}"
            )
        return kind
    from hotmess.sandbox.bwrap import bwrap_available
    from hotmess.sandbox.images import docker_available

    docker_problem = docker_available()
    if docker_problem is None:
        return "docker"
    bwrap_problem = bwrap_available()
    if bwrap_problem is None:
        return "bwrap"
    raise SandboxError(
        f"no sandbox is available: docker: {docker_problem}; bwrap: {bwrap_problem}. "
        "Install and start Docker (then `hotmess containers build`), or install bubblewrap"
    )


def create(kind: str | None = "auto", **options: Any) -> Sandbox:
    """A new sandbox of `kind` (auto, docker, bwrap, none) with `options` from `SandboxConfig`."""
    try:
        config = SandboxConfig(**options)
    except ValidationError as exc:
        raise ConfigError(f"invalid sandbox options: {validation_problems(exc)}") from None
    name = resolve_kind(kind)
    target = BACKENDS.get(name)
    if target is None:
        (entry,) = [
            ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name
        ]
        cls = entry.load()
    else:
        cls = load_object(target)
    sandbox: Sandbox = cls(config)
    return sandbox


class SandboxSource(Protocol):
    """Where an env gets each episode's sandbox and where it leaves it: `take` returns a
    sandbox nobody has used, exactly as `create(kind, **options)` would make it; `give_back`
    closes one the episode is done with (perhaps on another thread)."""

    def take(self, kind: str, options: dict[str, Any]) -> Sandbox: ...

    def give_back(self, sandbox: Sandbox) -> None: ...


class ColdSandboxes:
    """The default source: a new sandbox made when asked, closed when given back."""

    def take(self, kind: str, options: dict[str, Any]) -> Sandbox:
        return create(kind, **options)

    def give_back(self, sandbox: Sandbox) -> None:
        sandbox.close()


COLD = ColdSandboxes()


__all__ = [
    "COLD",
    "TIMEOUT_EXIT_CODE",
    "ColdSandboxes",
    "ExecResult",
    "NoSandbox",
    "Sandbox",
    "SandboxConfig",
    "SandboxSource",
    "backend_names",
    "create",
    "resolve_kind",
]
