"""`score`, `report`, `compare` and `export` on imported runs, unchanged: the report's
by-actions figure and its numbers filled from an Inspect agent's tool calls."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The dev extra installs Inspect; in CI (HOTMESS_REQUIRE_SANDBOXES=1) a missing one is an
# import error that fails the run, not a skip.
if os.environ.get("HOTMESS_REQUIRE_SANDBOXES") != "1":
    pytest.importorskip("inspect_ai")

from imported_runs import cli
from inspect_tasks import ARITHMETIC_ANSWERS, arithmetic_log, tool_log

from hotmess.store import iter_records


@pytest.fixture(scope="module")
def tools_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An agent's run with 1 to 9 tool calls per sample, imported."""
    root = tmp_path_factory.mktemp("tools")
    out = root / "run"
    result = cli("import", "inspect", tool_log(root / "logs"), "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def _split(records: list[Any]) -> dict[tuple[int, str], float]:
    """The paper's median split written out: each question's samples sorted by actions
    (ties by sample index), the first half `fewer`, the last `more`, the middle one out;
    the mean actions of each half per horizon."""
    questions: dict[int, list[Any]] = {}
    for record in records:
        questions.setdefault(record.task_seed, []).append(record)
    halves: dict[tuple[int, str], list[int]] = {}
    for samples in questions.values():
        ordered = sorted(samples, key=lambda r: (r.outcome.n_actions, r.sample))
        half = len(ordered) // 2
        horizon = samples[0].horizon
        halves.setdefault((horizon, "fewer"), []).extend(
            r.outcome.n_actions for r in ordered[:half]
        )
        halves.setdefault((horizon, "more"), []).extend(
            r.outcome.n_actions for r in ordered[-half:]
        )
    return {key: float(np.mean(values)) for key, values in halves.items()}


def _table_rows(page: str, summary: str) -> list[list[str]]:
    """The cells of each body row of the folded table whose summary is `summary`."""
    start = page.index(summary)
    block = page[start : page.index("</details>", start)]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", block, re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells:
            rows.append(cells)
    return rows


def test_report_fills_the_by_actions_figure_and_its_numbers(tools_run: Path, tmp_path: Path):
    out = tmp_path / "report"
    result = cli("report", tools_run, "--out", out, "--bootstrap", "50")
    assert result.returncode == 0, result.stderr
    page = (out / "report.html").read_text()
    assert 'id="actions"' in page and (out / "task-mse-actions.png").exists()
    expected = _split(list(iter_records(tools_run)))
    assert {h for h, _ in expected} == {1, 4, 8}
    rows = _table_rows(page, "Median split by actions taken")
    found = {}
    for cells in rows:
        env, horizon, group, mean_actions = cells[0], cells[-9], cells[-7], cells[-6]
        assert env == "task"
        found[(int(horizon), group)] = float(mean_actions)
    assert set(found) == set(expected)
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-2), key
    assert found[(8, "more")] > found[(8, "fewer")]


@pytest.mark.browser
def test_the_report_of_an_imported_run_opens_in_a_browser(
    tools_run: Path, tmp_path: Path, browser: Any
):
    out = tmp_path / "report"
    assert cli("report", tools_run, "--out", out, "--bootstrap", "50").returncode == 0
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((out / "report.html").as_uri())
    widths = page.eval_on_selector_all(
        "img[alt*='actions taken']", "images => images.map(i => i.naturalWidth)"
    )
    page.close()
    assert widths and all(width > 100 for width in widths) and not errors


def test_compare_and_export_read_imported_runs(tools_run: Path, tmp_path: Path):
    worse = {key: ["0"] * 5 for key in ARITHMETIC_ANSWERS}
    runs = []
    for name, answers in (("base", ARITHMETIC_ANSWERS), ("worse", worse)):
        log = arithmetic_log(tmp_path / f"{name}-logs", answers)
        assert cli("import", "inspect", log, "--out", tmp_path / name).returncode == 0
        runs.append(tmp_path / name)
    compared = cli("compare", *runs, "--bootstrap", "50")
    assert compared.returncode == 0, compared.stderr
    assert "task" in compared.stdout and "no counterpart" not in compared.stdout
    scored = cli("score", runs[1])
    assert scored.returncode == 0 and "mse" in scored.stdout
    pd = pytest.importorskip("pandas")
    exported = cli("export", tools_run, "--out", tmp_path / "tables")
    assert exported.returncode == 0, exported.stderr
    episodes = pd.read_parquet(tmp_path / "tables" / "episodes.parquet")
    steps = pd.read_parquet(tmp_path / "tables" / "steps.parquet")
    records = list(iter_records(tools_run))
    assert len(episodes) == len(records) and len(steps) == sum(len(r.steps) for r in records)
    assert set(steps["tool"]) == {"add"}
    assert episodes["tokens_in"].sum() == sum(r.steps[0].tokens_in for r in records)
