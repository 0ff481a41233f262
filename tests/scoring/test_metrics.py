"""The metric registry: the built-in declarations, and metrics registered from outside the
package (this module, an entry point) reaching score rows, statistics, the CLI and reports."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from hotmess.cli import app
from hotmess.errors import ConfigError
from hotmess.report import format_value
from hotmess.runner import SweepConfig, run_sweep
from hotmess.scoring import (
    Decomposition,
    Metric,
    ScoreRow,
    all_metrics,
    by_actions,
    cell_stats,
    get_metric,
    headline_metric,
    kl_decomposition,
    load_episodes,
    load_light,
    metrics_for,
    mse_decomposition,
    register_metric,
    score_episodes,
    trend_fits,
    unregister_metric,
)
from hotmess.scoring.decompositions import kl_error_floor
from hotmess.scoring.metrics import registry


def abs_error_decomposition(predictions: npt.ArrayLike, targets: npt.ArrayLike) -> Decomposition:
    """Absolute loss, Domingos-style: main prediction m = the median of the samples;
    bias = |m − t|, variance = mean |y − m|, error = mean |y − t| (not bias + variance)."""
    y = np.asarray(predictions, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    main = np.median(y, axis=1)
    return Decomposition(
        np.abs(main - t),
        np.abs(y - main[:, None]).mean(axis=1),
        np.abs(y - t[:, None]).mean(axis=1),
    )


ABS_ERROR = Metric(
    name="abs_error",
    outcome_kind="scalar",
    decompose=abs_error_decomposition,
    has_incoherence=False,
    headline=False,
    unit="answer units",
    description="bias = |median − t|, variance = mean |y − median|, error = mean |y − t|",
)


@pytest.fixture
def abs_error() -> Iterator[Metric]:
    register_metric(ABS_ERROR)
    yield ABS_ERROR
    unregister_metric("abs_error")


@pytest.fixture
def copies() -> Iterator[tuple[Metric, Metric]]:
    """`mse` and `kl` again under other names, through wrappers: the same numbers, but not
    the built-in declarations, so nothing can treat them as built-ins."""
    mse_copy = replace(
        get_metric("mse"),
        name="mse_copy",
        headline=False,
        decompose=lambda p, t: mse_decomposition(p, t),
    )
    kl_copy = replace(
        get_metric("kl"),
        name="kl_copy",
        headline=False,
        decompose=lambda p, t: kl_decomposition(p, t),
    )
    register_metric(mse_copy)
    register_metric(kl_copy)
    yield mse_copy, kl_copy
    unregister_metric("mse_copy")
    unregister_metric("kl_copy")


def episode(seed: int, prediction: float | None, target: float, sample: int) -> dict[str, Any]:
    return {
        "key": f"cell-{seed}",
        "env": "hotmess/KVSum-v0",
        "agent": "noisy:p=0.1",
        "horizon": 4,
        "task_seed": seed,
        "sample": sample,
        "outcome": {
            "kind": "scalar",
            "success": prediction == target,
            "truncated": False,
            "infra_error": None,
            "prediction": prediction,
            "target": target,
        },
    }


def scalar_episodes() -> list[dict[str, Any]]:
    return [
        # seed 0: 1, 3 and 2 around target 2 → median 2: bias 0, variance 2/3, error 2/3.
        episode(0, 1.0, 2.0, 0),
        episode(0, 3.0, 2.0, 1),
        episode(0, 2.0, 2.0, 2),
        # seed 1: 4, 4 against 1 (and a missing answer) → bias 3, variance 0, error 3.
        episode(1, 4.0, 1.0, 0),
        episode(1, None, 1.0, 1),
        episode(1, 4.0, 1.0, 2),
    ]


@pytest.fixture(scope="module")
def kvsum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kvsum") / "r"
    config = SweepConfig(
        out=out,
        sandbox="none",
        envs=["hotmess/KVSum-v0"],
        agents=["noisy:p=0.2"],
        horizons=[2, 4, 8],
        tasks=4,
        samples=5,
    )
    run_sweep(config)
    return out


@pytest.fixture(scope="module")
def chase(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chase") / "r"
    config = SweepConfig(
        out=out,
        sandbox="none",
        envs=["hotmess/PointerChase-v0"],
        agents=["oracle", "noisy:p=0.2"],
        horizons=[2, 4],
        tasks=4,
        samples=5,
    )
    run_sweep(config)
    return out


# --------------------------------------------------------------------------- the built-ins


def test_builtin_metrics_by_kind_in_row_order() -> None:
    names = {kind: [m.name for m in metrics_for(kind)] for kind in registry.OUTCOME_KINDS}
    assert names == {
        "scalar": ["mse"],
        "categorical": ["kl", "brier", "zero_one"],
        "tests": ["coverage"],
    }
    assert [headline_metric(kind).name for kind in registry.OUTCOME_KINDS] == [
        "mse",
        "kl",
        "coverage",
    ]
    assert [m.name for m in all_metrics()] == ["mse", "kl", "brier", "zero_one", "coverage"]


def test_builtin_declarations() -> None:
    units = {m.name: m.unit for m in all_metrics()}
    assert units == {
        "mse": "squared answer units",
        "kl": "nats",
        "brier": "squared probability",
        "zero_one": "share of samples",
        "coverage": "squared pass rate",
    }
    assert [m.name for m in all_metrics() if not m.has_incoherence] == ["zero_one"]
    assert [m.name for m in all_metrics() if m.error_floor is not None] == ["kl"]
    floor = get_metric("kl").error_floor
    assert floor is not None and floor(4) == kl_error_floor(4)
    passes = np.array([[[1.0, 0.0], [1.0, 1.0]]])  # one question, two samples, two tests
    assert np.asarray(get_metric("coverage").decompose(passes, np.zeros(1)).error)[0] == 0.25


def test_an_unknown_metric_is_a_config_error_naming_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"no metric is called 'nope'.*brier, coverage, kl"):
        get_metric("nope")


def test_registration_refuses_clashes_and_bad_declarations(abs_error: Metric) -> None:
    assert register_metric(abs_error) is abs_error  # the same declaration again: no-op
    with pytest.raises(ValueError, match="already registered"):
        register_metric(replace(abs_error, unit="other"))
    with pytest.raises(ValueError, match="already have a headline metric \\('mse'\\)"):
        register_metric(replace(abs_error, name="abs2", headline=True))
    with pytest.raises(ValueError, match="outcome kind 'text'"):
        replace(abs_error, outcome_kind="text")
    with pytest.raises(ValueError, match="must be an identifier"):
        replace(abs_error, name="abs error")
    assert "abs2" not in {m.name for m in all_metrics()}


# --------------------------------------------------------------------------- a new metric


def test_a_registered_metric_gets_rows_after_the_headline(abs_error: Metric) -> None:
    rows = score_episodes(scalar_episodes())
    assert [row.metric for row in rows] == ["mse", "abs_error"]
    row = rows[1]
    assert (row.n_tasks, row.n_samples, row.missing) == (2, 5, 1)
    assert row.bias == pytest.approx(1.5)
    assert row.variance == pytest.approx(1 / 3)
    assert row.error == pytest.approx(11 / 6)
    assert row.incoherence is None  # declared without incoherence
    unregister_metric("abs_error")
    try:
        assert score_episodes(scalar_episodes()) == rows[:1]  # mse is untouched by it
    finally:
        register_metric(abs_error)


def test_a_registered_metric_reaches_the_statistics(abs_error: Metric, kvsum: Path) -> None:
    light = load_light(kvsum)
    rows = score_episodes(load_episodes(kvsum, keep_steps=False))
    for resample_samples in (False, True):
        stats = cell_stats(light, n_boot=50, resample_samples=resample_samples)
        assert [(s.horizon, s.metric) for s in stats] == [(r.horizon, r.metric) for r in rows]
        mine = [s for s in stats if s.metric == "abs_error"]
        assert len(mine) == 3 and all(s.incoherence_ci is None for s in mine)
        assert all(s.bias_ci[0] <= s.bias <= s.bias_ci[1] for s in mine if s.bias > 0)
    trends = trend_fits(light, n_boot=20)
    assert {t.quantity for t in trends if t.metric == "abs_error"} <= {"bias", "variance", "error"}
    halves = [g for g in by_actions(light) if g.metric == "abs_error"]
    assert halves and all(g.incoherence is None for g in halves)


def test_copies_of_builtins_give_the_builtins_numbers(
    copies: tuple[Metric, Metric], kvsum: Path, chase: Path
) -> None:
    """Decomposed by the registry's generic path, a copy of `mse` or `kl` must reproduce the
    built-in's rows, error floor and undefined incoherence included, and its two-stage
    intervals (from resampled samples, not feature means) on the same random draws."""
    for run, original, copy in ((kvsum, "mse", "mse_copy"), (chase, "kl", "kl_copy")):
        light = load_light(run)
        rows = score_episodes(load_episodes(run, keep_steps=False))
        for a, b in zip(_only(rows, original), _only(rows, copy), strict=True):
            assert replace(a, metric=copy) == b
        if original == "kl":  # the oracle: error at the floor, so no incoherence
            assert any(r.agent == "oracle" and r.incoherence is None for r in _only(rows, copy))
        for resample_samples in (False, True):
            stats = cell_stats(light, n_boot=40, resample_samples=resample_samples)
            for a, b in zip(_only(stats, original), _only(stats, copy), strict=True):
                for name in ("bias_ci", "variance_ci", "error_ci", "incoherence_ci"):
                    np.testing.assert_allclose(
                        np.asarray(getattr(a, name), dtype=float),
                        np.asarray(getattr(b, name), dtype=float),
                        rtol=1e-9,
                        atol=1e-12,
                    )
        slopes = {(t.metric, t.agent, t.quantity): t.slope for t in trend_fits(light, n_boot=20)}
        theirs = {key[1:]: slope for key, slope in slopes.items() if key[0] == original}
        mine = {key[1:]: slope for key, slope in slopes.items() if key[0] == copy}
        assert theirs and mine.keys() == theirs.keys()
        assert all(mine[key] == pytest.approx(theirs[key]) for key in theirs)


def _only(rows: list[Any], metric: str) -> list[Any]:
    return [row for row in rows if row.metric == metric]


def test_hotmess_score_shows_a_registered_metric(abs_error: Metric, kvsum: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(kvsum), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["metric"] for row in rows] == ["mse", "abs_error"] * 3
    assert all(set(row) == {f.name for f in fields(ScoreRow)} for row in rows)
    expected = [r.to_dict() for r in score_episodes(load_episodes(kvsum, keep_steps=False))]
    assert rows == expected
    table = runner.invoke(app, ["score", str(kvsum)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    lines = [line for line in table.stdout.splitlines() if "abs_error" in line]
    assert len(lines) == 3


def test_hotmess_report_shows_a_registered_metric(
    abs_error: Metric, kvsum: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    args = ["report", str(kvsum), "--out", str(out), "--bootstrap", "20", "--transcripts", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert page.count("<td>abs_error</td>") == 3  # one summary row per horizon


# --------------------------------------------------------------------------- entry points


PLUGIN = """
import numpy as np
from hotmess.scoring import Decomposition, Metric, register_metric

