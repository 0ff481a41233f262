"""The run store's writer: sweep.json once, whole-line appends, the config check on resume
and the repair of a line torn by a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotmess.errors import StoreError
from hotmess.runner import SweepConfig, run_sweep
from hotmess.store import EPISODES_FILE, SWEEP_FILE, EpisodeRecord, RunStore, load_episodes

IDENTITY = {"envs": ["hotmess/KVSum-v0"], "samples": 2, "sandbox_options": {"memory_mb": 300}}


def record(key: str) -> EpisodeRecord:
    return EpisodeRecord.model_validate(
        {
            "key": key,
            "env": "hotmess/KVSum-v0",
            "horizon": 2,
            "task_seed": 7,
            "agent": "oracle",
            "agent_seed": 1,
            "outcome": {"kind": "scalar", "prediction": 3.0, "target": 3.0, "success": True},
            "steps": [{"action": '{"tool": "submit"}', "observation": "Submitted."}],
            "started_at": 0.0,
            "duration_s": 0.1,
        }
    )


def test_a_new_store_records_its_config_and_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "run"
    with RunStore.open_for_sweep(path, IDENTITY, {"workers": 2}, resume=False) as store:
        store.append(record("a"))
        store.append_line(record("b").model_dump_json())
    meta = json.loads((path / SWEEP_FILE).read_text())
    assert meta["config"] == IDENTITY and meta["execution"] == {"workers": 2}
    assert {"hotmess", "python", "pydantic"} <= set(meta["versions"])
    text = (path / EPISODES_FILE).read_text()
    assert text.count("\n") == 2 and text.endswith("\n")
    reopened = RunStore(path)
    assert [r["key"] for r in reopened.episodes()] == ["a", "b"]
    assert reopened.done_keys() == {"a", "b"} and reopened.read_meta() == meta


def test_reopening_needs_resume_and_the_same_config(tmp_path: Path) -> None:
    path = tmp_path / "run"
    RunStore.open_for_sweep(path, IDENTITY, {}, resume=False).close()
    with pytest.raises(StoreError, match="pass --resume"):
        RunStore.open_for_sweep(path, IDENTITY, {}, resume=False)
    changed = {**IDENTITY, "samples": 5, "sandbox_options": {"memory_mb": 512}}
    with pytest.raises(StoreError, match=r"samples: 2 -> 5; sandbox_options.memory_mb: 300 -> 512"):
        RunStore.open_for_sweep(path, changed, {}, resume=True)
    # Execution settings are not part of the identity: another worker count resumes.
    RunStore.open_for_sweep(path, IDENTITY, {"workers": 8}, resume=True).close()


def test_a_foreign_or_corrupt_directory_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a hotmess run directory"):
        RunStore.open_for_sweep(foreign, IDENTITY, {}, resume=False)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / SWEEP_FILE).write_text('{"config": ')
    with pytest.raises(StoreError, match=r"is corrupt.*cannot be resumed"):
        RunStore.open_for_sweep(corrupt, IDENTITY, {}, resume=True)


@pytest.mark.parametrize(
    "tail",
    [
        b'{"key": "c", "env": "hot',  # killed mid-write
        b'{"key": "c"}',  # whole, but without its newline: the next append would join it
        b'{"key": "c", "env": "\xc3',  # cut inside a character
    ],
)
def test_repair_cuts_a_torn_last_line_and_resume_does_it(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "run"
    with RunStore.open_for_sweep(path, IDENTITY, {}, resume=False) as store:
        store.append(record("a"))
    whole = (path / EPISODES_FILE).read_bytes()
    (path / EPISODES_FILE).write_bytes(whole + tail)
    with pytest.warns(UserWarning, match=f"removed a torn last line \\({len(tail)} bytes\\)"):
        RunStore.open_for_sweep(path, IDENTITY, {}, resume=True).close()
    assert (path / EPISODES_FILE).read_bytes() == whole
    assert RunStore(path).repair() == 0


def test_a_whole_line_that_is_not_json_is_cut_by_repair(tmp_path: Path) -> None:
    path = tmp_path / "run"
    with RunStore.open_for_sweep(path, IDENTITY, {}, resume=False) as store:
        store.append(record("a"))
    whole = (path / EPISODES_FILE).read_bytes()
    (path / EPISODES_FILE).write_bytes(whole + b"{oops\n")
    with pytest.warns(UserWarning, match="torn last line"):
        assert RunStore(path).repair() == len(b"{oops\n")
    assert load_episodes(path) == [json.loads(whole)]


def test_store_append_is_one_line_per_record_and_survives_reopen(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_sweep(
        SweepConfig(
            envs=["hotmess/KVSum-v0"], horizons=[1], tasks=1, samples=1, agents=["oracle"], out=out
        )
    )
    store = RunStore(out)
    assert len(store.episodes()) == 1 and store.repair() == 0
