"""What sandboxes made by given processes left behind, looked up on this machine."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hotmess.sandbox.lifecycle import TMP_PREFIX


def leftovers(pids: list[int], kind: str) -> list[str]:
    """What sandboxes made by processes `pids` left: host directories, processes, mounts,
    cgroups and (docker) containers; an engine that cannot be asked fails the test."""
    found: list[str] = []
    cgroups = Path("/sys/fs/cgroup")
    for pid in pids:
        marker = f"{TMP_PREFIX}{pid}-"
        found += [str(p) for p in Path(tempfile.gettempdir()).glob(f"{marker}*")]
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                        found.append(f"process {proc.name}")
                except OSError:
                    pass
        found += [
            f"mount {line.split()[1]}"
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if marker in line
        ]
        # Where the bwrap backend makes them: <root>/hotmess (v2), <root>/<controller>/hotmess (v1).
        for pattern in (f"hotmess/{marker}*", f"*/hotmess/{marker}*"):
            found += [str(g) for g in cgroups.glob(pattern)]
        if kind == "docker":
            import docker

            found += [
                c.name
                for c in docker.from_env().containers.list(
                    all=True, filters={"label": f"org.hotmess.sandbox.owner-pid={pid}"}
                )
            ]
    return found


def group_pids(pgid: int) -> list[int]:
    """Every process in process group `pgid` (a sweep and its workers)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # field 5 of stat, counted after the ")"
                pids.append(int(proc.name))
    return pids
