"""The keeper: a root process in a Docker sandbox that starts the agent's shell as the
sandbox user and vouches for its reports. Standard library only: its source is run with
`python3 -c` inside the container, and `receive` serves the bwrap backend on the host.

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


def main(uid: int, argv: list[str]) -> int:
    """Read the key from the terminal, start `argv` as `uid`, sign its reports until it
    exits; exit with its status so the host sees how the shell ended."""
    key = os.read(0, 256).strip()
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU):
        signal.signal(signum, signal.SIG_IGN)  # Ctrl-C and job control are the shell's
    ours, theirs = report_socket()
    pid = os.fork()
    if pid == 0:
        for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU):
            signal.signal(signum, signal.SIG_DFL)
        ours.close()
        os.set_inheritable(theirs.fileno(), True)
        os.dup2(theirs.fileno(), 3)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        os.execvp(argv[0], argv)
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
            if report is not None and report[0] == pid:
                _, nonce, value = report
                line = f"\r\n__HM_OK_{nonce}_{value}_{sign(key, nonce, value)}__\r\n"
                os.write(1, line.encode())
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2:]))
