"""Two runs set side by side: per common cell, the difference second − first of incoherence,
bias, variance, error and success, with a bootstrap interval over each run's tasks. The
terminal table of it is `hotmess.report.compare`.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hotmess.errors import ConfigError
from hotmess.scoring.estimators import Estimator
from hotmess.scoring.metrics import QUANTITIES as METRIC_QUANTITIES
from hotmess.scoring.metrics import get_metric
from hotmess.scoring.stats import expanded_interval, score_estimated
from hotmess.scoring.table import score_episodes
from hotmess.store import LightEpisode, load_unforked

QUANTITIES = (*METRIC_QUANTITIES, "success")
"""What `compare_runs` compares, in the order of the terminal table's columns."""


@dataclass(frozen=True)
class Difference:
    """One quantity in two runs, and the second minus the first with its interval."""

    first: float | None
    second: float | None
    delta: float | None
    ci: tuple[float, float] | None

    @property
    def excludes_zero(self) -> bool:
        return self.ci is not None and (self.ci[0] > 0 or self.ci[1] < 0)


@dataclass(frozen=True)
class Comparison:
    """A cell of two runs: same env, horizon and headline metric; the same agent spec,
    or (when the runs share no agent) each run's own agent."""

    env: str
    horizon: int
    metric: str
    agent_first: str
    agent_second: str
    n_tasks: tuple[int, int]
    quantities: dict[str, Difference]


@dataclass
class _Questions:
    """Per-question terms of one cell's headline decomposition, for task resampling."""

    metric: str
    bias: list[float] = field(default_factory=list)
    variance: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)  # the least KL error δ smoothing allows
    successes: list[int] = field(default_factory=list)
    episodes: list[int] = field(default_factory=list)
    estimable: list[float] = field(default_factory=list)  # 1: two or more answered samples

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            name: np.asarray(getattr(self, name), dtype=np.float64)
            for name in ("bias", "variance", "error", "floor", "successes", "episodes", "estimable")
        }


_SEP = "\x1f"

Cell = tuple[str, str, int]
"""(env, agent, horizon)."""


def _questions(
    episodes: Sequence[LightEpisode], estimator: Estimator = "plugin"
) -> dict[Cell, _Questions]:
    """Each question's bias, variance and error, by scoring every task as a cell of its own
    with `score_episodes` (so the scoring rules are exactly `hotmess score`'s; with the
    corrected `estimator`, `score_estimated`), plus its successes among uncensored episodes."""
    records = [
        {
            "key": e.key,
            "env": e.env,
            "agent": f"{e.agent}{_SEP}{e.task_seed}",
            "horizon": e.horizon,
            "task_seed": e.task_seed,
            "sample": e.sample,
            "outcome": e.outcome,
        }
        for e in episodes
    ]
    width: dict[Cell, int] = {}
    wins: dict[Cell, list[int]] = defaultdict(lambda: [0, 0])
    for e in episodes:
        question = (e.env, f"{e.agent}{_SEP}{e.task_seed}", e.horizon)
        choices = e.outcome.get("choices")
        width[question] = len(choices) if isinstance(choices, list) else 0
        if e.outcome.get("infra_error") is None:
            wins[question][0] += bool(e.outcome.get("success"))
            wins[question][1] += 1
    cells: dict[Cell, _Questions] = {}
    rows = score_episodes(records) if estimator == "plugin" else score_estimated(records, estimator)
    for row in rows:
        metric = get_metric(row.metric)
        if not metric.headline or row.n_tasks == 0:
            continue
        agent = row.agent.rsplit(_SEP, 1)[0]
        question = (row.env, row.agent, row.horizon)
        cell = cells.setdefault((row.env, agent, row.horizon), _Questions(row.metric))
        cell.bias.append(row.bias)
        cell.variance.append(row.variance)
        cell.error.append(row.error)
        cell.floor.append(metric.error_floor(width[question]) if metric.error_floor else 0.0)
        cell.successes.append(wins[question][0])
        cell.episodes.append(wins[question][1])
        cell.estimable.append(float(row.n_tasks_estimable > 0))
    return cells


