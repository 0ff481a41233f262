"""The Docker sandbox as a Harbor task needs it: the task's image with its own filesystem
writable (tasks install and write where they like, as the image's user, root by default),
under hotmess's limits (no network unless allowed, memory, CPUs, processes, capabilities),
and the verifier's side: kill every process, upload tests, run test.sh, read bounded files."""

from __future__ import annotations

import io
import shlex
import tarfile
from pathlib import Path
from typing import Any

from hotmess.errors import InfrastructureError
from hotmess.sandbox.base import SandboxConfig
from hotmess.sandbox.docker import DockerSandbox

#: Docker's default capabilities minus those only networking, device nodes or chroot
#: need: root in the task's container can install, chown and switch users, no more.
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETUID", "SETGID"]
#: Where a replaced file could change what test.sh runs: executables on PATH, libraries
#: and interpreters' modules, the loader's preload list, shells' start-up files.
SYSTEM_PATHS = (
    "/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/",
    "/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/local/lib/",
    "/etc/ld.so.preload", "/etc/profile", "/etc/bash.bashrc", "/etc/environment",
)  # fmt: skip
#: Go's file mode bits a regular file has none of (directory, link, device, pipe, socket).
NOT_REGULAR = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
#: What a one-file tar stream adds to the file: its header and the end-of-archive blocks.
TAR_OVERHEAD = 4096
#: Docker's own: the init it mounts into every container started with `init`.
DOCKER_PATHS = frozenset({"/usr/sbin/docker-init"})
#: At most this many changed system paths are recorded.
CHANGES_KEPT = 50
#: Seconds the host waits past a verifier's own time limit before it stops the container.
HOST_GRACE_S = 30.0


