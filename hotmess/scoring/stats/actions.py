"""The paper's split of each question's samples by actions taken, and the step at which
a task's samples first diverge."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hotmess.scoring.decompositions import Decomposition
from hotmess.scoring.metrics import Metric, metrics_for
from hotmess.scoring.samples import by_sample_count
from hotmess.scoring.stats.questions import (
    Episodes,
    FloatArray,
    IntArray,
    _as_light,
    _cells,
)


@dataclass(frozen=True)
class ActionsGroup:
    """The decomposition of one half of every question's samples, split by actions taken."""

    env: str
    agent: str
    horizon: int
    metric: str
    group: str
    """`fewer` (each question's samples with the fewest actions) or `more`."""
    mean_actions: float
    """Mean actions over the samples of the half, all questions together."""
    n_questions: int
    bias: float
    variance: float
    error: float
    incoherence: float | None


def by_actions(episodes: Episodes) -> list[ActionsGroup]:
    """Split each question's samples at its median number of actions, as Hägele et al.
    (2026) do: samples sorted by actions (ties by sample index), the first half `fewer`,
    the second `more`, the middle one dropped when the count is odd. Each half is
    decomposed per question (questions need two samples per half) and pooled as in the
    table. The samples are those the table scores (same missing-answer rules)."""
    light = _as_light(episodes)
    cells = _cells(light)
    groups: list[ActionsGroup] = []
    for data in cells:
        metrics = metrics_for(data.kind)
        halves: dict[str, dict[str, list[Decomposition]]] = {
            name: {metric.name: [] for metric in metrics} for name in ("fewer", "more")
        }
        actions: dict[str, list[FloatArray]] = {"fewer": [], "more": []}
        floors = {metric.name: 0.0 for metric in metrics}
        for width, samples in data.cell.by_width.items():
            question = np.asarray(samples.question, dtype=np.int64)
            origin = np.asarray(samples.origin, dtype=np.int64)
            n_actions = np.asarray([light[i].n_actions for i in origin], dtype=np.int64)
            sample = np.asarray([light[i].sample for i in origin], dtype=np.int64)
            prediction = np.asarray(samples.prediction, dtype=np.float64)
            target = np.asarray(samples.target, dtype=np.float64)
            for acts, idx, pred, tgt in by_sample_count(
                question, n_actions, sample, prediction, target
            ):
                half = acts.shape[1] // 2
                if half < 2:
                    continue
                order = np.lexsort((idx, acts), axis=-1)
                for metric in metrics:
                    if metric.error_floor is not None:
                        floors[metric.name] += len(acts) * metric.error_floor(width)
                for name, take in (("fewer", order[:, :half]), ("more", order[:, -half:])):
                    part = np.take_along_axis(pred, _expand(take, pred.ndim), axis=1)
                    actions[name].append(np.take_along_axis(acts, take, axis=1).ravel())
                    for metric in metrics:
                        halves[name][metric.name].append(metric.decompose(part, tgt[:, 0]))
        for name in ("fewer", "more"):
            for metric in metrics:
                pooled = _pooled(metric, halves[name][metric.name], floors[metric.name])
                if pooled is None:
                    continue
                n_questions, bias, variance, error, coherence = pooled
                groups.append(
                    ActionsGroup(
                        env=data.env,
                        agent=data.agent,
                        horizon=data.horizon,
                        metric=metric.name,
                        group=name,
                        mean_actions=float(np.concatenate(actions[name]).mean()),
                        n_questions=n_questions,
                        bias=bias,
                        variance=variance,
                        error=error,
                        incoherence=coherence,
                    )
                )
    return groups


def _expand(take: IntArray, ndim: int) -> IntArray:
    return take.reshape(take.shape + (1,) * (ndim - 2))


def _pooled(
    metric: Metric, parts: list[Decomposition], floor: float
) -> tuple[int, float, float, float, float | None] | None:
    """(questions, mean bias, mean variance, mean error, incoherence) with the table's
    rules for undefined incoherence; None without questions."""
    if not parts:
        return None
    merged = Decomposition(*(np.concatenate(column) for column in zip(*parts, strict=True)))
    bias, variance, error = (float(np.mean(column)) for column in merged)
    return int(np.size(merged.error)), bias, variance, error, metric.incoherence(merged, floor)


# --------------------------------------------------------------------------- divergence


@dataclass(frozen=True)
class Divergence:
    """Where the samples of one task first took different actions."""

    env: str
    agent: str
    horizon: int
    task_seed: int | str
    n_samples: int
    step: int | None
    """1-based step at which not every sample took the same action (a sample that has
    already stopped counts as differing); None when all took identical action sequences."""


def divergence(episodes: Episodes) -> list[Divergence]:
    """One row per task with at least two non-censored samples (forks left out)."""
    questions: dict[tuple[str, str, int, int | str], list[tuple[int, tuple[int, ...]]]] = {}
    for episode in _as_light(episodes):
        if episode.outcome.get("infra_error") is None:
            key = (episode.env, episode.agent, episode.horizon, episode.task_seed)
            questions.setdefault(key, []).append((episode.sample, episode.actions))
    rows = []
    for (env, agent, horizon, seed), samples in sorted(questions.items(), key=_seed_order):
        if len(samples) < 2:
            continue
        runs = [actions for _, actions in samples]
        # The lexicographic extremes share exactly the prefix that every sequence shares.
        low, high = min(runs), max(runs)
        step = None
        if low != high:
            step = 1 + next(
                (i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b),
                min(len(low), len(high)),
            )
        rows.append(Divergence(env, agent, horizon, seed, len(samples), step))
    return rows


def _seed_order(item: tuple[tuple[str, str, int, int | str], Any]) -> tuple[Any, ...]:
    env, agent, horizon, seed = item[0]
    return (
        env,
        agent,
        horizon,
        isinstance(seed, str),
        seed if isinstance(seed, int) else 0,
        str(seed),
    )


def divergence_summary(rows: Iterable[Divergence]) -> list[dict[str, Any]]:
    """Per (env, agent, horizon): how many tasks, the share whose samples never diverged,
    and, over those that did, the median and quartiles of the divergence step and the mean
    of step / horizon (NaN when none diverged)."""
    cells: dict[tuple[str, str, int], list[int | None]] = {}
    for row in rows:
        cells.setdefault((row.env, row.agent, row.horizon), []).append(row.step)
    summary = []
    for (env, agent, horizon), steps in sorted(cells.items()):
        diverged = np.asarray([s for s in steps if s is not None], dtype=np.float64)
        quartiles = np.percentile(diverged, [25, 50, 75]) if diverged.size else np.full(3, np.nan)
        summary.append(
            {
                "env": env,
                "agent": agent,
                "horizon": horizon,
                "n_tasks": len(steps),
                "n_never": len(steps) - int(diverged.size),
                "share_never": (len(steps) - diverged.size) / len(steps),
                "median_step": float(quartiles[1]),
                "q1_step": float(quartiles[0]),
                "q3_step": float(quartiles[2]),
                "mean_step_over_horizon": (
                    float((diverged / horizon).mean()) if diverged.size else math.nan
                ),
            }
        )
    return summary
