"""Exporting a run store to parquet and CSV: one row per episode, one row per step."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
from clirun import hotmess

from hotmess.errors import ConfigError, StoreError
from hotmess.runner.config import SweepConfig
from hotmess.runner.export import episodes_frame, export_run, steps_frame
from hotmess.runner.sweep import run_sweep
from hotmess.store import StepRecord, TornLineWarning, load_episodes


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    run_sweep(
        SweepConfig(
            envs=["hotmess/KVSum-v0", "hotmess/PointerChase-v0"],
            agents=["noisy:p=0.2"],
            horizons=[1, 4],
            tasks=2,
            samples=3,
            out=out,
        )
    )
    return out


@pytest.fixture
def copy(run: Path, tmp_path: Path) -> Path:
    """A copy of the run to alter."""
    return Path(shutil.copytree(run, tmp_path / "copy"))


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]


def rewrite(run: Path, episodes: list[dict]) -> None:
    (run / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))


def plain(value):
    """pandas' missing value as None, for comparing with JSON."""
    return None if value is pd.NA else value


def test_one_row_per_episode_and_per_step(run, tmp_path):
    result = export_run(run, tmp_path)
    episodes = records(run)
    n_steps = sum(len(e["steps"]) for e in episodes)
    assert result.paths == (tmp_path / "episodes.parquet", tmp_path / "steps.parquet")
    assert (result.n_episodes, result.n_steps) == (len(episodes), n_steps) == (24, n_steps)
    assert len(pd.read_parquet(result.paths[0])) == len(episodes)
    assert len(pd.read_parquet(result.paths[1])) == n_steps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episodes.parquet", "steps.parquet"]


def test_writes_into_the_run_directory_by_default(copy):
    result = export_run(copy, fmt="csv")
    assert result.paths == (copy / "episodes.csv", copy / "steps.csv")


def test_steps_round_trip(run, tmp_path):
    steps = pd.read_parquet(export_run(run, tmp_path).paths[1])
    for episode in records(run)[::5]:
        mine = steps[steps["key"] == episode["key"]].sort_values("step")
        assert list(mine["step"]) == list(range(len(episode["steps"])))
        read_back = [
            {name: plain(row[name]) for name in StepRecord.model_fields}
            for _, row in mine.iterrows()
        ]
        assert read_back == [StepRecord(**step).model_dump() for step in episode["steps"]]
        for name in ("env", "agent", "horizon", "task_seed", "sample"):
            assert set(mine[name]) == {episode[name]}


def test_episode_columns_flatten_the_record(run, tmp_path):
    table = pd.read_parquet(export_run(run, tmp_path).paths[0]).set_index("key")
    for episode in records(run):
        row = table.loc[episode["key"]]
        outcome = episode["outcome"]
        assert row["outcome_success"] == outcome["success"]
        assert row["outcome_kind"] == outcome["kind"]
        assert row["outcome_n_actions"] == outcome["n_actions"] == row["n_steps"]
        assert json.loads(row["outcome_prediction"]) == outcome["prediction"]
        assert plain(row["outcome_choices"]) == (
            None if outcome["choices"] is None else json.dumps(outcome["choices"])
        )
        assert json.loads(row["env_options"]) == episode["env_options"]
        assert row["tokens_in"] == sum(s["tokens_in"] for s in episode["steps"])
        for name in ("env", "horizon", "task_seed", "task_index", "sample", "agent_seed"):
            assert row[name] == episode[name]
    assert "prompt" not in table and "system_prompt" not in table and "steps" not in table


def test_prompts_only_on_request(run, tmp_path):
    table = pd.read_parquet(export_run(run, tmp_path, prompts=True).paths[0])
    assert list(table["prompt"]) == [e["prompt"] for e in records(run)]
    assert "system_prompt" in table


def test_csv_holds_the_same_data_as_parquet(run, tmp_path):
    parquet = export_run(run, tmp_path / "pq", prompts=True)
    csv = export_run(run, tmp_path / "csv", "csv", prompts=True)
    assert (csv.n_episodes, csv.n_steps) == (parquet.n_episodes, parquet.n_steps)
    for parquet_path, csv_path in zip(parquet.paths, csv.paths, strict=True):
        expected = pq.read_table(parquet_path)
        options = pyarrow.csv.ConvertOptions(
            column_types=expected.schema, strings_can_be_null=True, quoted_strings_can_be_null=False
        )
        read_back = pyarrow.csv.read_csv(csv_path, convert_options=options)
        assert read_back.equals(expected.replace_schema_metadata(None))
    # and plain pandas reads it, with an empty cell as a missing value
    steps = pd.read_csv(csv.paths[1])
    assert len(steps) == csv.n_steps and steps["tool_error"].dtype == bool


def test_steps_are_written_in_batches(run, tmp_path):
    whole = export_run(run, tmp_path / "whole")
    batched = export_run(run, tmp_path / "batched", batch_rows=10)
    assert pq.ParquetFile(batched.paths[1]).metadata.num_row_groups > 1
    assert pq.read_table(batched.paths[1]).equals(pq.read_table(whole.paths[1]))
    assert pd.read_csv(export_run(run, tmp_path / "csv", "csv", batch_rows=10).paths[1]).equals(
        pd.read_csv(export_run(run, tmp_path / "csv1", "csv").paths[1])
    )


