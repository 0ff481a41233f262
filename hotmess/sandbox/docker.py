"""The Docker backend: one container per episode (no network, memory / CPU / process
limits, read-only root, no capabilities, a non-root user) and one persistent
`docker exec -it` shell in it."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from hotmess.errors import SandboxError
from hotmess.sandbox import keeper, lifecycle
from hotmess.sandbox.base import SandboxConfig
from hotmess.sandbox.shell import ShellSandbox, ShellSession, spawn

LABEL = "org.hotmess.sandbox"
IO_INSIDE = "/hm"


_clients: dict[tuple[int, str | None], Any] = {}
_clients_lock = threading.Lock()


def docker_client() -> Any:
    """A client for the local engine, or a `SandboxError` saying how to get one. One per
    process (a forked child makes its own) and engine address, pinged once: a sweep makes
    hundreds of sandboxes, and a new client and ping cost each of them ~15 ms."""
    where = (os.getpid(), os.environ.get("DOCKER_HOST"))
    with _clients_lock:
        client = _clients.get(where)
        if client is not None:
            return client
        try:
            import docker

            client = docker.from_env(timeout=30)
            client.ping()
        except Exception as exc:
            raise SandboxError(
                f"no Docker engine answers ({type(exc).__name__}): start Docker, or use --sandbox bwrap"
            ) from None
        _clients[where] = client
        return client


class DockerSandbox(ShellSandbox):
    """A container per episode; see `SandboxConfig` for the bounds."""

    kind = "docker"
    oom_without_counter = True  # a remote engine hides its cgroups
    #: How the keeper's Python is started in the container (an image without `python3` on
    #: its PATH may carry one elsewhere).
    keeper_python: tuple[str, ...] = ("python3",)

    def __init__(self, config: SandboxConfig | None = None) -> None:
        import docker.errors

        self.config = config = config or SandboxConfig()
        self.closed = False
        client = docker_client()
        image = _image(client, config)
        with lifecycle.creating():
            self.tmp = lifecycle.make_tmp_dir()
            io = self.tmp / "io"
            io.mkdir()
            _hand_to(io, config.uid)
            me = lifecycle.owner()
            labels = {
                LABEL: "1",
                f"{LABEL}.run": config.run_id,
                f"{LABEL}.owner-pid": me["pid"],
                f"{LABEL}.owner-start": me["start"],
                f"{LABEL}.owner-host": me["host"],
                f"{LABEL}.tmp": str(self.tmp),
            }
            self.started = time.monotonic()
            try:
                self.container = client.containers.run(
                    image, **self._run_options(config, io, labels)
                )
            except docker.errors.APIError as exc:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise SandboxError(
                    f"docker could not start the sandbox container: {exc.explanation or exc}"
                ) from None
            lifecycle.track(self)
        # The keeper runs as root in isolated mode (-I): nothing the agent writes is imported;
        # without `site` (-S): it needs only the standard library, and starts faster.
        argv = ["docker", "exec", "-it", "-u", "0", "-w", "/", self.container.id]
        argv += [
            *self.keeper_python,
            "-I",
            "-S",
            "-c",
            Path(keeper.__file__).read_text(),
            str(config.uid),
        ]
        argv += ["bash", "--noprofile", "--norc", "--noediting", "-i"]
        try:
            self.shell = ShellSession(
                lambda _fd: spawn(argv),
                io,
                IO_INSIDE,
                config.workdir,
                output_limit=config.output_limit_bytes,
                transfer_limit=config.transfer_limit_bytes,
                kill_foreground=self._kill_foreground,
                keeper=True,
            )
        except Exception:
            self.close()
            raise
        self._oom_seen = self._oom_kills()

    def _run_options(
        self, config: SandboxConfig, io: Path, labels: dict[str, str]
    ) -> dict[str, Any]:
        """`containers.run`'s keyword arguments; a subclass adapts them to its images."""
        return _run_options(config, io, labels)

    def _release(self) -> None:
        container = getattr(self, "container", None)
        if container is not None:
            try:
                container.remove(force=True, v=True)
            except Exception as exc:
                if "No such container" not in str(exc) and "is already in progress" not in str(exc):
                    raise

    def _kill_foreground(self, session: ShellSession) -> None:
        """SIGKILL the terminal's foreground process group, unless it is the shell itself."""
        pid = session.shell_pid
        script = f'pg=$(cut -d\' \' -f8 /proc/{pid}/stat); [ "$pg" -gt 1 ] && [ "$pg" != {pid} ] && kill -KILL -$pg'
        try:
            self.container.exec_run(["sh", "-c", script], user=str(self.config.uid))
        except Exception:  # the shell will be restarted if this did not help
            pass

    def _oom_kills(self) -> int | None:
        """The container's OOM-kill count from its memory cgroup, None where the host's
        cgroups are not visible (a remote engine): then exit 137 alone means OOM."""
        cid = self.container.id
        for path in (
            f"/sys/fs/cgroup/memory/docker/{cid}/memory.oom_control",
            f"/sys/fs/cgroup/memory/system.slice/docker-{cid}.scope/memory.oom_control",
            f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.events",
            f"/sys/fs/cgroup/docker/{cid}/memory.events",
        ):
            try:
                for line in Path(path).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
            except OSError:
                continue
        return None


