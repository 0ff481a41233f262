"""`hotmess import inspect|harbor`: other harnesses' runs written as run directories that
`score`, `report`, `compare` and `export` read unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hotmess.cli.app import app, console

import_app = typer.Typer(
    help="Write other harnesses' runs (Inspect logs, Harbor jobs) as hotmess run directories.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

Out = Annotated[
    Path, typer.Option("--out", "-o", help="The run directory to write (new, or empty).")
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace the run already in --out (an import never merges: give every log at once).",
    ),
]
Env = Annotated[
    str | None, typer.Option("--env", help="Name the env of every episode (default: the task's).")
]
Agent = Annotated[
    str | None,
    typer.Option("--agent", help="Name the agent of every episode (default: the model's)."),
]
TargetScore = Annotated[
    float,
    typer.Option(
        "--target-score",
        help="The best score: numeric scores and rewards are scalar outcomes against it.",
    ),
]
Horizon = Annotated[
    str,
    typer.Option(
        "--horizon",
        help="actions (each task's median actions taken, bucketed by powers of two) or the "
        "sample metadata field / task argument that holds the horizon.",
    ),
]


@import_app.command("inspect")
def inspect_command(
    logs: Annotated[list[Path], typer.Argument(help="Inspect eval logs (.eval or .json).")],
    out: Out,
    scorer: Annotated[
        str | None,
        typer.Option(
            "--scorer", help="The scorer whose score is the outcome (default: the first)."
        ),
    ] = None,
    score_key: Annotated[
        str | None,
        typer.Option("--score-key", help="For a scorer that gives a dict of values: which one."),
    ] = None,
    horizon: Horizon = "actions",
    env: Env = None,
    agent: Agent = None,
    target_score: TargetScore = 1.0,
    force: Force = False,
) -> None:
    """One episode per sample and epoch: C/I scores as success, numbers as scalars, a
    multiple-choice answer as a choice; errored samples censored.

    Example: [bold]hotmess import inspect logs/*.eval --out runs/gsm8k[/bold]
    """
    from hotmess.importers import InspectImport, import_inspect

    options = InspectImport(
        scorer=scorer,
        score_key=score_key,
        horizon=horizon,
        env=env,
        agent=agent,
        target_score=target_score,
    )
    _report(import_inspect(logs, out, options, force=force))


@import_app.command("harbor")
def harbor_command(
    job_dir: Annotated[
        Path, typer.Argument(help="A Harbor job directory (`harbor run`'s output).")
    ],
    out: Out,
    reward: Annotated[
        str | None,
        typer.Option("--reward", help="The reward to score when the verifier gives several."),
    ] = None,
    env: Env = None,
    agent: Agent = None,
    target_score: TargetScore = 1.0,
    force: Force = False,
) -> None:
    """One episode per trial (a task's attempts are its samples): the reward as the outcome,
    infrastructure exceptions censored, the agent's own counted as failures.

    Example: [bold]hotmess import harbor jobs/2026-01-01__12-00-00 --out runs/tb2[/bold]
    """
    from hotmess.importers import HarborImport, import_harbor

    options = HarborImport(reward=reward, env=env, agent=agent, target_score=target_score)
    _report(import_harbor(job_dir, out, options, force=force))


def _report(result: Any) -> None:
    for note in result.notes:
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    horizons = ", ".join(f"{h}: {n}" for h, n in result.horizons.items())
    console.print(
        f"{result.out}: {result.n_episodes} episodes of {result.n_questions} tasks "
        f"({result.n_censored} censored, {result.n_duplicates} duplicates skipped); "
        f"tasks per horizon {horizons}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"next: hotmess score {result.out}", markup=False, highlight=False)