def _spread(predictions, targets):
    y = np.asarray(predictions, dtype=float)
    zero = np.zeros(len(y))
    return Decomposition(zero, y.std(axis=1), y.std(axis=1))

register_metric(Metric(
    name="spread", outcome_kind="scalar", decompose=_spread, has_incoherence=True,
    headline=False, unit="answer units", description="variance = error = the samples' spread",
))
"""


@pytest.fixture
def plugin_path(tmp_path: Path) -> Iterator[Path]:
    """A directory holding a plugin module and the dist-info that declares its entry point,
    as an installed distribution would."""
    (tmp_path / "spread_metric.py").write_text(PLUGIN)
    info = tmp_path / "spread_metric-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spread-metric\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[hotmess.metrics]\nspread = spread_metric\n")
    yield tmp_path
    sys.modules.pop("spread_metric", None)


def test_an_entry_point_registers_its_metrics(
    plugin_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugin_path))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    try:
        assert get_metric("spread").unit == "answer units"
        assert [m.name for m in metrics_for("scalar")] == ["mse", "spread"]
    finally:
        if "spread" in {m.name for m in all_metrics()}:
            unregister_metric("spread")


def test_hotmess_score_in_a_fresh_process_finds_an_entry_point_metric(
    plugin_path: Path, kvsum: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-m", "hotmess", "score", str(kvsum), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["metric"] for row in rows] == ["mse", "spread"] * 3


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (None, 3, "-"),
        (math.nan, 3, "-"),
        (math.inf, 3, "∞"),
        (-math.inf, 3, "−∞"),
        (0.0, 3, "0"),
        (0.123456, 3, "0.123"),
        (0.123456, 2, "0.12"),
        (1234.5, 3, "1.23e+03"),
        (123456.0, 3, "1.23e+05"),
        (0.0001234, 3, "1.23e-04"),
        (7, 3, "7"),
        ("kl", 3, "kl"),
        (np.float64(0.5), 3, "0.5"),
    ],
)
def test_format_value(value: Any, digits: int, text: str) -> None:
    assert format_value(value, digits) == text


def test_the_example_in_the_docs_is_this_modules_metric() -> None:
    """docs/scoring.md's `abs_error` file, run as is, scores as `ABS_ERROR` above."""
    docs = (Path(__file__).parents[2] / "docs" / "scoring.md").read_text()
    section = docs[docs.index("## Adding a metric") :]
    example = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    exec(compile(example, "docs/scoring.md", "exec"), {})
    try:
        documented = score_episodes(scalar_episodes())
    finally:
        unregister_metric("abs_error")
    register_metric(ABS_ERROR)
    try:
        assert score_episodes(scalar_episodes()) == documented
        assert [row.metric for row in documented] == ["mse", "abs_error"]
    finally:
        unregister_metric("abs_error")
