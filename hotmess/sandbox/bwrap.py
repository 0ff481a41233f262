"""The bubblewrap backend: new namespaces (no network, own PIDs, own mounts), a read-only
view of the host's system directories, a size-limited workdir, a host uid of its own (as
root), limits from cgroups where the host lets us make them and from rlimits where not."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from hotmess.errors import SandboxError
from hotmess.sandbox import lifecycle
from hotmess.sandbox.base import SandboxConfig
from hotmess.sandbox.shell import ShellSandbox, ShellSession, spawn
from hotmess.sandbox.uids import UidLease

IO_INSIDE = "/hm"
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Host directories the sandbox sees read-only (links among them are recreated as links).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def bwrap_available() -> str | None:
    """None when bubblewrap can make a sandbox here, else why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    probe = subprocess.run(
        [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
        capture_output=True,
        text=True,
        preexec_fn=_drop_to(1000) if os.geteuid() == 0 else None,
        timeout=30,
    )
    if probe.returncode != 0:
        return (
            f"bubblewrap cannot create namespaces here: {probe.stderr.strip() or probe.returncode}"
        )
    return None


class BwrapSandbox(ShellSandbox):
    """A bubblewrap sandbox per episode; see `SandboxConfig` for the bounds."""

    kind = "bwrap"

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config = config or SandboxConfig()
        self.closed = False
        exe = shutil.which("bwrap")
        if exe is None:
            raise SandboxError(
                "bubblewrap is not installed: apt-get install bubblewrap, or use --sandbox docker"
            )
        self.lease: UidLease | None = None
        self.cgroups: list[Path] = []
        self.work_mounted = False
        with lifecycle.creating():
            self.tmp = lifecycle.make_tmp_dir()
            lifecycle.track(self)
            work, io = self.tmp / "work", self.tmp / "io"
            try:
                self.lease = UidLease() if os.geteuid() == 0 else None
                self.host_uid = self.lease.uid if self.lease else os.getuid()
                for path in (work, io):
                    path.mkdir()
                    if self.lease:
                        os.chown(path, self.host_uid, self.host_uid)
                # A tmpfs of its own bounds the workdir and outlives any one shell.
                self.work_mounted = mount_tmpfs(work, config.work_mb, self.host_uid)
                self.cgroups = _make_cgroups(self.tmp.name, config)
            except BaseException:
                self.close()
                raise
        self.started = time.monotonic()
        argv = _bwrap_argv(exe, config, work, io, self.work_mounted)
        argv += ["--", "bash", "--noprofile", "--norc", "--noediting", "-i"]
        self.work = work
        try:
            self.shell = ShellSession(
                lambda fd: spawn(
                    argv,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                    preexec_fn=self._preexec,
                    pass_fd=fd,
                ),
                io,
                IO_INSIDE,
                config.workdir,
                output_limit=config.output_limit_bytes,
                transfer_limit=config.transfer_limit_bytes,
                kill_foreground=self._kill_foreground,
            )
        except Exception:
            self.close()
            raise
        self._oom_seen = self._oom_kills()

    def _preexec(self) -> None:
        """In the child, before exec: join the cgroups, set rlimits, become the sandbox's
        own host uid (RLIMIT_NPROC counts that uid's processes: this sandbox's alone)."""
        for group in self.cgroups:
            (group / "cgroup.procs").write_text(str(os.getpid()))
        config = self.config
        fsize = config.file_size_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NPROC, (config.pids, config.pids))
        if not any(
            group.parent.parent.name == "memory" or (group / "memory.max").exists()
            for group in self.cgroups
        ):
            limit = config.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if os.geteuid() == 0:
            _drop_to(self.host_uid)()

    def _release(self) -> None:
        for group in getattr(self, "cgroups", []):
            remove_cgroup(group)
        if self.work_mounted:
            unmount(self.tmp / "work")
        if self.lease is not None:
            self.lease.release()

    def _kill_foreground(self, session: ShellSession) -> None:
        """SIGKILL the terminal's foreground process group, unless it is the shell's."""
        try:
            group = os.tcgetpgrp(session.terminal_fd)
            if _namespace_pid(group) != session.shell_pid:
                os.killpg(group, signal.SIGKILL)
        except OSError:
            pass

    def _oom_kills(self) -> int | None:
        for group in self.cgroups:
            for name in ("memory.oom_control", "memory.events"):
                try:
                    for line in (group / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
                except OSError:
                    continue
        return None


def _drop_to(uid: int) -> Callable[[], None]:
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    return drop


def mount_tmpfs(path: Path, size_mb: int, uid: int) -> bool:
    """Mount a tmpfs of `size_mb` on `path`, owned by `uid`; whether this process could."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    options = f"size={size_mb}m,uid={uid},gid={uid},mode=0755,nosuid,nodev"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "hotmess-work", str(path)],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def unmount(path: Path) -> None:
    """Detach a mount (lazily: a process still inside cannot keep it); no error if none."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(os.fsencode(path), 2)  # MNT_DETACH


def _namespace_pid(host_pid: int) -> int | None:
    """The innermost-namespace PID of a host PID."""
    try:
        for line in Path(f"/proc/{host_pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except OSError:
        pass
    return None


def _make_cgroups(name: str, config: SandboxConfig) -> list[Path]:
    """Memory, pids and CPU cgroups for one sandbox, where this process may make them
    (root, cgroup v1 or v2). Returns the directories made; empty means rlimits only."""
    if os.geteuid() != 0:
        return []
    settings: dict[str, dict[str, str]]
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2: one tree
        settings = {
            "": {
                "memory.max": str(config.memory_mb * 1024 * 1024),
                "memory.swap.max": "0",
                "pids.max": str(config.pids),
                "cpu.max": f"{int(config.cpus * 100_000)} 100000",
            }
        }
    else:
        settings = {
            "memory": {"memory.limit_in_bytes": str(config.memory_mb * 1024 * 1024)},
            "pids": {"pids.max": str(config.pids)},
            "cpu": {
                "cpu.cfs_period_us": "100000",
                "cpu.cfs_quota_us": str(int(config.cpus * 100_000)),
            },
        }
    made = []
    for controller, values in settings.items():
        parent = CGROUP_ROOT / controller / "hotmess" if controller else CGROUP_ROOT / "hotmess"
        try:
            parent.mkdir(exist_ok=True)
            if not controller:
                (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            group = parent / name
            group.mkdir()
        except OSError:
            continue
        made.append(group)
        for key, value in values.items():
            try:
                (group / key).write_text(value)
            except OSError:
                pass  # e.g. memsw accounting off: the other limits still hold
    return made


def remove_cgroup(group: Path) -> None:
    """Kill whatever is left in a cgroup and remove it."""
    for _ in range(50):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.02)


def _bwrap_argv(
    exe: str, config: SandboxConfig, work: Path, io: Path, work_mounted: bool
) -> list[str]:
    """bwrap's options for a sandbox: namespaces, read-only system dirs, the workdir and
    I/O binds, a clean environment (the shell's own command line follows them)."""
    argv = [exe, "--unshare-all", "--unshare-user", "--die-with-parent"]
    argv += ["--hostname", "sandbox", "--uid", str(config.uid), "--gid", str(config.uid)]
    if config.network:
        argv.append("--share-net")
    for directory in SYSTEM_DIRS:
        if os.path.islink(directory):
            argv += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            argv += ["--ro-bind", directory, directory]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    if work_mounted:
        argv += ["--bind", str(work), config.workdir]
    else:  # no host mount without root: bwrap's own tmpfs, which a new shell starts empty
        argv += ["--size", str(config.work_mb * 1024 * 1024), "--tmpfs", config.workdir]
    argv += ["--bind", str(io), IO_INSIDE]
    argv += ["--remount-ro", "/"]  # bwrap's root is a tmpfs: only the binds above stay writable
    argv += ["--chdir", config.workdir, "--clearenv"]
    environment = {
        "HOME": config.workdir,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "USER": "agent",
    }
    for name, value in environment.items():
        argv += ["--setenv", name, value]
    return argv
