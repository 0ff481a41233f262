"""The Docker sandbox image: name it by the content of containers/, build it, check for it.

With registry access the image is built FROM a public Debian image; without, from a base
made here with debootstrap and imported, so the same Dockerfile builds offline.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotmess.errors import SandboxError

if TYPE_CHECKING:
    import docker

IMAGE_REPO = "hotmess-sandbox"
IMAGE_LABEL = "org.hotmess.image"
PUBLIC_BASE = "debian:bookworm-slim"
"""The base image pulled where a registry answers (the Dockerfile's default `BASE`)."""
LOCAL_BASE = "hotmess-sandbox-base:bookworm"
"""The base imported from a debootstrapped root filesystem where no registry answers."""
LOCAL_BASE_PACKAGES = ("python3", "python3-pytest", "git", "sqlite3", "procps")
"""Installed by debootstrap, so the Dockerfile's install step needs no network."""
NO_ENGINE_HINT = "start Docker, or use --sandbox bwrap"

# Part of every tag: bump it to rebuild all images when something outside containers/
# changes what they contain.
_TAG_SCHEME = b"hotmess-sandbox-image/1\n"
_PACKAGED_CONTAINERS = Path("share", "hotmess", "containers")
_BASE_PACKAGES_LABEL = "org.hotmess.base-packages"
# debian:bookworm-slim's dpkg excludes: the imported base is as small as the public one,
# and stays so through any apt-get install in the Dockerfile.
_DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""

Log = Callable[[str], None]


def containers_dir() -> Path:
    """The directory holding the Dockerfile: containers/ of the source checkout (an
    editable install), else the copy a wheel installs under `<prefix>/share/hotmess/`."""
    checkout = Path(__file__).resolve().parents[2] / "containers"
    candidates = [checkout]
    schemes = [sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")]
    candidates += [
        Path(sysconfig.get_path("data", scheme)) / _PACKAGED_CONTAINERS for scheme in schemes
    ]
    candidates.append(Path(sys.prefix) / _PACKAGED_CONTAINERS)
    for candidate in candidates:
        if (candidate / "Dockerfile").is_file():
            return candidate
    raise SandboxError(
        f"cannot find the sandbox Dockerfile (looked in {', '.join(map(str, candidates))}): "
        "reinstall hotmess, or run from a source checkout"
    )


def image_tag(directory: Path | None = None) -> str:
    """`hotmess-sandbox:<12 hex>`, a hash of every file under `directory` (default
    `containers_dir()`): the same files give the same tag, a changed byte a new one."""
    directory = directory or containers_dir()
    digest = hashlib.sha256(_TAG_SCHEME)
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        content = path.read_bytes()
        name = path.relative_to(directory).as_posix().encode()
        digest.update(b"%d:%s%d:" % (len(name), name, len(content)))
        digest.update(content)
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def docker_available() -> str | None:
    """None when a Docker engine answers; otherwise why not, in a few words."""
    try:
        client = _client(timeout=10)
    except SandboxError as exc:
        return str(exc)
    client.close()
    return None


def image_exists(tag: str) -> bool:
    """Whether the engine has an image called `tag`."""
    client = _client()
    try:
        return _has_image(client, tag)
    finally:
        client.close()


def build_image(
    *,
    base: str | None = None,
    force: bool = False,
    log: Log = print,
    directory: Path | None = None,
) -> str:
    """Build the sandbox image from `directory` (default `containers_dir()`) unless an
    image with its tag exists already (or `force`), and return the tag.

    `base` is the image to build FROM; by default the public Debian image when it is here
    or can be pulled, else a base made with debootstrap (needs root and debootstrap) and
    kept as `LOCAL_BASE` for later builds. `force` rebuilds without docker's layer cache.
    """
    directory = directory or containers_dir()
    tag = image_tag(directory)
    client = _client()
    try:
        previous = _image_id(client, tag)
        if previous and not force:
            log(f"{tag} is built already (--force rebuilds it)")
            return tag
        base = base or _choose_base(client, log)
        _build(client, directory, tag, base, log, use_cache=not force)
        if previous and previous != _image_id(client, tag):
            _remove_quietly(client, previous)
    finally:
        client.close()
    return tag


def debian_mirror(
    sources: tuple[Path, ...] = (
        Path("/etc/apt/sources.list.d/debian.sources"),
        Path("/etc/apt/sources.list"),
    ),
) -> str | None:
    """The Debian mirror this machine's apt uses: the first URI of the first `deb` entry
    of `sources` (deb822 or one-line format), or None."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        uri = _deb822_uri(text) if path.suffix == ".sources" else _one_line_uri(text)
        if uri:
            return uri
    return None


def _deb822_uri(text: str) -> str | None:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    return None


def _one_line_uri(text: str) -> str | None:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if words:
            return words[0]
    return None


def _client(timeout: int = 60) -> docker.DockerClient:
    import docker
    import requests

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if "Permission denied" in str(exc):
            raise SandboxError(
                f"this user may not use the Docker engine at {where} (permission denied): "
                "add it to the docker group, or use --sandbox bwrap"
            ) from None
        raise SandboxError(
            f"no Docker engine answers at {where} ({type(exc).__name__}): {NO_ENGINE_HINT}"
        ) from None
    return client


def _has_image(client: docker.DockerClient, name: str) -> bool:
    return _image_id(client, name) is not None


def _image_id(client: docker.DockerClient, name: str) -> str | None:
    import docker

    try:
        image_id: str = client.images.get(name).id
    except docker.errors.ImageNotFound:
        return None
    return image_id


def _remove_quietly(client: docker.DockerClient, image_id: str) -> None:
    """Remove an image a rebuild replaced, unless a container still uses it."""
    import docker

    try:
        client.images.remove(image_id)
    except docker.errors.APIError:
        pass


def _choose_base(client: docker.DockerClient, log: Log) -> str:
    """The public base if it is here or can be pulled, else the debootstrapped one."""
    import docker

    if _has_image(client, PUBLIC_BASE):
        return PUBLIC_BASE
    log(f"pulling {PUBLIC_BASE}")
    try:
        client.images.pull(PUBLIC_BASE)
    except docker.errors.APIError as exc:
        reason = _first_line(exc.explanation or str(exc))
        log(f"cannot pull {PUBLIC_BASE} ({reason}): using a base made with debootstrap")
        return _local_base(client, log, pull_error=reason)
    return PUBLIC_BASE


def _local_base(client: docker.DockerClient, log: Log, pull_error: str) -> str:
    """`LOCAL_BASE`, made with debootstrap and imported unless it is here already."""
    import docker

    wanted = ",".join(LOCAL_BASE_PACKAGES)
    try:
        if client.images.get(LOCAL_BASE).labels.get(_BASE_PACKAGES_LABEL) == wanted:
            log(f"reusing {LOCAL_BASE}")
            return LOCAL_BASE
    except docker.errors.ImageNotFound:
        pass
    mirror = os.environ.get("HOTMESS_DEBIAN_MIRROR") or debian_mirror()
    problem = _debootstrap_problem(mirror)
    if problem or mirror is None:
        raise SandboxError(
            f"cannot pull {PUBLIC_BASE} ({pull_error}) and cannot make a base without a registry: "
            f"{problem}. Otherwise give Docker registry access, or pass --base with a local "
            "Debian bookworm image"
        )
    # /var/tmp, not /tmp: the root filesystem needs a mount that allows exec and devices.
    parent = Path(tempfile.mkdtemp(prefix="hotmess-rootfs-", dir="/var/tmp"))
    try:
        rootfs = parent / "rootfs"
        _debootstrap(rootfs, mirror, log)
        _slim(rootfs)
        _import(client, rootfs, wanted, log)
    finally:
        _remove_rootfs(parent)
    return LOCAL_BASE


def _debootstrap_problem(mirror: str | None) -> str | None:
    if not sys.platform.startswith("linux"):
        return "debootstrap runs on Linux only"
    if os.geteuid() != 0:
        return "debootstrap needs root: run `sudo hotmess containers build`"
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed: `apt-get install debootstrap`"
    if mirror is None:
        return (
            "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or "
            "/etc/apt/sources.list: set HOTMESS_DEBIAN_MIRROR to a Debian mirror URL"
        )
    return None


def _debootstrap(rootfs: Path, mirror: str, log: Log) -> None:
    log(f"debootstrap bookworm from {mirror} (about a minute)")
    started = time.monotonic()
    command = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(LOCAL_BASE_PACKAGES)}",
        "bookworm",
        str(rootfs),
        mirror,
    ]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SandboxError(f"debootstrap failed (exit {done.returncode}):\n{tail}")
    log(f"debootstrap done in {time.monotonic() - started:.0f} s")


def _slim(rootfs: Path) -> None:
    """Drop what debian:bookworm-slim drops: apt's caches, docs, man pages, translations."""
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*_*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/groff/*",
        "usr/share/lintian/*",
        "usr/share/locale/*",
    ):
        for path in rootfs.glob(pattern):
            if path.name == "locale.alias":
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in (rootfs / "usr/share/doc").glob("*/*"):
        if path.name != "copyright":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(_DPKG_EXCLUDES)
    # debootstrap copied these from the host; docker supplies its own at run time.
    for name in ("etc/hostname", "etc/resolv.conf"):
        (rootfs / name).unlink(missing_ok=True)


def _import(client: docker.DockerClient, rootfs: Path, packages: str, log: Log) -> None:
    started = time.monotonic()
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
    )
    assert tar.stdout is not None
    stdout = tar.stdout

    def chunks() -> Iterator[bytes]:
        while chunk := stdout.read(1 << 20):
            yield chunk

    repository, _, tag = LOCAL_BASE.partition(":")
    changes = [
        f"LABEL {IMAGE_LABEL}=sandbox-base {_BASE_PACKAGES_LABEL}={packages}",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["bash"]',
    ]
    try:
        client.api.import_image_from_data(chunks(), repository=repository, tag=tag, changes=changes)
    finally:
        stdout.close()
        status = tar.wait()
    if status != 0:
        raise SandboxError(f"tar of the debootstrapped root filesystem failed (exit {status})")
    log(f"imported {LOCAL_BASE} in {time.monotonic() - started:.0f} s")


def _remove_rootfs(parent: Path) -> None:
    """Remove the temporary root filesystem, unmounting first whatever debootstrap left
    mounted in it (proc, sys, a bind of /dev) so nothing outside it is touched."""
    inside = [m for m in _mount_points() if m == parent or parent in m.parents]
    for mount in sorted(inside, key=lambda m: len(m.parts), reverse=True):
        subprocess.run(["umount", "--lazy", str(mount)], check=False)
    if any(m == parent or parent in m.parents for m in _mount_points()):
        raise SandboxError(f"cannot unmount everything under {parent}: remove it by hand")
    shutil.rmtree(parent, ignore_errors=True)


def _mount_points() -> list[Path]:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    # Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
    unescape = re.compile(r"\\([0-7]{3})")
    return [Path(unescape.sub(lambda m: chr(int(m[1], 8)), line.split()[4])) for line in lines]


def _build(
    client: docker.DockerClient, directory: Path, tag: str, base: str, log: Log, use_cache: bool
) -> None:
    log(f"building {tag} FROM {base}")
    started = time.monotonic()
    docker_build(
        client,
        f"docker build of {tag} FROM {base}",
        on_line=log,
        path=str(directory),
        tag=tag,
        buildargs={"BASE": base},
        nocache=not use_cache,
    )
    log(f"built {tag} in {time.monotonic() - started:.0f} s")


def docker_build(
    client: Any,
    what: str,
    *,
    on_line: Callable[[str], object] | None = None,
    deadline: float | None = None,
    too_slow: str = "",
    **build: Any,
) -> None:
    """Run `docker build` (`client.api.build` with `build`'s arguments) to its end, each
    line of its output to `on_line`. A `SandboxError` saying "`what` failed", with the
    build's error and its last lines, or `too_slow` once `time.monotonic()` passes
    `deadline`."""
    tail: list[str] = []
    stream: Iterator[dict[str, Any]] = client.api.build(rm=True, forcerm=True, decode=True, **build)
    for chunk in stream:
        if "error" in chunk:
            lines = "".join(f"\n{line}" for line in tail)
            raise SandboxError(f"{what} failed: {chunk['error'].strip()}{lines}")
        for line in chunk.get("stream", "").splitlines():
            if line.strip():
                tail = [*tail[-9:], line.rstrip()]
                if on_line is not None:
                    on_line(line.rstrip())
        if deadline is not None and time.monotonic() > deadline:
            raise SandboxError(too_slow)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no reason given"
