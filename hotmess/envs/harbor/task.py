"""Harbor task folders (the format Terminal-Bench 2.0 ships in): `task.toml`, `instruction.md`,
`environment/` (a Dockerfile, or `docker_image` in task.toml), `tests/test.sh` and
`solution/solve.sh`; parsed here, read-only, into what the env needs."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hotmess.errors import ConfigError, validation_problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (3.10)
    import tomli as tomllib

#: Paths inside the container, as Harbor has them (harbor/models/trial/paths.py).
TESTS_DIR = "/tests"
SOLUTION_DIR = "/solution"
LOGS_DIR = "/logs"
VERIFIER_DIR = "/logs/verifier"
REWARD_TXT = "/logs/verifier/reward.txt"
REWARD_JSON = "/logs/verifier/reward.json"
TEST_STDOUT = "/logs/verifier/test-stdout.txt"


#: Harbor's environment-variable template, a whole value: `${VAR}` or `${VAR:-default}`
#: (harbor/utils/env.py). Anything else is literal.
ENV_TEMPLATE = re.compile(r"\$\{([^}:]+)(?::-(.*))?\}")
#: The task.toml sections whose `env` Harbor fills from the host's environment.
ENV_SECTIONS = ("environment", "verifier", "solution")


def resolve_env(
    env: dict[str, str], where: str, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`env` with Harbor's templates filled in from `environ` (this process's environment),
    as Harbor does; a `ConfigError` naming the variable when it is unset and has no default."""
    environ = os.environ if environ is None else environ
    resolved = {}
    for key, value in env.items():
        match = ENV_TEMPLATE.fullmatch(value)
        if match is None:
            resolved[key] = value
        elif match[1] in environ:
            resolved[key] = environ[match[1]]
        elif match[2] is not None:
            resolved[key] = match[2]
        else:
            raise ConfigError(
                f"{where}: {key} = {value!r} needs the environment variable {match[1]}, which "
                f"is not set here: export it, or give a default as ${{{match[1]}:-value}}"
            )
    return resolved


def _size_mb(text: str) -> int:
    """Harbor's legacy size strings ('2G', '512M', '1024K') in MB."""
    size = text.strip().upper()
    factor = {"G": 1024.0, "M": 1.0, "K": 1 / 1024}.get(size[-1:])
    if factor is None:
        raise ValueError(f"size {text!r} must end in G, M or K (like '2G' or '512M')")
    return int(float(size[:-1]) * factor)


class _Section(BaseModel):
    # Harbor's schema grows often; fields hotmess does not use are accepted and ignored.
    model_config = ConfigDict(extra="ignore")


class AgentSection(_Section):
    """`[agent]`: how long the agent may work, and as whom."""

    timeout_sec: float | None = Field(None, gt=0)
    """Wall-clock budget of the agent phase (Harbor's AgentTimeoutError); None: no limit."""
    user: str | int | None = None
    """User the agent runs as; None: the image's USER (root when it sets none)."""


class VerifierSection(_Section):
    """`[verifier]`: how tests/test.sh is run."""

    timeout_sec: float = Field(600.0, gt=0)
    """Wall-clock limit of test.sh (Harbor's default: 600 s)."""
    env: dict[str, str] = {}
    """Environment variables test.sh runs with."""
    user: str | int | None = None
    """User test.sh runs as; None: root (Harbor: the image's default user)."""
    environment_mode: Literal["shared", "separate"] | None = None
    """Harbor runs a separate verifier container for `separate`; hotmess does not."""


class EnvironmentSection(_Section):
    """`[environment]`: the container."""

    build_timeout_sec: float = Field(600.0, gt=0)
    docker_image: str | None = None
    """A prebuilt image to use instead of building environment/Dockerfile."""
    cpus: float | None = Field(None, gt=0)
    memory_mb: int | None = Field(None, ge=16)
    storage_mb: int | None = Field(None, ge=1)
    gpus: int | None = None
    workdir: str | None = None
    """Working directory of the agent's shell; None: the image's WORKDIR."""
    env: dict[str, str] = {}
    allow_internet: bool | None = None
    """Legacy (Harbor < 0.2): true asks for the network."""
    network_mode: Literal["no-network", "public", "allowlist"] | None = None
    """Current Harbor: `public` or `allowlist` asks for the network."""
    os: str = "linux"

    @model_validator(mode="before")
    @classmethod
    def _legacy_sizes(cls, data: Any) -> Any:
        """Harbor's deprecated `memory = "2G"` and `storage = "10G"` (Terminal-Bench 2.0 uses them)."""
        if isinstance(data, dict):
            data = dict(data)
            for old, new in (("memory", "memory_mb"), ("storage", "storage_mb")):
                if isinstance(data.get(old), str):
                    data.setdefault(new, _size_mb(data.pop(old)))
        return data

    @property
    def wants_network(self) -> bool:
        """Whether the task says it needs the network (hotmess runs without it otherwise)."""
        if self.network_mode is not None:
            return self.network_mode != "no-network"
        return bool(self.allow_internet)

    @property
    def harbor_network(self) -> bool:
        """Whether Harbor gives the task the network: unless it says otherwise, it does
        (Harbor's default network_mode is public)."""
        if self.network_mode is not None:
            return self.network_mode != "no-network"
        return self.allow_internet is not False


