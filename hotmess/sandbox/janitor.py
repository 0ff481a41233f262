"""`hotmess janitor`: remove what crashed runs left behind. A sandbox is left over when
the process that made it is gone (its PID is dead, or reused by another process) yet its
container, cgroup or host directory is still there, which only a SIGKILL causes."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hotmess.sandbox import lifecycle
from hotmess.sandbox.bwrap import CGROUP_ROOT, remove_cgroup, unmount
from hotmess.sandbox.docker import LABEL


@dataclass
class JanitorReport:
    """What the janitor removed (or would remove, in a dry run)."""

    containers: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    docker_error: str | None = None
    """Why containers were not checked, when no engine answered."""

    @property
    def total(self) -> int:
        return len(self.containers) + len(self.cgroups) + len(self.directories)


def janitor(*, dry_run: bool = False, docker: bool = True) -> JanitorReport:
    """Remove the containers, cgroups and directories of sandboxes whose owner is dead."""
    report = JanitorReport()
    if docker:
        _sweep_containers(report, dry_run)
    for group in _hotmess_cgroups():
        ids = lifecycle.parse_tmp_dir(group.name)
        if ids and not lifecycle.owner_alive(*ids, _this_host()):
            report.cgroups.append(str(group))
            if not dry_run:
                remove_cgroup(group)
    for directory in Path(tempfile.gettempdir()).glob(f"{lifecycle.TMP_PREFIX}*"):
        ids = lifecycle.parse_tmp_dir(directory.name)
        if ids and not lifecycle.owner_alive(*ids, _this_host()):
            report.directories.append(str(directory))
            if not dry_run:
                for mount in _mounts_under(directory):  # a bwrap workdir's tmpfs
                    unmount(mount)
                shutil.rmtree(directory, ignore_errors=True)
    return report


def _this_host() -> str:
    return lifecycle.owner()["host"]


def _sweep_containers(report: JanitorReport, dry_run: bool) -> None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        containers = client.containers.list(all=True, filters={"label": LABEL})
    except Exception as exc:
        report.docker_error = f"{type(exc).__name__}: no Docker engine answered"
        return
    for container in containers:
        labels = container.labels
        alive = lifecycle.owner_alive(
            labels.get(f"{LABEL}.owner-pid", ""),
            labels.get(f"{LABEL}.owner-start", ""),
            labels.get(f"{LABEL}.owner-host", ""),
        )
        if alive:
            continue
        report.containers.append(container.name)
        if not dry_run:
            try:
                container.remove(force=True, v=True)
            except Exception:  # removed meanwhile by another janitor
                pass
            tmp = labels.get(f"{LABEL}.tmp")
            if tmp and Path(tmp).name.startswith(lifecycle.TMP_PREFIX):
                shutil.rmtree(tmp, ignore_errors=True)


def _mounts_under(directory: Path) -> list[Path]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [Path(line.split()[1]) for line in lines if len(line.split()) > 1]
    return sorted((p for p in points if directory in p.parents), reverse=True)


def _hotmess_cgroups() -> list[Path]:
    parents = (
        [CGROUP_ROOT / "hotmess", *(p / "hotmess" for p in CGROUP_ROOT.iterdir() if p.is_dir())]
        if CGROUP_ROOT.is_dir()
        else []
    )
    return [
        group
        for parent in parents
        if parent.is_dir()
        for group in parent.iterdir()
        if group.is_dir() and group.name.startswith(lifecycle.TMP_PREFIX)
    ]
