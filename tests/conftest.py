"""Fixtures that start real components once per session: the Docker engine's sandbox image
and bubblewrap. A test needing one skips, with the reason printed, only where it cannot
exist; with HOTMESS_REQUIRE_SANDBOXES=1 (set by .ci/run) it fails instead."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium (the system's: playwright cannot download its own here), for one
    test: playwright's sync API runs an event loop while it is open, and a later test that
    starts one of its own (Inspect does) would fail."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    problem = None
    if sync_playwright is None:
        problem = "playwright is not installed (pip install -e '.[dev]')"
    elif executable is None:
        problem = "no chromium on PATH (apt-get install chromium)"
    if problem is not None:
        if os.environ.get("HOTMESS_REQUIRE_BROWSER") == "1":  # CI: a missing browser fails
            pytest.fail(f"HOTMESS_REQUIRE_BROWSER=1 but {problem}")
        print(f"skipping the browser tests: {problem}")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()