def _hand_to(path: Path, uid: int) -> None:
    """Let the sandbox user write `path` (when we are root and it is not)."""
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
    path.chmod(0o755)


def _image(client: Any, config: SandboxConfig) -> str:
    """The sandbox image's tag, or an error naming how to get it onto this machine."""
    import docker.errors

    image = config.image
    if image is None:
        from hotmess.sandbox.images import image_tag

        image = image_tag()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        hint = (
            "run `hotmess containers build`" if config.image is None else "build or pull it first"
        )
        raise SandboxError(f"the sandbox image {image} is not on this machine: {hint}") from None
    return image


def _run_options(config: SandboxConfig, io: Path, labels: dict[str, str]) -> dict[str, Any]:
    """`containers.run`'s keyword arguments: the container's limits, mounts and labels."""
    from docker.types import LogConfig, Ulimit

    fsize = config.file_size_mb * 1024 * 1024
    return dict(
        command=["sleep", "infinity"],
        detach=True,
        init=True,
        # The keep-alive runs as root (with no capabilities), so the agent's user
        # cannot kill it: `kill -KILL -1` ends the agent's processes, not the container.
        user="0:0",
        working_dir=config.workdir,
        environment={"HOME": config.workdir, "LANG": "C.UTF-8", "TERM": "dumb"},
        network_mode="bridge" if config.network else "none",
        mem_limit=f"{config.memory_mb}m",
        memswap_limit=f"{config.memory_mb}m",
        nano_cpus=int(config.cpus * 1e9),
        pids_limit=config.pids,
        read_only=True,
        # SETUID/SETGID only let the root keeper start the shell as the sandbox
        # user; that user's processes can never gain them (no-new-privileges).
        cap_drop=["ALL"],
        cap_add=["SETUID", "SETGID"],
        security_opt=["no-new-privileges"],
        tmpfs={
            config.workdir: f"rw,exec,size={config.work_mb}m,uid={config.uid},gid={config.uid},mode=0755",
            "/tmp": "rw,exec,size=256m,mode=1777",
        },
        volumes={str(io): {"bind": IO_INSIDE, "mode": "rw"}},
        ulimits=[Ulimit(name="fsize", soft=fsize, hard=fsize)],
        labels=labels,
        hostname="sandbox",
        # The keep-alive prints nothing and commands' output never reaches the log; without
        # a log driver the engine spent ~100 ms less CPU per container (of 300-450 ms).
        log_config=LogConfig(type="none"),
    )
