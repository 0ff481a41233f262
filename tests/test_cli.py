"""One end-to-end test per CLI command, run as a user would: a subprocess."""

from __future__ import annotations

import json

import pytest
from clirun import hotmess

COMMANDS = [
    "envs",
    "agents",
    "run",
    "sweep",
    "score",
    "export",
    "report",
    "compare",
    "demo",
    "janitor",
    "containers build",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = hotmess(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout and f"hotmess {command}" in result.stdout


def test_envs_lists_the_builtin_envs():
    result = hotmess("envs")
    assert result.returncode == 0
    assert (
        "hotmess/KVSum-v0" in result.stdout
        and "hotmess/PointerChase-v0" in result.stdout
        and "categorical" in result.stdout
    )


def test_agents_lists_the_builtin_agents():
    result = hotmess("agents")
    assert result.returncode == 0
    for name in ("oracle", "noisy:p=0.1", "random", "module:Class"):
        assert name in result.stdout


def test_run_prints_a_transcript():
    result = hotmess(
        "run", "hotmess/KVSum-v0", "--agent", "oracle", "--horizon", "3", "--seed", "2"
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.count('"tool": "lookup"') == 3 and "success after 4 actions" in result.stdout
    )
    as_json = json.loads(hotmess("run", "hotmess/PointerChase-v0", "-H", "2", "--json").stdout)
    assert as_json["outcome"]["success"] and len(as_json["steps"]) == 3


def test_sweep_then_score_json(tmp_path):
    out = tmp_path / "run"
    result = hotmess(
        "sweep", "--env", "hotmess/KVSum-v0", "--env", "hotmess/PointerChase-v0", "--agent", "noisy:p=0.1",
        "--agent", "oracle", "--horizons", "1,2,4", "--tasks", "3", "--samples", "4", "--out", str(out), "--workers", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "144 episodes run" in result.stdout
    score = hotmess("score", str(out), "--json")
    assert score.returncode == 0, score.stderr
    rows = json.loads(score.stdout)
    keys = {
        "env",
        "agent",
        "horizon",
        "metric",
        "n_tasks",
        "n_samples",
        "bias",
        "variance",
        "error",
        "incoherence",
        "success_rate",
        "missing",
        "truncated",
    }
    assert rows and all(keys <= set(row) for row in rows)
    assert {row["metric"] for row in rows} == {"mse", "kl", "brier", "zero_one"}
    oracle_kv = [r for r in rows if r["agent"] == "oracle" and r["metric"] == "mse"]
    assert all(
        r["error"] == 0 and r["success_rate"] == 1 and r["incoherence"] is None for r in oracle_kv
    )
    table = hotmess("score", str(out))
    assert table.returncode == 0 and "incoherence" in table.stdout and "KVSum-v0" in table.stdout
    # The corrected estimator keeps every key, adds its name and, for kl, the larger δ.
    fixed = json.loads(hotmess("score", str(out), "--json", "--estimator", "corrected").stdout)
    assert [{k: r[k] for k in ("env", "agent", "horizon", "metric")} for r in fixed] == [
        {k: r[k] for k in ("env", "agent", "horizon", "metric")} for r in rows
    ]
    assert all(keys <= set(r) and r["estimator"] == "corrected" for r in fixed)
    noisy_mse = [
        (r, f)
        for r, f in zip(rows, fixed, strict=True)
        if r["agent"] != "oracle" and r["metric"] == "mse"
    ]
    assert all(f["variance"] == pytest.approx(r["variance"] * 4 / 3) for r, f in noisy_mse)
    kl = [r for r in fixed if r["metric"] == "kl"]
    assert kl and all(r["kl_larger_delta"]["delta"] == 1e-6 for r in kl)
    assert all(isinstance(r["kl_delta_disagrees"], list) for r in kl)
    bad = hotmess("score", str(out), "--estimator", "median")
    assert bad.returncode == 2 and "--estimator must be one of" in bad.stderr + bad.stdout
    resumed = hotmess("sweep", "--config", str(_yaml(tmp_path, out)), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "0 episodes run, 144 already done" in resumed.stdout


def _yaml(tmp_path, out):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"envs: [hotmess/KVSum-v0, hotmess/PointerChase-v0]\nagents: ['noisy:p=0.1', oracle]\nhorizons: [1, 2, 4]\ntasks: 3\nsamples: 4\nout: {out}\n"
    )
    return path


def test_sweep_set_reaches_any_field_and_async_is_threads_with_a_warning(tmp_path):
    out = tmp_path / "run"
    result = hotmess(
        "sweep", "-e", "hotmess/PointerChase-v0", "-a", "oracle", "--horizons", "1", "--tasks", "1",
        "--samples", "1", "-o", str(out), "-q", "--executor", "async",
        "--set", "tasks=2", "--set", "env_options.hotmess/PointerChase-v0.n_colours=6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 episodes run" in result.stdout  # --set wins over --tasks
    assert result.stderr.strip() == (
        "hotmess: warning: executor 'async' is now called 'threads' (it is a thread pool); "
        "'async' still works but will be removed"
    )
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["config"]["env_options"] == {"hotmess/PointerChase-v0": {"n_colours": 6}}
    assert meta["execution"]["executor"] == "threads"


def test_demo_runs_and_prints_the_table(tmp_path):
    # The scripted agent keeps this fast; the built-in local model's demo is tested (slow) in
    # tests/agents/test_local_agent.py.
    result = hotmess("demo", "--agent", "noisy:p=0.1", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert (
        "incoherence" in result.stdout
        and "PointerChase-v0" in result.stdout
        and "KVSum-v0" in result.stdout
    )
    for horizon in ("1", "2", "4", "8", "16"):
        assert f" {horizon} " in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "hotmess/Nope-v0"], "unknown environment 'hotmess/Nope-v0'"),
        (["run", "hotmess/KVSum-v0", "--agent", "wizard"], "unknown agent 'wizard'"),
        (["sweep", "--env", "hotmess/KVSum-v0"], "missing --agent, --horizons, --out"),
        (
            [
                "sweep",
                "--env",
                "hotmess/KVSum-v0",
                "--agent",
                "oracle",
                "--horizons",
                "1,x",
                "--out",
                "o",
            ],
            "--horizons takes comma-separated integers",
        ),
        (["sweep", "--set", "tasks"], "--set takes KEY=VALUE"),
        (
            [
                "sweep",
                "-e",
                "hotmess/KVSum-v0",
                "-a",
                "oracle",
                "--horizons",
                "1",
                "-o",
                "o",
                "--set",
                "nope=1",
                "--tasks",
                "x",
            ],
            "invalid sweep flags: tasks: Input should be a valid integer, unable to parse string "
            "as an integer; nope: Extra inputs are not permitted",
        ),
        (["score", "/nonexistent/run"], "holds no episodes.jsonl"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = hotmess(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bad_config_file_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("envs: [hotmess/KVSum-v0]\nagents: [oracle]\nhorizons: [1]\nsamples: -1\n")
    result = hotmess("sweep", "--config", str(path), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "samples: Input should be greater than or equal to 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    no_out = hotmess("sweep", "--config", str(path))
    assert no_out.returncode == 2
    assert f"missing --out (give it, or set it in {path})" in no_out.stderr


@pytest.mark.docker
def test_containers_build_is_a_no_op_when_the_image_exists(docker_ready):
    result = hotmess("containers", "build")
    assert result.returncode == 0, result.stderr
    assert f"sandbox image: {docker_ready}" in result.stdout


def test_janitor_dry_run_lists_without_removing():
    result = hotmess("janitor", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would remove" in result.stdout
