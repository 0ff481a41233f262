"""API faults classified: a wrong base_url stops a sweep with exit 2 before it stores
anything; a full context window truncates an episode; `run` exits non-zero when censored."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hotmess.cli import main

HERE = Path(__file__).parent


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "base_url",
    [f"http://127.0.0.1:{closed_port()}/v1", "http://no-such-host.invalid/v1"],
    ids=["refused", "unresolvable"],
)
def test_a_wrong_base_url_exits_2_and_leaves_no_run_directory(
    base_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["sweep", "-e", "hotmess/KVSum-v0", "-a", f"openai:m,base_url={base_url},max_retries=5"]
    argv += ["--horizons", "2", "--tasks", "20", "--samples", "2", "-o", str(out), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hotmess: error: ") and "nothing answers at" in err
    assert len(err.splitlines()) == 1
    assert not out.exists()  # the same command can run again once the URL is fixed
    assert main(argv) == 2


def test_run_exits_non_zero_on_an_infrastructure_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    argv = ["run", "hotmess/KVSum-v0", "-H", "2", "-a", f"adversary:Flaky,up={tmp_path / 'up'}"]
    assert main(argv) == 4
    (tmp_path / "up").touch()
    assert main(argv) == 0


def test_envs_load_as_module_class_and_the_cli_has_the_usual_habits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hotmess import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hotmess {__version__}"
    for command in ("run", "sweep", "score", "janitor", "envs"):
        assert main([command, "-h"]) == 0
        assert "Usage" in capsys.readouterr().out
    assert main(["run", "hotmess.envs.kvsum:KVSumEnv", "-H", "2", "--json"]) == 0
    assert '"success": true' in capsys.readouterr().out
    assert main(["run", "os:path", "-H", "2"]) == 2


def test_sweep_resume_is_a_boolean_flag_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "-h"]) == 0
    help_text = capsys.readouterr().out
    assert "--no-resume" in help_text and "--no-retry-censored" in help_text
