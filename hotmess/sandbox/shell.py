"""A persistent interactive bash behind a pseudo-terminal: one shell per episode, so a
command costs a pipe round trip, not a process or container start.

Each command is sourced from a file in an I/O directory shared with the host, with its
stdout and stderr redirected to files there, which the host reads head and tail of. Its
end and exit code never travel as text the agent could print: the shell reports them with
a random nonce on a Unix socket whose messages the kernel stamps with the sender's PID,
and only the shell's own PID is believed (see `keeper`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shlex
import shutil
import signal
import socket
import stat
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect

from hotmess.sandbox import keeper, lifecycle
from hotmess.sandbox.base import (
    TIMEOUT_EXIT_CODE,
    ExecResult,
    FileTooLargeError,
    SandboxConfig,
    new_nonce,
)

#: Seconds to wait after Ctrl-C, then after killing the foreground job, for the shell.
INTERRUPT_GRACE_S = 1.0
KILL_GRACE_S = 3.0
START_TIMEOUT_S = 30.0
#: The fd the keeper hands the shell its report socket on (docker).
KEEPER_FD = 3


class _Ended(Exception):
    """The shell is gone; `code` is its exit status as a shell reports one."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Terminal(ABC):
    """The host's end of a shell's terminal: a pseudo-terminal of a process on the host
    (`PtyTerminal`), or a keeper's relay over a container's attached stdio (docker)."""

    #: What to `select` on for `read`.
    fd: int

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Type `data` on the terminal."""

    @abstractmethod
    def read(self) -> bytes | None:
        """What the terminal printed (possibly nothing yet); None once it is gone."""

    @abstractmethod
    def start_shell(self, key: bytes) -> None:
        """Hand the keeper the key it signs the shell's reports with."""

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.send(b"\x03")

    @abstractmethod
    def alive(self) -> bool:
        """Whether the terminal is still open."""

    @abstractmethod
    def exit_code(self) -> int:
        """After `read` returned None: how the shell (or its keeper) ended."""

    def tail(self) -> str:
        """What the terminal printed last, for an error message."""
        deadline = time.monotonic() + 0.5
        seen = b""
        with contextlib.suppress(OSError, ValueError):  # closed already: what was seen
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([self.fd], [], [], left)[0]:
                    break
                chunk = self.read()
                if chunk is None:
                    break
                seen = (seen + chunk)[-4096:]
        return seen.decode(errors="replace").strip()[-500:]

    def end(self) -> None:
        """End this shell, before another is started in its place."""
        self.kill()

    @abstractmethod
    def kill(self) -> None:
        """End for good, at once."""


class PtyTerminal(Terminal):
    """The pseudo-terminal of a process pexpect started on the host (bwrap, or
    `docker exec -it`)."""

    def __init__(self, process: pexpect.spawn) -> None:
        self.process = process
        self.fd = int(process.child_fd)
        process.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default

    def send(self, data: bytes) -> None:
        self.process.send(data)

    def read(self) -> bytes | None:
        try:
            return os.read(self.fd, 1 << 16) or None
        except OSError:
            return None

    def start_shell(self, key: bytes) -> None:
        self.send(key + b"\n")

    def alive(self) -> bool:
        return bool(self.process.isalive())

    def exit_code(self) -> int:
        self.process.close()  # reaps the process, so its exit status is known
        if self.process.exitstatus is not None:
            return int(self.process.exitstatus)
        return 128 + (self.process.signalstatus or 0)

    def end(self) -> None:
        self.process.close(force=True)

    def kill(self) -> None:
        """SIGKILL and reap the process. pexpect's own close sleeps 0.1 s and more before
        it escalates, which a sweep paid per episode; the sandbox is torn down right after,
        so nothing in it needs a gentler end."""
        process = self.process
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.ptyproc.delayafterclose = 0.0
        with contextlib.suppress(Exception):  # reaped meanwhile: close still frees the fd
            process.ptyproc.wait()
        process.close(force=True)