class SolutionSection(_Section):
    env: dict[str, str] = {}
    """Environment variables solve.sh runs with."""


class TaskConfig(_Section):
    """The parts of Harbor's task.toml (harbor/models/task/config.py) hotmess honours."""

    agent: AgentSection = AgentSection()
    verifier: VerifierSection = VerifierSection()
    environment: EnvironmentSection = EnvironmentSection()
    solution: SolutionSection = SolutionSection()
    metadata: dict[str, Any] = {}
    steps: list[Any] | None = None


class HarborTask(BaseModel):
    """One task folder, checked: everything the env needs, with the files still on disk."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    root: Path
    name: str
    instruction: str
    config: TaskConfig
    digest: str
    """SHA-256 of every file of the folder: equal folders, equal tasks (the fingerprint)."""

    @property
    def environment_dir(self) -> Path:
        return self.root / "environment"

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def solution_dir(self) -> Path:
        return self.root / "solution"

    @property
    def has_solution(self) -> bool:
        return (self.solution_dir / "solve.sh").is_file()

    def env(self, section: Literal["environment", "verifier", "solution"]) -> dict[str, str]:
        """task.toml's `[section] env`, templates filled from the host's environment now
        (the parsed config keeps them as written, so no value is stored anywhere)."""
        return resolve_env(
            getattr(self.config, section).env, f"Harbor task {self.root}: [{section}] env"
        )


def is_task_dir(path: Path) -> bool:
    return (path / "task.toml").is_file()


def find_tasks(path: str | Path) -> list[Path]:
    """The task folders at `path`: the folder itself when it holds task.toml, else its
    subfolders that do, sorted by name (the order `task_seed` indexes)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(
            f"Harbor path {str(path)!r} is not a directory: give -O path=DIR, a task folder "
            "(with task.toml) or a folder of task folders"
        )
    if is_task_dir(root):
        return [root.resolve()]
    found = sorted(p.resolve() for p in root.iterdir() if p.is_dir() and is_task_dir(p))
    if not found:
        raise ConfigError(
            f"no Harbor task under {str(path)!r}: neither it nor any of its subfolders holds "
            "a task.toml; give a task folder or a dataset folder of them (e.g. a "
            "Terminal-Bench 2.0 checkout)"
        )
    return found


def folder_digest(root: Path) -> str:
    """SHA-256 of every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256(b"harbor-task/1\n")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix().encode()
        content = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name), name, len(content)))
        digest.update(content)
    return digest.hexdigest()


def load_task(root: Path) -> HarborTask:
    """Parse and check one task folder; a `ConfigError` naming the file and the fix."""
    where = f"Harbor task {root}"
    try:
        raw = tomllib.loads((root / "task.toml").read_text(encoding="utf-8"))
        config = TaskConfig.model_validate(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: task.toml is not valid TOML ({exc})") from None
    except ValidationError as exc:
        raise ConfigError(f"{where}: task.toml: {validation_problems(exc)}") from None
    except ValueError as exc:  # a size string the legacy validator refused
        raise ConfigError(f"{where}: task.toml: {exc}") from None
    if config.steps:
        raise ConfigError(f"{where}: multi-step tasks ([[steps]]) are not supported by hotmess")
    if config.environment.os.lower() != "linux":
        raise ConfigError(
            f"{where}: only Linux tasks run here (task.toml says os = {config.environment.os!r})"
        )
    if config.verifier.environment_mode == "separate":
        raise ConfigError(
            f"{where}: a separate verifier container ([verifier] environment_mode = "
            '"separate") is not supported; hotmess runs tests/test.sh in the task\'s container'
        )
    instruction = root / "instruction.md"
    if not instruction.is_file():
        raise ConfigError(f"{where}: instruction.md is missing (it is the agent's prompt)")
    if not (root / "tests" / "test.sh").is_file():
        raise ConfigError(f"{where}: tests/test.sh is missing (it writes the reward)")
    for section in ENV_SECTIONS:  # an unset variable stops the sweep before it starts
        resolve_env(getattr(config, section).env, f"{where}: [{section}] env")
    has_dockerfile = (root / "environment" / "Dockerfile").is_file()
    if not has_dockerfile and config.environment.docker_image is None:
        raise ConfigError(
            f"{where}: give environment/Dockerfile or docker_image in task.toml's [environment]"
        )
    return HarborTask(
        root=root,
        name=root.name,
        instruction=instruction.read_text(encoding="utf-8"),
        config=config,
        digest=folder_digest(root),
    )


def pick(tasks: list[Path], task_seed: int) -> Path:
    """The task a seed runs: task_seed modulo the number of tasks, in sorted order."""
    return tasks[task_seed % len(tasks)]
