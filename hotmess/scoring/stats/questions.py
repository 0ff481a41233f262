"""The questions of a run's cells as the statistics read them: the table's rows, each
question's samples grouped by width and sample count, and per-sample features whose means
determine every decomposition (so a resample is a weighted mean, not a new decomposition)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hotmess.scoring.decompositions import KL_DELTA, _probabilities, hard_answers
from hotmess.scoring.estimators import Estimator, estimate
from hotmess.scoring.metrics import get_metric, metrics_for
from hotmess.scoring.passk import default_ks
from hotmess.scoring.samples import by_sample_count, canonical_key
from hotmess.scoring.table import CellSamples, ScoreRow, add_episode, latest_runs, score_cell
from hotmess.store import LightEpisode

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- episodes


Episodes = Iterable[LightEpisode | Mapping[str, Any]]
"""What the statistics accept: `LightEpisode`s or the record dicts of `load_episodes`."""


def _as_light(episodes: Episodes) -> list[LightEpisode]:
    """Episodes as `LightEpisode`s, forks left out (they are not samples of a task)."""
    light = [
        episode
        if isinstance(episode, LightEpisode)
        else LightEpisode.of(episode, where=f"episode {i}")
        for i, episode in enumerate(episodes)
    ]
    return [episode for episode in light if episode.fork_of is None]


def _record(episode: LightEpisode) -> dict[str, Any]:
    """The fields `table` reads, as the mapping it reads them from."""
    return {
        "env": episode.env,
        "agent": episode.agent,
        "horizon": episode.horizon,
        "task_seed": episode.task_seed,
        "sample": episode.sample,
        "key": episode.key,
        "outcome": episode.outcome,
    }


# --------------------------------------------------------------------------- questions


@dataclass
class _Group:
    """The questions of one cell that share a width (choices or tests; 0 for scalars) and
    a sample count, as `table.score_cell` groups them."""

    question: IntArray  # [g] question ids within the cell
    prediction: FloatArray  # [g, s] or [g, s, width]
    target: FloatArray  # [g]
    width: int
    answered: npt.NDArray[np.bool_]  # [g, s] false: a stand-in for a missing answer
    _features: tuple[FloatArray, IntArray, FloatArray] | None = None

    def features(self, kind: str) -> tuple[FloatArray, IntArray, FloatArray]:
        """Per-sample features whose means over samples determine every decomposition
        of the question, with the gold choice and (scalars) the offset ȳ − t."""
        if self._features is None:
            self._features = _features(
                kind, self.prediction, self.target, self.width, self.answered
            )
        return self._features


@dataclass
class _CellData:
    env: str
    agent: str
    horizon: int
    kind: str
    cell: CellSamples
    rows: list[ScoreRow]
    groups: list[_Group]
    group_of: IntArray  # [n questions] which group a question is in
    local: IntArray  # [n questions] its index within that group
    floor: dict[str, FloatArray]  # metric with an error floor → [n questions] its floor
    values: dict[str, FloatArray]  # metric → [3, n questions]: bias, variance, error
    # Success counts every non-censored episode, scorable or not: per such task seed,
    # its episodes and successes.
    success_seeds: dict[int | str, int]
    trials: IntArray
    successes: IntArray
    _corrected: dict[str, FloatArray] | None = None

    @property
    def n_questions(self) -> int:
        return len(self.group_of)

    def per_question(self, estimator: Estimator) -> dict[str, FloatArray]:
        """metric → [3, n questions]: bias, variance, error with `estimator` (`values` for
        the plug-in; the corrected ones are computed when first asked for)."""
        if estimator == "plugin":
            return self.values
        if self._corrected is None:
            corrected_values = {name: np.zeros_like(v) for name, v in self.values.items()}
            for group in self.groups:
                for name, values in corrected_values.items():
                    parts = estimate(get_metric(name), group.prediction, group.target, estimator)
                    values[:, group.question] = np.asarray(parts)
            self._corrected = corrected_values
        return self._corrected


_LAST: list[tuple[tuple[int, ...], Sequence[LightEpisode], list[_CellData]]] = []


def _cells(light: Sequence[LightEpisode]) -> list[_CellData]:
    """The cells of `score_episodes`, sorted, with the table's rows and questions.

    Building them is most of the work, and a report asks for every statistic of the same
    episodes in turn: the last result is kept, keyed by the identity of the episodes (it
    holds them, so their ids cannot be reused while it is kept). Episodes are read-only."""
    key = tuple(map(id, light))
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][2]
    cells = _build_cells(light)
    _LAST[:] = [(key, light, cells)]
    return cells


def _build_cells(light: Sequence[LightEpisode]) -> list[_CellData]:
    # As score_episodes: censored episodes that a resumed sweep ran again are superseded.
    pairs = [(episode, _record(episode)) for episode in light]
    kept = {id(record) for record in latest_runs([record for _, record in pairs])}
    light = [episode for episode, record in pairs if id(record) in kept]
    records = [record for _, record in pairs if id(record) in kept]
    cells: dict[tuple[str, str, int], CellSamples] = {}
    # The canonical order of score_episodes: the same question ids, so the same rows, and
    # the same bootstrap draws however the episodes arrived.
    order = sorted(range(len(records)), key=lambda i: canonical_key(records[i]))
    for index in order:
        add_episode(cells, records, index)
    outcomes: dict[tuple[str, str, int], dict[int | str, list[int]]] = {}
    for episode in (light[i] for i in order):
        if episode.outcome.get("infra_error") is None:
            tally = outcomes.setdefault((episode.env, episode.agent, episode.horizon), {})
            counts = tally.setdefault(episode.task_seed, [0, 0])
            counts[0] += 1
            counts[1] += bool(episode.outcome.get("success"))
    ks = default_ks([n for cell in cells.values() for n, _ in cell.tally.values()])
    data = []
    for (env, agent, horizon), cell in sorted(cells.items(), key=lambda item: item[0]):
        tally = outcomes.get((env, agent, horizon), {})
        table = np.asarray(list(tally.values()), dtype=np.int64).reshape(-1, 2)
        rows = score_cell(env, agent, horizon, cell, records, ks=ks)
        seeds = {seed: i for i, seed in enumerate(tally)}
        data.append(_cell_data(env, agent, horizon, cell, rows, seeds, table[:, 0], table[:, 1]))
    return data


def _cell_data(
    env: str,
    agent: str,
    horizon: int,
    cell: CellSamples,
    rows: list[ScoreRow],
    success_seeds: dict[int | str, int],
    trials: IntArray,
    successes: IntArray,
) -> _CellData:
    n = len(cell.seeds)
    groups: list[_Group] = []
    group_of = np.full(n, -1, dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    metrics = metrics_for(cell.kind)
    floor = {m.name: np.zeros(n) for m in metrics if m.error_floor is not None}
    values = {m.name: np.zeros((3, n)) for m in metrics}
    for width, samples in cell.by_width.items():
        question = np.asarray(samples.question, dtype=np.int64)
        prediction = np.asarray(samples.prediction, dtype=np.float64)
        target = np.asarray(samples.target, dtype=np.float64)
        answered = np.asarray(samples.answered, dtype=bool)
        for ids, prediction_q, target_q, answered_q in by_sample_count(
            question, question, prediction, target, answered
        ):
            ids = ids[:, 0]
            group_of[ids] = len(groups)
            local[ids] = np.arange(len(ids))
            for metric in metrics:
                if metric.error_floor is not None:
                    floor[metric.name][ids] = metric.error_floor(width)
                parts = metric.decompose_samples(prediction_q, target_q[:, 0], answered_q)
                values[metric.name][:, ids] = np.asarray(parts)
            groups.append(_Group(ids, prediction_q, target_q[:, 0], width, answered_q))
    return _CellData(
        env, agent, horizon, cell.kind, cell, rows, groups, group_of, local, floor, values,
        success_seeds, trials, successes,
    )  # fmt: skip


def _features(
    kind: str,
    prediction: FloatArray,
    target: FloatArray,
    width: int,
    answered: npt.NDArray[np.bool_],
) -> tuple[FloatArray, IntArray, FloatArray]:
    g = len(target)
    if kind == "scalar":
        mean = prediction.mean(axis=1)
        centred = prediction - mean[:, None]  # shift-free: the variance keeps its precision
        features = np.stack([centred, centred**2], axis=2)
        return features, np.zeros(g, np.int64), mean - target
    if kind == "categorical":
        p, t, _ = _probabilities(prediction, target.astype(np.int64))
        log_p = np.log(p + KL_DELTA) - np.log1p(width * KL_DELTA)  # as kl_decomposition
        square = np.einsum("qsc,qsc->qs", p, p)[:, :, None]
        # 0/1 loss: hard answers and p over C + 1 categories, the last one "no answer".
        answer = np.eye(width + 1)[hard_answers(p, answered)]
        extended = np.concatenate([p * answered[:, :, None], ~answered[:, :, None]], axis=2)
        return np.concatenate([log_p, p, square, answer, extended], axis=2), t, np.zeros(g)
    return prediction, np.zeros(g, np.int64), np.zeros(g)


def _decompose_means(
    kind: str, means: FloatArray, target: IntArray, offset: FloatArray, width: int
) -> dict[str, tuple[FloatArray, FloatArray, FloatArray]]:
    """Per-question (bias, variance, error) of every metric of `kind` from the means over
    samples of the `_features`: the formulas of decompositions.py, on sufficient statistics."""
    if kind == "scalar":
        first, second = means[:, 0], means[:, 1]
        variance = np.maximum(second - first**2, 0.0)
        bias = (first + offset) ** 2
        return {"mse": (bias, variance, bias + variance)}
    if kind == "tests":
        rate = means
        return {
            "coverage": (
                ((1.0 - rate) ** 2).mean(axis=1),
                (rate * (1.0 - rate)).mean(axis=1),
                (1.0 - rate).mean(axis=1),
            )
        }
    c = width
    rows = np.arange(len(means))
    mean_log, mean_p = means[:, :c], means[:, c : 2 * c]
    mean_square, answers = means[:, 2 * c], means[:, 2 * c + 1 : 3 * c + 2]
    peak = mean_log.max(axis=1)
    log_z = peak + np.log(np.exp(mean_log - peak[:, None]).sum(axis=1))
    kl_error = -mean_log[rows, target]
    mean_t = mean_p[rows, target]
    square_of_mean = (mean_p**2).sum(axis=1)
    main = hard_answers(means[:, 3 * c + 2 :])  # as zero_one_decomposition
    return {
        "kl": (np.maximum(log_z + kl_error, 0.0), np.maximum(-log_z, 0.0), kl_error),
        "brier": (
            np.maximum(1.0 - 2.0 * mean_t + square_of_mean, 0.0),
            np.maximum(mean_square - square_of_mean, 0.0),
            np.maximum(1.0 - 2.0 * mean_t + mean_square, 0.0),
        ),
        "zero_one": (
            (main != target).astype(np.float64),
            np.maximum(1.0 - answers[rows, main], 0.0),
            np.maximum(1.0 - answers[rows, target], 0.0),
        ),
    }


def _by_env_agent(cells: list[_CellData]) -> dict[tuple[str, str], list[_CellData]]:
    grouped: dict[tuple[str, str], list[_CellData]] = {}
    for data in cells:  # sorted by horizon within (env, agent)
        grouped.setdefault((data.env, data.agent), []).append(data)
    return grouped
