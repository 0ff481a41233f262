"""The report's figures: one panel per (env, headline metric), five figures per panel, each
a series per (run, agent). Statistics become plain lines and points here; `plots` draws."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hotmess.report import plots
from hotmess.report.runs import ReportRun, Series, series_labels
from hotmess.report.values import interval, number, optional
from hotmess.scoring.metrics import get_metric
from hotmess.scoring.stats import ActionsGroup, CellStats


@dataclass(frozen=True)
class Figure:
    """One PNG of the report, and where the page shows it."""

    section: str
    env: str
    metric: str
    file: str
    png: bytes
    alt: str


@dataclass(frozen=True)
class _Panel:
    """What every figure of one (env, headline metric) panel draws from."""

    env: str
    metric: str
    runs: Sequence[ReportRun]
    cells: Mapping[Series, Mapping[int, CellStats]]  # series → horizon → cell
    series: list[Series]
    style: Mapping[Series, plots.Style]
    horizons: list[int]

    @property
    def title(self) -> str:
        return f"{self.env} ({self.metric})"

    @property
    def slug(self) -> str:
        return f"{_slug(self.env)}-{self.metric}"

    def lines(self, value: str, ci: str) -> list[plots.Line]:
        """One statistic of every series against the horizon, its interval `ci` as a band."""
        return [_line(self.cells[s], self.style[s], value, ci) for s in self.series]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _panels(runs: Sequence[ReportRun]) -> list[tuple[str, str]]:
    """(env, headline metric) panels, sorted by env."""
    panels = set()
    for run in runs:
        for cell in run.cells:
            if get_metric(cell.metric).headline:
                panels.add((cell.env, cell.metric))
    return sorted(panels)


def figures(runs: Sequence[ReportRun]) -> list[Figure]:
    """Every figure of the report, panel by panel, in the order the page shows them."""
    labels = series_labels(runs)
    style = dict(zip(labels, plots.styles(list(labels.values())), strict=True))
    drawn = []
    for env, metric in _panels(runs):
        cells: dict[Series, dict[int, CellStats]] = defaultdict(dict)
        for index, run in enumerate(runs):
            for cell in run.cells:
                if cell.env == env and cell.metric == metric:
                    cells[(index, cell.agent)][cell.horizon] = cell
        series = [s for s in labels if s in cells]
        horizons = sorted({h for s in series for h in cells[s]})
        panel = _Panel(env, metric, runs, cells, series, style, horizons)
        drawn += [
            draw(panel) for draw in (_incoherence, _bias_variance, _success, _actions, _divergence)
        ]
    return drawn


def _incoherence(p: _Panel) -> Figure:
    return Figure(
        "incoherence",
        p.env,
        p.metric,
        f"{p.slug}-incoherence.png",
        plots.horizon_figure(
            title=f"incoherence: {p.title}",
            ylabel="incoherence (variance / error)",
            lines=p.lines("incoherence", "incoherence_ci"),
            horizons=p.horizons,
            unit_interval=True,
        ),
        f"Incoherence against horizon for {p.env}, metric {p.metric}, with bootstrap intervals",
    )


def _bias_variance(p: _Panel) -> Figure:
    return Figure(
        "bias-variance",
        p.env,
        p.metric,
        f"{p.slug}-bias-variance.png",
        plots.bias_variance_figure(
            title=p.title,
            unit=get_metric(p.metric).unit,
            bias=p.lines("bias", "bias_ci"),
            variance=p.lines("variance", "variance_ci"),
            horizons=p.horizons,
        ),
        f"Bias and variance against horizon for {p.env}, metric {p.metric}",
    )


def _success(p: _Panel) -> Figure:
    fits = [fit for s in p.series for fit in _logistic(p.runs[s[0]], p.env, s[1], p.style[s])]
    return Figure(
        "success",
        p.env,
        p.metric,
        f"{_slug(p.env)}-success.png",
        plots.success_figure(
            title=f"success: {p.env}",
            points=p.lines("success_rate", "success_ci"),
            fits=fits,
            horizons=p.horizons,
        ),
        f"Success rate against horizon for {p.env} with the fitted logistic curve and h50",
    )


def _actions(p: _Panel) -> Figure:
    splits = [_split_points(p.runs[s[0]], p.env, s[1], p.metric, p.style[s]) for s in p.series]
    return Figure(
        "actions",
        p.env,
        p.metric,
        f"{p.slug}-actions.png",
        plots.actions_figure(
            title=p.title,
            by_horizon=p.lines("incoherence", "incoherence_ci"),
            by_actions=splits,
            horizons=p.horizons,
        ),
        f"Incoherence by horizon and by actions taken (median split) for {p.env}, metric {p.metric}",
    )


def _divergence(p: _Panel) -> Figure:
    diverging = [_divergence_series(p.runs[s[0]], p.env, s[1], p.style[s]) for s in p.series]
    return Figure(
        "divergence",
        p.env,
        p.metric,
        f"{_slug(p.env)}-divergence.png",
        plots.divergence_figure(title=p.env, series=diverging, horizons=p.horizons),
        f"Step at which samples of a task first act differently, by horizon, for {p.env}",
    )


def _logistic(run: ReportRun, env: str, agent: str, style: plots.Style) -> list[plots.Logistic]:
    """The agent's success fit on `env`, if `success_horizons` made one."""
    return [
        plots.Logistic(
            style=style,
            intercept=number(fit.intercept),
            slope=number(fit.slope),
            h50=optional(fit.h50),
            h50_ci=interval(fit.h50_ci),
            extrapolated=bool(fit.extrapolated),
        )
        for fit in run.fits
        if fit.env == env and fit.agent == agent
    ]


