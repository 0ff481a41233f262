"""The keeper: a root process in a Docker sandbox that starts the agent's shell as the
sandbox user and vouches for its reports. Standard library only: its source is run with
`python3 -c` inside the container, and `receive` serves the bwrap backend on the host.

It runs in one of two ways. `main`: started by `docker exec -it` in a running container,
on the terminal Docker gives it, for one shell. `relay`: as the container's own process,
talking to the host over the container's attached stdin and stdout (no `docker exec`, so
no process on the host and no runtime exec per sandbox); it gives each shell a terminal
of its own, relays between the two, and starts a new shell when the host asks, in the
same container, so the workdir outlives any one shell.

The shell reports each command's end on a Unix socket only its own PID is believed on
(the kernel stamps every message with the sender's credentials: `SO_PASSCRED`); the
keeper signs what it believes with a key that never enters the agent's reach and prints it
on the terminal, where text the agent prints cannot carry a valid signature.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import select
import signal
import socket
import struct
import sys

#: A report from the shell: a per-command nonce and an integer (the exit code or its PID).
REPORT = re.compile(rb"([0-9a-f]{8,64}) (-?\d{1,10})\n?")
#: What the keeper prints for a report it believes: nonce, value, HMAC-SHA256 of both.
SIGNED_LINE = re.compile(rb"__HM_OK_([0-9a-f]{8,64})_(-?\d{1,10})_([0-9a-f]{64})__")
_CREDS = struct.Struct("3i")
#: The nonce of the signed line `relay` prints when the shell has ended, with its status.
ENDED = "e" * 32
#: The terminal the relay gives each shell: wide, so nothing wraps.
ROWS, COLUMNS = 50, 500
_HUSHED = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU)


def sign(key: bytes, nonce: str, value: int) -> str:
    return hmac.new(key, f"{nonce} {value}".encode(), hashlib.sha256).hexdigest()


def report_socket() -> tuple[socket.socket, socket.socket]:
    """(the receiving end, with credentials on; the end the shell inherits)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return ours, theirs


def receive(sock: socket.socket) -> tuple[int, str, int] | None:
    """One report as (sender PID, nonce, value); None for a malformed one; EOFError when
    every sender is gone."""
    data, ancillary, _, _ = sock.recvmsg(256, socket.CMSG_SPACE(_CREDS.size))
    if not data:
        raise EOFError
    pid = -1
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = _CREDS.unpack(payload[: _CREDS.size])[0]
    match = REPORT.fullmatch(data)
    if match is None or pid < 0:
        return None
    return pid, match.group(1).decode(), int(match.group(2))


def signed_line(key: bytes, nonce: str, value: int) -> bytes:
    return f"\r\n__HM_OK_{nonce}_{value}_{sign(key, nonce, value)}__\r\n".encode()


def main(uid: int, argv: list[str]) -> int:
    """Read the key from the terminal, start `argv` as `uid`, sign its reports until it
    exits; exit with its status so the host sees how the shell ended."""
    key = os.read(0, 256).strip()
    for signum in _HUSHED:
        signal.signal(signum, signal.SIG_IGN)  # Ctrl-C and job control are the shell's
    ours, theirs = report_socket()
    pid = os.fork()
    if pid == 0:
        _become_shell(theirs, ours, uid, argv)
    theirs.close()
    listening = [ours]
    while True:
        # A short select so the shell's exit is noticed even while a subshell it forked
        # still holds the socket open.
        if select.select(listening, [], [], 0.2)[0]:
            try:
                report = receive(ours)
            except EOFError:  # the shell closed its end: nothing more to hear
                report, listening = None, []
            if report is not None and report[0] == pid and report[1] != ENDED:
                _, nonce, value = report
                os.write(1, signed_line(key, nonce, value))
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def _become_shell(theirs: socket.socket, ours: socket.socket, uid: int, argv: list[str]) -> None:
    """In the forked child: the report socket on fd 3, the sandbox user, then `argv`."""
    for signum in _HUSHED:
        signal.signal(signum, signal.SIG_DFL)
    ours.close()
    os.set_inheritable(theirs.fileno(), True)
    os.dup2(theirs.fileno(), 3)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    os.execvp(argv[0], argv)


