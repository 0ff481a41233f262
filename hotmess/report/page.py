"""`write_report`: one or more run directories → one self-contained `report.html` (figures
as base64 PNG, CSS inline, no script, no URL) and the same figures as PNG files. The page's
skeleton and style sheet are the package data files templates/report.html and report.css.
"""

from __future__ import annotations

import base64
import functools
import os
import string
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hotmess.errors import ConfigError
from hotmess.report import tables
from hotmess.report.figures import Figure, figures
from hotmess.report.markup import escape
from hotmess.report.runs import ReportRun, load_runs, series_labels
from hotmess.report.transcripts import Cell, Transcript, read_transcripts, transcripts_section
from hotmess.scoring.estimators import Estimator
from hotmess.scoring.samples import impute_missing_scalars
from hotmess.scoring.stats import (
    by_actions,
    cell_stats,
    divergence,
    divergence_summary,
    kl_delta_sensitivity,
    success_horizons,
    trend_fits,
)
from hotmess.scoring.table import score_episodes

REPORT_FILE = "report.html"

SECTIONS = (
    ("incoherence", "Incoherence vs horizon"),
    ("bias-variance", "Bias and variance vs horizon"),
    ("success", "Success vs horizon and h50"),
    ("actions", "Incoherence by actions taken"),
    ("divergence", "Divergence step"),
)

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
    warnings: tuple[str, ...] = ()
    """One line per cell whose incoherence too few answered samples leave not estimable."""


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    transcripts_per_cell: int = 3,
    resample_samples: bool = False,
    missing_scalar: str = "drop",
    ks: Sequence[int] | None = None,
    estimator: Estimator = "plugin",
) -> ReportResult:
    """Write `out/report.html` and every figure as `out/*.png` for one or more runs.

    Several run directories are compared side by side: each (run, agent) is one series
    in every figure and table, labelled "agent (run name)". Statistics (bootstrap CIs with
    `n_boot` resamples, trends, h50, the median split, divergence) come from
    `hotmess.scoring.stats`; transcripts show, per cell, the first `transcripts_per_cell`
    samples of the cell's first task, read from the store in a second pass that parses
    only those lines. `resample_samples` makes the intervals two-stage (tasks, then the
    samples within each drawn task): see docs/scoring.md for why that is not the default.
    `missing_scalar` and `ks` are `score_episodes`' missing-answer policy and pass@k's k.
    `estimator` picks the point values (`plugin`, the paper's, or `corrected`); by default
    the intervals cover the population quantities whichever it is.
    """
    if not run_dirs:
        raise ConfigError("give at least one run directory")
    if n_boot < 1:
        raise ConfigError(f"the number of bootstrap resamples must be at least 1, got {n_boot}")
    if transcripts_per_cell < 0:
        raise ConfigError(f"transcripts per cell must be 0 or more, got {transcripts_per_cell}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    runs = load_runs([Path(d) for d in run_dirs])
    timings["load"] = time.perf_counter() - clock

    clock = time.perf_counter()
    for run in runs:
        run.episodes = impute_missing_scalars(run.episodes, missing_scalar)
        run.rows = score_episodes(run.episodes, ks=ks)
        _add_statistics(
            run, n_boot=n_boot, seed=seed, resample_samples=resample_samples, estimator=estimator
        )
    timings["statistics"] = time.perf_counter() - clock

    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is a file: the report needs a directory (--out DIR)")
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    drawn = figures(runs)
    pngs = []
    for figure in drawn:
        path = out_dir / figure.file
        path.write_bytes(figure.png)
        pngs.append(path)
    timings["figures"] = time.perf_counter() - clock

    clock = time.perf_counter()
    transcripts = read_transcripts(runs, transcripts_per_cell)
    timings["transcripts"] = time.perf_counter() - clock

    clock = time.perf_counter()
    target = out_dir / REPORT_FILE
    temporary = target.with_suffix(".html.tmp")
    temporary.write_text(render(runs, drawn, transcripts, n_boot=n_boot), encoding="utf-8")
    os.replace(temporary, target)
    timings["html"] = time.perf_counter() - clock
    return ReportResult(
        html=target,
        pngs=tuple(pngs),
        n_episodes=sum(len(run.episodes) for run in runs),
        n_transcripts=sum(len(episodes) for episodes in transcripts.values()),
        timings=timings,
        warnings=tuple(tables.sample_warnings(runs)),
    )


def _add_statistics(
    run: ReportRun, *, n_boot: int, seed: int, resample_samples: bool, estimator: Estimator
) -> None:
    """Fill in the run's statistics from `hotmess.scoring.stats`."""
    two_stage = resample_samples
    run.cells = cell_stats(
        run.episodes, n_boot=n_boot, seed=seed, resample_samples=two_stage, estimator=estimator
    )
    run.trends = trend_fits(run.episodes, n_boot=n_boot, seed=seed, resample_samples=two_stage)
    run.fits = success_horizons(run.episodes, n_boot=n_boot, seed=seed, resample_samples=two_stage)
    run.splits = by_actions(run.episodes)
    run.divergence = divergence(run.episodes)
    run.divergence_summary = divergence_summary(run.divergence)
    run.delta_sensitivity = kl_delta_sensitivity(run.episodes)


@functools.cache
def _template(name: str) -> str:
    return (resources.files("hotmess.report") / "templates" / name).read_text(encoding="utf-8")


def render(
    runs: Sequence[ReportRun],
    drawn: Sequence[Figure],
    transcripts: Mapping[Cell, list[Transcript]],
    *,
    n_boot: int,
) -> str:
    """The whole page: templates/report.html filled in, with report.css inline."""
    labels = series_labels(runs)
    names = escape(", ".join(run.name for run in runs))
    parts = [
        tables.summary_tables(runs, labels),
        tables.estimator_note(runs),
        tables.trend_table(runs, labels),
        tables.delta_table(runs, labels),
        tables.h50_table(runs, labels),
        tables.divergence_table(runs, labels),
        tables.actions_table(runs, labels),
    ]
    return string.Template(_template("report.html")).substitute(
        title=names,
        css=_template("report.css"),
        n_boot=n_boot,
        runs=tables.runs_section(runs),
        nav="\n".join(f'<li><a href="#{key}">{escape(title)}</a></li>' for key, title in SECTIONS),
        figures=_figure_sections(drawn),
        tables="\n".join(parts),
        transcripts=transcripts_section(labels, transcripts),
    )


def _figure_sections(drawn: Sequence[Figure]) -> str:
    """A heading, a note and a grid of embedded PNGs per section."""
    parts = []
    for key, title in SECTIONS:
        parts.append(f'<h2 id="{key}">{escape(title)}</h2>')
        parts.append(f'<p class="lead">{SECTION_NOTES[key]}</p><div class="grid">')
        for figure in drawn:
            if figure.section == key:
                data = base64.b64encode(figure.png).decode("ascii")
                wide = ' class="wide"' if figure.section in WIDE_SECTIONS else ""
                parts.append(
                    f'<figure{wide}><img src="data:image/png;base64,{data}" '
                    f'alt="{escape(figure.alt)}"><figcaption>{escape(figure.file)}</figcaption>'
                    "</figure>"
                )
        parts.append("</div>")
    return "\n".join(parts)
