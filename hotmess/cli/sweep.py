"""`hotmess sweep`: a horizon sweep into a run directory. Its flags are SweepConfig's fields
(hotmess.cli.flags derives them), and `--set KEY=VALUE` reaches any field, nested ones too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hotmess.cli.app import app, console, err_console
from hotmess.cli.flags import derive_flags, with_config_flags
from hotmess.cli.run import env_options
from hotmess.errors import ConfigError
from hotmess.runner.config import SweepConfig, apply_settings, load_yaml

FLAG_NAMES = {
    "envs": ("--env", "-e"),
    "agents": ("--agent", "-a"),
    "out": ("--out", "-o"),
    "workers": ("--workers", "-w"),
}
"""Flags not spelt `--field-name`, or with a short form: the names they have always had."""
FLAGS = derive_flags(SweepConfig, FLAG_NAMES)

#: The config's required fields, and `out`: the library leaves the run directory to
#: `run_sweep`'s caller, but this command writes one.
REQUIRED = (*(n for n, f in SweepConfig.model_fields.items() if f.is_required()), "out")


@app.command("sweep")
@with_config_flags(SweepConfig, FLAG_NAMES)
def sweep_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML sweep config; flags override it.")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Set any config field, nested ones too, over the file and the flags; VALUE is "
            "read as YAML (repeatable), e.g. --set sandbox_options.memory_mb=2048.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--no-resume",
            help="Continue the sweep in --out, running only missing episodes (and, unless "
            "--no-retry-censored, the censored ones again).",
        ),
    ] = False,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-O",
            metavar="KEY=VALUE",
            help="Env option for every env of the sweep (repeatable), as for `hotmess run`, "
            "e.g. -O difficulty=hard; over env_options of the config file.",
        ),
    ] = None,
    progress: Annotated[
        str,
        typer.Option(
            "--progress", help="auto (rich on a terminal, plain otherwise), rich, plain or quiet."
        ),
    ] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Same as --progress quiet.")] = False,
    *,
    flags: dict[str, Any],
) -> None:
    """Run a horizon sweep: envs x horizons x tasks x samples x agents, into a run directory.

    Exit status: 0 when every episode is done, 3 when a budget (--max-cost, --max-tokens,
    --max-wall) stopped it (continue with --resume), 130 after Ctrl-C, 2 on bad input.

    Example: [bold]hotmess sweep --env hotmess/KVSum-v0 --agent noisy:p=0.1 --horizons 1,2,4,8 --tasks 10 --samples 20 --out runs/kv[/bold]
    """
    data = apply_settings({**(load_yaml(config) if config else {}), **flags}, settings or [])
    if option:
        data["env_options"] = every_env(data, env_options(option))
    missing = [name for name in REQUIRED if data.get(name) is None]
    if missing:
        named = ", ".join(FLAGS[name].flag if name in FLAGS else name for name in missing)
        where = f"give it, or set it in {config}" if config else "or give --config FILE"
        raise ConfigError(f"missing {named} ({where}); see `hotmess sweep --help`")
    sweep_config = SweepConfig.build(data, source=str(config) if config else "sweep flags")
    result = run_with_progress(sweep_config, resume=resume, mode="quiet" if quiet else progress)
    extra = ""
    if result.rounds:
        extra += f", {result.rounds} adaptive round(s) (decisions in adaptive.json)"
    if result.forks_skipped:
        extra += f", {result.forks_skipped} trunk(s) too short to fork"
    console.print(
        f"{result.ran} episodes run, {result.skipped} already done, {result.infra_errors} infrastructure errors"
        f"{extra}; store: {result.out}.",
        soft_wrap=True,
    )
    if result.stopped is not None:
        err_console.print(
            f"hotmess: stopped early ({result.stopped}); every finished episode is saved: "
            "continue with --resume",
            soft_wrap=True,
        )
        raise typer.Exit(130 if result.stopped == "interrupted" else 3)
    console.print(f"Score it with `hotmess score {result.out}`.")


def every_env(data: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The config's `env_options` with `options` (from -O) set for each of its envs."""
    merged = dict(data.get("env_options") or {})
    for env in data.get("envs") or []:
        merged[env] = {**(merged.get(env) or {}), **options}
    return merged


def run_with_progress(config: SweepConfig, *, resume: bool, mode: str) -> Any:
    """`run_sweep` under the progress display `mode`; Ctrl-C becomes exit 130."""
    from hotmess.cli.progress import MODES, SweepProgress
    from hotmess.runner import run_sweep

    if mode not in MODES:
        raise ConfigError(f"--progress must be one of {', '.join(MODES)}, got {mode!r}")
    try:
        with SweepProgress(mode, console=console) as shown:
            return run_sweep(config, resume=resume, on_plan=shown.plan, on_episode=shown.episode)
    except KeyboardInterrupt:
        err_console.print(
            "hotmess: interrupted; every finished episode is saved: continue with --resume"
        )
        raise typer.Exit(130) from None
