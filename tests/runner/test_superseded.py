"""A censored episode that `--resume` ran again is superseded for every reader of the run:
the store's one reader leaves the old line out, so score, export, the report (its runs and
transcripts), compare, adaptive sampling and resume itself all see one episode per cell."""

from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path

import pytest

from hotmess.cli import main
from hotmess.report.runs import load_runs
from hotmess.report.transcripts import read_transcripts
from hotmess.runner import SweepConfig, run_sweep
from hotmess.store import RunStore, iter_episodes, iter_records, load_episodes, load_light
from hotmess.store.reader import episodes_path

HERE = Path(__file__).parent


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def sweep(out: Path, up: Path) -> SweepConfig:
    return SweepConfig(
        envs=["hotmess/KVSum-v0"],
        agents=[f"adversary:Flaky,up={up}"],
        horizons=[2],
        tasks=3,
        samples=2,
        out=out,
    )


def lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in episodes_path(run).read_text().splitlines()]


def score_json(run: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["score", str(run), "--json"]) == 0
    (row,) = [r for r in json.loads(capsys.readouterr().out) if r["metric"] == "mse"]
    return row


def test_every_reader_sees_a_resumed_censored_episode_once(
    plugins: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, up = tmp_path / "run", tmp_path / "api-up"
    assert run_sweep(sweep(run, up)).infra_errors == 6
    # Resumed while the API is still down: censored again, the later line stands.
    assert run_sweep(sweep(run, up), resume=True).infra_errors == 6
    assert len(lines(run)) == 12 and len(load_episodes(run)) == 6
    assert score_json(run, capsys)["infra_errors"] == 6
    up.touch()
    assert run_sweep(sweep(run, up), resume=True).ran == 6
    on_disk = lines(run)
    assert len(on_disk) == 18  # the old lines stay: the store only appends
    assert sum(r["outcome"]["infra_error"] is None for r in on_disk) == 6

    keys = {r["key"] for r in on_disk}
    # The store's reader, in every mode.
    for episodes in (load_episodes(run), list(iter_records(run)), load_light(run)):
        seen = [e["key"] if isinstance(e, dict) else e.key for e in episodes]
        assert sorted(seen) == sorted(keys)
    one = sorted(keys)[0]
    (record,) = iter_episodes(run, keys=[one])
    assert record["outcome"]["infra_error"] is None
    with RunStore.open_for_sweep(run, sweep(run, up).identity(), {}, resume=True) as store:
        # Resume and adaptive sampling read the store this way.
        assert len(store.episodes()) == 6 and store.done_keys(censored=False) == keys
    # score
    row = score_json(run, capsys)
    assert (row["infra_errors"], row["n_tasks"], row["success_rate"]) == (0, 3, 1.0)
    # export
    assert main(["export", str(run), "--format", "csv", "--out", str(tmp_path / "t")]) == 0
    with (tmp_path / "t" / "episodes.csv").open() as table:
        exported = list(csv.DictReader(table))
    assert sorted(r["key"] for r in exported) == sorted(keys)
    # the report: its runs and the transcripts it shows
    (report_run,) = load_runs([run])
    assert len(report_run.episodes) == 6
    assert all(e.outcome.get("infra_error") is None for e in report_run.episodes)
    shown = [t for ts in read_transcripts([report_run], per_cell=10).values() for t in ts]
    # Both samples of the first task, each once, as rerun.
    assert len(shown) == 2 and len({t.key for t in shown}) == 2
    assert all(t.outcome["infra_error"] is None for t in shown)
    assert main(["report", str(run), "--out", str(tmp_path / "html"), "-b", "20"]) == 0
    # compare reads through load_unforked, as the report does
    assert main(["compare", str(run), str(run), "-b", "20"]) == 0


def test_superseded_lines_do_not_hide_a_torn_last_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    censored = {"key": "a", "outcome": {"infra_error": "down"}}
    ran = {"key": "a", "outcome": {"infra_error": None}}
    episodes_path(run).write_text(f'{json.dumps(censored)}\n{json.dumps(ran)}\n{{"key": "b')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(iter_episodes(run)) == [ran]
    assert any("torn last line" in str(w.message) for w in caught)