class _Shell:
    """A shell the relay started: its PID, its terminal's master end, its report socket."""

    def __init__(self, uid: int, argv: list[str]) -> None:
        import fcntl
        import pty
        import termios

        self.reports, theirs = report_socket()
        self.pid, self.master = pty.fork()
        if self.pid == 0:
            try:
                _become_shell(theirs, self.reports, uid, argv)
            finally:
                os._exit(127)
        theirs.close()
        winsize = struct.pack("HHHH", ROWS, COLUMNS, 0, 0)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, winsize)
        self.open = True  # the terminal still reads
        self.hearing = True  # someone may still report

    def read_terminal(self) -> bytes:
        try:
            chunk = os.read(self.master, 1 << 16)
        except OSError:  # EIO: no process holds the terminal any more
            chunk = b""
        if not chunk:
            self.open = False
        return chunk

    def kill_foreground(self) -> None:
        """SIGKILL the terminal's foreground job, unless it is the shell itself."""
        try:
            group = os.tcgetpgrp(self.master)
            if group > 1 and group != self.pid:
                os.killpg(group, signal.SIGKILL)
        except OSError:
            pass

    def kill(self) -> None:
        """SIGKILL every process of the shell's session (its jobs, foreground or not)."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rpartition(b")")[2].split()
                if int(fields[3]) == self.pid:
                    os.kill(int(entry), signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
        self.reap(os.waitpid(self.pid, 0)[1])

    def reap(self, status: int) -> int:
        """Close what the shell held; its exit status as a shell reports it."""
        os.close(self.master)
        self.reports.close()
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code


def relay(uid: int, argv: list[str]) -> int:
    """The container's own process. The host writes lines on stdin: `s KEY` starts a new
    shell (ending the one before) whose reports are signed with KEY; `d BASE64` is input
    for the shell's terminal; `k` SIGKILLs the shell's foreground job. Stdout carries the
    terminal's output, each report the keeper believes as a signed line, and, when the
    shell ends, a signed line with nonce `ENDED` and its exit status. At the end of stdin
    (the host is gone) the shell is killed and the container ends."""
    import base64

    for signum in _HUSHED:
        signal.signal(signum, signal.SIG_IGN)
    key, shell, inbox = b"", None, b""
    while True:
        watched: list = [0]
        if shell is not None:
            if shell.hearing:
                watched.append(shell.reports)
            if shell.open:
                watched.append(shell.master)
        ready, before = select.select(watched, [], [], 0.2)[0], shell
        if 0 in ready:
            data = os.read(0, 1 << 16)
            if not data:
                if shell is not None:
                    shell.kill()
                return 0
            inbox += data
            while b"\n" in inbox:
                line, _, inbox = inbox.partition(b"\n")
                kind, _, payload = line.partition(b" ")
                if kind == b"s":
                    if shell is not None:
                        shell.kill()
                    key, shell = payload.strip(), _Shell(uid, argv)
                elif kind == b"d" and shell is not None:
                    data = base64.b64decode(payload)
                    while data:
                        data = data[os.write(shell.master, data) :]
                elif kind == b"k" and shell is not None:
                    shell.kill_foreground()
        if shell is None or shell is not before:
            continue  # `ready` was about the shell before (its fd numbers may be reused)
        if shell.master in ready and shell.open:
            chunk = shell.read_terminal()
            if chunk:
                os.write(1, chunk)
        if shell.reports in ready:
            shell.hearing = _relay_report(shell, key)
        done, status = os.waitpid(shell.pid, os.WNOHANG)
        if done:
            while shell.hearing and select.select([shell.reports], [], [], 0)[0]:
                shell.hearing = _relay_report(shell, key)  # what it reported just before it ended
            code = shell.reap(status)
            os.write(1, signed_line(key, ENDED, code))
            shell = None


def _relay_report(shell: _Shell, key: bytes) -> bool:
    """Sign and print one report if the shell itself sent it; False once nobody can send."""
    try:
        report = receive(shell.reports)
    except (EOFError, OSError):
        return False
    if report is not None and report[0] == shell.pid:
        _, nonce, value = report
        if nonce != ENDED:
            os.write(1, signed_line(key, nonce, value))
    return True


if __name__ == "__main__":
    if sys.argv[1] == "--relay":
        sys.exit(relay(int(sys.argv[2]), sys.argv[3:]))
    sys.exit(main(int(sys.argv[1]), sys.argv[2:]))
