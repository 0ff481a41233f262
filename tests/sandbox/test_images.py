"""The sandbox image: its tag follows the content of containers/, a second build is a
no-op, and a container from it has the agent user and the tools tasks need."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hotmess.errors import SandboxError
from hotmess.sandbox import images
from hotmess.sandbox.images import (
    IMAGE_LABEL,
    build_image,
    containers_dir,
    debian_mirror,
    docker_available,
    image_exists,
    image_tag,
)


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    """A client for the real engine; skips (fails under HOTMESS_REQUIRE_SANDBOXES) without one."""
    problem = docker_available()
    if problem is not None:
        if os.environ.get("HOTMESS_REQUIRE_SANDBOXES") == "1":
            pytest.fail(f"HOTMESS_REQUIRE_SANDBOXES=1 but {problem}")
        pytest.skip(problem)
    import docker

    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="module")
def sandbox_image(docker_client: Any) -> str:
    """The sandbox image, built once (a minute or two the first time on a machine)."""
    return build_image(log=lambda line: None)


# The tag


def test_tag_names_the_repository_and_twelve_hex_digits() -> None:
    assert re.fullmatch(r"hotmess-sandbox:[0-9a-f]{12}", image_tag())


def test_tag_is_stable_across_calls() -> None:
    assert image_tag() == image_tag() == image_tag(containers_dir())


def test_tag_follows_every_byte_of_containers(tmp_path: Path) -> None:
    copy = tmp_path / "containers"
    shutil.copytree(containers_dir(), copy)
    original = image_tag()
    assert image_tag(copy) == original, "the tag depends on the content, not the location"

    dockerfile = copy / "Dockerfile"
    content = dockerfile.read_bytes()
    dockerfile.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
    assert image_tag(copy) != original
    dockerfile.write_bytes(content)
    assert image_tag(copy) == original

    (copy / "extra.sh").write_text("true\n")
    assert image_tag(copy) != original


def test_tag_depends_on_file_names_too(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "b" / "Dockerfile.other").write_text("FROM scratch\n")
    assert image_tag(tmp_path / "a") != image_tag(tmp_path / "b")


def test_the_dockerfile_ships_with_the_package() -> None:
    dockerfile = (containers_dir() / "Dockerfile").read_text()
    assert "ARG BASE=" in dockerfile
    assert f"LABEL {IMAGE_LABEL}=sandbox" in dockerfile


# Finding the Debian mirror for debootstrap (read at run time from apt's sources)


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb-src\nURIs: http://src.invalid/debian\nSuites: bookworm\n\n"
        "Types: deb\n# a comment\nURIs: http://one.invalid/debian http://two.invalid/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror((sources,)) == "http://one.invalid/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text(
        "# deb http://commented.invalid/debian bookworm main\n"
        "deb-src http://src.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main\n"
    )
    assert debian_mirror((sources,)) == "http://mirror.invalid/debian"


def test_no_mirror_when_no_sources(tmp_path: Path) -> None:
    assert debian_mirror((tmp_path / "missing.sources", tmp_path / "sources.list")) is None


# Errors a user can fix


def test_no_engine_is_a_reason_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    reason = docker_available()
    assert reason is not None
    assert "start Docker, or use --sandbox bwrap" in reason


def test_build_without_an_engine_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SandboxError, match="start Docker"):
        build_image(log=lambda line: None)


def test_a_socket_this_user_may_not_use_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    def refuse(**options: Any) -> None:
        raise docker.errors.DockerException(
            "Error while fetching server API version: ('Connection aborted.', "
            "PermissionError(13, 'Permission denied'))"
        )

    monkeypatch.setattr(docker, "from_env", refuse)
    reason = docker_available()
    assert reason is not None and "docker group" in reason


def test_debootstrap_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    problem = images._debootstrap_problem("http://mirror.invalid/debian")
    assert problem is not None and "root" in problem


def test_debootstrap_needs_debootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    problem = images._debootstrap_problem("http://mirror.invalid/debian")
    assert problem is not None and "apt-get install debootstrap" in problem


# The real image (Docker)


@pytest.mark.docker
def test_docker_available_when_an_engine_answers(docker_client: Any) -> None:
    assert docker_available() is None


@pytest.mark.docker
def test_second_build_is_a_no_op(sandbox_image: str) -> None:
    lines: list[str] = []
    started = time.monotonic()
    assert build_image(log=lines.append) == sandbox_image
    assert time.monotonic() - started < 5
    assert lines == [f"{sandbox_image} is built already (--force rebuilds it)"]
    assert image_exists(sandbox_image)
    assert not image_exists("hotmess-sandbox:000000000000")


@pytest.mark.docker
def test_image_runs_as_agent_in_work(docker_client: Any, sandbox_image: str) -> None:
    config = docker_client.images.get(sandbox_image).attrs["Config"]
    assert config["User"] == "agent"
    assert config["WorkingDir"] == "/work"
    assert config["Cmd"] == ["sleep", "infinity"]
    assert config["Labels"][IMAGE_LABEL] == "sandbox"


@pytest.mark.docker
def test_container_has_the_user_the_dirs_and_the_tools(
    docker_client: Any, sandbox_image: str
) -> None:
    script = """
        echo "uid=$(id -u) gid=$(id -g) home=$HOME pwd=$(pwd)"
        echo "hm=$(stat -c %a /hm) work_owner=$(stat -c %u /work)"
        touch /work/written && echo work=writable
        python3 -c 'import sys, pytest; print("python", sys.version_info[0], "pytest", pytest.__version__)'
        python3 -m pytest --version >/dev/null && echo pytest=runs
        git --version
        sqlite3 --version >/dev/null && echo sqlite3=ok
        ps -o pid= -p $$ >/dev/null && pkill --version >/dev/null && echo procps=ok
    """
    output = docker_client.containers.run(
        sandbox_image,
        ["bash", "-c", script],
        remove=True,
        network_mode="none",
        init=True,
    ).decode()
    assert "uid=1000 gid=1000 home=/home/agent pwd=/work" in output
    assert "hm=1777 work_owner=1000" in output
    assert "work=writable" in output
    assert re.search(r"python 3 pytest \d+\.", output)
    assert "pytest=runs" in output
    assert "git version" in output
    assert "sqlite3=ok" in output
    assert "procps=ok" in output
