"""The example plugin of docs/adding-an-environment.md, installed for real: a temporary venv
(on top of this environment's packages) gets examples/hotmess-example-env, and the CLI in
that venv must list, check, run, sweep and score its envs. Also: the doc quotes the
package's files exactly."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import venv
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hotmess-example-env"
DOC = REPO / "docs" / "adding-an-environment.md"
PURE_ID, SANDBOXED_ID = "example/Pipeline-v0", "example/FillStubs-v0"

#: A fenced block that quotes a file of the example: ```python title="path/in/package"
QUOTED_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.M | re.S)


def _normalise(text: str) -> str:
    # Blocks quoting one file in pieces are joined by a blank line; how many blank lines the
    # file has at those seams (ruff puts two between top-level definitions) does not matter.
    return re.sub(r"\n{3,}", "\n\n", text.strip("\n")) + "\n"


def test_doc_quotes_every_example_file_exactly() -> None:
    pieces: dict[str, list[str]] = defaultdict(list)
    for title, body in QUOTED_BLOCK.findall(DOC.read_text()):
        pieces[title].append(body.strip("\n"))
    files = sorted(
        path.relative_to(EXAMPLE).as_posix()
        for path in EXAMPLE.rglob("*")
        if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts
    )
    assert sorted(pieces) == files, "the doc must quote every file of the example, and no other"
    for name in files:
        quoted = "\n\n".join(pieces[name])
        assert _normalise(quoted) == _normalise((EXAMPLE / name).read_text()), (
            f"docs/adding-an-environment.md quotes {name} differently from {EXAMPLE / name}"
        )


# -- the installed plugin ---------------------------------------------------------------


#: Prints why the venv's setuptools cannot build the example with --no-build-isolation
#: (nothing when it can). Run in the venv: importing setuptools in pytest patches distutils.
SETUPTOOLS_PROBE = """
import importlib.metadata, importlib.util
try:
    version = importlib.metadata.version("setuptools")
except importlib.metadata.PackageNotFoundError:
    print("setuptools is not installed")
else:
    # setuptools has its own bdist_wheel from 70.1; before, it needs the `wheel` package.
    if tuple(map(int, version.split(".")[:2])) < (70, 1) and not importlib.util.find_spec("wheel"):
        print(f"setuptools {version} builds wheels only with the `wheel` package")
"""


def _wheel_by_hand(project: Path, out: Path) -> Path:
    """A wheel of `project` built from its pyproject.toml without any build backend: the
    packages it lists, its metadata and its entry points, as a backend would write them."""
    import tomllib  # Python 3.11+; only this fallback needs it

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    meta = pyproject["project"]
    dist = f"{meta['name'].replace('-', '_')}-{meta['version']}"
    files = {
        path.relative_to(project).as_posix(): path.read_bytes()
        for package in pyproject["tool"]["setuptools"]["packages"]
        for path in sorted((project / package).glob("*.py"))
    }
    groups = meta.get("entry-points", {})
    files[f"{dist}.dist-info/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in groups.items()
    ).encode()
    files[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n".encode()
    )
    files[f"{dist}.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: hotmess-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}\n")
    files[f"{dist}.dist-info/RECORD"] = ("".join(record) + f"{dist}.dist-info/RECORD,,\n").encode()
    wheel = out / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv that sees this environment's packages and has the example
    installed. Offline: pip is told not to use any index."""
    root = tmp_path_factory.mktemp("plugin")
    has_pip = importlib.util.find_spec("pip") is not None
    # The venv can run this environment's pip: no need for ensurepip.
    venv.EnvBuilder(system_site_packages=True, with_pip=not has_pip).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    # --system-site-packages reaches the base interpreter's packages only; when the tests
    # run in a venv themselves, its packages (hotmess, gymnasium) come in through a .pth.
    (site_dir,) = (root / "venv" / "lib").glob("python*/site-packages")
    outer = [path for path in site.getsitepackages() if Path(path).is_dir()]
    (site_dir / "_outer_environment.pth").write_text(
        f"import site; list(map(site.addsitedir, {outer!r}))\n"
    )
    # pip builds in the source tree: build a copy, so nothing lands in the checkout.
    project = shutil.copytree(EXAMPLE, root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    probe = subprocess.run([python, "-c", SETUPTOOLS_PROBE], capture_output=True, text=True)
    problem = probe.stdout.strip() or probe.stderr.strip()
    if not problem:
        target = ["--no-build-isolation", str(project)]
    else:
        # Offline there is no backend to fetch: install what it would have built.
        print(f"{problem}: installing a wheel the test builds from pyproject.toml")
        target = [str(_wheel_by_hand(project, root))]
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", *target],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        cwd=root,
    )
    return python


def _run(python: Path, *args: str, timeout: float = 120) -> str:
    """Run `python args...` from the checkout (so it imports this checkout's hotmess)."""
    result = subprocess.run(
        [str(python), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


CHECK_ENV = """
import sys
import gymnasium as gym
from gymnasium.utils.env_checker import check_env
import hotmess  # registers the plugin's envs
env_id, sandbox, horizons = sys.argv[1], sys.argv[2], sys.argv[3]
for horizon in map(int, horizons.split(",")):
    env = gym.make(env_id, horizon=horizon, sandbox=sandbox).unwrapped
    check_env(env, skip_render_check=False)
    env.close()
print("check_env passed")
"""


def test_plugin_is_listed_checked_and_runs(plugin_python: Path) -> None:
    listing = _run(plugin_python, "-m", "hotmess", "envs")
    assert PURE_ID in listing and SANDBOXED_ID in listing
    assert "check_env passed" in _run(plugin_python, "-c", CHECK_ENV, PURE_ID, "none", "1,5,64")
    record = json.loads(
        _run(
            plugin_python, "-m", "hotmess", "run", PURE_ID, "--agent", "oracle", "-H", "5", "--json"
        )
    )
    assert record["env"] == PURE_ID and record["outcome"]["success"]
    assert record["outcome"]["n_actions"] == 6  # H applies and a submit


def test_plugin_sweeps_and_scores(plugin_python: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(
        plugin_python,
        "-m",
        "hotmess",
        "sweep",
        "--env",
        PURE_ID,
        "--agent",
        "noisy:p=0.2",
        "--horizons",
        "1,4",
        "--tasks",
        "3",
        "--samples",
        "3",
        "--out",
        str(out),
        "--quiet",
    )
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2 * 3 * 3
    rows = json.loads(_run(plugin_python, "-m", "hotmess", "score", str(out), "--json"))
    assert {(row["env"], row["horizon"], row["metric"]) for row in rows} == {
        (PURE_ID, 1, "mse"),
        (PURE_ID, 4, "mse"),
    }
    assert all(row["n_tasks"] == 3 and row["infra_errors"] == 0 for row in rows)


@pytest.mark.slow  # a sandbox per reset: check_env resets a dozen times
def test_sandboxed_plugin_is_checked_and_runs(plugin_python: Path, sandbox_kind: str) -> None:
    assert "check_env passed" in _run(
        plugin_python, "-c", CHECK_ENV, SANDBOXED_ID, sandbox_kind, "3"
    )
    record = json.loads(
        _run(
            plugin_python,
            "-m",
            "hotmess",
            "run",
            SANDBOXED_ID,
            "--agent",
            "oracle",
            "-H",
            "3",
            "--sandbox",
            sandbox_kind,
            "--json",
        )
    )
    outcome = record["outcome"]
    assert outcome["infra_error"] is None, outcome["infra_error"]
    assert outcome["kind"] == "tests" and outcome["prediction"] == [True, True, True]
