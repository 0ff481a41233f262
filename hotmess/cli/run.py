"""`hotmess run`: one episode, its transcript printed."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hotmess.cli.app import app, console
from hotmess.errors import ConfigError


@app.command("run")
def run_command(
    env: Annotated[str, typer.Argument(help="Environment id, e.g. hotmess/KVSum-v0.")],
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent spec.")] = "oracle",
    horizon: Annotated[
        int, typer.Option("--horizon", "-H", min=1, help="Actions the task needs.")
    ] = 8,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Task seed.")] = 0,
    sample: Annotated[
        int, typer.Option("--sample", help="Sample index (varies the agent's seed).")
    ] = 0,
    sandbox: Annotated[
        str | None,
        typer.Option(
            "--sandbox", help="auto, docker or bwrap (default: $HOTMESS_SANDBOX, else auto)."
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", "-O", help="Env option KEY=VALUE (repeatable), e.g. -O difficulty=hard."
        ),
    ] = None,
    final_answer: Annotated[
        bool,
        typer.Option(
            "--final-answer/--no-final-answer",
            help="At the action cap, ask for the final answer (only submit allowed).",
        ),
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the episode record as JSON.")
    ] = False,
) -> None:
    """Run one episode and print its transcript.

    Exit status: 0 when the episode ran (whatever the agent did), 4 when an infrastructure
    error censored it, 2 on bad input.

    Example: [bold]hotmess run hotmess/KVSum-v0 --agent noisy:p=0.2 --horizon 8 --seed 3[/bold]
    """
    from hotmess.agents import make_agent
    from hotmess.envs import make_env
    from hotmess.runner import episode_record, run_episode, single_cell
    from hotmess.runner.interrupts import sigint_raises
    from hotmess.sandbox import default_kind

    options = env_options(option or [])
    environment = make_env(
        env,
        horizon=horizon,
        sandbox=sandbox or default_kind(),
        final_answer=final_answer,
        **options,
    )
    try:
        cell = single_cell(
            env, horizon, seed, agent, sample=sample, env_options=options, final_answer=final_answer
        )
        with sigint_raises():
            episode = run_episode(environment, make_agent(agent), seed, agent_seed=cell.agent_seed)
        record = episode_record(cell, episode)
    finally:
        environment.close()
    if as_json:
        print(record.model_dump_json(indent=2))
    else:
        _print_transcript(env, horizon, seed, agent, record)
    if record.outcome.infra_error:
        # The episode says nothing about the agent: a script must not take it as a result.
        raise typer.Exit(INFRA_EXIT)


INFRA_EXIT = 4
"""`hotmess run`'s exit status when the episode hit an infrastructure error (censored)."""


def _print_transcript(env: str, horizon: int, seed: int, agent: str, record: Any) -> None:
    console.rule(f"{env}  horizon {horizon}  task seed {seed}  agent {agent}")
    console.print(record.prompt, markup=False, highlight=False)
    for number, step in enumerate(record.steps, 1):
        console.print(f"[bold cyan]{number:>3} >[/bold cyan] ", end="")
        console.print(step.action, markup=False, highlight=False)
        style = "red" if step.tool_error else "dim"
        console.print(f"      {step.observation}", style=style, markup=False, highlight=False)
    outcome = record.outcome
    verdict = "[green]success[/green]" if outcome.success else "[red]failure[/red]"
    extra = " (truncated at the action cap)" if outcome.truncated else ""
    if outcome.forced:
        extra = " (answer forced at the action cap)"
    elif outcome.agent_failure:
        extra = f" (the agent's failure: {outcome.agent_failure})"
    if outcome.infra_error:
        extra = f" (infrastructure error: {outcome.infra_error})"
    console.print(
        f"{verdict} after {outcome.n_actions} actions{extra}; answer {outcome.answer!r}, target {_target(outcome)}",
        markup=True,
        highlight=False,
    )


def env_options(items: list[str]) -> dict[str, Any]:
    """`-O KEY=VALUE` options as a mapping; VALUE is read as JSON when it parses."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option takes KEY=VALUE, got '{item}'")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _target(outcome: Any) -> str:
    if outcome.kind == "categorical" and outcome.choices and outcome.target is not None:
        return str(outcome.choices[int(outcome.target)])
    if outcome.kind == "tests":
        return "all tests pass"
    return f"{outcome.target:g}" if isinstance(outcome.target, float) else str(outcome.target)
