"""The example agent of docs/plugging-in-an-agent.md, plugged in for real: installed into a
temporary venv (on top of this environment's packages), it must be listed by `hotmess
agents` and run, sweep and score under its entry-point name; uninstalled, it must run as
`module:Class` from PYTHONPATH. Also: the doc quotes the package's files exactly."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
import venv
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hotmess-example-agent"
DOC = REPO / "docs" / "plugging-in-an-agent.md"

#: A fenced block that quotes a file of the example: ```python title="path/in/package"
QUOTED_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.M | re.S)


def _normalise(text: str) -> str:
    # A file quoted in pieces is joined by one blank line; ruff puts two between top-level
    # definitions. How many blank lines sit at a seam does not matter.
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
            f"docs/plugging-in-an-agent.md quotes {name} differently from {EXAMPLE / name}"
        )


# -- the installed plugin ---------------------------------------------------------------


def _plugin_example_helpers() -> tuple[str, object]:
    """The env plugin test's setuptools probe and hand-made wheel builder: one recipe for
    installing an example package offline, shared rather than copied."""
    spec = importlib.util.spec_from_file_location(
        "_env_plugin_test", REPO / "tests" / "envs" / "test_plugin_example.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SETUPTOOLS_PROBE, module._wheel_by_hand


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv that sees this environment's packages and has the example
    installed. Offline: pip is told not to use any index."""
    probe_source, wheel_by_hand = _plugin_example_helpers()
    root = tmp_path_factory.mktemp("agent-plugin")
    has_pip = importlib.util.find_spec("pip") is not None
    venv.EnvBuilder(system_site_packages=True, with_pip=not has_pip).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    # --system-site-packages reaches the base interpreter's packages only; when the tests
    # run in a venv themselves, its packages (hotmess, pydantic) come in through a .pth.
    (site_dir,) = (root / "venv" / "lib").glob("python*/site-packages")
    outer = [path for path in site.getsitepackages() if Path(path).is_dir()]
    (site_dir / "_outer_environment.pth").write_text(
        f"import site; list(map(site.addsitedir, {outer!r}))\n"
    )
    # pip builds in the source tree: build a copy, so nothing lands in the checkout.
    project = shutil.copytree(EXAMPLE, root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    probe = subprocess.run([python, "-c", probe_source], capture_output=True, text=True)
    problem = probe.stdout.strip() or probe.stderr.strip()
    if not problem:
        target = ["--no-build-isolation", str(project)]
    else:
        print(f"{problem}: installing a wheel the test builds from pyproject.toml")
        target = [str(wheel_by_hand(project, root))]  # type: ignore[operator]
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", *target],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        cwd=root,
    )
    return python


def _run(python: Path | str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `python args...` from the checkout (so it imports this checkout's hotmess)."""
    result = subprocess.run(
        [str(python), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def test_installed_plugin_is_listed_and_runs(plugin_python: Path) -> None:
    listing = _run(plugin_python, "-m", "hotmess", "agents")
    assert "reader" in listing and "hotmess_example_agent.reader:ReaderAgent" in listing
    record = json.loads(
        _run(
            plugin_python,
            "-m",
            "hotmess",
            "run",
            "hotmess/KVSum-v0",
            "--agent",
            "reader",
            "-H",
            "5",
            "--json",
        )
    )
    assert record["agent"] == "reader" and record["outcome"]["success"]
    assert record["outcome"]["n_actions"] == 6  # 5 lookups and a submit
    assert all(step["cost"] == 0.0 for step in record["steps"])


def test_installed_plugin_sweeps_with_options_and_scores(
    plugin_python: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    _run(
        plugin_python,
        "-m",
        "hotmess",
        "sweep",
        "--env",
        "hotmess/KVSum-v0",
        "--agent",
        "reader",
        "--agent",
        "reader:slip=0.3",
        "--horizons",
        "1,8",
        "--tasks",
        "3",
        "--samples",
        "4",
        "--out",
        str(out),
        "--quiet",
    )
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2 * 2 * 3 * 4
    rows = json.loads(_run(plugin_python, "-m", "hotmess", "score", str(out), "--json"))
    by_agent = {(row["agent"], row["horizon"]): row for row in rows if row["metric"] == "mse"}
    assert by_agent[("reader", 8)]["error"] == 0 and by_agent[("reader", 8)]["success_rate"] == 1
    assert by_agent[("reader:slip=0.3", 8)]["variance"] > 0


def test_a_bad_plugin_option_names_the_options(plugin_python: Path) -> None:
    result = subprocess.run(
        [
            str(plugin_python),
            "-m",
            "hotmess",
            "run",
            "hotmess/KVSum-v0",
            "--agent",
            "reader:slop=1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "unknown option 'slop' (it takes: slip, seed_offset)" in result.stderr


# -- module:Class, nothing installed ----------------------------------------------------


def test_module_class_from_pythonpath(tmp_path: Path) -> None:
    record = json.loads(
        _run(
            sys.executable,
            "-m",
            "hotmess",
            "run",
            "hotmess/KVSum-v0",
            "--agent",
            "hotmess_example_agent.reader:ReaderAgent,slip=0",
            "-H",
            "3",
            "--json",
            env={"PYTHONPATH": str(EXAMPLE)},
        )
    )
    assert record["outcome"]["success"]

    # A class in a lone file: the smallest agent there is (no Config: options are kwargs).
    (tmp_path / "my_agent.py").write_text(
        "import json\n\n\n"
        "class GiveUp:\n"
        "    def __init__(self, answer=0):\n"
        "        self.answer = answer\n\n"
        "    def reset(self, task, seed):\n"
        "        pass\n\n"
        "    def act(self, observation):\n"
        '        return json.dumps({"tool": "submit", "arguments": {"answer": self.answer}})\n'
    )
    record = json.loads(
        _run(
            sys.executable,
            "-m",
            "hotmess",
            "run",
            "hotmess/KVSum-v0",
            "--agent",
            "my_agent:GiveUp,answer=7",
            "--json",
            env={"PYTHONPATH": str(tmp_path)},
        )
    )
    assert record["outcome"]["answer"] == 7 and record["outcome"]["n_actions"] == 1
