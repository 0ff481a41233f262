"""A persistent interactive bash behind a pseudo-terminal, driven with pexpect: one shell
per episode, so a command costs a pipe round trip, not a process or container start.

Only short control markers travel over the terminal. Each command is sourced from a file
in an I/O directory shared with the host, with its stdout and stderr redirected to files
there, which the host reads head and tail of: output is binary-safe, separated, capped
without ever holding a gigabyte in memory, and never mistaken for a marker.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shlex
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect

from hotmess.sandbox import lifecycle
from hotmess.sandbox.base import TIMEOUT_EXIT_CODE, ExecResult, SandboxConfig

#: Seconds to wait after Ctrl-C, then after killing the foreground job, for the shell.
INTERRUPT_GRACE_S = 1.0
KILL_GRACE_S = 3.0
START_TIMEOUT_S = 30.0


class ShellSession:
    """One interactive bash in a sandbox. `spawn` starts the process that runs it (a
    `docker exec -it`, a `bwrap`); `kill_foreground` SIGKILLs the job the terminal is
    running when Ctrl-C was not enough; the backend knows how to reach it."""

    def __init__(
        self,
        spawn: Callable[[], pexpect.spawn],
        io_host: Path,
        io_inside: str,
        workdir: str,
        *,
        output_limit: int,
        kill_foreground: Callable[[ShellSession], None],
    ) -> None:
        self._spawn = spawn
        self.io_host = io_host
        self.io_inside = io_inside
        self.workdir = workdir
        self.output_limit = output_limit
        self._kill_foreground = kill_foreground
        self._nonce = itertools.count(1)
        self.child: pexpect.spawn | None = None
        self.shell_pid = 0
        """The shell's PID as seen inside the sandbox."""
        self.restarts = 0
        self._start()

    # -- life cycle ---------------------------------------------------------------------

    def _start(self) -> None:
        child = self._spawn()
        child.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default
        # The marker is split in two in the command, so its echo can never match it.
        child.send(
            "stty -echo 2>/dev/null; PS1=''; PS2=''; PROMPT_COMMAND=''; unset HISTFILE; set +o history; "
            f"cd {shlex.quote(self.workdir)}; printf '__HM_READY''_%d__\\n' $$\n"
        )
        try:
            child.expect(rb"__HM_READY_(\d+)__", timeout=START_TIMEOUT_S)
        except (pexpect.TIMEOUT, pexpect.EOF):
            before = (child.before or b"").decode(errors="replace").strip()
            child.close(force=True)
            raise RuntimeError(
                f"the sandbox shell did not start: {before[-500:] or 'no output'}"
            ) from None
        self.shell_pid = int(child.match.group(1))
        self.child = child

    def restart(self) -> None:
        """Replace a dead or wedged shell with a new one in the workdir."""
        self.close()
        self.restarts += 1
        self._start()

    def close(self) -> None:
        if self.child is not None:
            self.child.close(force=True)
            self.child = None

    @property
    def terminal_fd(self) -> int:
        assert self.child is not None
        return int(self.child.child_fd)

    # -- commands -----------------------------------------------------------------------

    def run(self, cmd: str, timeout: float) -> ExecResult:
        """Run `cmd` (any bash, several lines, heredocs) in the persistent shell."""
        if self.child is None or not self.child.isalive():
            self.restart()
        assert self.child is not None
        nonce = next(self._nonce)
        self._write_host_file("cmd", cmd.encode())
        io = self.io_inside
        self.child.send(
            f"{{ . {io}/cmd ; }} </dev/null >{io}/out 2>{io}/err; printf '\\n__HM_RC''_{nonce}_%d__\\n' $?\n"
        )
        index = self.child.expect(
            [rf"__HM_RC_{nonce}_(\d+)__".encode(), pexpect.EOF, pexpect.TIMEOUT], timeout=timeout
        )
        note = ""
        timed_out = False
        if index == 0:
            exit_code = int(self.child.match.group(1))
        elif index == 1:
            self.child.close()  # reaps the process, so its exit status is known
            exit_code = (
                self.child.exitstatus
                if self.child.exitstatus is not None
                else 128 + (self.child.signalstatus or 0)
            )
            note = f"[the command ended the shell; a new shell was started in {self.workdir}]"
            self.restart()
        else:
            timed_out, exit_code = True, TIMEOUT_EXIT_CODE
            note = self._recover(timeout)
        stdout, out_cut = self._read_output("out")
        stderr, err_cut = self._read_output("err")
        if note:
            stderr = f"{stderr}\n{note}" if stderr else note
        return ExecResult(
            stdout, stderr, exit_code, timed_out=timed_out, truncated=out_cut or err_cut
        )

    def _recover(self, timeout: float) -> str:
        """After a time-out: Ctrl-C, then SIGKILL the foreground job, then a new shell."""
        assert self.child is not None
        message = f"[command timed out after {timeout:g} s and was killed]"
        self.child.sendcontrol("c")
        if self._sync(INTERRUPT_GRACE_S):
            return message
        self._kill_foreground(self)
        if self._sync(KILL_GRACE_S):
            return message
        self.restart()
        return f"{message}\n[the shell stopped responding and was restarted in {self.workdir}: variables and background jobs are gone]"

    def _sync(self, wait: float) -> bool:
        """Whether the shell answers a fresh marker within `wait` seconds."""
        assert self.child is not None
        nonce = next(self._nonce)
        try:
            self.child.send(f"\nprintf '__HM_SYNC''_{nonce}__\\n'\n")
            return (
                self.child.expect(
                    [rf"__HM_SYNC_{nonce}__".encode(), pexpect.EOF, pexpect.TIMEOUT], timeout=wait
                )
                == 0
            )
        except OSError:
            return False

    # -- files ----------------------------------------------------------------------------

    def put(self, path: str, data: bytes, timeout: float) -> None:
        """Write `data` to `path` inside the sandbox, as the sandbox user."""
        self._write_host_file("in", data)
        target = shlex.quote(self._absolute(path))
        result = self.run(
            f'mkdir -p -- "$(dirname -- {target})" && cat {self.io_inside}/in > {target}', timeout
        )
        self._remove_host_file("in")
        if result.exit_code != 0:
            raise OSError(f"cannot write {path} in the sandbox: {result.stderr.strip()}")

    def get(self, path: str, timeout: float) -> bytes:
        """Read `path` inside the sandbox, as the sandbox user."""
        target = shlex.quote(self._absolute(path))
        result = self.run(f"cat -- {target} > {self.io_inside}/ret", timeout)
        if result.exit_code != 0:
            message = result.stderr.strip()
            if "No such file" in message:
                raise FileNotFoundError(errno.ENOENT, f"no such file in the sandbox: {path}")
            if "Is a directory" in message:
                raise IsADirectoryError(errno.EISDIR, f"is a directory: {path}")
            raise OSError(f"cannot read {path} in the sandbox: {message}")
        data, _ = self._read_host_file("ret", limit=None)
        self._remove_host_file("ret")
        return data

    def _absolute(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.workdir.rstrip('/')}/{path}"

    # -- the I/O directory, read and written without following the sandbox's links ----------

    def _write_host_file(self, name: str, data: bytes) -> None:
        path = self.io_host / name
        self._remove_host_file(name)
        # O_EXCL refuses any file or link the sandbox put there in the meantime.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def _remove_host_file(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.io_host / name)

    def _read_output(self, name: str) -> tuple[str, bool]:
        data, cut = self._read_host_file(name, limit=self.output_limit)
        return data.decode("utf-8", errors="replace"), cut

    def _read_host_file(self, name: str, limit: int | None) -> tuple[bytes, bool]:
        """The file's bytes, or its first and last `limit / 2` bytes around a marker.
        Emptied after reading so a large output does not sit on disk."""
        try:
            fd = os.open(self.io_host / name, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return b"", False
        except OSError as exc:
            return (
                f"[hotmess: {name} was replaced by something that is not a file ({exc.strerror}); not read]".encode(),
                False,
            )
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return f"[hotmess: {name} is not a regular file; not read]".encode(), False
            size = info.st_size
            if limit is None or size <= limit:
                data, cut = _pread_all(fd, size, 0), False
            else:
                half = limit // 2
                data = (
                    _pread_all(fd, half, 0)
                    + f"\n[... {size - 2 * half} bytes cut ...]\n".encode()
                    + _pread_all(fd, half, size - half)
                )
                cut = True
            os.ftruncate(fd, 0)
            return data, cut
        finally:
            os.close(fd)


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, min(size, 1 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def spawn(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], Any] | None = None,
) -> pexpect.spawn:
    """Start `argv` on a new pseudo-terminal (wide, so nothing wraps)."""
    return pexpect.spawn(
        argv[0],
        argv[1:],
        env=env,
        echo=False,
        encoding=None,
        dimensions=(50, 500),
        preexec_fn=preexec_fn,
        timeout=None,
    )


