"""Fixtures that start real components once per session: the Docker engine's sandbox image
and bubblewrap. A test needing one skips, with the reason printed, only where it cannot
exist; with HOTMESS_REQUIRE_SANDBOXES=1 (set by .ci/run) it fails instead."""

from __future__ import annotations

import os

import pytest

REQUIRE = os.environ.get("HOTMESS_REQUIRE_SANDBOXES") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"HOTMESS_REQUIRE_SANDBOXES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_ready() -> str:
    """The sandbox image tag, once an engine answers and the image is built."""
    from hotmess.sandbox.images import docker_available, image_exists, image_tag

    problem = docker_available()
    if problem is not None:
        _unavailable(f"docker unavailable: {problem}")
    tag = image_tag()
    if not image_exists(tag):
        _unavailable(f"sandbox image {tag} is not built (run `hotmess containers build`)")
    return tag


@pytest.fixture(scope="session")
def bwrap_ready() -> None:
    from hotmess.sandbox.bwrap import bwrap_available

    problem = bwrap_available()
    if problem is not None:
        _unavailable(f"bwrap unavailable: {problem}")


@pytest.fixture(
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("bwrap", marks=pytest.mark.bwrap),
    ]
)
def sandbox_kind(request: pytest.FixtureRequest) -> str:
    """Each sandboxed test runs once per real backend."""
    request.getfixturevalue("docker_ready" if request.param == "docker" else "bwrap_ready")
    return str(request.param)
