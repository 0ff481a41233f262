"""Host uids for bwrap sandboxes, one per sandbox, so a process limit counted per uid
(RLIMIT_NPROC) binds one sandbox alone. A uid is held by an flock on its own file while the
sandbox lives: other processes skip it, and a SIGKILL frees it with the holder."""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path

#: The range uids are taken from: far above login users and the usual subuid ranges.
UID_BASE = 2_000_000
UID_COUNT = 100_000
LOCK_DIR = Path(tempfile.gettempdir()) / "hotmess-uids"


class UidLease:
    """A uid no other live sandbox on this machine has, until `release`."""

    def __init__(self) -> None:
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        start = random.randrange(UID_COUNT)  # so concurrent callers rarely probe the same files
        for step in range(UID_COUNT):
            uid = UID_BASE + (start + step) % UID_COUNT
            fd = os.open(LOCK_DIR / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError(f"all {UID_COUNT} sandbox uids are in use")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
