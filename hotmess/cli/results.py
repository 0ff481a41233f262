"""`hotmess score`, `export`, `report` and `compare`: what a run directory holds, as tables,
files and a side-by-side of two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from hotmess.cli.app import app, console, err_console
from hotmess.errors import ConfigError
from hotmess.report import format_value as _fmt

NOT_ESTIMABLE = "n/e"
"""How a table prints incoherence that too few samples leave not estimable."""

MissingScalar = Annotated[
    str,
    typer.Option(
        "--missing-scalar",
        help="Missing scalar answers: drop (left out, the default) or worst (scored at the "
        "question's answer farthest from the target). See docs/scoring.md.",
    ),
]
Ks = Annotated[
    list[str] | None,
    typer.Option(
        "--k",
        help="k of pass@k and pass^k; repeat or give a comma list (default: 1 and the largest "
        "power of two not above the samples per task).",
    ),
]


def parse_ks(values: list[str] | None) -> list[int] | None:
    """`--k 1 --k 4,8` → [1, 4, 8]; None when not given."""
    if not values:
        return None
    ks: set[int] = set()
    for part in ",".join(values).split(","):
        try:
            k = int(part)
        except ValueError:
            raise ConfigError(f"--k takes whole numbers, got {part!r}") from None
        if k < 1:
            raise ConfigError(f"--k must be at least 1, got {k}")
        ks.add(k)
    return sorted(ks)


def check_missing_scalar(policy: str) -> str:
    from hotmess.scoring.samples import MISSING_SCALAR_POLICIES

    if policy not in MISSING_SCALAR_POLICIES:
        raise ConfigError(
            f"--missing-scalar is one of {', '.join(MISSING_SCALAR_POLICIES)}, got {policy!r}"
        )
    return policy


def incoherence_text(row: dict[str, Any]) -> str:
    """The incoherence cell: the value, or n/e where few samples leave it not estimable."""
    if row.get("few_samples"):
        return NOT_ESTIMABLE
    return _fmt(row["incoherence"], 2)


if TYPE_CHECKING:
    from hotmess.scoring.estimators import Estimator


def print_score_table(rows: list[Any], title: str) -> None:
    ks = sorted({k for row in rows for k in row.pass_at_k})
    table = Table(title=title, pad_edge=False)  # every character counts in 17 columns
    columns = [
        "env", "agent", "horizon", "metric", "tasks", "≥2 ans.", "samples", "bias", "variance",
        "error", "incoherence", "success", *(f"pass{sign}{'/'.join(map(str, ks))}" for sign in "@^"),
        "forced", "lost m/t/a/i",
    ]  # fmt: skip
    for column in columns:
        text = column in ("env", "agent", "metric")
        # Names stay whole (a user copies an agent spec); the numbers give way when narrow.
        table.add_column(column, justify="left" if text else "right", no_wrap=text)
    for row in rows:
        d = row.to_dict()
        table.add_row(
            d["env"].removeprefix("hotmess/"),
            d["agent"],
            str(d["horizon"]),
            d["metric"],
            str(d["n_tasks"]),
            str(d["n_tasks_estimable"]),
            str(d["n_samples"]),
            _fmt(d["bias"]),
            _fmt(d["variance"]),
            _fmt(d["error"]),
            incoherence_text(d),
            _fmt(d["success_rate"], 2),
            # One column per estimator, its values for each k: the table stays narrow.
            "/".join(_fmt(row.pass_at_k.get(k), 2) for k in ks),
            "/".join(_fmt(row.pass_hat_k.get(k), 2) for k in ks),
            _fmt(d["forced_share"], 2),
            "/".join(
                str(d[key]) for key in ("missing", "truncated", "agent_failures", "infra_errors")
            ),
        )
    console.print(table)
    console.print(
        "lost m/t/a/i: answers missing / episodes truncated at the action cap / episodes the "
        "agent broke (scored as missing) / episodes censored for an infrastructure fault"
    )
    if any(row.few_samples for row in rows):
        console.print(
            f"{NOT_ESTIMABLE}: not estimable, most tasks have fewer than two answered samples "
            "(≥2 ans. counts those that have two or more).",
            markup=False,
            highlight=False,
        )


def print_warnings(rows: list[Any]) -> None:
    """One warning line (to stderr) per cell whose incoherence too few samples hide."""
    seen: set[str] = set()
    for row in rows:
        warning = row.warning
        if warning is not None and warning not in seen:
            seen.add(warning)
            err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


ESTIMATOR_OPTION = typer.Option(
    "--estimator",
    help="Point estimator: plugin (the paper's values) or corrected (finite-sample corrected: see docs/scoring.md).",
)


def _check_estimator(estimator: str) -> Estimator:
    from hotmess.scoring.estimators import ESTIMATORS

    for known in ESTIMATORS:
        if estimator == known:
            return known
    raise ConfigError(f"--estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")


def delta_sensitivity_by_cell(episodes: list[Any]) -> dict[tuple[str, str, int], Any]:
    """KL at δ = 1e-12 and a larger δ per categorical cell (`kl_delta_sensitivity`)."""
    from hotmess.scoring.stats import kl_delta_sensitivity

    return {(r.env, r.agent, r.horizon): r for r in kl_delta_sensitivity(episodes)}


def _json_row(row: Any, estimator: str, sensitivity: dict[tuple[str, str, int], Any]) -> dict:
    """The row's keys, then the new ones: the estimator when not the default plug-in, and
    for kl its values at a larger δ."""
    data = row.to_dict()
    if estimator != "plugin":
        data["estimator"] = estimator
    found = sensitivity.get((row.env, row.agent, row.horizon))
    if row.metric == "kl" and found is not None:
        data["kl_larger_delta"] = {"delta": found.delta, **found.values}
        data["kl_delta_disagrees"] = list(found.disagrees)
    return data


def print_delta_warnings(rows: Any) -> None:
    """One line per cell whose KL values at the two δ differ by more than 2x."""
    for r in rows:
        if r.disagrees:
            console.print(
                f"warning: {r.env.removeprefix('hotmess/')} {r.agent} H={r.horizon}: KL "
                f"{', '.join(r.disagrees)} {'differ' if len(r.disagrees) > 1 else 'differs'} by more than 2x between δ = 1e-12 and "
                f"δ = {r.delta:g} (one-hot answers: KL's scale follows δ; see docs/scoring.md)",
                markup=False,
                highlight=False,
            )


def print_per_task(run_dir: Path, episodes: list[Any], policy: str, as_json: bool) -> None:
    """Each task scored alone: the per-question numbers a cell's row pools (bias, variance
    and error of its samples), named by the id an imported run recorded for it."""
    from hotmess.scoring import score_episodes

    sweep = run_dir / "sweep.json"
    config = json.loads(sweep.read_text()).get("config", {}) if sweep.exists() else {}
    names: dict[str, str] = config.get("task_ids") or {}
    by_task: dict[tuple[str, str, int, int], list[Any]] = {}
    for e in episodes:
        by_task.setdefault((e["env"], e["agent"], e["horizon"], e["task_seed"]), []).append(e)
    rows = []
    for (_, _, _, seed), group in sorted(by_task.items()):
        for row in score_episodes(group, missing_scalar=policy):
            data = {"task_seed": seed, "task": names.get(str(seed), str(seed)), **row.to_dict()}
            rows.append(data)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"hotmess score {run_dir} --per-task")
    columns = ("env", "agent", "horizon", "task", "metric", "samples", "bias", "variance", "error")
    for column in columns:
        table.add_column(
            column, justify="right" if column not in ("env", "agent", "task") else "left"
        )
    for data in rows:
        table.add_row(
            str(data["env"]).removeprefix("hotmess/"),
            str(data["agent"]),
            str(data["horizon"]),
            str(data["task"]),
            str(data["metric"]),
            str(data.get("n_samples", "")),
            *(_fmt(data.get(key)) for key in ("bias", "variance", "error")),
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
    missing_scalar: MissingScalar = "drop",
    k: Ks = None,
    estimator: Annotated[str, ESTIMATOR_OPTION] = "plugin",
    per_task: Annotated[
        bool,
        typer.Option(
            "--per-task",
            help="One row per task (question) instead of pooling a cell's tasks: its own "
            "bias, variance and error over its samples.",
        ),
    ] = False,
) -> None:
    """Bias, variance, error, incoherence, pass@k and pass^k per env x agent x horizon.

    Example: [bold]hotmess score runs/kv --json --k 1,8[/bold]
    """
    from hotmess.scoring import load_episodes, score_episodes, score_forks
    from hotmess.scoring.samples import impute_missing_scalars
    from hotmess.scoring.stats import score_estimated

    policy = check_missing_scalar(missing_scalar)
    ks = parse_ks(k)
    if not (run_dir / "episodes.jsonl").exists():
        raise ConfigError(
            f"{run_dir} holds no episodes.jsonl: give a directory written by `hotmess sweep`"
        )
    episodes = load_episodes(run_dir, keep_steps=False)
    if per_task:
        print_per_task(run_dir, episodes, check_missing_scalar(missing_scalar), as_json)
        return
    if forks:
        tables = score_forks(impute_missing_scalars(episodes, policy))
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
        print_warnings([row for rows in tables.values() for row in rows])
        return
    chosen = _check_estimator(estimator)
    rows = (
        score_episodes(episodes, missing_scalar=policy, ks=ks)
        if chosen == "plugin"
        # The corrected rows keep pass@k's default k: they differ in bias and variance only.
        else score_estimated(impute_missing_scalars(episodes, policy), chosen)
    )
    sensitivity = delta_sensitivity_by_cell(episodes)
    if as_json:
        print(json.dumps([_json_row(row, estimator, sensitivity) for row in rows], indent=2))
    else:
        print_score_table(rows, f"hotmess score {run_dir} ({estimator} estimator)")
        print_delta_warnings(sensitivity.values())
        if any(episode.get("fork_of") is not None for episode in episodes):
            console.print(f"This run has forks: `hotmess score {run_dir} --forks` scores them.")
    print_warnings(rows)


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
    missing_scalar: MissingScalar = "drop",
    k: Ks = None,
    estimator: Annotated[str, ESTIMATOR_OPTION] = "plugin",
) -> None:
    """Write a self-contained HTML report (plots, tables, transcripts) and every plot as a PNG.

    Example: [bold]hotmess report runs/kv runs/kv-gpt --out reports/kv[/bold]
    """
    from hotmess.report import write_report

    chosen = _check_estimator(estimator)
    target = out or (run_dirs[0] / "report" if len(run_dirs) == 1 else Path("hotmess-report"))
    result = write_report(
        run_dirs,
        target,
        n_boot=bootstrap,
        seed=seed,
        transcripts_per_cell=transcripts,
        resample_samples=two_stage,
        missing_scalar=check_missing_scalar(missing_scalar),
        ks=parse_ks(k),
        estimator=chosen,
    )
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
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
    estimator: Annotated[str, ESTIMATOR_OPTION] = "plugin",
) -> None:
    """Two runs side by side: incoherence, bias, variance, error and success per env, agent and
    horizon, with the difference DIR2 − DIR1 and its 95% bootstrap interval (tasks resampled).

    Example: [bold]hotmess compare runs/kv-p01 runs/kv-p03[/bold]
    """
    from rich.text import Text

    from hotmess.report import comparison_table
    from hotmess.scoring import score_run
    from hotmess.scoring.compare import compare_runs

    chosen = _check_estimator(estimator)
    unmatched: list[str] = []
    comparisons = compare_runs(
        first, second, n_boot=bootstrap, seed=seed, unmatched=unmatched, estimator=chosen
    )
    console.print(comparison_table(comparisons, first, second))
    if unmatched:
        console.print(
            Text(f"not compared, no counterpart in the other run: {'; '.join(unmatched)}")
        )
    print_warnings([row for run in (first, second) for row in score_run(run)])
