"""A Harbor task's image: task.toml's `docker_image`, or environment/Dockerfile built once
into `hotmess-harbor-<task>:<hash of the build context>` and reused by every later episode
(Harbor tasks are slow to build), then checked for what hotmess's shell needs."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from hotmess.envs.harbor.task import HarborTask
from hotmess.errors import SandboxError
from hotmess.sandbox.docker import docker_client
from hotmess.sandbox.images import IMAGE_LABEL, docker_build, image_tag

#: Build argument every build gets, so a test task can say `FROM ${HOTMESS_SANDBOX_IMAGE}`
#: and build offline; a Dockerfile that does not declare it ignores it.
SANDBOX_IMAGE_ARG = "HOTMESS_SANDBOX_IMAGE"
IMAGE_PREFIX = "hotmess-harbor-"
_TAG_SCHEME = b"hotmess-harbor-image/1\n"


def image_name(task: HarborTask, sandbox_image: str) -> str:
    """`hotmess-harbor-<task>:<12 hex>`, hashing every file of environment/ and the sandbox
    image the build argument names: a changed byte, or a rebuilt sandbox image, a new tag."""
    digest = hashlib.sha256(_TAG_SCHEME + sandbox_image.encode() + b"\n")
    context = task.environment_dir
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        name = path.relative_to(context).as_posix().encode()
        content = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name), name, len(content)))
        digest.update(content)
    repo = re.sub(r"[^a-z0-9._-]+", "-", task.name.lower()).strip("-._") or "task"
    return f"{IMAGE_PREFIX}{repo[:60]}:{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class TaskImage:
    """The image an episode's container runs, and how its keeper's Python is started."""

    name: str
    keeper_python: tuple[str, ...] = ("python3",)


_ready: dict[str, TaskImage] = {}
_names: dict[tuple[str, str], str] = {}
_build_lock = threading.Lock()

#: Where the keeper layer puts the sandbox image's Python, its libraries and its loader.
KEEPER_DIR = "/opt/hotmess"
#: Started through the bundled loader, that Python runs on any image of the same
#: architecture, whatever its C library (it finds its standard library next to itself).
KEEPER_PYTHON = (
    f"{KEEPER_DIR}/ld.so",
    "--library-path",
    f"{KEEPER_DIR}/lib",
    f"{KEEPER_DIR}/bin/python3",
)
KEEPER_PREFIX = "hotmess-harbor-keeper"
KEEPER_DOCKERFILE = f"""\
ARG HOTMESS_SANDBOX_IMAGE
ARG TASK_IMAGE
FROM ${{HOTMESS_SANDBOX_IMAGE}} AS hotmess
USER root
RUN set -eu; d={KEEPER_DIR}; mkdir -p $d/bin $d/lib; cp -L "$(command -v python3)" $d/bin/python3; \\
    for lib in $(ldd $d/bin/python3 | awk '$2 == "=>" {{print $3}}'); do cp -L "$lib" $d/lib/; done; \\
    cp -L "$(ldd $d/bin/python3 | awk '/ld-linux/ {{print $1}}')" $d/ld.so; \\
    for s in /usr/lib/python3.[0-9]*; do cp -r "$s" $d/lib/; done; \\
    rm -rf $d/lib/python3.*/test $d/lib/python3.*/idlelib $d/lib/python3.*/tkinter
FROM ${{TASK_IMAGE}}
COPY --from=hotmess {KEEPER_DIR} {KEEPER_DIR}
"""


def task_image(task: HarborTask, *, log: Any = None) -> TaskImage:
    """The image the task runs in, built or pulled if it is not here yet, and checked; an
    image without python3 gets a layer with the sandbox image's (for the keeper)."""
    client = docker_client()
    try:
        image = _find_or_make(client, task, log)
        if image not in _ready:
            _ready[image] = _checked(client, image)
        return _ready[image]
    finally:
        client.close()


def _find_or_make(client: Any, task: HarborTask, log: Any) -> str:
    import docker.errors

    wanted = task.config.environment.docker_image
    dockerfile = (task.environment_dir / "Dockerfile").is_file()
    if wanted is not None:
        if _exists(client, wanted):
            return wanted
        try:
            client.images.pull(wanted)
            return wanted
        except docker.errors.APIError as exc:
            if not dockerfile:
                raise SandboxError(
                    f"Harbor task {task.name}: the image {wanted} (task.toml docker_image) is "
                    f"not here and cannot be pulled ({_first_line(exc)}): pull or build it first"
                ) from None
    key = (task.digest, image_tag())
    if key not in _names:  # hashing environment/ once per process
        _names[key] = image_name(task, key[1])
    tag = _names[key]
    with _build_lock:  # episodes of one process share a build
        if not _exists(client, tag):
            _build(client, task, tag, log)
    return tag


