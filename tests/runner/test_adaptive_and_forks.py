"""Adaptive sampling (--target-ci) and prefix forking (--fork-at/--forks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotmess.errors import ConfigError
from hotmess.runner import SweepConfig, run_sweep
from hotmess.scoring import load_episodes, score_episodes, score_forks
from hotmess.scoring.adaptive import incoherence_ci

KV = "hotmess/KVSum-v0"
PC = "hotmess/PointerChase-v0"


def config(out: Path, **changes) -> SweepConfig:
    base = dict(envs=[KV], agents=["noisy:p=0.3"], horizons=[4], tasks=3, samples=4, out=out)
    return SweepConfig(**{**base, **changes})


def after(out: Path, n: int):
    """A `stop` for run_sweep: true once the store holds n episodes."""

    def stop() -> bool:
        path = out / "episodes.jsonl"
        return path.exists() and len(path.read_bytes().splitlines()) >= n

    return stop


def per_question(out: Path) -> dict[tuple, int]:
    counts: dict[tuple, int] = {}
    for r in load_episodes(out, keep_steps=False):
        if r.get("fork_of") is None:
            q = (r["env"], r["horizon"], r["task_seed"], r["agent"])
            counts[q] = counts.get(q, 0) + 1
    return counts


def test_adaptive_sampling_stops_each_question_by_its_rule(tmp_path):
    out = tmp_path / "run"
    # The oracle never errs (no incoherence to estimate: stops at once); systematic noise
    # errs identically every sample (variance 0: CI [0, 0]); independent noise at p=0.3
    # leaves a wide CI after 4 samples and runs to the cap.
    agents = ["oracle", "noisy:p=0.3,systematic=true", "noisy:p=0.3"]
    result = run_sweep(config(out, agents=agents, target_ci=0.01, max_samples=12))
    counts = per_question(out)
    for (_, _, _, agent), n in counts.items():
        assert n == (12 if agent == "noisy:p=0.3" else 4), (agent, n)
    assert result.rounds == 2
    record = json.loads((out / "adaptive.json").read_text())
    assert record["target_ci"] == 0.01 and record["max_samples"] == 12
    decisions = {(q["agent"], q["decision"]) for q in record["questions"]}
    assert decisions == {
        ("oracle", "ci"),
        ("noisy:p=0.3,systematic=true", "ci"),
        ("noisy:p=0.3", "max_samples"),
    }
    rounds = {r["round"] for r in load_episodes(out, keep_steps=False)}
    assert rounds == {0, 1, 2}


def test_a_loose_target_stops_early_and_the_ci_rule_is_what_stopped_it(tmp_path):
    out = tmp_path / "run"
    run_sweep(config(out, target_ci=0.9, max_samples=40, tasks=4))
    record = json.loads((out / "adaptive.json").read_text())
    for question in record["questions"]:
        if question["decision"] == "ci":
            assert question["width"] <= 0.9
        else:
            assert question["decision"] == "max_samples" and question["samples"] == 40
    counts = per_question(out)
    assert min(counts.values()) >= 4 and max(counts.values()) < 40


def test_adaptive_sweeps_resume_to_the_same_decisions(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    cfg = dict(target_ci=0.2, max_samples=16)
    run_sweep(config(whole, **cfg))
    stopped = run_sweep(config(parts, **cfg), stop=after(parts, 20))
    assert stopped.ran == 20
    run_sweep(config(parts, **cfg), resume=True)
    assert per_question(whole) == per_question(parts)
    assert (
        json.loads((whole / "adaptive.json").read_text())["questions"]
        == json.loads((parts / "adaptive.json").read_text())["questions"]
    )


def test_incoherence_ci_narrows_with_samples_and_is_none_without_two():
    def outcomes(n):
        values = [3, 3, 4, 3, 5, 3, 2, 3] * (n // 8)
        return [{"kind": "scalar", "prediction": v, "target": 3} for v in values]

    low8, high8 = incoherence_ci(outcomes(8))
    low64, high64 = incoherence_ci(outcomes(64))
    assert high64 - low64 < high8 - low8
    assert incoherence_ci(outcomes(8)[:1]) is None
    missing = [{"kind": "scalar", "prediction": None, "target": 3}] * 5
    assert incoherence_ci(missing) is None


def test_forks_replay_the_trunk_prefix_and_continue_independently(tmp_path):
    out = tmp_path / "run"
    result = run_sweep(
        config(out, envs=[KV, PC], horizons=[2, 6], tasks=2, samples=3, fork_at=[1, 3], forks=4)
    )
    records = load_episodes(out)
    trunks = {r["key"]: r for r in records if r.get("fork_of") is None and r["sample"] == 0}
    forks = [r for r in records if r.get("fork_of") is not None]
    # KVSum H=2 takes 3 actions, PointerChase H=2 takes 3 (2 hops + answer): too short for t=3.
    long_enough = [(key, t) for key, r in trunks.items() for t in (1, 3) if len(r["steps"]) > t]
    assert len(forks) == 4 * len(long_enough)
    assert result.forks_skipped == len(trunks) * 2 - len(long_enough)
    for fork in forks:
        trunk = trunks[fork["fork_of"]]
        t = fork["fork_at"]
        assert [s["action"] for s in fork["steps"][:t]] == [s["action"] for s in trunk["steps"][:t]]
        assert all(s["replayed"] for s in fork["steps"][:t])
        assert not any(s["replayed"] for s in fork["steps"][t:])
        assert fork["task_seed"] == trunk["task_seed"] and fork["horizon"] == trunk["horizon"]
    # Continuations differ: at p=0.3 the four forks of a long trunk do not all agree.
    h6 = [f for f in forks if f["horizon"] == 6 and f["fork_at"] == 1]
    by_trunk: dict[str, set] = {}
    for fork in h6:
        by_trunk.setdefault(fork["fork_of"], set()).add(json.dumps(fork["outcome"]["prediction"]))
    assert any(len(predictions) > 1 for predictions in by_trunk.values())


def test_forks_are_scored_apart_from_the_sweep(tmp_path):
    out = tmp_path / "run"
    run_sweep(config(out, horizons=[6], fork_at=[2, 5], forks=5))
    episodes = load_episodes(out, keep_steps=False)
    plain = score_episodes(episodes)
    assert [row.n_samples for row in plain] == [3 * 4]  # forks left out
    tables = score_forks(episodes)
    assert sorted(tables) == [2, 5]
    for rows in tables.values():
        assert rows[0].n_tasks == 3 and rows[0].n_samples == 15  # trunks x forks


def test_systematic_forks_have_no_variance(tmp_path):
    out = tmp_path / "run"
    run_sweep(config(out, agents=["noisy:p=0.3,systematic=true"], horizons=[6], fork_at=[2]))
    rows = score_forks(load_episodes(out, keep_steps=False))[2]
    assert rows[0].variance == 0.0


def test_an_agent_that_cannot_fork_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    with pytest.raises(ConfigError, match="cannot be forked"):
        run_sweep(config(tmp_path / "run", agents=["metered:MeteredAgent"], fork_at=[1]))
    assert not (tmp_path / "run").exists()


def test_fork_keys_are_distinct_and_resume_runs_only_missing_forks(tmp_path):
    out = tmp_path / "run"
    cfg = dict(horizons=[6], fork_at=[2], forks=3)
    first = run_sweep(config(out, **cfg), stop=after(out, 15))
    assert first.ran == 15  # 12 samples, then 3 of the 9 forks
    second = run_sweep(config(out, **cfg), resume=True)
    assert second.ran == 6
    keys = [r["key"] for r in load_episodes(out, keep_steps=False)]
    assert len(keys) == len(set(keys)) == 12 + 9


def test_cli_flags_reach_the_sweep(tmp_path):
    from typer.testing import CliRunner

    from hotmess.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "-e",
            KV,
            "-a",
            "noisy:p=0.3",
            "--horizons",
            "4",
            "--tasks",
            "2",
            "--samples",
            "3",
            "--out",
            str(out),
            "--target-ci",
            "0.05",
            "--max-samples",
            "6",
            "--fork-at",
            "1,2",
            "--forks",
            "2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "sweep.json").read_text())["config"]
    assert meta["target_ci"] == 0.05 and meta["fork_at"] == [1, 2] and meta["forks"] == 2
    assert "adaptive round" in result.output
    scored = CliRunner().invoke(app, ["score", str(out), "--forks", "--json"])
    assert scored.exit_code == 0
    assert {row["fork_at"] for row in json.loads(scored.output)} == {1, 2}