def _split_points(
    run: ReportRun, env: str, agent: str, metric: str, style: plots.Style
) -> plots.SplitPoints:
    """The fewer / more halves of each horizon where the median split has both."""
    groups: dict[int, dict[str, ActionsGroup]] = defaultdict(dict)
    for group in run.splits:
        if group.env == env and group.agent == agent and group.metric == metric:
            groups[group.horizon][group.group] = group
    pairs = [g for _, g in sorted(groups.items()) if "fewer" in g and "more" in g]
    return plots.SplitPoints(
        style=style,
        fewer_x=[number(g["fewer"].mean_actions) for g in pairs],
        fewer_y=[number(g["fewer"].incoherence) for g in pairs],
        more_x=[number(g["more"].mean_actions) for g in pairs],
        more_y=[number(g["more"].incoherence) for g in pairs],
    )


def _divergence_series(
    run: ReportRun, env: str, agent: str, style: plots.Style
) -> plots.DivergenceSeries:
    """Per horizon, the divergence steps of the tasks that diverged and the share that never did."""
    steps: dict[int, list[int]] = defaultdict(list)
    for row in run.divergence:
        if row.env == env and row.agent == agent and row.step is not None:
            steps[row.horizon].append(row.step)
    never = {
        int(summary["horizon"]): number(summary.get("share_never"))
        for summary in run.divergence_summary
        if summary.get("env") == env and summary.get("agent") == agent
    }
    horizons = sorted(never)
    return plots.DivergenceSeries(
        style=style,
        horizons=horizons,
        steps=[steps.get(h, []) for h in horizons],
        never=[never[h] for h in horizons],
    )


def _line(cells: Mapping[int, CellStats], style: plots.Style, value: str, ci: str) -> plots.Line:
    """One statistic of a series' cells against the horizon, with its interval as a band."""
    horizons = sorted(cells)
    cis = [interval(getattr(cells[h], ci)) for h in horizons]
    return plots.Line(
        style=style,
        x=horizons,
        y=[number(getattr(cells[h], value)) for h in horizons],
        lo=[c[0] if c is not None else math.nan for c in cis],
        hi=[c[1] if c is not None else math.nan for c in cis],
    )
