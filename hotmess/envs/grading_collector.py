"""The scoring sandbox's collector: runs the agent's functions on the checks' inputs, each
function in a child interpreter, and prints their raw results as records signed with a key
that no process running the agent's code can read. Uploaded verbatim; standard library only.

Run as `python3 -I collector.py DIR` (add `--keep-strays` only outside a sandbox, in tests:
otherwise it kills every other process of its uid); DIR holds `request.json` (inputs, never expected
values) and `key`; both are read, and the key unlinked, before any of the agent's code runs.
"""

import ctypes
import hashlib
import hmac
import json
import os
import selectors
import signal
import subprocess
import sys
import time

#: Longest repr of one return value sent back (the expected values are far shorter).
VALUE_LIMIT = 4096
PREFIX = "HMGRADE"

#: The child: its stdout and stderr go nowhere (the agent's prints land there); its results
#: go to a copy of the original stdout, taken before the agent's code is imported. Every
#: module it needs is imported before the workdir goes on sys.path, so nothing there
#: shadows them.
CHILD = """
import ast, json, os, sys
results = os.fdopen(os.dup(1), "w")
quiet = os.open(os.devnull, os.O_WRONLY)
os.dup2(quiet, 1)
os.dup2(quiet, 2)
root, module, name = sys.argv[1:]
calls = ast.literal_eval(sys.stdin.read())
sys.path.insert(0, root)
try:
    function = getattr(__import__(module, fromlist=[name]), name)
    error = None
except BaseException as exc:
    function, error = None, type(exc).__name__
outputs = []
for args in calls:
    if function is None:
        outputs.append(["raised", error])
        continue
    try:
        outputs.append(["value", repr(function(*args))])
    except BaseException as exc:
        outputs.append(["raised", type(exc).__name__])
results.write(json.dumps(outputs) + chr(10))
results.flush()
"""


def _undumpable():
    """Make this process non-dumpable: processes of the same uid can no longer read its
    memory, fds or environment through /proc or ptrace it (PR_SET_DUMPABLE = 4)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _read_line(stream, limit, deadline):
    """One line (at most `limit` bytes) from `stream` by `deadline`; None past either bound
    or at EOF first. A line, not EOF: a process the child forked may hold the pipe open."""
    chunks, size = [], 0
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return None
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return None
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if b"\n" in chunk:
                return b"".join(chunks).split(b"\n", 1)[0]


def _valid(outputs, n_calls):
    """The child's outputs if they are exactly one [kind, text] per call, else None."""
    if not isinstance(outputs, list) or len(outputs) != n_calls:
        return None
    for entry in outputs:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and entry[0] in ("value", "raised")
            and isinstance(entry[1], str)
            and len(entry[1]) <= VALUE_LIMIT
        ):
            return None
    return outputs


def _ancestors():
    pids, pid = {1}, os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def kill_strays():
    """SIGKILL every process of this uid but the collector and its ancestors, until none is
    left: whatever one check's code left behind (even in a session of its own) is gone
    before the next check starts and before the records are printed."""
    keep, uid = _ancestors(), str(os.getuid())
    for _ in range(100):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in keep:
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    status = dict(line.split(":", 1) for line in f if ":" in line)
                if status.get("Uid", "").split()[:1] == [uid]:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except (OSError, ValueError):
                continue  # gone already
        if not found:
            return


def run_check(check, root, seconds):
    """The raw outputs of one function on its inputs, or None (it hung, crashed the
    interpreter, or sent back something malformed)."""
    n_calls = check["n_calls"]
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", CHILD, root, check["module"], check["function"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=root,
        start_new_session=True,
    )
    try:
        try:  # read whole before the child imports anything of the agent's
            child.stdin.write(check["calls"].encode())
            child.stdin.close()
        except OSError:
            pass
        data = _read_line(
            child.stdout, n_calls * (VALUE_LIMIT + 64) + 64, time.monotonic() + seconds
        )
    finally:
        try:  # the child's process group: whatever the agent's code started dies with it
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        child.stdout.close()
        child.wait()
    if data is None:
        return None
    try:
        return _valid(json.loads(data), n_calls)
    except ValueError:
        return None


def main():
    directory, keep_strays = sys.argv[1], "--keep-strays" in sys.argv[2:]
    key_path = os.path.join(directory, "key")
    with open(key_path, "rb") as f:
        key = f.read()
    os.unlink(key_path)
    _undumpable()
    with open(os.path.join(directory, "request.json")) as f:
        request = json.load(f)
    records = []
    for index, check in enumerate(request["checks"]):
        if not keep_strays:
            kill_strays()
        outputs = run_check(check, request["root"], request["seconds"])
        payload = json.dumps(outputs, separators=(",", ":"), ensure_ascii=False)
        mac = hmac.new(key, f"{index} {payload}".encode(), hashlib.sha256).hexdigest()
        records.append(f"{PREFIX} {index} {mac} {payload}")
    if not keep_strays:
        kill_strays()
    # Printed only now, all at once: no record is visible while the agent's code runs.
    sys.stdout.write("\n" + "\n".join(records) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
