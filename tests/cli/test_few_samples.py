"""Through the command line, as a user: a sweep of an agent that answers once per task
shows incoherence as not estimable (never 0) and warns in score, report and compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import hotmess

OLD_KEYS = {
    "env", "agent", "horizon", "metric", "n_tasks", "n_samples", "bias", "variance", "error",
    "incoherence", "success_rate", "missing", "truncated", "infra_errors",
}  # fmt: skip
"""`hotmess score --json`'s keys before issue 13: every one must stay."""


@pytest.fixture(scope="module")
def once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The noisy agent with one sample per task: one answer per task, nothing to vary."""
    out = tmp_path_factory.mktemp("once") / "run"
    result = hotmess(
        "sweep", "--env", "hotmess/PointerChase-v0", "--agent", "noisy:p=0.3",
        "--horizons", "2,4", "--tasks", "4", "--samples", "1", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def test_score_shows_not_estimable_and_warns(once: Path) -> None:
    as_json = hotmess("score", str(once), "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert rows and all(set(row) >= OLD_KEYS for row in rows)
    for row in rows:
        assert row["n_tasks_estimable"] == 0 and row["n_tasks_few"] == 4 and row["few_samples"]
        assert row["incoherence"] is None  # not 0
        assert set(row["pass_at_k"]) == {"1"} and set(row["pass_hat_k"]) == {"1"}
    assert "warning:" in as_json.stderr and "not estimable" in as_json.stderr
    table = hotmess("score", str(once), "--k", "1")
    assert table.returncode == 0, table.stderr
    assert "n/e" in table.stdout and "pass@1" in table.stdout and "pass^1" in table.stdout
    assert "only 0 of 4 tasks have two or more answered samples" in table.stderr


def test_report_and_compare_warn(once: Path, tmp_path: Path) -> None:
    report = hotmess("report", str(once), "--out", str(tmp_path / "r"), "--bootstrap", "20")
    assert report.returncode == 0, report.stderr
    assert "warning:" in report.stderr and "not estimable" in report.stderr
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "n/e<sup>*</sup>" in page and "pass@1" in page and "≥2 answers" in page
    compare = hotmess("compare", str(once), str(once), "--bootstrap", "20")
    assert compare.returncode == 0, compare.stderr
    assert "warning:" in compare.stderr and "not estimable" in compare.stderr
    assert "n/e → n/e" in compare.stdout
    from hotmess.scoring.compare import compare_runs

    comparisons = compare_runs(once, once, n_boot=20)
    assert comparisons and all(c.quantities["incoherence"].first is None for c in comparisons)


def test_bad_options_name_the_fix(once: Path) -> None:
    for args, message in (
        (["--missing-scalar", "mean"], "--missing-scalar is one of drop, worst"),
        (["--k", "0"], "--k must be at least 1"),
        (["--k", "two"], "--k takes whole numbers"),
    ):
        result = hotmess("score", str(once), *args)
        assert result.returncode == 2 and message in result.stderr + result.stdout
