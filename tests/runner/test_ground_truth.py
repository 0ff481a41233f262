"""Sweeps of agents with known error structure score as they must."""

from __future__ import annotations

import numpy as np

from hotmess.runner import SweepConfig, run_sweep
from hotmess.scoring import score_run


def test_known_agents_score_as_their_construction_says(tmp_path):
    out = tmp_path / "run"
    horizons = [1, 2, 4, 8, 16]
    run_sweep(
        SweepConfig(
            envs=["hotmess/KVSum-v0", "hotmess/PointerChase-v0"],
            agents=["oracle", "noisy:p=0.1", "noisy:p=0.1,systematic=true"],
            horizons=horizons,
            tasks=12,
            samples=25,
            out=out,
            workers=2,
        )
    )
    rows = {(r.env.split("/")[1], r.agent, r.horizon, r.metric): r for r in score_run(out)}
    for h in horizons:
        oracle = rows["KVSum-v0", "oracle", h, "mse"]
        assert oracle.success_rate == 1.0 and oracle.error == 0.0 and oracle.incoherence is None
        for env, metric in (
            ("KVSum-v0", "mse"),
            ("PointerChase-v0", "kl"),
            ("PointerChase-v0", "brier"),
        ):
            systematic = rows[env, "noisy:p=0.1,systematic=true", h, metric]
            assert systematic.variance == 0.0
            assert systematic.incoherence in (0.0, None)  # None only if no task erred at all
        noisy = rows["KVSum-v0", "noisy:p=0.1", h, "mse"]
        n = noisy.n_samples
        expected = 0.9**h
        assert (
            abs(noisy.success_rate - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 0.01
        )
        assert noisy.variance > 0 and noisy.incoherence > 0.5
    for metric in ("kl", "brier", "zero_one"):
        assert rows["PointerChase-v0", "oracle", 16, metric].error < 1e-9
