"""A Harbor task's image: task.toml's `docker_image`, or environment/Dockerfile built once
into `hotmess-harbor-<task>:<hash of the build context>` and reused by every later episode
(Harbor tasks are slow to build), then checked for what hotmess's shell needs."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from typing import Any

from hotmess.envs.harbor.task import HarborTask
from hotmess.errors import SandboxError
from hotmess.sandbox.docker import docker_client
from hotmess.sandbox.images import IMAGE_LABEL, image_tag

#: Build argument every build gets, so a test task can say `FROM ${HOTMESS_SANDBOX_IMAGE}`
#: and build offline; a Dockerfile that does not declare it ignores it.
SANDBOX_IMAGE_ARG = "HOTMESS_SANDBOX_IMAGE"
IMAGE_PREFIX = "hotmess-harbor-"
_TAG_SCHEME = b"hotmess-harbor-image/1\n"

_ready: set[str] = set()
_build_lock = threading.Lock()


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


def task_image(task: HarborTask, *, log: Any = None) -> str:
    """The image the task runs in, built or pulled if it is not here yet, and checked."""
    client = docker_client()
    try:
        image = _find_or_make(client, task, log)
        if image not in _ready:
            _check_image(client, image)
            _ready.add(image)
    finally:
        client.close()
    return image


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
    tag = image_name(task, image_tag())
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
    deadline = time.monotonic() + limit
    stream = client.api.build(
        path=str(task.environment_dir),
        tag=tag,
        buildargs={SANDBOX_IMAGE_ARG: image_tag()},
        labels={IMAGE_LABEL: "harbor-task"},
        rm=True,
        forcerm=True,
        decode=True,
    )
    tail: list[str] = []
    for chunk in stream:
        if "error" in chunk:
            lines = "\n".join(tail[-10:])
            raise SandboxError(
                f"Harbor task {task.name}: docker build of environment/ failed: "
                f"{chunk['error'].strip()}\n{lines}"
            )
        for line in chunk.get("stream", "").splitlines():
            if line.strip():
                tail.append(line.rstrip())
                if log is not None:
                    log(line.rstrip())
        if time.monotonic() > deadline:
            raise SandboxError(
                f"Harbor task {task.name}: docker build took longer than build_timeout_sec "
                f"({limit:g} s in task.toml): raise it there, or build the image beforehand"
            )
    if not _exists(client, tag):
        raise SandboxError(f"Harbor task {task.name}: docker build produced no image {tag}")


def _check_image(client: Any, image: str) -> None:
    """hotmess's shell needs bash and python3 (its keeper) in the image; say so up front."""
    output = client.containers.run(
        image,
        entrypoint=["sh", "-c"],
        command=["for t in bash python3 tar timeout; do command -v $t >/dev/null || echo $t; done"],
        network_mode="none",
        remove=True,
        user="0",
    )
    missing = output.decode(errors="replace").split()
    if missing:
        raise SandboxError(
            f"the Harbor task image {image} lacks {', '.join(missing)}, which hotmess's shell "
            "needs in the container: add them to environment/Dockerfile (for example "
            "`RUN apt-get update && apt-get install -y python3`)"
        )


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