class ShellSandbox:
    """What the docker and bwrap backends share around their `ShellSession`: the episode's
    wall-clock limit, OOM reporting, file transfer and idempotent closing. A backend sets
    `config`, `tmp`, `shell`, `started` and `_oom_seen`, and implements `_oom_kills` and
    `_release` (its own teardown)."""

    kind = "shell"
    #: Whether exit 137 alone means OOM when the memory cgroup's counter cannot be read.
    oom_without_counter = False
    config: SandboxConfig
    tmp: Path
    shell: ShellSession
    started: float
    _oom_seen: int | None
    closed = False

    @property
    def expired(self) -> bool:
        """Whether the episode's wall-clock limit has passed."""
        return time.monotonic() - self.started >= self.config.episode_timeout_s

    def exec(self, cmd: str, timeout: float | None = None) -> ExecResult:
        remaining = self.config.episode_timeout_s - (time.monotonic() - self.started)
        if remaining <= 0:
            limit = self.config.episode_timeout_s
            return ExecResult(
                "",
                f"[the sandbox's wall-clock limit of {limit:g} s has passed]",
                TIMEOUT_EXIT_CODE,
                timed_out=True,
            )
        result = self.shell.run(cmd, min(timeout or self.config.command_timeout_s, remaining))
        if result.exit_code == 137:
            kills = self._oom_kills()
            if kills is None:
                oom = self.oom_without_counter
            else:
                oom = self._oom_seen is not None and kills > self._oom_seen
            self._oom_seen = kills
            if oom:
                note = f"[killed: out of memory (limit {self.config.memory_mb} MB)]"
                result = result._replace(
                    oom_killed=True, stderr=f"{result.stderr}\n{note}".lstrip()
                )
        return result

    def write_file(self, path: str, data: bytes | str) -> None:
        self.shell.put(
            path, data.encode() if isinstance(data, str) else data, self.config.command_timeout_s
        )

    def read_file(self, path: str) -> bytes:
        return self.shell.get(path, self.config.command_timeout_s)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        lifecycle.untrack(self)
        shell = getattr(self, "shell", None)
        if shell is not None:
            shell.close()
        self._release()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ShellSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _oom_kills(self) -> int | None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError
