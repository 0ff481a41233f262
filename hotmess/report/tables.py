"""The report's tables: the runs, the summary per cell, trends, h50, divergence and the
median split, every cell escaped HTML and every series labelled as in the figures."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from hotmess.report.markup import escape, fmt, table, with_ci
from hotmess.report.runs import ReportRun, Series
from hotmess.report.values import number
from hotmess.scoring.metrics import get_metric

Labels = Mapping[Series, str]

SEPARATION = {
    "all_success": "every episode succeeded (h50 = ∞)",
    "all_failure": "every episode failed (h50 = 0)",
    "separated": "success and failure split by horizon (h50 at the cut)",
}


def runs_section(runs: Sequence[ReportRun]) -> str:
    """Each run: where it is, what it swept and which hotmess wrote it."""
    rows = []
    for run in runs:
        config = run.meta.get("config", {}) if isinstance(run.meta.get("config"), dict) else {}
        versions = (
            run.meta.get("versions", {}) if isinstance(run.meta.get("versions"), dict) else {}
        )
        created = run.meta.get("created_at")
        rows.append(
            [
                escape(run.name),
                escape(run.path),
                escape(len(run.episodes)),
                escape(", ".join(sorted({e.env for e in run.episodes}))),
                escape(", ".join(sorted({e.agent for e in run.episodes}))),
                escape(", ".join(str(h) for h in sorted({e.horizon for e in run.episodes}))),
                escape(config.get("tasks", "–")),
                escape(config.get("samples", "–")),
                escape(versions.get("hotmess", "–")),
                escape(
                    time.strftime("%Y-%m-%d %H:%M", time.gmtime(created)) + " UTC"
                    if isinstance(created, (int, float))
                    else "–"
                ),
            ]
        )
    return "<h2>Runs</h2>" + table(
        [
            "run",
            "directory",
            "episodes",
            "envs",
            "agents",
            "horizons",
            "tasks",
            "samples",
            "hotmess",
            "created",
        ],
        rows,
        left=6,
    )


def _series_cells(run_index: int, agent: str, labels: Labels) -> list[str]:
    """The agent column; with several runs the label names the run too."""
    return [escape(labels.get((run_index, agent), agent))]


NOT_ESTIMABLE = "n/e"
"""Incoherence that too few answered samples leave not estimable."""


def summary_tables(runs: Sequence[ReportRun], labels: Labels) -> str:
    """Every cell's statistics with intervals: headline metrics first, the others folded."""
    ks = sorted({k for run in runs for row in run.rows for k in row.pass_at_k})
    header = [
        "env", "agent", "horizon", "metric", "tasks", "≥2 answers", "samples", "missing",
        "success", *(f"pass@{k}" for k in ks), *(f"pass^{k}" for k in ks), "bias",
        "variance", "error", "incoherence", "forced",
    ]  # fmt: skip
    headline: list[list[str]] = []
    other: list[list[str]] = []
    other_metrics: set[str] = set()
    for index, run in enumerate(runs):
        rows = {(r.env, r.agent, r.horizon, r.metric): r for r in run.rows}
        for c in sorted(run.cells, key=lambda c: (c.env, c.agent, c.metric, c.horizon)):
            row = rows.get((c.env, c.agent, c.horizon, c.metric))
            few = row is not None and row.few_samples
            cells = [
                escape(c.env),
                *_series_cells(index, c.agent, labels),
                escape(c.horizon),
                escape(c.metric),
                escape(c.n_tasks),
                escape(row.n_tasks_estimable if row else "–"),
                escape(c.n_samples),
                escape(row.missing if row else "–"),
                with_ci(c.success_rate, c.success_ci),
                *(escape(fmt(row.pass_at_k.get(k) if row else None)) for k in ks),
                *(escape(fmt(row.pass_hat_k.get(k) if row else None)) for k in ks),
                with_ci(c.bias, c.bias_ci),
                with_ci(c.variance, c.variance_ci),
                with_ci(c.error, c.error_ci),
                f"{NOT_ESTIMABLE}<sup>*</sup>" if few else with_ci(c.incoherence, c.incoherence_ci),
                escape(fmt(c.forced_share)),
            ]
            if get_metric(c.metric).headline:
                headline.append(cells)
            else:
                other.append(cells)
                other_metrics.add(c.metric)
    text = "<h3>Summary (headline metric per env)</h3>" + table(header, headline, left=2)
    if other:
        text += (
            f"<details><summary>Other metrics ({escape(', '.join(sorted(other_metrics)))})</summary>"
            + table(header, other, left=2)
            + "</details>"
        )
    warnings = sample_warnings(runs)
    text += (
        '<p class="lead">missing: episodes without a usable answer (docs/scoring.md, Missing '
        "answers). ≥2 answers: tasks with two answered samples or more, the only ones that "
        "add to incoherence. pass@k / pass^k: the unbiased estimates that at least one / all "
        "of k episodes of a task succeed, averaged over tasks.</p>"
    )
    if warnings:
        text += (
            f'<p class="lead"><sup>*</sup> {NOT_ESTIMABLE}: not estimable, most tasks of the '
            "cell have fewer than two answered samples.</p><ul>"
            + "".join(f"<li>warning: {escape(w)}</li>" for w in warnings)
            + "</ul>"
        )
    return text


def sample_warnings(runs: Sequence[ReportRun]) -> list[str]:
    """One line per cell (of any run) whose incoherence is not estimable from few samples."""
    warnings: list[str] = []
    for run in runs:
        for row in run.rows:
            warning = row.warning
            if warning is not None and warning not in warnings:
                warnings.append(f"{warning} ({run.name})" if len(runs) > 1 else warning)
    return warnings


def trend_table(runs: Sequence[ReportRun], labels: Labels) -> str:
    """The log-log fits of each headline quantity against the horizon."""
    rows = []
    for index, run in enumerate(runs):
        for t in sorted(run.trends, key=lambda t: (t.env, t.agent, t.metric, t.quantity)):
            if not get_metric(t.metric).headline:
                continue
            rows.append(
                [
                    escape(t.env),
                    *_series_cells(index, t.agent, labels),
                    escape(t.metric),
                    escape(t.quantity),
                    with_ci(t.slope, t.slope_ci),
                    escape(fmt(t.intercept)),
                    escape(fmt(t.r2)),
                    escape(t.n_horizons),
                ]
            )
    return (
        "<h3>Trends: log-log fits against horizon</h3>"
        '<p class="lead">ln(quantity) = intercept + slope · ln H, least squares over the '
        "horizons, each weighted by its precision (1 / bootstrap variance of its log value); "
        "a slope of 0.5 means the quantity grows as √H. The interval is the bootstrap "
        "interval of the slope, every replicate refitted over the same horizons.</p>"
        + table(
            ["env", "agent", "metric", "quantity", "slope", "intercept", "R²", "horizons"],
            rows,
            left=4,
        )
    )


def estimator_note(runs: Sequence[ReportRun]) -> str:
    """Which point estimator and which intervals the tables show."""
    cells = [cell for run in runs for cell in run.cells]
    if not cells:
        return ""
    estimator, intervals = cells[0].estimator, cells[0].intervals
    return (
        f'<p class="lead">Point values: the <b>{escape(estimator)}</b> estimator '
        f"({escape(ESTIMATOR_NOTES.get(estimator, ''))}). Intervals: "
        f"<b>{escape(intervals)}</b> ({escape(INTERVAL_NOTES.get(intervals, ''))}). "
        "<code>hotmess report --estimator corrected</code> switches the point values.</p>"
    )


ESTIMATOR_NOTES = {
    "plugin": "the paper's values: variance low by (s − 1)/s, bias high by about σ²/s",
    "corrected": "unbiased within-question variance; KL by the delete-one jackknife",
}
INTERVAL_NOTES = {
    "population": "they cover the population bias, variance, error and incoherence",
    "tasks": "tasks resampled: they cover what the point estimator averages to",
    "two-stage": "tasks and their samples resampled",
}