def _replicates(q: dict[str, np.ndarray], index: np.ndarray | None) -> dict[str, np.ndarray]:
    """The five quantities of a cell over resampled questions `index` [n_boot, n_questions]
    (None: the questions as they are, as one replicate)."""
    if index is None:
        index = np.arange(len(q["bias"]))[None, :]
    n = index.shape[1]
    error = q["error"][index].sum(axis=1)
    # As table.py: incoherence pools the questions with two or more answered samples, is
    # not estimable when most questions have fewer, and is undefined without error (or,
    # for KL, without error beyond what smoothing leaves).
    estimable = q["estimable"][index]
    pooled_error = (q["error"][index] * estimable).sum(axis=1)
    floor = (q["floor"][index] * estimable).sum(axis=1)
    m = estimable.sum(axis=1)
    defined = (
        (estimable.mean(axis=1) >= 0.5)
        & (pooled_error > 1e-12 * np.maximum(m, 1))
        & ((floor == 0) | (pooled_error > floor + 1e-9 * np.maximum(m, 1)))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (q["variance"][index] * estimable).sum(axis=1)
        incoherence = np.where(defined, variance / pooled_error, np.nan)
        success = q["successes"][index].sum(axis=1) / q["episodes"][index].sum(axis=1)
    return {
        "incoherence": incoherence,
        "bias": q["bias"][index].mean(axis=1),
        "variance": q["variance"][index].mean(axis=1),
        "error": error / n,
        "success": success,
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


Pair = tuple[str, int, str, str, _Questions, _Questions]
"""(env, horizon, agent of the first run, agent of the second, their questions)."""


def _pairs(
    cells: Sequence[dict[Cell, _Questions]],
    runs: Sequence[str | os.PathLike[str]],
    unmatched: list[str] | None,
) -> list[Pair]:
    """The cells the two runs have in common: by agent spec when they share one, else every
    agent of the first with every agent of the second (on env, horizon and metric)."""
    agents = [{agent for _, agent, _ in c} for c in cells]
    shared = agents[0] & agents[1]
    if shared and unmatched is not None:
        for path, own in zip(runs, agents, strict=True):
            unmatched += [f"{agent} (only in {path})" for agent in sorted(own - shared)]
    pairs = []
    for (env, agent, horizon), one in sorted(cells[0].items()):
        candidates = [agent] if shared else sorted(agents[1])
        if shared and agent not in shared:
            continue
        for other in candidates:
            two = cells[1].get((env, other, horizon))
            if two is not None and two.metric == one.metric:
                pairs.append((env, horizon, agent, other, one, two))
    if not pairs:
        describe = [
            f"{path}: {', '.join(sorted({f'{env} H={h}' for env, _, h in c})) or 'nothing scorable'}"
            for path, c in zip(runs, cells, strict=True)
        ]
        raise ConfigError(
            "the two runs have no cell in common (same env, horizon and metric"
            + (", and agent" if shared else "")
            + f"): {'; '.join(describe)}"
        )
    return sorted(pairs, key=lambda p: (p[0], p[2], p[3], p[1]))


def _differences(
    one: _Questions, two: _Questions, rng: np.random.Generator, n_boot: int, level: float
) -> dict[str, Difference]:
    """Each quantity of two matched cells, and its difference with a bootstrap interval."""
    a, b = one.arrays(), two.arrays()
    n_tasks = min(len(one.bias), len(two.bias))
    point = [_replicates(x, None) for x in (a, b)]
    boot = [
        _replicates(x, rng.integers(0, len(x["bias"]), size=(n_boot, len(x["bias"]))))
        for x in (a, b)
    ]
    quantities = {}
    for name in QUANTITIES:
        v1, v2 = (_finite(p[name][0]) for p in point)
        delta = boot[1][name] - boot[0][name]
        ci = None
        if v1 is not None and v2 is not None and np.isfinite(delta).sum() > n_boot / 2:
            # The interval `cell_stats` uses (expanded percentile), with the smaller
            # run's task count: the more conservative of the two expansions.
            low, high = expanded_interval(delta, level, n_tasks)
            ci = None if math.isnan(low) or math.isnan(high) else (low, high)
        quantities[name] = Difference(
            first=v1,
            second=v2,
            delta=v2 - v1 if v1 is not None and v2 is not None else None,
            ci=ci,
        )
    return quantities


def compare_runs(
    first: str | os.PathLike[str],
    second: str | os.PathLike[str],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    unmatched: list[str] | None = None,
    estimator: Estimator = "plugin",
) -> list[Comparison]:
    """Each common cell of two runs with the difference second − first of incoherence, bias,
    variance, error and success, and a bootstrap interval of each difference.

    Cells match on env, horizon, headline metric and agent spec; when the runs share no
    agent spec, every agent of the first run is matched with every agent of the second on
    env and horizon. The interval resamples each run's tasks with replacement,
    independently (the runs are independent samples), `n_boot` times, and takes the
    expanded percentile interval of `cell_stats`; a difference whose replicates are mostly
    undefined (no error to split), or a cell with fewer than two tasks, has none. Agents
    left out because only one run has them are appended to `unmatched`, when given.
    `estimator` picks the per-question values (`hotmess.scoring.estimators`).
    """
    if n_boot < 1:
        raise ConfigError(f"the number of bootstrap resamples must be at least 1, got {n_boot}")
    runs = (first, second)
    cells = [_questions(load_unforked(Path(path)), estimator) for path in runs]
    rng = np.random.default_rng(seed)
    return [
        Comparison(
            env=env,
            horizon=horizon,
            metric=one.metric,
            agent_first=agent,
            agent_second=other,
            n_tasks=(len(one.bias), len(two.bias)),
            quantities=_differences(one, two, rng, n_boot, level),
        )
        for env, horizon, agent, other, one, two in _pairs(cells, runs, unmatched)
    ]
