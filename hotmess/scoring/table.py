"""Score a run store: one row of bias, variance, error and incoherence per (env, agent,
horizon, metric). Records are read as plain JSON, so any tool's `episodes.jsonl` will do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from hotmess.errors import StoreError
from hotmess.scoring.decompositions import Decomposition
from hotmess.scoring.metrics import OUTCOME_KINDS, Metric, metrics_for
from hotmess.scoring.passk import default_ks, mean_pass
from hotmess.scoring.samples import (
    by_sample_count,
    canonical_key,
    describe_episode,
    episode_identity,
    impute_missing_scalars,
    is_stand_in,
    outcome_sample,
)
from hotmess.store import LightEpisode, load_episodes


@dataclass(frozen=True)
class ScoreRow:
    """The decomposition of one metric over the questions of one (env, agent, horizon) cell."""

    env: str
    """Environment id, e.g. `hotmess/KVSum-v0`."""
    agent: str
    """Agent spec, e.g. `noisy:p=0.1`."""
    horizon: int
    """The task-length knob the cell was run at."""
    metric: str
    """A registered metric's name: `mse` (scalar), `kl`, `brier`, `zero_one` (categorical)
    and `coverage` (tests) are built in (`hotmess.scoring.metrics`)."""
    n_tasks: int
    """Questions (task seeds) with at least one usable sample."""
    n_samples: int
    """Samples that entered the decomposition, over all questions."""
    bias: float
    """Mean over questions of the per-question bias; NaN when n_tasks is 0."""
    variance: float
    """Mean over questions of the per-question variance; NaN when n_tasks is 0."""
    error: float
    """Mean over questions of the per-question error; NaN when n_tasks is 0."""
    incoherence: float | None
    """Σ variance / Σ error over the questions; None when there is no error to split (total
    error 0, or no more than the metric's `error_floor`, e.g. δ smoothing's for `kl`), no
    questions, and for metrics without incoherence (`zero_one`)."""
    success_rate: float
    """Share of non-censored episodes that succeeded; NaN when every episode was censored."""
    missing: int
    """Non-censored episodes with no usable prediction (scalar ones are left out of scoring;
    categorical ones score as uniform, tests ones as all failing)."""
    truncated: int
    """Non-censored episodes that hit the action cap."""
    infra_errors: int
    """Episodes censored because the harness, not the agent, failed."""
    forced_share: float = float("nan")
    """Share of non-censored episodes whose answer was forced at the action cap (the
    sweep's `final_answer`); NaN when every episode was censored."""
    agent_failures: int = 0
    """Non-censored episodes the agent broke (`agent_failure`: an exception in `act()`, an
    action the env could not execute); scored as missing answers."""
    n_tasks_estimable: int = 0
    """Questions with at least two answered samples (stand-ins for missing answers do not
    count): only these add to incoherence; the others are counted, never scored as
    variance 0."""
    n_tasks_few: int = 0
    """Task seeds with a non-censored episode but fewer than two answered samples."""
    few_samples: bool = False
    """Whether most of the cell's questions (task seeds with a non-censored episode) have
    fewer than two answered samples: incoherence is then not estimable (None)."""
    incoherence_note: str | None = None
    """Why incoherence is None, for a metric that has incoherence; None when it is defined."""
    pass_at_k: dict[int, float | None] = field(default_factory=dict)
    """k → mean over tasks of the unbiased pass@k (1 − C(n−c, k)/C(n, k)) over non-censored
    episodes; None when a task has fewer than k of them."""
    pass_hat_k: dict[int, float | None] = field(default_factory=dict)
    """k → mean over tasks of the unbiased pass^k (C(c, k)/C(n, k)), τ-bench's reliability."""

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-safe values: NaN becomes None, pass@k's keys become strings."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}

    @property
    def warning(self) -> str | None:
        """One line for a cell whose incoherence is not estimable from too few samples."""
        if not self.few_samples:
            return None
        return (
            f"{self.env} {self.agent} H={self.horizon}: only {self.n_tasks_estimable} of "
            f"{self.n_tasks_estimable + self.n_tasks_few} tasks have two or more answered samples; incoherence is not "
            "estimable (n/e): run more samples per task"
        )


def score_run(
    run_dir: str | os.PathLike[str],
    *,
    missing_scalar: str = "drop",
    ks: Sequence[int] | None = None,
) -> list[ScoreRow]:
    """Score the `episodes.jsonl` of a run directory; see `score_episodes`."""
    return score_episodes(
        load_episodes(run_dir, keep_steps=False), missing_scalar=missing_scalar, ks=ks
    )


def score_episodes(
    episodes: Iterable[Mapping[str, Any] | LightEpisode],
    *,
    missing_scalar: str = "drop",
    ks: Sequence[int] | None = None,
) -> list[ScoreRow]:
    """One `ScoreRow` per (env, agent, horizon) cell and metric, sorted in that order.

    A question is one task seed within a cell; its samples are its episodes. Episodes with
    an `infra_error` are censored (left out of everything but `infra_errors`). A cell whose
    every episode is censored still gets its rows, with n_tasks 0 and no statistics.
    Forks (episodes with `fork_of`, from `--fork-at`) are left out: see `score_forks`.
    `missing_scalar` is the policy for missing scalar answers (`impute_missing_scalars`);
    `ks` the k of pass@k and pass^k (default: 1 and the largest power of two not above the
    most episodes a task has, `passk.default_ks`).
    """
    records = [_as_record(episode) for episode in episodes]
    episodes = latest_runs([record for record in records if record.get("fork_of") is None])
    episodes = impute_missing_scalars(episodes, missing_scalar)
    cells: dict[tuple[str, str, int], CellSamples] = {}
    # A canonical order makes the sums, and so the scores, bit-identical however the
    # episodes arrived (workers finish out of order; a resumed sweep appends late).
    for index in sorted(range(len(episodes)), key=lambda i: canonical_key(episodes[i])):
        add_episode(cells, episodes, index)
    if ks is None:
        ks = default_ks([n for cell in cells.values() for n, _ in cell.tally.values()])
    rows: list[ScoreRow] = []
    for (env, agent, horizon), cell in sorted(cells.items(), key=lambda item: item[0]):
        rows.extend(score_cell(env, agent, horizon, cell, episodes, ks=ks))
    return rows


def latest_runs(episodes: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Without the censored episodes a resumed sweep ran again (`--resume` reruns them by
    default): a censored record whose key also has an uncensored one is superseded."""
    ran = {
        episode.get("key")
        for episode in episodes
        if (episode.get("outcome") or {}).get("infra_error") is None
    }
    return [
        episode
        for episode in episodes
        if (episode.get("outcome") or {}).get("infra_error") is None
        or episode.get("key") is None
        or episode.get("key") not in ran
    ]


def score_forks(episodes: Iterable[Mapping[str, Any]]) -> dict[int, list[ScoreRow]]:
    """Score the forks of a run (`--fork-at t --forks K`), one table per fork point t.

    A question is one trunk episode (a task's sample 0); its samples are the K
    continuations that replayed the trunk's first t actions. Their variance is what the
    agent's choices after step t add on their own, so reading the tables by t shows how
    variance compounds step by step (compare with `score_episodes`, whose samples all
    start from scratch). `n_tasks` counts trunks.
    """
    by_point: dict[int, list[dict[str, Any]]] = {}
    for episode in episodes:
        trunk = episode.get("fork_of")
        if trunk is None:
            continue
        # The trunk key stands in for the task seed: each trunk is its own question.
        question = {**episode, "fork_of": None, "task_seed": trunk}
        by_point.setdefault(int(episode["fork_at"]), []).append(question)
    return {point: score_episodes(group) for point, group in sorted(by_point.items())}


@dataclass
class _Samples:
    """Usable samples of one width (choices or tests per question; 0 for scalars)."""

    question: list[int] = field(default_factory=list)
    prediction: list[Any] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)  # index of the episode, for messages
    answered: list[bool] = field(default_factory=list)  # false: a stand-in for no answer


@dataclass
class CellSamples:
    """The usable samples of one (env, agent, horizon) cell, by width, and its counts."""

    kind: str
    episodes: int = 0  # non-censored
    successes: int = 0
    missing: int = 0
    truncated: int = 0
    forced: int = 0
    infra_errors: int = 0
    agent_failures: int = 0
    seeds: dict[int | str, int] = field(default_factory=dict)  # task seed → question id
    by_width: dict[int, _Samples] = field(default_factory=dict)
    # Task seed → [non-censored episodes, successes], scorable or not: pass@k's n and c.
    tally: dict[int | str, list[int]] = field(default_factory=dict)


def add_episode(
    cells: dict[tuple[str, str, int], CellSamples],
    episodes: Sequence[Mapping[str, Any]],
    index: int,
) -> None:
    """Add `episodes[index]` to its cell in `cells`, by the scoring rules (docs/scoring.md)."""
    episode = episodes[index]
    env = _field(episode, "env", str, index)
    agent = _field(episode, "agent", str, index)
    horizon = _field(episode, "horizon", int, index)
    seed = _field(episode, "task_seed", (int, str), index)
    outcome = _field(episode, "outcome", dict, index)
    kind = outcome.get("kind")
    if kind not in OUTCOME_KINDS:
        raise StoreError(
            f"{describe_episode(episodes, index)}: outcome kind is {kind!r}; expected one of "
            f"{', '.join(OUTCOME_KINDS)}"
        )
    cell = cells.setdefault((env, agent, horizon), CellSamples(kind))
    if cell.kind != kind:
        raise StoreError(
            f"{describe_episode(episodes, index)}: outcome kind {kind!r}, but earlier episodes of "
            f"this cell have kind {cell.kind!r}"
        )
    if outcome.get("infra_error") is not None:
        cell.infra_errors += 1
        return
    cell.episodes += 1
    cell.successes += bool(outcome.get("success"))
    cell.truncated += bool(outcome.get("truncated"))
    cell.forced += bool(outcome.get("forced"))
    cell.agent_failures += outcome.get("agent_failure") is not None
    counts = cell.tally.setdefault(seed, [0, 0])
    counts[0] += 1
    counts[1] += bool(outcome.get("success"))
    answered = outcome.get("prediction") is not None and not is_stand_in(outcome)
    if not answered:
        cell.missing += 1
    usable = outcome_sample(episodes, index, outcome)
    if usable is None:  # a scalar answer that is not a finite number: left out
        if outcome.get("prediction") is not None:
            cell.missing += 1
        return
    width, prediction, target = usable
    samples = cell.by_width.setdefault(width, _Samples())
    samples.question.append(cell.seeds.setdefault(seed, len(cell.seeds)))
    samples.prediction.append(prediction)
    samples.target.append(target)
    samples.origin.append(index)
    samples.answered.append(answered)


def score_cell(
    env: str,
    agent: str,
    horizon: int,
    cell: CellSamples,
    episodes: Sequence[Mapping[str, Any]],
    *,
    ks: Sequence[int] = (1,),
) -> list[ScoreRow]:
    """One row per metric of the cell's outcome kind (`metrics_for`), in that order."""
    metrics = metrics_for(cell.kind)
    parts: dict[str, list[Decomposition]] = {metric.name: [] for metric in metrics}
    floors: dict[str, list[np.ndarray]] = {metric.name: [] for metric in metrics}
    estimable: list[np.ndarray] = []  # per group: which questions have two answers or more
    n_samples = 0
    seen = np.zeros(len(cell.seeds), dtype=bool)
    for width, samples in cell.by_width.items():
        question = np.asarray(samples.question, dtype=np.int64)
        ids = np.unique(question)
        if seen[ids].any():
            raise StoreError(
                f"{describe_episode(episodes, samples.origin[0])}: the samples of one task seed "
                "have different numbers of choices or tests"
            )
        seen[ids] = True
        prediction = np.asarray(samples.prediction, dtype=np.float64)
        target = np.asarray(samples.target, dtype=np.float64)
        origin = np.asarray(samples.origin, dtype=np.int64)
        answered = np.asarray(samples.answered, dtype=bool)
        for prediction_q, target_q, origin_q, answered_q in by_sample_count(
            question, prediction, target, origin, answered
        ):
            differs = (target_q != target_q[:, :1]).any(axis=1)
            if differs.any():
                first = origin_q[differs][0, 0]
                raise StoreError(
                    f"{describe_episode(episodes, int(first))}: the samples of this task seed "
                    "have different targets"
                )
            n_samples += target_q.size
            estimable.append(answered_q.sum(axis=1) >= 2)
            for metric in metrics:
                parts[metric.name].append(
                    metric.decompose_samples(prediction_q, target_q[:, 0], answered_q)
                )
                floor = metric.error_floor(width) if metric.error_floor is not None else 0.0
                floors[metric.name].append(np.full(len(target_q), floor))
    n_estimable = int(sum(int(mask.sum()) for mask in estimable))
    n_questions = len(cell.tally)  # task seeds with a non-censored episode
    few = 2 * n_estimable < n_questions
    mask = np.concatenate(estimable) if estimable else np.zeros(0, dtype=bool)
    passes = {k: mean_pass(((n, c) for n, c in cell.tally.values()), k) for k in ks}
    return [
        ScoreRow(
            env=env,
            agent=agent,
            horizon=horizon,
            metric=metric.name,
            n_tasks=int(seen.sum()),
            n_samples=n_samples,
            **_pooled(metric, parts[metric.name], floors[metric.name], mask, few),
            success_rate=cell.successes / cell.episodes if cell.episodes else float("nan"),
            missing=cell.missing,
            truncated=cell.truncated,
            infra_errors=cell.infra_errors,
            forced_share=cell.forced / cell.episodes if cell.episodes else float("nan"),
            agent_failures=cell.agent_failures,
            n_tasks_estimable=n_estimable,
            n_tasks_few=n_questions - n_estimable,
            few_samples=few,
            pass_at_k={k: at for k, (at, _) in passes.items()},
            pass_hat_k={k: hat for k, (_, hat) in passes.items()},
        )
        for metric in metrics
    ]


def _pooled(
    metric: Metric,
    parts: list[Decomposition],
    floors: list[np.ndarray],
    estimable: np.ndarray,
    few: bool,
) -> dict[str, Any]:
    """Mean bias, variance and error over the questions of `parts`, and the incoherence of
    the `estimable` ones (two answered samples or more) with why it is None, if it is."""
    nan = float("nan")
    if not parts:
        note = "no task was scored" if metric.has_incoherence else None
        return {"bias": nan, "variance": nan, "error": nan, "incoherence": None,
                "incoherence_note": note}  # fmt: skip
    merged = Decomposition(*(np.concatenate(column) for column in zip(*parts, strict=True)))
    bias, variance, error = (float(np.mean(column)) for column in merged)
    pooled = {"bias": bias, "variance": variance, "error": error}
    if not metric.has_incoherence:
        return {**pooled, "incoherence": None, "incoherence_note": None}
    if few:
        return {**pooled, "incoherence": None, "incoherence_note": (
            "not estimable: most tasks have fewer than two answered samples")}  # fmt: skip
    # Questions with fewer than two answers carry no variance to estimate, so their error
    # would only dilute the share: incoherence pools the estimable questions alone.
    kept = Decomposition(*(np.asarray(column)[estimable] for column in merged))
    value = metric.incoherence(kept, float(np.concatenate(floors)[estimable].sum()))
    note = None if value is not None else "no error to split: every answer hit the target"
    return {**pooled, "incoherence": value, "incoherence_note": note}


def _as_record(episode: Mapping[str, Any] | LightEpisode) -> Mapping[str, Any]:
    """A `LightEpisode` as the record fields scoring reads; a record as it is."""
    if not isinstance(episode, LightEpisode):
        return episode
    names = ("env", "agent", "horizon", "task_seed", "sample", "key", "outcome", "fork_of")
    return {name: getattr(episode, name) for name in names}


def _field(episode: Mapping[str, Any], key: str, kind: type | tuple[type, ...], index: int) -> Any:
    value = episode.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise StoreError(
            f"episode {index} ({episode_identity(episode)}): `{key}` must be "
            f"{_type_names(kind)}, got {value!r}"
        )
    return value


def _type_names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    return value
