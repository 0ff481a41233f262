"""Reports of horizon sweeps. `write_report` turns one or more run directories into one
self-contained `report.html` (figures as base64 PNG, CSS inline, no script, no URL) and
the same figures as PNG files; `compare_runs` sets two runs side by side with bootstrap
intervals of their differences. The statistics come from `hotmess.scoring.stats`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hotmess.errors import ConfigError, StoreError
from hotmess.scoring import plots
from hotmess.scoring.adaptive import HEADLINE_METRIC
from hotmess.scoring.decompositions import kl_error_floor
from hotmess.scoring.stats import (
    ActionsGroup,
    CellStats,
    Divergence,
    HorizonFit,
    LightEpisode,
    TrendFit,
    by_actions,
    cell_stats,
    divergence,
    divergence_summary,
    load_light,
    success_horizons,
    trend_fits,
)
from hotmess.scoring.stats import expanded_interval as _expanded_interval
from hotmess.scoring.table import EPISODES_FILE, score_episodes

HEADLINE_METRICS = tuple(HEADLINE_METRIC.values())
"""The metric each outcome kind is reported by: mse (scalar), kl (categorical), coverage (tests)."""

METRIC_UNITS = {
    "mse": "squared answer units",
    "kl": "nats",
    "coverage": "squared pass rate",
    "brier": "squared probability",
    "zero_one": "share of samples",
}
LLM_AGENTS = ("openai", "anthropic", "local")
"""Agent kinds whose spec names a model (`openai:gpt-4o-mini`): legends spell the model out."""

OBSERVATION_LIMIT = 2_000
"""Characters of an observation shown in a transcript; the rest is cut with a note."""
TEXT_LIMIT = 8_000
"""Characters of a prompt, action or agent message shown in a transcript."""

REPORT_FILE = "report.html"


@dataclass(frozen=True)
class ReportResult:
    """What `write_report` wrote."""

    html: Path
    """The self-contained report."""
    pngs: tuple[Path, ...]
    """Every figure of the report, as a PNG beside it."""
    n_episodes: int
    """Episodes reported on, over every run (forks left out)."""
    n_transcripts: int
    """Episodes shown in the transcript browser."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per phase: load, statistics, figures, transcripts, html."""


@dataclass
class _Run:
    """One run directory with its statistics."""

    name: str
    path: Path
    meta: dict[str, Any]
    episodes: list[LightEpisode]
    cells: list[CellStats] = field(default_factory=list)
    trends: list[TrendFit] = field(default_factory=list)
    fits: list[HorizonFit] = field(default_factory=list)
    splits: list[ActionsGroup] = field(default_factory=list)
    divergence: list[Divergence] = field(default_factory=list)
    divergence_summary: list[dict[str, Any]] = field(default_factory=list)


Series = tuple[int, str]
"""(index of the run, agent spec): one line in every figure."""


# --------------------------------------------------------------------------- loading


def _store_path(run_dir: Path) -> Path:
    if not run_dir.exists():
        raise ConfigError(
            f"{run_dir} does not exist: give a run directory written by `hotmess sweep`"
        )
    if not run_dir.is_dir():
        raise ConfigError(
            f"{run_dir} is not a directory: give a run directory written by `hotmess sweep`"
        )
    path = run_dir / EPISODES_FILE
    if not path.exists():
        raise StoreError(
            f"{run_dir} holds no {EPISODES_FILE}: give a directory written by `hotmess sweep`"
        )
    return path


def _load(run_dir: Path) -> list[LightEpisode]:
    """The run's episodes without their steps, forks left out (they are scored apart)."""
    _store_path(run_dir)
    episodes = [episode for episode in load_light(run_dir) if episode.fork_of is None]
    if not episodes:
        raise StoreError(f"{run_dir / EPISODES_FILE} holds no episodes: the sweep has not run yet")
    return episodes


def _meta(run_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads((run_dir / "sweep.json").read_text())
    except (OSError, ValueError):
        return {}  # another tool's store: the report only needs episodes.jsonl
    return meta if isinstance(meta, dict) else {}


def _run_names(paths: Sequence[Path]) -> list[str]:
    names = [path.resolve().name or str(path) for path in paths]
    seen: dict[str, int] = defaultdict(int)
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if names.count(name) == 1 else f"{name} #{seen[name]}")
    return unique


# --------------------------------------------------------------------------- labels


def agent_label(spec: str) -> str:
    """How a legend names an agent: its spec, with the model spelled out for LLM agents
    (`openai:gpt-4o-mini,temperature=1` → `openai, model gpt-4o-mini, temperature=1`)."""
    kind, sep, rest = spec.partition(":")
    if kind not in LLM_AGENTS or not sep:
        return spec
    parts = [part.strip() for part in rest.split(",") if part.strip()]
    if parts and "=" not in parts[0]:
        return ", ".join([kind, f"model {parts[0]}", *parts[1:]])
    return spec


def _series_labels(runs: Sequence[_Run]) -> dict[Series, str]:
    labels = {}
    for index, run in enumerate(runs):
        for agent in sorted({episode.agent for episode in run.episodes}):
            label = agent_label(agent)
            labels[(index, agent)] = label if len(runs) == 1 else f"{label} ({run.name})"
    return labels


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