def _exists(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _build(client: Any, task: HarborTask, tag: str, log: Any) -> None:
    """`docker build environment/` within the task's build_timeout_sec."""
    limit = task.config.environment.build_timeout_sec
    docker_build(
        client,
        f"Harbor task {task.name}: docker build of environment/",
        on_line=log,
        deadline=time.monotonic() + limit,
        too_slow=f"Harbor task {task.name}: docker build took longer than build_timeout_sec "
        f"({limit:g} s in task.toml): raise it there, or build the image beforehand",
        path=str(task.environment_dir),
        tag=tag,
        buildargs={SANDBOX_IMAGE_ARG: image_tag()},
        labels={IMAGE_LABEL: "harbor-task"},
    )
    if not _exists(client, tag):
        raise SandboxError(f"Harbor task {task.name}: docker build produced no image {tag}")


def _checked(client: Any, image: str) -> TaskImage:
    """hotmess's shell needs bash and timeout in the image, and a Python for its keeper:
    the image's python3, else one copied from the sandbox image in a layer on top."""
    output = client.containers.run(
        image,
        entrypoint=["sh", "-c"],
        command=["for t in bash timeout python3; do command -v $t >/dev/null || echo $t; done"],
        network_mode="none",
        remove=True,
        user="0",
    )
    missing = output.decode(errors="replace").split()
    fatal = [tool for tool in missing if tool != "python3"]
    if fatal:
        raise SandboxError(
            f"the Harbor task image {image} lacks {', '.join(fatal)}, which hotmess's shell "
            "needs in the container: add them to environment/Dockerfile (for example "
            "`RUN apt-get update && apt-get install -y bash coreutils`)"
        )
    if "python3" not in missing:
        return TaskImage(image)
    return TaskImage(_keeper_layer(client, image), KEEPER_PYTHON)


def _keeper_layer(client: Any, image: str) -> str:
    """`image` plus the sandbox image's Python under /opt/hotmess, built once."""
    sandbox = image_tag()
    source = client.images.get(image).id
    digest = hashlib.sha256(
        b"%s\n%s\n%s" % (KEEPER_DOCKERFILE.encode(), source.encode(), sandbox.encode())
    )
    tag = f"{KEEPER_PREFIX}:{digest.hexdigest()[:12]}"
    with _build_lock:
        if _exists(client, tag):
            return tag
        docker_build(
            client,
            f"adding a Python for hotmess's shell to {image} (it has no python3; or add "
            "python3 to environment/Dockerfile)",
            fileobj=io.BytesIO(KEEPER_DOCKERFILE.encode()),
            tag=tag,
            buildargs={SANDBOX_IMAGE_ARG: sandbox, "TASK_IMAGE": image},
            labels={IMAGE_LABEL: "harbor-keeper"},
        )
        if not _exists(client, tag):
            raise SandboxError(f"the build of {tag} (python3 for {image}) produced no image")
    return tag


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def image_defaults(image: str) -> tuple[str, str]:
    """The image's USER and WORKDIR (empty strings where it sets none)."""
    client = docker_client()
    try:
        config = client.images.get(image).attrs.get("Config") or {}
    finally:
        client.close()
    return str(config.get("User") or ""), str(config.get("WorkingDir") or "")


_uids: dict[tuple[str, str], int] = {}


def resolve_uid(image: str, user: str | int | None) -> int:
    """The numeric uid of `user` in `image` (a name is looked up with `id -u` there);
    None, empty or root is 0."""
    if user is None or isinstance(user, int):
        return user or 0
    name = user.split(":", 1)[0].strip()
    if name in ("", "root"):
        return 0
    if name.isdigit():
        return int(name)
    if (image, name) not in _uids:
        client = docker_client()
        try:
            output = client.containers.run(
                image,
                entrypoint=["id", "-u", name],
                command=[],
                network_mode="none",
                remove=True,
                user="0",
            )
        except Exception as exc:
            raise SandboxError(
                f"the user {name!r} (task.toml or the image's USER) does not exist in {image}: "
                f"{_first_line(exc)}"
            ) from None
        finally:
            client.close()
        _uids[(image, name)] = int(output.decode().strip())
    return _uids[(image, name)]