def tar_directory(source: Path) -> bytes:
    """A tar archive of `source`'s contents (files and folders, modes kept, owned by root)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(source.rglob("*")):
            info = archive.gettarinfo(str(path), arcname=path.relative_to(source).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
    return buffer.getvalue()


class HarborSandbox(DockerSandbox):
    """A container of a Harbor task's image; `config.uid` is the agent's user (0 allowed)."""

    #: `kill_everything` restarts the container, so its own process must be one that can
    #: be restarted unattended (`sleep`), and the shell is started with `docker exec`.
    keeper_relay = False

    def __init__(
        self,
        config: SandboxConfig,
        *,
        environment: dict[str, str],
        agent_network: bool,
        keeper_python: tuple[str, ...] = ("python3",),
    ) -> None:
        """`config.network` on and `agent_network` off: the container starts on Docker's
        bridge but is taken off it before the agent's first command; `connect` puts it back
        for the verifier."""
        self.task_environment = dict(environment)
        self.keeper_python = keeper_python
        super().__init__(config)
        if config.network and not agent_network:
            try:
                self._bridge().disconnect(self.container, force=True)
                self.container.reload()
                networks = self.container.attrs["NetworkSettings"]["Networks"] or {}
            except Exception as exc:
                self.close()
                raise InfrastructureError(
                    f"docker could not disconnect the container: {exc}"
                ) from exc
            if networks:  # never hand the agent a network it was not given
                self.close()
                raise InfrastructureError(f"the task container is still on {sorted(networks)}")

    def _bridge(self) -> Any:
        return self.container.client.networks.get("bridge")

    def connect(self) -> None:
        """Put the container on Docker's bridge network (for the verifier only)."""
        try:
            self._bridge().connect(self.container)
        except Exception as exc:
            raise InfrastructureError(f"docker could not connect the container: {exc}") from exc

    def _run_options(
        self, config: SandboxConfig, io_dir: Path, labels: dict[str, str]
    ) -> dict[str, Any]:
        options = super()._run_options(config, io_dir, labels)
        options.update(
            # The image's own filesystem, writable: Harbor tasks work in /app, /usr/local...
            read_only=False,
            tmpfs={},
            working_dir=config.workdir,
            environment={"TERM": "dumb", **self.task_environment},
            # An image's ENTRYPOINT must not wrap the keep-alive.
            entrypoint=["sleep"],
            command=["infinity"],
            cap_add=CAPABILITIES,
            # Docker's own network set-up, so /etc/hosts is Docker's (writable, as Harbor has it).
            network_disabled=False,
            volumes={str(io_dir): options["volumes"][str(io_dir)]},
        )
        return options

    # -- the verifier's side: nothing here runs through the agent's shell ------------------

    def kill_everything(self) -> None:
        """SIGKILL every process in the container by restarting it: the kernel ends the
        whole PID namespace, detached daemons included; the filesystem stays as the agent
        left it. The agent's shell is gone; a later `exec` starts a new one."""
        try:
            self.container.restart(timeout=0)
        except Exception as exc:
            raise InfrastructureError(
                f"docker could not restart the task container: {exc}"
            ) from exc

    def run_as(
        self,
        command: str,
        *,
        user: str,
        timeout: float,
        workdir: str | None = None,
        environment: dict[str, str] | None = None,
    ) -> int:
        """Run `command` with bash as `user` in a process of its own (no shell of the
        agent's), killed after `timeout` seconds (exit 124 or 137); its exit code. Its
        output is not read: commands redirect what they want kept to a file."""
        import threading

        # Output goes nowhere: the host reads none of it, however much a command prints.
        wrapped = f"exec timeout -s KILL {timeout:g} bash -c {shlex.quote(command)} >/dev/null 2>&1"
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["exit"] = self.container.exec_run(
                    ["sh", "-c", wrapped],
                    user=user,
                    workdir=workdir or self.config.workdir,
                    environment=environment or {},
                ).exit_code
            except Exception as exc:  # the engine failed: reported below
                result["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout + HOST_GRACE_S)
        if worker.is_alive():  # `timeout` itself was subverted or missing: stop it all
            self.kill_everything()
            worker.join(HOST_GRACE_S)
            return 137
        if "error" in result:
            raise InfrastructureError(
                f"docker exec failed in the task container: {result['error']}"
            )
        code = result.get("exit")
        return 137 if code is None else int(code)

    def system_changes(self) -> tuple[int, list[str]]:
        """Files under `SYSTEM_PATHS` the container added, changed or deleted relative to
        its image (`docker diff`): how many, and the first `CHANGES_KEPT` of them."""
        try:
            changes = self.container.diff() or []
        except Exception as exc:
            raise InfrastructureError(f"docker diff failed on the task container: {exc}") from exc
        paths = sorted(
            str(change.get("Path", ""))
            for change in changes
            if str(change.get("Path", "")).startswith(SYSTEM_PATHS)
            and "/__pycache__" not in str(change.get("Path", ""))
            and str(change.get("Path", "")) not in DOCKER_PATHS
        )
        return len(paths), paths[:CHANGES_KEPT]

    def root_exec(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        """Run `argv` as root (no shell); exit code, stdout and stderr."""
        try:
            done = self.container.exec_run(argv, user="0", workdir="/", demux=True)
        except Exception as exc:
            raise InfrastructureError(f"docker exec failed in the task container: {exc}") from exc
        stdout, stderr = done.output if done.output else (None, None)
        return int(done.exit_code), stdout or b"", stderr or b""

    def upload_tree(self, source: Path, target: str) -> None:
        """Copy the host folder `source` to `target` in the container, owned by root."""
        code, _, err = self.root_exec(["mkdir", "-p", target])
        if code != 0:
            raise InfrastructureError(f"cannot create {target} in the task container: {err!r}")
        try:
            ok = self.container.put_archive(target, tar_directory(source))
        except Exception as exc:
            raise InfrastructureError(f"docker could not copy {source} to {target}: {exc}") from exc
        if not ok:
            raise InfrastructureError(f"docker could not copy {source} to {target}")

    def read_bounded(self, path: str, limit: int) -> bytes | None:
        """The file's bytes; None when it is missing, not a regular file or over `limit`
        bytes. Docker copies it out of the container's filesystem (no program of the
        container's runs), and no more than the file and a tar header is read."""
        import docker.errors

        try:
            stream, stat = self.container.get_archive(path)
        except docker.errors.NotFound:
            return None
        except Exception as exc:
            raise InfrastructureError(f"docker could not read {path}: {exc}") from exc
        size, mode = int(stat.get("size", 0)), int(stat.get("mode", 0))
        data = bytearray()
        if not mode & NOT_REGULAR and size <= limit:
            for chunk in stream:
                data += chunk
                if len(data) > limit + TAR_OVERHEAD:
                    break
        stream.close()  # a generator over the response: what is left is never read
        try:
            with tarfile.open(fileobj=io.BytesIO(bytes(data))) as archive:
                member = archive.next()
                if member is None or not member.isreg() or member.size > limit:
                    return None
                handle = archive.extractfile(member)
                return handle.read(limit) if handle is not None else None
        except tarfile.TarError:
            return None
