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
from hotmess.scoring.samples import (
    by_sample_count,
    canonical_key,
    describe_episode,
    episode_identity,
    outcome_sample,
)
from hotmess.store import load_episodes


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

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-safe values: NaN becomes None."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}


def score_run(run_dir: str | os.PathLike[str]) -> list[ScoreRow]:
    """Score the `episodes.jsonl` of a run directory; see `score_episodes`."""
    return score_episodes(load_episodes(run_dir, keep_steps=False))


def score_episodes(episodes: Iterable[Mapping[str, Any]]) -> list[ScoreRow]:
    """One `ScoreRow` per (env, agent, horizon) cell and metric, sorted in that order.

    A question is one task seed within a cell; its samples are its episodes. Episodes with
    an `infra_error` are censored (left out of everything but `infra_errors`). A cell whose
    every episode is censored still gets its rows, with n_tasks 0 and no statistics.
    Forks (episodes with `fork_of`, from `--fork-at`) are left out: see `score_forks`.
    """
    episodes = _latest_runs([episode for episode in episodes if episode.get("fork_of") is None])
    cells: dict[tuple[str, str, int], CellSamples] = {}
    # A canonical order makes the sums, and so the scores, bit-identical however the
    # episodes arrived (workers finish out of order; a resumed sweep appends late).
    for index in sorted(range(len(episodes)), key=lambda i: canonical_key(episodes[i])):
        add_episode(cells, episodes, index)
    rows: list[ScoreRow] = []
    for (env, agent, horizon), cell in sorted(cells.items(), key=lambda item: item[0]):
        rows.extend(score_cell(env, agent, horizon, cell, episodes))
    return rows


def _latest_runs(episodes: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
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
    if outcome.get("prediction") is None:
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


def score_cell(
    env: str,
    agent: str,
    horizon: int,
    cell: CellSamples,
    episodes: Sequence[Mapping[str, Any]],
) -> list[ScoreRow]:
    """One row per metric of the cell's outcome kind (`metrics_for`), in that order."""
    metrics = metrics_for(cell.kind)
    parts: dict[str, list[Decomposition]] = {metric.name: [] for metric in metrics}
    floors = dict.fromkeys(parts, 0.0)  # Σ over questions of each metric's error floor
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
        for prediction_q, target_q, origin_q in by_sample_count(
            question, prediction, target, origin
        ):
            differs = (target_q != target_q[:, :1]).any(axis=1)
            if differs.any():
                first = origin_q[differs][0, 0]
                raise StoreError(
                    f"{describe_episode(episodes, int(first))}: the samples of this task seed "
                    "have different targets"
                )
            n_samples += target_q.size
            for metric in metrics:
                parts[metric.name].append(metric.decompose(prediction_q, target_q[:, 0]))
                if metric.error_floor is not None:
                    floors[metric.name] += len(target_q) * metric.error_floor(width)
    n_tasks = int(seen.sum())
    return [
        ScoreRow(
            env=env,
            agent=agent,
            horizon=horizon,
            metric=metric.name,
            n_tasks=n_tasks,
            n_samples=n_samples,
            **_pooled(metric, parts[metric.name], floors[metric.name]),
            success_rate=cell.successes / cell.episodes if cell.episodes else float("nan"),
            missing=cell.missing,
            truncated=cell.truncated,
            infra_errors=cell.infra_errors,
            forced_share=cell.forced / cell.episodes if cell.episodes else float("nan"),
            agent_failures=cell.agent_failures,
        )
        for metric in metrics
    ]


def _pooled(metric: Metric, parts: list[Decomposition], floor: float) -> dict[str, Any]:
    """Mean bias, variance and error over the questions of `parts`, and their incoherence."""
    if not parts:
        nan = float("nan")
        return {"bias": nan, "variance": nan, "error": nan, "incoherence": None}
    merged = Decomposition(*(np.concatenate(column) for column in zip(*parts, strict=True)))
    bias, variance, error = (float(np.mean(column)) for column in merged)
    return {
        "bias": bias,
        "variance": variance,
        "error": error,
        "incoherence": metric.incoherence(merged, floor),
    }


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
    return value
