"""The `Sandbox` protocol every backend implements, its result type, and the limits that
bound what an agent's commands can do. Envs know nothing about where commands run but this.
"""

from __future__ import annotations

import errno
import secrets
from typing import NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

#: Exit code reported for a command killed at its time limit (GNU timeout's convention).
TIMEOUT_EXIT_CODE = 124


def new_nonce() -> str:
    """A marker no process in a sandbox can predict (128 random bits)."""
    return secrets.token_hex(16)


class FileTooLargeError(OSError):
    """A file to read from or write to a sandbox is larger than `transfer_limit_bytes`."""

    def __init__(self, path: str, size: int | None, limit: int) -> None:
        size_text = f"{size} bytes" if size is not None else f"more than {limit} bytes"
        super().__init__(
            errno.EFBIG,
            f"{path} is {size_text}, over the {limit}-byte limit of a file transfer; "
            "work on it in parts with bash (head, tail, split, sed -n)",
        )


class ExecResult(NamedTuple):
    """What one command did."""

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool = False
    """Killed at its time limit (exit code 124)."""
    truncated: bool = False
    """Output exceeded the cap: the middle was cut and replaced by a marker."""
    oom_killed: bool = False
    """Killed by the out-of-memory killer (exit code 137)."""


class SandboxConfig(BaseModel):
    """Bounds of a sandbox. All on by default; every field can be set from a sweep config
    (`sandbox_options:`) or as keyword arguments of `hotmess.sandbox.create`."""

    model_config = ConfigDict(extra="forbid")

    image: str | None = None
    """Docker image; None uses the sandbox image built by `hotmess containers build`."""
    network: bool = False
    """Allow network access. Off: the sandbox has no network interface but loopback."""
    memory_mb: int = Field(1024, ge=16)
    """Memory limit of everything in the sandbox; exceeding it is an OOM kill (exit 137)."""
    cpus: float = Field(1.0, gt=0)
    """CPU share (1.0 = one core)."""
    pids: int = Field(256, ge=8)
    """Maximum number of processes: a fork bomb stops here."""
    file_size_mb: int = Field(256, ge=1)
    """Largest file a command may write (also caps how much output a command can produce)."""
    workdir: str = "/work"
    """The writable working directory; the rest of the filesystem is read-only."""
    work_mb: int = Field(1024, ge=1)
    """Total size of the workdir (a size-limited tmpfs on both backends)."""
    uid: int = Field(1000, ge=1)
    """The non-root user commands run as."""
    command_timeout_s: float = Field(60.0, gt=0)
    """Default per-command time limit; the command's whole process group is killed."""
    episode_timeout_s: float = Field(3600.0, gt=0)
    """Wall-clock limit of the sandbox's life; later commands fail at once."""
    output_limit_bytes: int = Field(32_768, ge=256)
    """Per stream: longer output keeps its first and last halves with a marker between."""
    transfer_limit_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    """Largest file `read_file` returns or `write_file` accepts; larger is `FileTooLargeError`."""
    run_id: str = "adhoc"
    """Label tying the sandbox to a sweep, for `hotmess janitor`."""


@runtime_checkable
class Sandbox(Protocol):
    """Where an episode's commands run: one persistent shell, so state (cwd, variables)
    carries over between commands. A context manager; `close` is idempotent."""

    kind: str
    """Backend name: docker, bwrap or none."""

    def exec(self, cmd: str, timeout: float | None = None) -> ExecResult:
        """Run `cmd` in the shell; never raises for what the command does."""
        ...

    def write_file(self, path: str, data: bytes | str) -> None:
        """Write a file (binary-safe), creating parent directories; relative to the workdir."""
        ...

    def read_file(self, path: str) -> bytes:
        """Read a file (binary-safe); `FileNotFoundError` if it is not there."""
        ...

    def close(self) -> None:
        """Kill everything in the sandbox and remove it. Safe to call twice."""
        ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(self, *exc: object) -> None: ...
