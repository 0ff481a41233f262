"""The metric registry: each metric is one `Metric` declaration, registered by name.

Scoring, statistics, adaptive sampling and reports look metrics up here; none names one.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hotmess.errors import ConfigError
from hotmess.scoring.decompositions import Decomposition, incoherence_with_reason

OUTCOME_KINDS = ("scalar", "categorical", "tests")
"""The outcome kinds of DESIGN's Outcome contract, each scored by its own metrics."""

QUANTITIES = ("incoherence", "bias", "variance", "error")
"""What every metric's row reports (besides counts); `trend_fits` fits each against horizon."""

ENTRY_POINT_GROUP = "hotmess.metrics"
"""Entry points of this group are loaded before the first lookup: a plugin's module
registers its metrics on import (or the entry point names a `Metric`, registered as is)."""

Decompose = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], Decomposition]


@dataclass(frozen=True)
class Metric:
    """One way to split an outcome kind's error into bias and variance."""

    name: str
    """Its name in score rows, `--json` output and reports, e.g. `kl`."""
    outcome_kind: str
    """The outcome kind it scores: `scalar`, `categorical` or `tests`."""
    decompose: Decompose
    """(predictions, targets) → per-question `Decomposition`. Predictions are float64
    [questions, samples] for scalars and [questions, samples, width] otherwise (probability
    vectors over the choices; 0/1 per test); targets are float64 [questions]: the true
    number, the gold choice's index, or 0 for tests (whose target is every test passing)."""
    has_incoherence: bool
    """Whether error = bias + variance, so that variance / error is a share (not for 0/1 loss)."""
    headline: bool
    """Whether reports and adaptive sampling use it for its kind: one headline per kind."""
    unit: str
    """What its bias, variance and error are measured in, for axis labels."""
    description: str
    """One line for tables and help texts."""
    error_floor: Callable[[int], float] | None = None
    """The least error a question of a given width (choices or tests) can have, when that
    is above 0: error at the floor is no error, so incoherence is undefined there as at 0."""
    missing: str = "as the outcome kind's stand-in (docs/scoring.md, Missing answers)"
    """How a missing answer scores under this metric, one line for docs and help texts."""
    takes_answered: bool = False
    """Whether `decompose` takes `answered=` ([questions, samples] bool, false where the
    sample is a stand-in for a missing answer), to score those its own way."""

    def decompose_samples(
        self,
        predictions: npt.NDArray[np.float64],
        targets: npt.NDArray[np.float64],
        answered: npt.NDArray[np.bool_],
    ) -> Decomposition:
        """`decompose`, passing which samples were answered when the metric takes it."""
        if self.takes_answered:
            return self.decompose(predictions, targets, answered=answered)  # type: ignore[call-arg]
        return self.decompose(predictions, targets)

    def incoherence(self, parts: Decomposition, floor: float = 0.0) -> float | None:
        """Σ variance / Σ error over the questions of `parts`, pooled (not a mean of ratios);
        None where it is undefined: for a metric without incoherence, without questions,
        or when the total error is 0 or no more than `floor`, the Σ over the questions of
        their `error_floor`."""
        if not self.has_incoherence:
            return None
        value, reason = incoherence_with_reason(parts)
        if reason is not None:
            return None
        n_questions = np.size(parts.error)
        if self.error_floor is not None and np.sum(parts.error) <= floor + 1e-9 * n_questions:
            return None
        return value

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"metric name {self.name!r} must be an identifier, e.g. `abs_error`")
        if self.outcome_kind not in OUTCOME_KINDS:
            raise ValueError(
                f"metric {self.name!r}: outcome kind {self.outcome_kind!r} is not one of "
                f"{', '.join(OUTCOME_KINDS)}"
            )


_METRICS: dict[str, Metric] = {}
_plugins_loaded = False


def register_metric(metric: Metric) -> Metric:
    """Add `metric` to the registry and return it, so a module declares one with
    `ABS_ERROR = register_metric(Metric(...))`. A name may be registered once, and each
    outcome kind has at most one headline metric."""
    if metric.name in _METRICS:
        if _METRICS[metric.name] == metric:  # the same declaration again: nothing to do
            return metric
        raise ValueError(
            f"a metric named {metric.name!r} is already registered: choose another name, or "
            "unregister_metric() it first"
        )
    if metric.headline:
        current = next((m for m in _METRICS.values() if _is_headline(m, metric.outcome_kind)), None)
        if current is not None:
            raise ValueError(
                f"metric {metric.name!r}: {metric.outcome_kind} outcomes already have a headline "
                f"metric ({current.name!r}); declare it with headline=False"
            )
    _METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> Metric:
    """Remove a registered metric (a test's temporary one) and return it."""
    metric = get_metric(name)
    del _METRICS[name]
    return metric


def get_metric(name: str) -> Metric:
    """The registered metric called `name`."""
    metrics = _registry()
    if name not in metrics:
        raise ConfigError(f"no metric is called {name!r}; registered: {', '.join(sorted(metrics))}")
    return metrics[name]


def metrics_for(kind: str) -> tuple[Metric, ...]:
    """The metrics that score `kind` outcomes, in row order: the headline metric first,
    then the others by name (so the order does not depend on which module loaded first)."""
    if kind not in OUTCOME_KINDS:
        raise ValueError(f"outcome kind {kind!r} is not one of {', '.join(OUTCOME_KINDS)}")
    mine = [m for m in _registry().values() if m.outcome_kind == kind]
    return tuple(sorted(mine, key=lambda m: (not m.headline, m.name)))


def headline_metric(kind: str) -> Metric:
    """The metric reports and adaptive sampling use for `kind` outcomes."""
    for metric in metrics_for(kind):
        if metric.headline:
            return metric
    raise ConfigError(f"no headline metric is registered for {kind} outcomes")


def all_metrics() -> tuple[Metric, ...]:
    """Every registered metric, by outcome kind (in `OUTCOME_KINDS` order), then row order."""
    return tuple(metric for kind in OUTCOME_KINDS for metric in metrics_for(kind))


def _is_headline(metric: Metric, kind: str) -> bool:
    return metric.headline and metric.outcome_kind == kind


def _registry() -> dict[str, Metric]:
    """The registry, once the `hotmess.metrics` entry points have been loaded."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True  # first, so that a plugin's own lookups do not recurse
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            loaded = entry_point.load()
            if isinstance(loaded, Metric):
                register_metric(loaded)
    return _METRICS