def test_a_torn_last_line_is_skipped(copy, run):
    with (copy / "episodes.jsonl").open("a") as handle:
        handle.write('{"key": "abc", "env": "hotmess/KV')
    with pytest.warns(TornLineWarning):
        result = export_run(copy)
    assert result.n_episodes == len(records(run))


def test_a_corrupt_store_leaves_no_tables(copy):
    lines = (copy / "episodes.jsonl").read_text().splitlines()
    lines.insert(3, "{not json")
    (copy / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(StoreError, match="line 4"):
        export_run(copy)
    assert sorted(p.name for p in copy.iterdir()) == ["episodes.jsonl", "sweep.json"]


def test_a_field_of_the_wrong_type_is_a_store_error(copy):
    episodes = records(copy)
    episodes[2]["horizon"] = "four"
    rewrite(copy, episodes)
    with pytest.raises(StoreError, match="'horizon' should hold int"):
        export_run(copy)


def test_fields_no_model_declares_pass_through(copy):
    episodes = records(copy)
    for number, episode in enumerate(episodes):
        episode["judge"] = f"judge-{number}"
        episode["weight"] = 0.5 if number % 2 else 1
        episode["meta"] = {"note": number}
        episode["outcome"]["rubric"] = [number, 1]
        episode["steps"][0]["undeclared"] = "dropped"
    episodes[0]["late"] = True  # only on some records: null on the others
    rewrite(copy, episodes)
    table = pd.read_parquet(export_run(copy).paths[0])
    assert list(table["judge"]) == [e["judge"] for e in episodes]
    assert table["weight"].dtype == "Float64" and table["late"].dtype == "boolean"
    assert list(table["late"].isna()) == [False] + [True] * (len(episodes) - 1)
    assert [json.loads(v) for v in table["meta"]] == [e["meta"] for e in episodes]
    assert json.loads(table["outcome_rubric"][3]) == [3, 1]
    assert "undeclared" not in pd.read_parquet(copy / "steps.parquet")


def test_cost_is_unknown_when_any_step_cost_is(copy):
    episodes = records(copy)
    for step in episodes[0]["steps"]:
        step["cost"] = 0.25
    for step in episodes[1]["steps"]:
        step["cost"] = 0.25
    episodes[1]["steps"][-1]["cost"] = None
    rewrite(copy, episodes)
    table = pd.read_parquet(export_run(copy).paths[0])
    assert table["cost"][0] == 0.25 * len(episodes[0]["steps"])
    assert table["cost"][1] is pd.NA


def test_dtypes_are_stable_and_runs_concatenate(run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "episodes.jsonl").write_text("")
    other = tmp_path / "other"
    run_sweep(
        SweepConfig(
            envs=["hotmess/KVSum-v0"],
            agents=["oracle"],
            horizons=[2],
            tasks=1,
            samples=1,
            out=other,
        )
    )
    exports = [export_run(path, tmp_path / path.name / "t") for path in (run, other, empty)]
    assert exports[2].n_episodes == exports[2].n_steps == 0
    for table in (0, 1):
        frames = [pd.read_parquet(result.paths[table]) for result in exports]
        assert all(frame.dtypes.equals(frames[0].dtypes) for frame in frames)
        assert frames[0]["horizon"].dtype == "Int64" and frames[2]["horizon"].dtype == "Int64"
        together = pd.concat(frames, ignore_index=True)
        assert together.dtypes.equals(frames[0].dtypes)
        assert len(together) == sum(len(frame) for frame in frames)
        arrow = pa.concat_tables([pq.read_table(result.paths[table]) for result in exports])
        assert arrow.num_rows == len(together)


def test_frames_from_records_match_the_files(run, tmp_path):
    result = export_run(run, tmp_path)
    episodes = load_episodes(run)
    pd.testing.assert_frame_equal(episodes_frame(episodes), pd.read_parquet(result.paths[0]))
    pd.testing.assert_frame_equal(steps_frame(episodes), pd.read_parquet(result.paths[1]))
    without_steps = episodes_frame(load_episodes(run, keep_steps=False))
    assert without_steps["n_steps"].isna().all() and without_steps["cost"].isna().all()


def test_a_bad_format_is_a_config_error(run, tmp_path):
    with pytest.raises(ConfigError, match="unknown export format 'xlsx'"):
        export_run(run, tmp_path, "xlsx")


def test_without_the_extra_the_error_names_it(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ConfigError, match=r"pip install 'hotmess\[export\]'"):
        export_run(run, tmp_path)


def test_cli_export(run, tmp_path):
    out = tmp_path / "tables"
    result = hotmess("export", str(run), "--format", "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    n_steps = sum(len(e["steps"]) for e in records(run))
    assert f"{out / 'episodes.csv'}: 24 episodes" in result.stdout
    assert f"{out / 'steps.csv'}: {n_steps} steps" in result.stdout
    assert len(pd.read_csv(out / "steps.csv")) == n_steps
    bad = hotmess("export", str(run), "-f", "xlsx", "-o", str(out))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "hotmess: error: unknown export format 'xlsx': use one of parquet, csv"
    ]
    help_text = hotmess("export", "--help").stdout
    assert "Example" in help_text and "hotmess export" in help_text