def delta_table(runs: Sequence[ReportRun], labels: Labels) -> str:
    """KL at δ = 1e-12 beside a larger δ, per categorical cell, flagged past 2x."""
    rows = []
    for index, run in enumerate(runs):
        for r in sorted(run.delta_sensitivity, key=lambda r: (r.env, r.agent, r.horizon)):
            cells = [escape(r.env), *_series_cells(index, r.agent, labels), escape(r.horizon)]
            for quantity in ("variance", "incoherence"):
                cells += [escape(fmt(r.reference[quantity])), escape(fmt(r.values[quantity]))]
            cells.append(escape(", ".join(r.disagrees) or "–"))
            rows.append(cells)
    if not rows:
        return ""
    delta = fmt(runs_delta(runs))
    return (
        "<h3>KL's sensitivity to δ</h3>"
        '<p class="lead">Hard (one-hot) answers put log δ into every wrong choice, so KL\'s '
        f"scale follows δ: its values at the paper's δ = 1e-12 beside δ = {escape(delta)}. "
        "Quantities that differ by more than 2× are listed: read their KL values as "
        "depending on δ, and prefer Brier for them.</p>"
        + table(
            [
                "env",
                "agent",
                "horizon",
                "variance 1e-12",
                f"variance {delta}",
                "incoherence 1e-12",
                f"incoherence {delta}",
                "differ > 2×",
            ],
            rows,
            left=2,
        )
    )


def runs_delta(runs: Sequence[ReportRun]) -> float:
    """The larger δ the runs' sensitivity rows were scored at."""
    return next(r.delta for run in runs for r in run.delta_sensitivity)


def h50_table(runs: Sequence[ReportRun], labels: Labels) -> str:
    """Each agent's logistic success fit and its 50% horizon."""
    rows = []
    for index, run in enumerate(runs):
        for f in sorted(run.fits, key=lambda f: (f.env, f.agent)):
            rows.append(
                [
                    escape(f.env),
                    *_series_cells(index, f.agent, labels),
                    with_ci(f.h50, f.h50_ci),
                    escape(fmt(f.intercept)),
                    escape(fmt(f.slope)),
                    "yes" if f.extrapolated else "no",
                    escape(SEPARATION.get(str(getattr(f, "separation", None)), "–")),
                    escape(f.n_episodes),
                ]
            )
    return (
        "<h3>h50: the horizon of 50% success</h3>"
        '<p class="lead">From the logistic fit logit P(success) = intercept + slope · ln H; '
        "h50 = exp(−intercept / slope). Extrapolated: h50 lies outside the swept horizons.</p>"
        + table(
            [
                "env",
                "agent",
                "h50",
                "intercept",
                "slope",
                "extrapolated",
                "no finite fit",
                "episodes",
            ],
            rows,
            left=2,
        )
    )


def divergence_table(runs: Sequence[ReportRun], labels: Labels) -> str:
    """The divergence summary per cell, whatever columns `divergence_summary` gives."""
    keys: list[str] = []
    for run in runs:
        for row in run.divergence_summary:
            keys += [k for k in row if k not in keys and k not in ("env", "agent", "horizon")]
    rows = []
    for index, run in enumerate(runs):
        for row in sorted(
            run.divergence_summary,
            key=lambda r: (str(r.get("env")), str(r.get("agent")), number(r.get("horizon"))),
        ):
            rows.append(
                [
                    escape(row.get("env")),
                    *_series_cells(index, str(row.get("agent")), labels),
                    escape(row.get("horizon")),
                    *(
                        escape(fmt(row.get(k)) if not isinstance(row.get(k), str) else row.get(k))
                        for k in keys
                    ),
                ]
            )
    return "<h3>Divergence</h3>" + table(
        ["env", "agent", "horizon", *(k.replace("_", " ") for k in keys)], rows, left=2
    )


def actions_table(runs: Sequence[ReportRun], labels: Labels) -> str:
    """The numbers behind the median-split figure, folded."""
    rows = []
    for index, run in enumerate(runs):
        for g in sorted(run.splits, key=lambda g: (g.env, g.agent, g.metric, g.horizon, g.group)):
            if not get_metric(g.metric).headline:
                continue
            rows.append(
                [
                    escape(g.env),
                    *_series_cells(index, g.agent, labels),
                    escape(g.horizon),
                    escape(g.metric),
                    escape(g.group),
                    escape(fmt(g.mean_actions)),
                    escape(g.n_questions),
                    escape(fmt(g.bias)),
                    escape(fmt(g.variance)),
                    escape(fmt(g.error)),
                    escape(fmt(g.incoherence)),
                ]
            )
    return (
        "<details><summary>Median split by actions taken (the numbers behind the figure)</summary>"
        + table(
            [
                "env",
                "agent",
                "horizon",
                "metric",
                "group",
                "mean actions",
                "tasks",
                "bias",
                "variance",
                "error",
                "incoherence",
            ],
            rows,
            left=2,
        )
        + "</details>"
    )
