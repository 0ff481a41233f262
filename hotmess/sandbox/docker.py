"""The Docker backend: one container per episode (no network, memory / CPU / process
limits, read-only root, no capabilities, a non-root user) and one persistent shell in it.

The keeper that starts the shell and signs its reports is the container's own process,
reached over the container's attached stdin and stdout: starting a sandbox is one
container start, with no `docker exec` and no process on the host. A subclass (or an
engine reached over TLS or SSH) can instead run `sleep` as the container's process and
start the keeper with `docker exec -it` (`keeper_relay = False`): Harbor's task containers
do, as they are restarted under the agent's shell to kill everything in them."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from hotmess.errors import SandboxError
from hotmess.sandbox import keeper, lifecycle
from hotmess.sandbox.base import SandboxConfig
from hotmess.sandbox.shell import ShellSandbox, ShellSession, Terminal, spawn

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
    #: Whether the keeper is the container's own process (`keeper.relay`), or is started
    #: with `docker exec -it` in a container that runs `sleep`.
    keeper_relay = True

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
            (self.tmp / "hosts").write_text(HOSTS)
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
            # The keeper runs as root in isolated mode (-I): nothing the agent writes is
            # imported; without `site` (-S): it needs only the standard library, and starts faster.
            python = [*self.keeper_python, "-I", "-S", "-c"]
            shell_argv = ["bash", "--noprofile", "--norc", "--noediting", "-i"]
            options = self._run_options(config, io, labels)
            relay = self.keeper_relay and client.api.base_url.startswith(PLAIN_ENGINES)
            if relay:
                options.update(
                    # The keeper's source comes on stdin (`BOOTSTRAP`), not in its command
                    # line, where every `ps` the agent runs would print it.
                    command=[*python, BOOTSTRAP, "--relay", str(config.uid), *shell_argv],
                    # Attached, and the keeper's stdin ends when the host lets go of it:
                    # the container ends with its owner, whatever killed the owner.
                    detach=False,
                    stdin_open=True,
                    # To kill the shell's jobs, which run as the sandbox user.
                    cap_add=[*options["cap_add"], "KILL"],
                )
            self.started = time.monotonic()
            lifecycle.track(self)
            try:
                if relay:
                    self.container = _create(client, image, options)
                    terminal = AttachedKeeper(client, self.container)
                    self._start_container()
                    terminal.boot(_keeper_source().encode())
                else:
                    self.container = client.containers.run(image, **options)
            except BaseException as exc:
                self.close()
                if isinstance(exc, docker.errors.ImageNotFound):
                    _images_here.discard((client.api.base_url, image))
                    raise SandboxError(_missing_image(image, config)) from None
                if isinstance(exc, docker.errors.APIError):
                    raise SandboxError(
                        f"docker could not start the sandbox container: {exc.explanation or exc}"
                    ) from None
                raise
        if relay:
            start: Any = lambda _fd: terminal  # noqa: E731 - one keeper for every shell
        else:
            argv = ["docker", "exec", "-it", "-u", "0", "-w", "/", self.container.id]
            argv += [*python, _keeper_source(), str(config.uid), *shell_argv]
            start = lambda _fd: spawn(argv)  # noqa: E731
        try:
            self.shell = ShellSession(
                start,
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

    def _start_container(self) -> None:
        self.container.client.api.start(self.container.id)

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
        if isinstance(session.terminal, AttachedKeeper):
            with contextlib.suppress(OSError):  # the shell will be restarted if this did not help
                session.terminal.kill_foreground()
            return
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


#: The container's command runs this with `python3 -c`: it reads the keeper's source from
#: stdin (its length in 10 digits, then the source) and runs it as `__main__`.
BOOTSTRAP = """\
import os
def take(n):
    got = b""
    while len(got) < n:
        chunk = os.read(0, n - len(got))
        if not chunk:
            raise SystemExit(1)
        got += chunk
    return got