# --------------------------------------------------------------------------- report


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    transcripts_per_cell: int = 3,
    resample_samples: bool = False,
) -> ReportResult:
    """Write `out/report.html` and every figure as `out/*.png` for one or more runs.

    Several run directories are compared side by side: each (run, agent) is one series
    in every figure and table, labelled "agent (run name)". Statistics (bootstrap CIs with
    `n_boot` resamples, trends, h50, the median split, divergence) come from
    `hotmess.scoring.stats`; transcripts show, per cell, the first `transcripts_per_cell`
    samples of the cell's first task, read from the store in a second pass that parses
    only those lines. `resample_samples` makes the intervals two-stage (tasks, then the
    samples within each drawn task): see docs/scoring.md for why that is not the default.
    """
    if not run_dirs:
        raise ConfigError("give at least one run directory")
    if n_boot < 1:
        raise ConfigError(f"the number of bootstrap resamples must be at least 1, got {n_boot}")
    if transcripts_per_cell < 0:
        raise ConfigError(f"transcripts per cell must be 0 or more, got {transcripts_per_cell}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    paths = [Path(d) for d in run_dirs]
    runs = [
        _Run(name=name, path=path, meta=_meta(path), episodes=_load(path))
        for name, path in zip(_run_names(paths), paths, strict=True)
    ]
    timings["load"] = time.perf_counter() - clock

    clock = time.perf_counter()
    for run in runs:
        two_stage = resample_samples
        run.cells = cell_stats(run.episodes, n_boot=n_boot, seed=seed, resample_samples=two_stage)
        run.trends = trend_fits(run.episodes, n_boot=n_boot, seed=seed, resample_samples=two_stage)
        run.fits = success_horizons(
            run.episodes, n_boot=n_boot, seed=seed, resample_samples=two_stage
        )
        run.splits = by_actions(run.episodes)
        run.divergence = divergence(run.episodes)
        run.divergence_summary = divergence_summary(run.divergence)
    timings["statistics"] = time.perf_counter() - clock

    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is a file: the report needs a directory (--out DIR)")
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    figures = _figures(runs)
    pngs = []
    for figure in figures:
        path = out_dir / figure.file
        path.write_bytes(figure.png)
        pngs.append(path)
    timings["figures"] = time.perf_counter() - clock

    clock = time.perf_counter()
    transcripts = _transcripts(runs, transcripts_per_cell)
    timings["transcripts"] = time.perf_counter() - clock

    clock = time.perf_counter()
    page = _render(runs, figures, transcripts, n_boot=n_boot)
    target = out_dir / REPORT_FILE
    temporary = target.with_suffix(".html.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, target)
    timings["html"] = time.perf_counter() - clock
    return ReportResult(
        html=target,
        pngs=tuple(pngs),
        n_episodes=sum(len(run.episodes) for run in runs),
        n_transcripts=sum(len(episodes) for episodes in transcripts.values()),
        timings=timings,
    )


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class _Figure:
    section: str
    env: str
    metric: str
    file: str
    png: bytes
    alt: str


SECTIONS = (
    ("incoherence", "Incoherence vs horizon"),
    ("bias-variance", "Bias and variance vs horizon"),
    ("success", "Success vs horizon and h50"),
    ("actions", "Incoherence by actions taken"),
    ("divergence", "Divergence step"),
)


def _panels(runs: Sequence[_Run]) -> list[tuple[str, str]]:
    """(env, headline metric) panels, sorted by env."""
    panels = set()
    for run in runs:
        for cell in run.cells:
            if cell.metric in HEADLINE_METRICS:
                panels.add((cell.env, cell.metric))
    return sorted(panels)


def _figures(runs: Sequence[_Run]) -> list[_Figure]:
    labels = _series_labels(runs)
    style = dict(zip(labels, plots.styles(list(labels.values())), strict=True))
    figures = []
    for env, metric in _panels(runs):
        cells: dict[Series, dict[int, CellStats]] = defaultdict(dict)
        for index, run in enumerate(runs):
            for cell in run.cells:
                if cell.env == env and cell.metric == metric:
                    cells[(index, cell.agent)][cell.horizon] = cell
        series = [s for s in labels if s in cells]
        horizons = sorted({h for s in series for h in cells[s]})
        title = f"{env} ({metric})"
        unit = METRIC_UNITS.get(metric, metric)

        def line(s: Series, value: str, interval: str) -> plots.Line:
            return _line(cells[s], style[s], value, interval)  # noqa: B023 (called at once)

        incoherence = [line(s, "incoherence", "incoherence_ci") for s in series]
        slug = f"{_slug(env)}-{metric}"
        figures.append(
            _Figure(
                "incoherence",
                env,
                metric,
                f"{slug}-incoherence.png",
                plots.horizon_figure(
                    title=f"incoherence: {title}",
                    ylabel="incoherence (variance / error)",
                    lines=incoherence,
                    horizons=horizons,
                    unit_interval=True,
                ),
                f"Incoherence against horizon for {env}, metric {metric}, with bootstrap intervals",
            )
        )
        figures.append(
            _Figure(
                "bias-variance",
                env,
                metric,
                f"{slug}-bias-variance.png",
                plots.bias_variance_figure(
                    title=title,
                    unit=unit,
                    bias=[line(s, "bias", "bias_ci") for s in series],
                    variance=[line(s, "variance", "variance_ci") for s in series],
                    horizons=horizons,
                ),
                f"Bias and variance against horizon for {env}, metric {metric}",
            )
        )
        points = [line(s, "success_rate", "success_ci") for s in series]
        fits = [fit for s in series for fit in _logistic(runs[s[0]], env, s[1], style[s])]
        figures.append(
            _Figure(
                "success",
                env,
                metric,
                f"{_slug(env)}-success.png",
                plots.success_figure(
                    title=f"success: {env}", points=points, fits=fits, horizons=horizons
                ),
                f"Success rate against horizon for {env} with the fitted logistic curve and h50",
            )
        )
        splits = [_split_points(runs[s[0]], env, s[1], metric, style[s]) for s in series]
        figures.append(
            _Figure(
                "actions",
                env,
                metric,
                f"{slug}-actions.png",
                plots.actions_figure(
                    title=title, by_horizon=incoherence, by_actions=splits, horizons=horizons
                ),
                f"Incoherence by horizon and by actions taken (median split) for {env}, metric {metric}",
            )
        )
        diverging = [_divergence_series(runs[s[0]], env, s[1], style[s]) for s in series]
        figures.append(
            _Figure(
                "divergence",
                env,
                metric,
                f"{_slug(env)}-divergence.png",
                plots.divergence_figure(title=env, series=diverging, horizons=horizons),
                f"Step at which samples of a task first act differently, by horizon, for {env}",
            )
        )
    return figures


def _logistic(run: _Run, env: str, agent: str, style: plots.Style) -> list[plots.Logistic]:
    """The agent's success fit on `env`, if `success_horizons` made one."""
    return [
        plots.Logistic(
            style=style,
            intercept=_number(fit.intercept),
            slope=_number(fit.slope),
            h50=_optional(fit.h50),
            h50_ci=_interval(fit.h50_ci),
            extrapolated=bool(fit.extrapolated),
        )
        for fit in run.fits
        if fit.env == env and fit.agent == agent
    ]


def _split_points(
    run: _Run, env: str, agent: str, metric: str, style: plots.Style
) -> plots.SplitPoints:
    """The fewer / more halves of each horizon where the median split has both."""
    groups: dict[int, dict[str, ActionsGroup]] = defaultdict(dict)
    for group in run.splits:
        if group.env == env and group.agent == agent and group.metric == metric:
            groups[group.horizon][group.group] = group
    pairs = [g for _, g in sorted(groups.items()) if "fewer" in g and "more" in g]
    return plots.SplitPoints(
        style=style,
        fewer_x=[_number(g["fewer"].mean_actions) for g in pairs],
        fewer_y=[_number(g["fewer"].incoherence) for g in pairs],
        more_x=[_number(g["more"].mean_actions) for g in pairs],
        more_y=[_number(g["more"].incoherence) for g in pairs],
    )


def _divergence_series(
    run: _Run, env: str, agent: str, style: plots.Style
) -> plots.DivergenceSeries:
    """Per horizon, the divergence steps of the tasks that diverged and the share that never did."""
    steps: dict[int, list[int]] = defaultdict(list)
    for row in run.divergence:
        if row.env == env and row.agent == agent and row.step is not None:
            steps[row.horizon].append(row.step)
    never = {
        int(summary["horizon"]): _number(summary.get("share_never"))
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


def _line(
    cells: Mapping[int, CellStats], style: plots.Style, value: str, interval: str
) -> plots.Line:
    """One statistic of a series' cells against the horizon, with its interval as a band."""
    horizons = sorted(cells)
    cis = [_interval(getattr(cells[h], interval)) for h in horizons]
    return plots.Line(
        style=style,
        x=horizons,
        y=[_number(getattr(cells[h], value)) for h in horizons],
        lo=[ci[0] if ci is not None else math.nan for ci in cis],
        hi=[ci[1] if ci is not None else math.nan for ci in cis],
    )


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _optional(value: Any) -> float | None:
    number = _number(value)
    return number if math.isfinite(number) else None


def _interval(value: Any) -> tuple[float, float] | None:
    """An interval as two floats, or None when it is missing or undefined (NaN); its ends
    may be infinite (an h50 interval can run from 0 to ∞)."""
    if value is None:
        return None
    lo, hi = (_number(v) for v in value)
    return None if math.isnan(lo) or math.isnan(hi) else (lo, hi)


# --------------------------------------------------------------------------- transcripts


@dataclass(frozen=True)
class _Step:
    action: str
    observation: str
    cut: int  # characters of the observation left out
    tool: str | None
    tool_error: bool
    agent_error: str | None
    agent_message: str | None
    replayed: bool


@dataclass(frozen=True)
class _Transcript:
    task_seed: Any
    sample: int
    key: str
    prompt: str
    outcome: dict[str, Any]
    steps: tuple[_Step, ...]


Cell = tuple[int, str, str, int]
"""(run index, env, agent, horizon)."""


def _chosen(runs: Sequence[_Run], per_cell: int) -> dict[int, dict[str, Cell]]:
    """Per run, key → cell of the episodes to show: the first `per_cell` samples (by
    sample index) of each cell's first task (in store order)."""
    chosen: dict[int, dict[str, Cell]] = {}
    for index, run in enumerate(runs):
        first_task: dict[tuple[str, str, int], Any] = {}
        candidates: dict[tuple[str, str, int], list[LightEpisode]] = defaultdict(list)
        for episode in run.episodes:
            cell = (episode.env, episode.agent, episode.horizon)
            if first_task.setdefault(cell, episode.task_seed) == episode.task_seed:
                candidates[cell].append(episode)
        chosen[index] = {
            episode.key: (index, *cell)
            for cell, episodes in candidates.items()
            for episode in sorted(episodes, key=lambda e: e.sample)[:per_cell]
        }
    return chosen


_KEY = re.compile(rb'"key"\s*:\s*"([^"\\]+)"')
_FIRST_KEY = b'{"key":"'  # how the run store starts every line


def _may_hold(line: bytes, keys: set[bytes]) -> bool:
    """Whether a store line may be one of the episodes `keys`, without parsing it: the
    run store writes the key first; any other layout is searched for it (and a false
    match is caught by checking the parsed record)."""
    if line.startswith(_FIRST_KEY):
        end = line.find(b'"', len(_FIRST_KEY))
        return line[len(_FIRST_KEY) : end] in keys
    return any(match.group(1) in keys for match in _KEY.finditer(line))


def _transcripts(runs: Sequence[_Run], per_cell: int) -> dict[Cell, list[_Transcript]]:
    """Read the chosen episodes' lines, parsing no other line, and keep each as a
    truncated transcript: memory holds a few KB per shown episode, never the store."""
    found: dict[Cell, list[_Transcript]] = defaultdict(list)
    if per_cell == 0:
        return found
    for index, keys in _chosen(runs, per_cell).items():
        if not keys:
            continue
        wanted = {key.encode() for key in keys}
        with (runs[index].path / EPISODES_FILE).open("rb") as handle:
            for line in handle:
                # A cheap look for the key before parsing: all but a few lines are skipped.
                if not _may_hold(line, wanted):
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a torn last line
                if not isinstance(record, dict) or record.get("key") not in keys:
                    continue
                found[keys[record["key"]]].append(_transcript(record))
    for transcripts in found.values():
        transcripts.sort(key=lambda t: t.sample)
    return found


def _cut(text: Any, limit: int) -> tuple[str, int]:
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _pretty_action(action: Any) -> str:
    """A JSON tool call indented; anything else (a malformed action) as it was."""
    text = "" if action is None else str(action)
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _transcript(record: Mapping[str, Any]) -> _Transcript:
    steps = []
    for step in record.get("steps") or []:
        if not isinstance(step, dict):
            continue
        observation, cut = _cut(step.get("observation"), OBSERVATION_LIMIT)
        message = step.get("agent_message")
        steps.append(
            _Step(
                action=_cut(_pretty_action(step.get("action")), TEXT_LIMIT)[0],
                observation=observation,
                cut=cut,
                tool=step.get("tool"),
                tool_error=bool(step.get("tool_error")),
                agent_error=step.get("agent_error"),
                agent_message=_cut(message, TEXT_LIMIT)[0] if message else None,
                replayed=bool(step.get("replayed")),
            )
        )
    outcome = record.get("outcome")
    return _Transcript(
        task_seed=record.get("task_seed"),
        sample=int(record.get("sample") or 0),
        key=str(record.get("key")),
        prompt=_cut(record.get("prompt"), TEXT_LIMIT)[0],
        outcome=outcome if isinstance(outcome, dict) else {},
        steps=tuple(steps),
    )


# --------------------------------------------------------------------------- html

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fff}
main{max-width:1500px;margin:0 auto;padding:1rem 2rem 4rem}
h1{font-size:1.6rem;margin:.5rem 0}h2{margin-top:2.5rem;border-bottom:2px solid #0072B2;padding-bottom:.2rem}
h3{margin:1.4rem 0 .4rem}
nav ul{columns:2;list-style:none;padding:0}nav a{color:#0072B2}
p.lead{color:#444;max-width:70rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(620px,1fr));gap:1rem}
figure.wide{grid-column:1/-1}
figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:.5rem;background:#fafafa}
figure img{max-width:100%;height:auto;display:block;margin:auto}
figcaption{font-size:.8rem;color:#555;text-align:center}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0 1rem}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:right;white-space:nowrap}
th{background:#eef3f8;position:sticky;top:0}
td.l,th.l{text-align:left}
tbody tr:nth-child(even){background:#f7f7f7}
.ci{color:#666;font-size:.72rem;display:block}
.wrap{overflow-x:auto}
details{margin:.3rem 0;border:1px solid #ddd;border-radius:5px;padding:.3rem .6rem;background:#fff}
details details{margin-left:1rem;background:#fcfcfc}
summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;background:#f4f4f4;padding:.4rem .6rem;border-radius:4px;margin:.2rem 0;font-size:.8rem;max-height:30rem;overflow:auto}
ol.steps>li{margin:.4rem 0}
.label{font-size:.75rem;font-weight:600;color:#555;text-transform:uppercase;letter-spacing:.03em}
.err{color:#b00020;font-weight:600}
.ok{color:#007a4d;font-weight:600}
.note{color:#8a5a00;font-size:.78rem}
.replayed{color:#666;font-style:italic}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    number = _number(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number == 0 or 1e-3 <= abs(number) < 1e5:
        return f"{number:.{digits}g}"
    return f"{number:.2e}"


def _with_ci(value: Any, ci: Any) -> str:
    text = _e(_fmt(value))
    interval = _interval(ci) if ci is not None else None
    if interval is not None:
        text += f' <span class="ci">[{_e(_fmt(interval[0]))}, {_e(_fmt(interval[1]))}]</span>'
    return text


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 0) -> str:
    """An HTML table; cells are already escaped HTML. The first `left` columns align left."""
    head = "".join(
        f'<th class="l">{_e(name)}</th>' if i < left else f"<th>{_e(name)}</th>"
        for i, name in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{cell}</td>' if i < left else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _render(
    runs: Sequence[_Run],
    figures: Sequence[_Figure],
    transcripts: Mapping[Cell, list[_Transcript]],
    *,
    n_boot: int,
) -> str:
    labels = _series_labels(runs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>hotmess report: {_e(', '.join(run.name for run in runs))}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>hotmess report: {_e(', '.join(run.name for run in runs))}</h1>",
        '<p class="lead">How the agents\' error splits into <b>bias</b> (the same mistake on every '
        "sample) and <b>variance</b> (a different outcome every time) as the horizon grows. "
        "<b>Incoherence</b> = Σ variance / Σ error over a cell's tasks. Intervals are 95% "
        f"bootstrap intervals over tasks ({n_boot} resamples). "
        "How to read each figure: docs/reading-a-report.md in the hotmess repository.</p>",
        _runs_section(runs),
        "<nav><ul>",
        *(f'<li><a href="#{key}">{_e(title)}</a></li>' for key, title in SECTIONS),
        '<li><a href="#tables">Tables: summary, trends, h50, divergence</a></li>',
        '<li><a href="#transcripts">Transcripts</a></li>',
        "</ul></nav>",
    ]
    for key, title in SECTIONS:
        parts.append(f'<h2 id="{key}">{_e(title)}</h2>')
        parts.append(f'<p class="lead">{SECTION_NOTES[key]}</p><div class="grid">')
        for figure in figures:
            if figure.section == key:
                data = base64.b64encode(figure.png).decode("ascii")
                wide = ' class="wide"' if figure.section in WIDE_SECTIONS else ""
                parts.append(
                    f'<figure{wide}><img src="data:image/png;base64,{data}" alt="{_e(figure.alt)}">'
                    f"<figcaption>{_e(figure.file)}</figcaption></figure>"
                )
        parts.append("</div>")
    parts.append('<h2 id="tables">Tables</h2>')
    parts.append(_summary_tables(runs, labels))
    parts.append(_trend_table(runs, labels))
    parts.append(_h50_table(runs, labels))
    parts.append(_divergence_table(runs, labels))
    parts.append(_actions_table(runs, labels))
    parts.append('<h2 id="transcripts">Transcripts</h2>')
    parts.append(_transcripts_section(runs, labels, transcripts))
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


WIDE_SECTIONS = ("bias-variance", "actions", "divergence")
"""Sections whose figures have two panels: one figure per row."""

SECTION_NOTES = {
    "incoherence": "The share of error that is variance, per horizon, pooled over tasks; the band "
    "is its bootstrap interval. A rising line: the longer the task, the more of the agent's "
    "error is inconsistency rather than a repeated mistake.",
    "bias-variance": "The two parts of the error, in the metric's units. Bias is the error of "
    "the agent's average answer; variance is how far the samples scatter around it.",
    "success": "Share of episodes exactly right per horizon (points, with intervals), the logistic "
    "fit logit P = a + b ln H (curve), and h50, the horizon where the fit crosses 50%: the large "
    "marker on the dotted 50% line, its interval as a bar (arrows where it runs off the plot), "
    "hollow when h50 lies outside the swept horizons (an extrapolation).",
    "actions": "Left: incoherence by the horizon knob. Right: each task's samples split at the "
    "median number of actions they took; open markers are the shorter half, filled the "
    "longer half, at the half's mean action count. If incoherence rises with actions "
    "taken even at a fixed horizon, longer trajectories, not harder tasks, drive it.",
    "divergence": "Left: the first step at which a task's samples act differently (boxes and one "
    "dot per task). Right: the share of tasks whose samples never act differently.",
}


def _runs_section(runs: Sequence[_Run]) -> str:
    rows = []
    for run in runs:
        config = run.meta.get("config", {}) if isinstance(run.meta.get("config"), dict) else {}
        versions = (
            run.meta.get("versions", {}) if isinstance(run.meta.get("versions"), dict) else {}
        )
        created = run.meta.get("created_at")
        rows.append(
            [
                _e(run.name),
                _e(run.path),
                _e(len(run.episodes)),
                _e(", ".join(sorted({e.env for e in run.episodes}))),
                _e(", ".join(sorted({e.agent for e in run.episodes}))),
                _e(", ".join(str(h) for h in sorted({e.horizon for e in run.episodes}))),
                _e(config.get("tasks", "–")),
                _e(config.get("samples", "–")),
                _e(versions.get("hotmess", "–")),
                _e(
                    time.strftime("%Y-%m-%d %H:%M", time.gmtime(created)) + " UTC"
                    if isinstance(created, (int, float))
                    else "–"
                ),
            ]
        )
    return "<h2>Runs</h2>" + _table(
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


def _series_cells(run_index: int, agent: str, labels: Mapping[Series, str]) -> list[str]:
    """The agent column; with several runs the label names the run too."""
    return [_e(labels.get((run_index, agent), agent))]


def _summary_tables(runs: Sequence[_Run], labels: Mapping[Series, str]) -> str:
    header = [
        "env", "agent", "horizon", "metric", "tasks", "samples", "success", "bias", "variance",
        "error", "incoherence",
    ]  # fmt: skip
    headline: list[list[str]] = []
    other: list[list[str]] = []
    for index, run in enumerate(runs):
        for c in sorted(run.cells, key=lambda c: (c.env, c.agent, c.metric, c.horizon)):
            row = [
                _e(c.env),
                *_series_cells(index, c.agent, labels),
                _e(c.horizon),
                _e(c.metric),
                _e(c.n_tasks),
                _e(c.n_samples),
                _with_ci(c.success_rate, c.success_ci),
                _with_ci(c.bias, c.bias_ci),
                _with_ci(c.variance, c.variance_ci),
                _with_ci(c.error, c.error_ci),
                _with_ci(c.incoherence, c.incoherence_ci),
            ]
            (headline if c.metric in HEADLINE_METRICS else other).append(row)
    text = "<h3>Summary (headline metric per env)</h3>" + _table(header, headline, left=2)
    if other:
        text += (
            "<details><summary>Other metrics (Brier, zero-one)</summary>"
            + _table(header, other, left=2)
            + "</details>"
        )
    return text


def _trend_table(runs: Sequence[_Run], labels: Mapping[Series, str]) -> str:
    rows = []
    for index, run in enumerate(runs):
        for t in sorted(run.trends, key=lambda t: (t.env, t.agent, t.metric, t.quantity)):
            if t.metric not in HEADLINE_METRICS:
                continue
            rows.append(
                [
                    _e(t.env),
                    *_series_cells(index, t.agent, labels),
                    _e(t.metric),
                    _e(t.quantity),
                    _with_ci(t.slope, t.slope_ci),
                    _e(_fmt(t.intercept)),
                    _e(_fmt(t.r2)),
                    _e(t.n_horizons),
                ]
            )
    return (
        "<h3>Trends: log-log fits against horizon</h3>"
        '<p class="lead">ln(quantity) = intercept + slope · ln H, least squares over the '
        "horizons; a slope of 0.5 means the quantity grows as √H. The interval is the "
        "bootstrap interval of the slope.</p>"
        + _table(
            ["env", "agent", "metric", "quantity", "slope", "intercept", "R²", "horizons"],
            rows,
            left=4,
        )
    )


def _h50_table(runs: Sequence[_Run], labels: Mapping[Series, str]) -> str:
    rows = []
    for index, run in enumerate(runs):
        for f in sorted(run.fits, key=lambda f: (f.env, f.agent)):
            rows.append(
                [
                    _e(f.env),
                    *_series_cells(index, f.agent, labels),
                    _with_ci(f.h50, f.h50_ci),
                    _e(_fmt(f.intercept)),
                    _e(_fmt(f.slope)),
                    "yes" if f.extrapolated else "no",
                    _e(SEPARATION.get(str(getattr(f, "separation", None)), "–")),
                    _e(f.n_episodes),
                ]
            )
    return (
        "<h3>h50: the horizon of 50% success</h3>"
        '<p class="lead">From the logistic fit logit P(success) = intercept + slope · ln H; '
        "h50 = exp(−intercept / slope). Extrapolated: h50 lies outside the swept horizons.</p>"
        + _table(
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


SEPARATION = {
    "all_success": "every episode succeeded (h50 = ∞)",
    "all_failure": "every episode failed (h50 = 0)",
    "separated": "success and failure split by horizon (h50 at the cut)",
}


def _divergence_table(runs: Sequence[_Run], labels: Mapping[Series, str]) -> str:
    keys: list[str] = []
    for run in runs:
        for row in run.divergence_summary:
            keys += [k for k in row if k not in keys and k not in ("env", "agent", "horizon")]
    rows = []
    for index, run in enumerate(runs):
        for row in sorted(
            run.divergence_summary,
            key=lambda r: (str(r.get("env")), str(r.get("agent")), _number(r.get("horizon"))),
        ):
            rows.append(
                [
                    _e(row.get("env")),
                    *_series_cells(index, str(row.get("agent")), labels),
                    _e(row.get("horizon")),
                    *(
                        _e(_fmt(row.get(k)) if not isinstance(row.get(k), str) else row.get(k))
                        for k in keys
                    ),
                ]
            )
    return "<h3>Divergence</h3>" + _table(
        ["env", "agent", "horizon", *(k.replace("_", " ") for k in keys)], rows, left=2
    )


def _actions_table(runs: Sequence[_Run], labels: Mapping[Series, str]) -> str:
    rows = []
    for index, run in enumerate(runs):
        for g in sorted(run.splits, key=lambda g: (g.env, g.agent, g.metric, g.horizon, g.group)):
            if g.metric not in HEADLINE_METRICS:
                continue
            rows.append(
                [
                    _e(g.env),
                    *_series_cells(index, g.agent, labels),
                    _e(g.horizon),
                    _e(g.metric),
                    _e(g.group),
                    _e(_fmt(g.mean_actions)),
                    _e(g.n_questions),
                    _e(_fmt(g.bias)),
                    _e(_fmt(g.variance)),
                    _e(_fmt(g.error)),
                    _e(_fmt(g.incoherence)),
                ]
            )
    return (
        "<details><summary>Median split by actions taken (the numbers behind the figure)</summary>"
        + _table(
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


def _transcripts_section(
    runs: Sequence[_Run],
    labels: Mapping[Series, str],
    transcripts: Mapping[Cell, list[_Transcript]],
) -> str:
    if not transcripts:
        return "<p>No transcripts (--transcripts 0).</p>"
    parts = [
        '<p class="lead">Per cell, the first samples of its first task. Observations longer than '
        f"{OBSERVATION_LIMIT:,} characters are cut (the note says by how much); prompts, actions and "
        f"messages at {TEXT_LIMIT:,}.</p>"
    ]
    by_env: dict[str, list[Cell]] = defaultdict(list)
    for cell in transcripts:
        by_env[cell[1]].append(cell)
    for env in sorted(by_env):
        parts.append(f"<h3>{_e(env)}</h3>")
        for cell in sorted(by_env[env], key=lambda c: (c[0], c[2], c[3])):
            index, _, agent, horizon = cell
            episodes = transcripts[cell]
            wins = sum(bool(t.outcome.get("success")) for t in episodes)
            parts.append(
                f"<details><summary>{_e(labels.get((index, agent), agent))} · horizon {_e(horizon)} · "
                f"task {_e(episodes[0].task_seed)} · {wins}/{len(episodes)} right</summary>"
            )
            parts.extend(_episode_html(t) for t in episodes)
            parts.append("</details>")
    return "\n".join(parts)


def _episode_html(t: _Transcript) -> str:
    o = t.outcome
    verdict = (
        '<span class="ok">success</span>'
        if o.get("success")
        else '<span class="err">failure</span>'
    )
    extra = []
    if o.get("truncated"):
        extra.append("truncated at the action cap")
    if o.get("infra_error"):
        extra.append(f"infrastructure error: {o['infra_error']}")
    head = f"sample {_e(t.sample)} · {verdict} · {_e(len(t.steps))} actions" + (
        f" · {_e('; '.join(extra))}" if extra else ""
    )
    parts = [f"<details><summary>{head}</summary>"]
    parts.append(f'<div class="label">prompt</div><pre>{_e(t.prompt)}</pre>')
    parts.append('<ol class="steps">')
    for step in t.steps:
        flags = []
        if step.tool_error:
            flags.append('<span class="err">tool error</span>')
        if step.replayed:
            flags.append('<span class="replayed">replayed from the trunk</span>')
        item = [f"<li>{' '.join(flags)}"]
        if step.agent_message:
            item.append(
                f'<div class="label">agent message</div><pre>{_e(step.agent_message)}</pre>'
            )
        item.append(
            f'<div class="label">action{f" ({_e(step.tool)})" if step.tool else ""}</div>'
            f"<pre>{_e(step.action)}</pre>"
        )
        item.append(f'<div class="label">observation</div><pre>{_e(step.observation)}</pre>')
        if step.cut:
            item.append(f'<div class="note">… {step.cut:,} more characters not shown</div>')
        if step.agent_error:
            item.append(
                f'<div class="label err">agent error</div><pre>{_e(step.agent_error)}</pre>'
            )
        item.append("</li>")
        parts.append("".join(item))
    parts.append("</ol>")
    answer = json.dumps(o.get("answer"), ensure_ascii=False)
    target = o.get("target")
    if (
        o.get("kind") == "categorical"
        and isinstance(o.get("choices"), list)
        and isinstance(target, int)
    ):
        choices = o["choices"]
        target = choices[target] if 0 <= target < len(choices) else target
    elif o.get("kind") == "tests":
        target = "every hidden test passes"
    parts.append(
        f'<div class="label">outcome</div><pre>answer: {_e(_cut(answer, TEXT_LIMIT)[0])}\n'
        f"target: {_e(target)}\nprediction: {_e(_cut(json.dumps(o.get('prediction')), TEXT_LIMIT)[0])}</pre>"
    )
    parts.append("</details>")
    return "".join(parts)


# --------------------------------------------------------------------------- compare

QUANTITIES = ("incoherence", "bias", "variance", "error", "success")


@dataclass(frozen=True)
class Difference:
    """One quantity in two runs, and the second minus the first with its interval."""

    first: float | None
    second: float | None
    delta: float | None
    ci: tuple[float, float] | None

    @property
    def excludes_zero(self) -> bool:
        return self.ci is not None and (self.ci[0] > 0 or self.ci[1] < 0)


@dataclass(frozen=True)
class Comparison:
    """A cell of two runs: same env, horizon and headline metric; the same agent spec,
    or (when the runs share no agent) each run's own agent."""

    env: str
    horizon: int
    metric: str
    agent_first: str
    agent_second: str
    n_tasks: tuple[int, int]
    quantities: dict[str, Difference]


@dataclass
class _Questions:
    """Per-question terms of one cell's headline decomposition, for task resampling."""

    metric: str
    bias: list[float] = field(default_factory=list)
    variance: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)  # the least KL error δ smoothing allows
    successes: list[int] = field(default_factory=list)
    episodes: list[int] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            name: np.asarray(getattr(self, name), dtype=np.float64)
            for name in ("bias", "variance", "error", "floor", "successes", "episodes")
        }


_SEP = "\x1f"


def _questions(episodes: Sequence[LightEpisode]) -> dict[tuple[str, str, int], _Questions]:
    """Each question's bias, variance and error, by scoring every task as a cell of its own
    with `score_episodes` (so the scoring rules are exactly `hotmess score`'s), plus its
    successes among uncensored episodes."""
    records = [
        {
            "key": e.key,
            "env": e.env,
            "agent": f"{e.agent}{_SEP}{e.task_seed}",
            "horizon": e.horizon,
            "task_seed": e.task_seed,
            "sample": e.sample,
            "outcome": e.outcome,
        }
        for e in episodes
    ]
    width: dict[tuple[str, str, int], int] = {}
    wins: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for e in episodes:
        question = (e.env, f"{e.agent}{_SEP}{e.task_seed}", e.horizon)
        choices = e.outcome.get("choices")
        width[question] = len(choices) if isinstance(choices, list) else 0
        if e.outcome.get("infra_error") is None:
            wins[question][0] += bool(e.outcome.get("success"))
            wins[question][1] += 1
    cells: dict[tuple[str, str, int], _Questions] = {}
    for row in score_episodes(records):
        if row.metric not in HEADLINE_METRICS or row.n_tasks == 0:
            continue
        agent = row.agent.rsplit(_SEP, 1)[0]
        question = (row.env, row.agent, row.horizon)
        cell = cells.setdefault((row.env, agent, row.horizon), _Questions(row.metric))
        cell.bias.append(row.bias)
        cell.variance.append(row.variance)
        cell.error.append(row.error)
        cell.floor.append(kl_error_floor(width[question]) if row.metric == "kl" else 0.0)
        cell.successes.append(wins[question][0])
        cell.episodes.append(wins[question][1])
    return cells


def _replicates(q: dict[str, np.ndarray], index: np.ndarray | None) -> dict[str, np.ndarray]:
    """The five quantities of a cell over resampled questions `index` [n_boot, n_questions]
    (None: the questions as they are, as one replicate)."""
    if index is None:
        index = np.arange(len(q["bias"]))[None, :]
    n = index.shape[1]
    error = q["error"][index].sum(axis=1)
    floor = q["floor"][index].sum(axis=1)
    # Undefined as in table.py: no error at all, or (KL) none beyond what smoothing leaves.
    defined = (error > 1e-12 * n) & ((floor == 0) | (error > floor + 1e-9 * n))
    with np.errstate(invalid="ignore", divide="ignore"):
        incoherence = np.where(defined, q["variance"][index].sum(axis=1) / error, np.nan)
        success = q["successes"][index].sum(axis=1) / q["episodes"][index].sum(axis=1)
    return {
        "incoherence": incoherence,
        "bias": q["bias"][index].mean(axis=1),
        "variance": q["variance"][index].mean(axis=1),
        "error": error / n,
        "success": success,
    }


def compare_runs(
    first: str | os.PathLike[str],
    second: str | os.PathLike[str],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    unmatched: list[str] | None = None,
) -> list[Comparison]:
    """Each common cell of two runs with the difference second − first of incoherence, bias,
    variance, error and success, and a bootstrap interval of each difference.

    Cells match on env, horizon, headline metric and agent spec; when the runs share no
    agent spec, every agent of the first run is matched with every agent of the second on
    env and horizon. The interval resamples each run's tasks with replacement,
    independently (the runs are independent samples), `n_boot` times, and takes the
    expanded percentile interval of `cell_stats`; a difference whose replicates are mostly
    undefined (no error to split), or a cell with fewer than two tasks, has none. Agents
    left out because only one run has them are appended to `unmatched`, when given.
    """
    if n_boot < 1:
        raise ConfigError(f"the number of bootstrap resamples must be at least 1, got {n_boot}")
    cells = [_questions(_load(Path(path))) for path in (first, second)]
    agents = [{agent for _, agent, _ in c} for c in cells]
    shared = agents[0] & agents[1]
    if shared and unmatched is not None:
        for path, own in zip((first, second), agents, strict=True):
            unmatched += [f"{agent} (only in {path})" for agent in sorted(own - shared)]
    pairs = []
    for (env, agent, horizon), one in sorted(cells[0].items()):
        candidates = [agent] if shared else sorted(agents[1])
        if shared and agent not in shared:
            continue
        for other in candidates:
            two = cells[1].get((env, other, horizon))
            if two is not None and two.metric == one.metric:
                pairs.append((env, horizon, agent, other, one, two))
    if not pairs:
        describe = [
            f"{path}: {', '.join(sorted({f'{env} H={h}' for env, _, h in c})) or 'nothing scorable'}"
            for path, c in zip((first, second), cells, strict=True)
        ]
        raise ConfigError(
            "the two runs have no cell in common (same env, horizon and metric"
            + (", and agent" if shared else "")
            + f"): {'; '.join(describe)}"
        )
    rng = np.random.default_rng(seed)
    comparisons = []
    for env, horizon, agent, other, one, two in sorted(
        pairs, key=lambda p: (p[0], p[2], p[3], p[1])
    ):
        a, b = one.arrays(), two.arrays()
        n_tasks = (len(one.bias), len(two.bias))
        point = [_replicates(x, None) for x in (a, b)]
        boot = [
            _replicates(x, rng.integers(0, len(x["bias"]), size=(n_boot, len(x["bias"]))))
            for x in (a, b)
        ]
        quantities = {}
        for name in QUANTITIES:
            v1, v2 = (_optional(p[name][0]) for p in point)
            delta = boot[1][name] - boot[0][name]
            ci = None
            if v1 is not None and v2 is not None and np.isfinite(delta).sum() > n_boot / 2:
                # The interval `cell_stats` uses (expanded percentile), with the smaller
                # run's task count: the more conservative of the two expansions.
                ci = _interval(_expanded_interval(delta, level, min(n_tasks)))
            quantities[name] = Difference(
                first=v1,
                second=v2,
                delta=v2 - v1 if v1 is not None and v2 is not None else None,
                ci=ci,
            )
        comparisons.append(
            Comparison(
                env=env,
                horizon=horizon,
                metric=one.metric,
                agent_first=agent,
                agent_second=other,
                n_tasks=n_tasks,
                quantities=quantities,
            )
        )
    return comparisons