class ShellSession:
    """One interactive bash in a sandbox. `spawn(fd)` gives the terminal of the process
    that runs it: on the host with the report socket `fd` passed down (bwrap), or, with
    `keeper=True`, a root keeper inside the sandbox that starts the shell and signs its
    reports (docker: no fd crosses into the container). `kill_foreground` SIGKILLs the job
    the terminal is running when Ctrl-C was not enough; the backend knows how to reach it."""

    def __init__(
        self,
        spawn: Callable[[int | None], Terminal],
        io_host: Path,
        io_inside: str,
        workdir: str,
        *,
        output_limit: int,
        transfer_limit: int,
        kill_foreground: Callable[[ShellSession], None],
        keeper: bool = False,
    ) -> None:
        self._spawn = spawn
        self.io_host = io_host
        self.io_inside = io_inside
        self.workdir = workdir
        self.output_limit = output_limit
        self.transfer_limit = transfer_limit
        self._kill_foreground = kill_foreground
        self._keeper = keeper
        self._key = b""
        self._reports: socket.socket | None = None
        self._report_fd = KEEPER_FD
        self._shell_sender = 0
        self._window = b""
        self._ended: int | None = None
        """The exit status the keeper said the shell ended with, once it has."""
        self.terminal: Terminal | None = None
        self.shell_pid = 0
        """The shell's PID as seen inside the sandbox."""
        self.restarts = 0
        self._start()

    # -- life cycle ---------------------------------------------------------------------

    def _start(self) -> None:
        self._window, self._ended = b"", None
        if self._keeper:
            terminal = self._spawn(None)
            self._key = new_nonce().encode()
        else:
            self._reports, theirs = keeper.report_socket()
            self._report_fd = theirs.fileno()
            try:
                terminal = self._spawn(self._report_fd)
            finally:
                theirs.close()
        self.terminal = terminal
        nonce = new_nonce()
        try:
            if self._keeper:
                terminal.start_shell(self._key)
            terminal.send(
                "stty -echo 2>/dev/null; PS1=''; PS2=''; PROMPT_COMMAND=''; unset HISTFILE; set +o history; "
                f"cd {shlex.quote(self.workdir)}; {self._report(nonce, '$$')}\n".encode()
            )
            self.shell_pid = self._await(nonce, START_TIMEOUT_S, trust_first=True)
        except (_Ended, TimeoutError, OSError):
            self.terminal = None
            before = terminal.tail()
            terminal.end()
            self._close_reports()
            raise RuntimeError(
                f"the sandbox shell did not start: {before or 'no output'}"
            ) from None

    def _report(self, nonce: str, value: str) -> str:
        return f"printf '%s %d\\n' {nonce} {value} >&{self._report_fd}"

    def restart(self) -> None:
        """Replace a dead or wedged shell with a new one in the workdir."""
        self.close()
        self.restarts += 1
        self._start()

    def close(self) -> None:
        if self.terminal is not None:
            self.terminal.end()
            self.terminal = None
        self._close_reports()

    def kill(self) -> None:
        """Close for good, at once: the sandbox is torn down right after."""
        terminal, self.terminal = self.terminal, None
        if terminal is not None:
            terminal.kill()
        self._close_reports()

    @property
    def alive(self) -> bool:
        """Whether the shell can take a command without being restarted first: its
        terminal is open and, with a keeper, the keeper has not said the shell ended."""
        terminal = self.terminal
        if terminal is None or self._ended is not None or not terminal.alive():
            return False
        try:
            # What has arrived, a bounded number of reads: a terminal the agent floods
            # always has more.
            for _ in range(64 if self._keeper else 0):
                if not select.select([terminal.fd], [], [], 0)[0]:
                    break
                chunk = terminal.read()
                if chunk is None:
                    return False
                self._window = self._window[-200:] + chunk
                self._signed("")  # only the line saying the shell ended can match
        except _Ended:
            return False
        return True

    def _close_reports(self) -> None:
        if self._reports is not None:
            self._reports.close()
            self._reports = None

    @property
    def terminal_fd(self) -> int:
        assert self.terminal is not None
        return self.terminal.fd

    # -- waiting for a report the agent cannot forge ---------------------------------------

    def _await(self, nonce: str, timeout: float, *, trust_first: bool = False) -> int:
        """The value the shell reports with `nonce`. Terminal output is read only to keep
        the terminal flowing and, with a keeper, to find its signed lines: a bounded window,
        kept from one call to the next (a line may arrive with the one before it), so a
        flood costs no memory. Raises `TimeoutError`, or `_Ended` if the shell died."""
        terminal = self.terminal
        assert terminal is not None
        deadline = time.monotonic() + timeout
        if self._ended is not None:
            raise _Ended(self._ended)
        if self._keeper and (value := self._signed(nonce)) is not None:
            return value
        while (remaining := deadline - time.monotonic()) > 0:
            watched = [terminal.fd] + ([self._reports] if self._reports is not None else [])
            for ready in select.select(watched, [], [], remaining)[0]:
                if ready == terminal.fd:
                    chunk = terminal.read()
                    if chunk is None:
                        raise _Ended(terminal.exit_code())
                    self._window = self._window[-200:] + chunk
                    if self._keeper and (value := self._signed(nonce)) is not None:
                        return value
                elif (value := self._socket_report(nonce, trust_first)) is not None:
                    return value
        raise TimeoutError

    def _signed(self, nonce: str) -> int | None:
        """The value of the keeper's line for `nonce` in the window, dropping the window up
        to it; `_Ended` for its line saying the shell ended."""
        for match in keeper.SIGNED_LINE.finditer(self._window):
            said, value, mac = (group.decode() for group in match.groups())
            if said in (nonce, keeper.ENDED) and mac == keeper.sign(self._key, said, int(value)):
                self._window = self._window[match.end() :]
                if said == keeper.ENDED:
                    self._ended = int(value)
                    raise _Ended(self._ended)
                return int(value)
        return None

    def _socket_report(self, nonce: str, trust_first: bool) -> int | None:
        assert self._reports is not None
        try:
            report = keeper.receive(self._reports)
        except EOFError:  # the shell closed its end; its terminal will say when it is gone
            self._close_reports()
            return None
        if report is None or report[1] != nonce:
            return None
        if trust_first:  # the first report of a new sandbox: nothing else runs in it yet
            self._shell_sender = report[0]
        return report[2] if report[0] == self._shell_sender else None

    # -- commands -----------------------------------------------------------------------

    def run(self, cmd: str, timeout: float) -> ExecResult:
        """Run `cmd` (any bash, several lines, heredocs) in the persistent shell."""
        if not self.alive:
            self.restart()
        assert self.terminal is not None
        nonce = new_nonce()
        self._write_host_file("cmd", cmd.encode(errors="surrogateescape"))
        io, fd = self.io_inside, self._report_fd
        note = ""
        timed_out = False
        try:
            # The report socket is closed for the command, so the processes it starts never hold it.
            self.terminal.send(
                f"{{ . {io}/cmd ; }} </dev/null >{io}/out 2>{io}/err {fd}>&-; {self._report(nonce, '$?')}\n".encode()
            )
            exit_code = self._await(nonce, timeout)
        except _Ended as ended:
            exit_code = ended.code
            note = f"[the command ended the shell; a new shell was started in {self.workdir}]"
            self.restart()
        except TimeoutError:
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
        assert self.terminal is not None
        message = f"[command timed out after {timeout:g} s and was killed]"
        with contextlib.suppress(OSError):
            self.terminal.interrupt()
        if self._sync(INTERRUPT_GRACE_S):
            return message
        self._kill_foreground(self)
        if self._sync(KILL_GRACE_S):
            return message
        self.restart()
        return f"{message}\n[the shell stopped responding and was restarted in {self.workdir}: variables and background jobs are gone]"

    def _sync(self, wait: float) -> bool:
        """Whether the shell reports a fresh nonce within `wait` seconds."""
        assert self.terminal is not None
        nonce = new_nonce()
        try:
            self.terminal.send(f"\n{self._report(nonce, '0')}\n".encode())
            self._await(nonce, wait)
            return True
        except (OSError, _Ended, TimeoutError):
            return False

    # -- files ----------------------------------------------------------------------------

    def put(self, path: str, data: bytes, timeout: float) -> None:
        """Write `data` to `path` inside the sandbox, as the sandbox user."""
        if len(data) > self.transfer_limit:
            raise FileTooLargeError(path, len(data), self.transfer_limit)
        self._write_host_file("in", data)
        target = shlex.quote(self._absolute(path))
        result = self.run(
            f'mkdir -p -- "$(dirname -- {target})" && cat {self.io_inside}/in > {target}', timeout
        )
        self._remove_host_file("in")
        if result.exit_code != 0:
            raise OSError(f"cannot write {path} in the sandbox: {result.stderr.strip()}")

    def get(self, path: str, timeout: float) -> bytes:
        """Read `path` inside the sandbox, as the sandbox user; `FileTooLargeError` past
        the transfer limit (one byte more than it is copied out, so the host never holds more)."""
        target = shlex.quote(self._absolute(path))
        limit = self.transfer_limit
        result = self.run(f"head -c {limit + 1} -- {target} > {self.io_inside}/ret", timeout)
        if result.exit_code != 0:
            self._remove_host_file("ret")
            message = result.stderr.strip()
            if "No such file" in message:
                raise FileNotFoundError(errno.ENOENT, f"no such file in the sandbox: {path}")
            if "Is a directory" in message:
                raise IsADirectoryError(errno.EISDIR, f"is a directory: {path}")
            raise OSError(f"cannot read {path} in the sandbox: {message}")
        data, cut = self._read_host_file("ret", limit=limit, head_and_tail=False)
        self._remove_host_file("ret")
        if cut:
            raise FileTooLargeError(path, None, limit)
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

    def _read_host_file(
        self, name: str, limit: int, *, head_and_tail: bool = True
    ) -> tuple[bytes, bool]:
        """The file's bytes and False, or, past `limit`, True and its first and last
        `limit / 2` bytes around a marker (nothing, without `head_and_tail`). Emptied
        after reading so a large output does not sit on disk."""
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
            if size <= limit:
                data, cut = _pread_all(fd, size, 0), False
            elif not head_and_tail:
                data, cut = b"", True
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


