"""A noisy sweep over every registered env and horizons 1 to 16 completes, and scoring gives
every decomposition that fits each outcome kind."""

from __future__ import annotations

import json

import pytest

from hotmess.envs import env_class, generated_env_ids
from hotmess.runner import SweepConfig, run_sweep
from hotmess.scoring import score_run

METRICS = {"scalar": {"mse"}, "categorical": {"kl", "brier", "zero_one"}, "tests": {"coverage"}}


@pytest.mark.slow
@pytest.mark.bwrap
def test_noisy_sweep_over_all_envs_scores_every_fitting_decomposition(tmp_path, bwrap_ready):
    out = tmp_path / "run"
    envs = generated_env_ids()
    horizons = [1, 2, 4, 8, 16]
    result = run_sweep(
        SweepConfig(
            envs=envs,
            agents=["noisy:p=0.1"],
            horizons=horizons,
            tasks=2,
            samples=2,
            sandbox="bwrap",
            workers=2,
            out=out,
        )
    )
    assert result.ran == len(envs) * len(horizons) * 2 * 2 and result.infra_errors == 0
    rows = score_run(out)
    for env in envs:
        kind = env_class(env).outcome_kind
        for horizon in horizons:
            metrics = {r.metric for r in rows if r.env == env and r.horizon == horizon}
            assert metrics == METRICS[kind], (env, horizon, metrics)
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert {r["sandbox"] for r in records if env_class(r["env"]).needs_sandbox} == {"bwrap"}
