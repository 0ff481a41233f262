"""Sweeps and the run store: expansion, atomic appends, exact resume, config checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotmess.errors import ConfigError, StoreError, UnknownEnvError
from hotmess.runner import SweepConfig, expand, run_sweep

ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]


def config(out: Path, **changes) -> SweepConfig:
    base = dict(
        envs=ENVS, agents=["noisy:p=0.2", "oracle"], horizons=[1, 3], tasks=3, samples=2, out=out
    )
    return SweepConfig(**{**base, **changes})


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]


def comparable(records: list[dict]) -> dict[str, tuple]:
    return {
        r["key"]: (json.dumps(r["outcome"], sort_keys=True), [s["action"] for s in r["steps"]])
        for r in records
    }


def test_sweep_writes_one_line_per_cell(tmp_path):
    out = tmp_path / "run"
    result = run_sweep(config(out))
    records = lines(out)
    assert result.total == result.ran == len(records) == 2 * 2 * 3 * 2 * 2
    assert len({r["key"] for r in records}) == len(records)
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["config"]["horizons"] == [1, 3] and meta["config"]["agents"] == [
        "noisy:p=0.2",
        "oracle",
    ]
    assert {"hotmess", "python", "gymnasium", "numpy"} <= set(meta["versions"])
    first = records[0]
    assert {
        "key",
        "env",
        "horizon",
        "task_seed",
        "sample",
        "agent",
        "agent_seed",
        "outcome",
        "steps",
    } <= set(first)
    assert first["steps"][0]["latency_s"] >= 0 and "observation" in first["steps"][0]


def test_tasks_are_shared_across_horizons_and_agents(tmp_path):
    cells = expand(config(tmp_path / "x"))
    groups: dict[tuple, set[int]] = {}
    for c in cells:
        groups.setdefault((c.env, c.horizon, c.agent), set()).add(c.task_seed)
    assert len(groups) == 8 and len({frozenset(seeds) for seeds in groups.values()}) == 1
    assert len(next(iter(groups.values()))) == 3


def test_resume_runs_exactly_the_missing_cells_and_matches_an_uninterrupted_run(tmp_path):
    full = tmp_path / "full"
    run_sweep(config(full))
    partial = tmp_path / "partial"
    run_sweep(config(partial))
    kept = (partial / "episodes.jsonl").read_text().splitlines(keepends=True)
    # Drop a third of the episodes and tear the last kept line, as a kill -9 mid-write would.
    torn = "".join(kept[::3][:-1]) + kept[::3][-1][: len(kept[::3][-1]) // 2]
    (partial / "episodes.jsonl").write_text(torn)
    with pytest.warns(UserWarning, match="torn last line"):
        result = run_sweep(config(partial), resume=True)
    assert result.skipped == len(kept[::3]) - 1
    assert result.ran == result.total - result.skipped
    assert comparable(lines(partial)) == comparable(lines(full))
    again = run_sweep(config(partial), resume=True)
    assert again.ran == 0


def test_resume_refuses_a_changed_config_naming_the_difference(tmp_path):
    out = tmp_path / "run"
    run_sweep(config(out))
    with pytest.raises(StoreError, match=r"samples: 2 -> 5"):
        run_sweep(config(out, samples=5), resume=True)
    with pytest.raises(StoreError, match=r"pass --resume"):
        run_sweep(config(out))


def test_workers_do_not_change_results(tmp_path):
    run_sweep(config(tmp_path / "serial"))
    run_sweep(config(tmp_path / "pool", workers=2))
    assert comparable(lines(tmp_path / "pool")) == comparable(lines(tmp_path / "serial"))


def test_store_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a hotmess run directory"):
        run_sweep(config(tmp_path))


def test_validation_happens_before_anything_runs(tmp_path):
    with pytest.raises(UnknownEnvError):
        run_sweep(config(tmp_path / "a", envs=["hotmess/Nope-v0"]))
    with pytest.raises(ConfigError, match="unknown option"):
        run_sweep(config(tmp_path / "b", agents=["noisy:z=1"]))
    with pytest.raises(ConfigError, match="env_options names env"):
        run_sweep(config(tmp_path / "c", env_options={"hotmess/Other-v0": {}}))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_env_options_reach_the_env_and_the_key(tmp_path):
    out = tmp_path / "run"
    run_sweep(
        config(
            out,
            envs=["hotmess/PointerChase-v0"],
            env_options={"hotmess/PointerChase-v0": {"n_colours": 6}},
        )
    )
    records = lines(out)
    assert all(len(r["outcome"]["choices"]) == 6 for r in records)
    other = expand(config(out, envs=["hotmess/PointerChase-v0"]))
    assert not {r["key"] for r in records} & {c.key for c in other}


def test_yaml_config_with_overrides(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "envs: [hotmess/KVSum-v0]\nagents: [oracle]\nhorizons: [4, 1, 4]\ntasks: 2\nsamples: 3\n"
    )
    loaded = SweepConfig.from_yaml(path, samples=5, out=tmp_path / "o", workers=None)
    assert loaded.horizons == [1, 4] and loaded.samples == 5 and loaded.tasks == 2
    path.write_text("envs: [hotmess/KVSum-v0]\nagents: [oracle]\nhorizons: [0]\ntaskz: 2\n")
    with pytest.raises(
        ConfigError, match=r"horizons: Value error, horizons must be positive.*taskz: Extra inputs"
    ):
        SweepConfig.from_yaml(path)
    path.write_text("envs: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        SweepConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="cannot read config file"):
        SweepConfig.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.bwrap
def test_a_sandboxed_sweep_uses_and_records_the_chosen_backend(tmp_path, bwrap_ready):
    out = tmp_path / "run"
    sweep = SweepConfig(
        envs=["hotmess/FileChain-v0", "hotmess/KVSum-v0"],
        agents=["oracle"],
        horizons=[2],
        tasks=2,
        samples=1,
        sandbox="bwrap",
        sandbox_options={"memory_mb": 300},
        out=out,
    )
    run_sweep(sweep)
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["execution"]["sandbox"] == "bwrap"
    assert meta["config"]["sandbox_options"] == {"memory_mb": 300}
    kinds = {(r["env"], r["sandbox"]) for r in lines(out)}
    assert kinds == {("hotmess/FileChain-v0", "bwrap"), ("hotmess/KVSum-v0", "none")}
    assert all(r["outcome"]["success"] for r in lines(out))


def test_a_store_killed_while_being_created_can_be_resumed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "sweep.json.tmp").write_text('{"config": ')  # killed before the rename
    config = SweepConfig(envs=["hotmess/KVSum-v0"], agents=["oracle"], horizons=[1], out=out)
    assert run_sweep(config, resume=True).ran == 10 * 10
    assert (out / "sweep.json").exists()


def test_cell_keys_carry_the_version_of_the_env_code():
    from hotmess import __version__
    from hotmess.runner.cells import cell_key, env_code_version

    assert env_code_version("hotmess/KVSum-v0") == f"hotmess=={__version__}"
    a = cell_key("hotmess/KVSum-v0", {}, 4, 1, 0, "oracle")
    assert a == cell_key("hotmess/KVSum-v0", {}, 4, 1, 0, "oracle")
    assert a != cell_key("hotmess/KVSum-v0", {}, 4, 1, 1, "oracle")
    assert a != cell_key("hotmess/KVSum-v0", {}, 4, 1, 0, "noisy:p=0.1")