class _Spawn(pexpect.spawn):  # type: ignore[misc]
    """pexpect's spawn, passing `pass_fds` down (ptyprocess closes every other fd)."""

    def __init__(self, *args: Any, pass_fds: tuple[int, ...] = (), **kwargs: Any) -> None:
        self.pass_fds = pass_fds
        super().__init__(*args, **kwargs)

    def _spawnpty(self, args: list[str], **kwargs: Any) -> Any:
        return super()._spawnpty(args, pass_fds=self.pass_fds, **kwargs)


def spawn(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], Any] | None = None,
    pass_fd: int | None = None,
) -> PtyTerminal:
    """Start `argv` on a new pseudo-terminal (wide, so nothing wraps), with `pass_fd`
    inherited at the same number."""

    def prepare() -> None:
        if pass_fd is not None:
            os.set_inheritable(pass_fd, True)
        if preexec_fn is not None:
            preexec_fn()

    return PtyTerminal(
        _Spawn(
            argv[0],
            argv[1:],
            env=env,
            echo=False,
            encoding=None,
            dimensions=(50, 500),
            preexec_fn=prepare,
            pass_fds=() if pass_fd is None else (pass_fd,),
            timeout=None,
        )
    )


_closing = threading.Lock()


class ShellSandbox(ABC):
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
        """The file's bytes; `FileTooLargeError` past `transfer_limit_bytes`."""
        return self.shell.get(path, self.config.command_timeout_s)

    def begin_episode(self) -> None:
        """Start the wall-clock limit now: for a sandbox made ahead of its episode."""
        self.started = time.monotonic()

    def close(self) -> None:
        # Atomic: a pool may close a sandbox on one thread while exit hooks do on another.
        with _closing:
            if self.closed:
                return
            self.closed = True
        lifecycle.untrack(self)
        shell = getattr(self, "shell", None)
        if shell is not None:
            shell.kill()
        self._release()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ShellSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _oom_kills(self) -> int | None:
        """The sandbox's OOM-kill count, None where it cannot be read."""

    @abstractmethod
    def _release(self) -> None:
        """The backend's own teardown (container, cgroups, mounts)."""