exec(compile(take(int(take(10))), "hotmess-keeper", "exec"))
"""
#: The /etc/hosts of a sandbox without a network, as Docker writes it for `--network none`.
HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""
#: How the docker client's `base_url` starts for an engine whose attach connection is a
#: plain socket (this machine's Unix socket, or TCP without TLS); over TLS or SSH the
#: keeper is started with `docker exec -it` instead.
PLAIN_ENGINES = ("http+docker://localhost", "http://")


class AttachedKeeper(Terminal):
    """`keeper.relay`, the container's own process, over one connection to the engine
    attached to the container's stdin, stdout and stderr (Docker's multiplexed stream:
    each frame an 8-byte header, whose last 4 bytes are its length, then its bytes)."""

    def __init__(self, client: Any, container: Any) -> None:
        raw = client.api.attach_socket(
            container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        self.socket: socket.socket = getattr(raw, "_sock", raw)
        self.socket.settimeout(None)
        self._raw = raw  # holds the HTTP response, which would close the socket when freed
        self.fd = self.socket.fileno()
        self.container = container
        self._header = b""
        self._left = 0  # bytes of the current frame still to come
        self._gone = False

    def boot(self, source: bytes) -> None:
        """Hand `BOOTSTRAP` the keeper's source."""
        self.socket.sendall(b"%010d" % len(source) + source)

    def _line(self, line: bytes) -> None:
        self.socket.sendall(line + b"\n")

    def send(self, data: bytes) -> None:
        self._line(b"d " + base64.b64encode(data))

    def start_shell(self, key: bytes) -> None:
        self._line(b"s " + key)

    def kill_foreground(self) -> None:
        self._line(b"k")

    def read(self) -> bytes | None:
        try:
            data = self.socket.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            self._gone = True
            return None
        out = bytearray()
        view = memoryview(data)
        while view:
            if self._left == 0:
                need = 8 - len(self._header)
                self._header += bytes(view[:need])
                view = view[need:]
                if len(self._header) == 8:
                    self._left = int.from_bytes(self._header[4:], "big")
                    self._header = b""
                continue
            taken = view[: self._left]
            out += taken
            self._left -= len(taken)
            view = view[len(taken) :]
        return bytes(out)

    def alive(self) -> bool:
        return not self._gone

    def exit_code(self) -> int:
        """The keeper is gone, so the container has ended: its exit code."""
        try:
            return int(self.container.wait(timeout=10)["StatusCode"])
        except Exception:
            return 137

    def end(self) -> None:
        """Nothing: the keeper ends the shell it runs when it is asked for a new one."""

    def kill(self) -> None:
        """Let go of the container's stdin: the keeper kills the shell and the container ends."""
        self._gone = True
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()
        with contextlib.suppress(Exception):
            self._raw.close()


_source: list[str] = []


def _keeper_source() -> str:
    if not _source:
        _source.append(Path(keeper.__file__).read_text())
    return _source[0]


def _hand_to(path: Path, uid: int) -> None:
    """Let the sandbox user write `path` (when we are root and it is not)."""
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
    path.chmod(0o755)


#: (engine, image) pairs this process has found: checked once, not per sandbox (a removed
#: image fails the container's creation, which then names it the same way).
_images_here: set[tuple[str, str]] = set()


def _image(client: Any, config: SandboxConfig) -> str:
    """The sandbox image's tag, or an error naming how to get it onto this machine."""
    import docker.errors

    image = config.image
    if image is None:
        from hotmess.sandbox.images import image_tag

        image = image_tag()
    if (client.api.base_url, image) in _images_here:
        return image
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise SandboxError(_missing_image(image, config)) from None
    _images_here.add((client.api.base_url, image))
    return image


def _missing_image(image: str, config: SandboxConfig) -> str:
    hint = "run `hotmess containers build`" if config.image is None else "build or pull it first"
    return f"the sandbox image {image} is not on this machine: {hint}"


def _create(client: Any, image: str, options: dict[str, Any]) -> Any:
    """`client.containers.create` without the inspection it ends with (one request more,
    and the container's whole configuration parsed for nothing)."""
    from docker.models.containers import _create_container_args

    created = client.api.create_container(
        **_create_container_args({**options, "image": image, "version": client.api._version})
    )
    return client.containers.prepare_model({"Id": created["Id"]})


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
        # Without a network, also without Docker's network set-up: the container still
        # gets a network namespace of its own, with only loopback, but the engine starts
        # it with ~95 ms less CPU (no libnetwork sandbox, no set-up hook). Its /etc/hosts
        # is then empty: `HOSTS`, mounted below, names localhost as Docker's would.
        network_disabled=not config.network,
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
        volumes={
            str(io): {"bind": IO_INSIDE, "mode": "rw"},
            **(
                {}
                if config.network
                else {str(io.parent / "hosts"): {"bind": "/etc/hosts", "mode": "ro"}}
            ),
        },
        ulimits=[Ulimit(name="fsize", soft=fsize, hard=fsize)],
        labels=labels,
        hostname="sandbox",
        # The keep-alive prints nothing and commands' output never reaches the log; without
        # a log driver the engine spent ~100 ms less CPU per container (of 300-450 ms).
        log_config=LogConfig(type="none"),
    )
