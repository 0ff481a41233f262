"""The report's figures, drawn with matplotlib's Agg canvas and returned as PNG bytes.

Figures take plain series (x, y, interval) and styles, not statistics objects, so the
maths stays in `hotmess.scoring.stats` and the drawing here. matplotlib is imported on
first use: scoring a run never pays for it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
"""Dots per inch of every figure: readable in a browser at 100% zoom, small files."""

OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: faint on white)
)
"""Okabe & Ito (2008), "Color universal design": eight colours that stay distinct under
the common colour-vision deficiencies."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")

HORIZON_LABEL = "horizon H (actions the task needs, log₂ scale)"
ACTIONS_LABEL = "actions taken (mean of the group, log₂ scale)"


@dataclass(frozen=True)
class Style:
    """How one series (an agent of a run) looks in every figure."""

    label: str
    color: str
    marker: str
    linestyle: str = "-"


def styles(labels: Sequence[str]) -> list[Style]:
    """One style per label: Okabe–Ito colours with distinct markers; past eight series
    the line style changes too, so no two series look alike."""
    return [
        Style(
            label=label,
            color=OKABE_ITO[i % len(OKABE_ITO)],
            marker=MARKERS[i % len(MARKERS)],
            linestyle=LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)],
        )
        for i, label in enumerate(labels)
    ]


@dataclass(frozen=True)
class Line:
    """y against x with an optional confidence band [lo, hi]; NaN marks a missing point."""

    style: Style
    x: Sequence[float]
    y: Sequence[float]
    lo: Sequence[float] | None = None
    hi: Sequence[float] | None = None


@dataclass(frozen=True)
class Logistic:
    """A fitted success curve, logit P = intercept + slope * ln H, and its 50% point."""

    style: Style
    intercept: float
    slope: float
    h50: float | None
    h50_ci: tuple[float, float] | None
    extrapolated: bool


@dataclass(frozen=True)
class SplitPoints:
    """Incoherence of the samples that took fewer / more actions than their question's
    median, one pair per horizon."""

    style: Style
    fewer_x: Sequence[float]
    fewer_y: Sequence[float]
    more_x: Sequence[float]
    more_y: Sequence[float]


@dataclass(frozen=True)
class DivergenceSeries:
    """Per horizon: the divergence steps of the questions that diverged, and the share
    of questions whose samples never did."""

    style: Style
    horizons: Sequence[int]
    steps: Sequence[Sequence[int]]
    never: Sequence[float]


@dataclass
class _Canvas:
    figure: Figure
    axes: list[Axes] = field(default_factory=list)


def _canvas(
    n_panels: int = 1, *, width: float = 6.4, height: float = 4.0, sharey: bool = False
) -> _Canvas:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # A bare Figure on the Agg canvas, not pyplot: no global figure registry to leak
    # through, and no GUI backend is ever looked for. Margins are fixed, in inches: a
    # layout engine (constrained, tight) measures every label first and doubles the cost
    # of a figure, the report's largest after the statistics.
    total = width * n_panels
    figure = Figure(figsize=(total, height), dpi=DPI)
    figure.subplots_adjust(
        left=0.8 / total,
        right=1 - 0.15 / total,
        bottom=0.6 / height,
        top=1 - 0.35 / height,
        wspace=0.95 / (width - 0.95),
    )
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, n_panels, 1)]
    for i in range(1, n_panels):
        axes.append(figure.add_subplot(1, n_panels, i + 1, sharey=axes[0] if sharey else None))
    return _Canvas(figure, axes)


def _png(canvas: _Canvas) -> bytes:
    buffer = io.BytesIO()
    canvas.figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _log2_axis(ax: Axes, ticks: Sequence[float], label: str) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    ticks = sorted({float(t) for t in ticks if t > 0 and math.isfinite(t)})
    ax.set_xscale("log", base=2)
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        low, high = ticks[0], ticks[-1]
        ax.set_xlim(low / 2**0.35, high * 2**0.35)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(label)


def _finish(ax: Axes, *, title: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)


def _draw_lines(ax: Axes, lines: Sequence[Line]) -> None:
    import numpy as np

    for line in lines:
        x = np.asarray(line.x, dtype=float)
        y = np.asarray(line.y, dtype=float)
        s = line.style
        ax.plot(x, y, color=s.color, marker=s.marker, linestyle=s.linestyle, label=s.label, ms=5)
        if line.lo is not None and line.hi is not None:
            lo = np.asarray(line.lo, dtype=float)
            hi = np.asarray(line.hi, dtype=float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                ax.fill_between(x, lo, hi, where=ok, color=s.color, alpha=0.15, linewidth=0)


def _maybe_log_y(ax: Axes, lines: Sequence[Line]) -> None:
    """Log y when every value is positive and they span more than two decades (MSE of
    sums grows with the horizon); otherwise linear, which keeps zeros on the plot."""
    values = [
        v
        for line in lines
        for column in (line.y, line.lo or (), line.hi or ())
        for v in column
        if math.isfinite(v)
    ]
    if values and min(values) > 0 and max(values) / min(values) > 100:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_yscale("log")
        # Plain labels (1e+03, 0.01): the default mathtext ones cost ~0.1 s per figure.
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def horizon_figure(
    *, title: str, ylabel: str, lines: Sequence[Line], horizons: Sequence[int], unit_interval: bool
) -> bytes:
    """One quantity against the horizon, a line and band per series."""
    canvas = _canvas()
    ax = canvas.axes[0]
    _draw_lines(ax, lines)
    _log2_axis(ax, horizons, HORIZON_LABEL)
    if unit_interval:
        ax.set_ylim(-0.03, 1.03)
    else:
        _maybe_log_y(ax, lines)
    _finish(ax, title=title, ylabel=ylabel)
    return _png(canvas)


def bias_variance_figure(
    *,
    title: str,
    unit: str,
    bias: Sequence[Line],
    variance: Sequence[Line],
    horizons: Sequence[int],
) -> bytes:
    """Bias and variance against the horizon, side by side on the same y scale."""
    canvas = _canvas(2, width=5.2, sharey=True)
    for ax, lines, name in zip(canvas.axes, (bias, variance), ("bias", "variance"), strict=True):
        _draw_lines(ax, lines)
        _log2_axis(ax, horizons, HORIZON_LABEL)
        _finish(ax, title=f"{name}: {title}", ylabel=f"{name} ({unit})", legend=name == "bias")
    canvas.axes[1].tick_params(labelleft=True)
    _maybe_log_y(canvas.axes[0], [*bias, *variance])
    return _png(canvas)


def success_figure(
    *, title: str, points: Sequence[Line], fits: Sequence[Logistic], horizons: Sequence[int]
) -> bytes:
    """Success rate per horizon (with its interval) and the fitted logistic curve. Each
    h50 is a marker on the 50% line with its interval as a horizontal bar (an arrow where
    the interval runs off the plot); a hollow marker is an extrapolation, outside the swept
    horizons. The axis widens to show an h50 up to 8x beyond them."""
    import numpy as np

    canvas = _canvas(width=7.0)
    ax = canvas.axes[0]
    low, high = min(horizons) / 2**0.35, max(horizons) * 2**0.35
    for fit in fits:
        if fit.h50 is not None and math.isfinite(fit.h50) and fit.h50 > 0:
            low = min(low, max(fit.h50 / 1.3, min(horizons) / 8))
            high = max(high, min(fit.h50 * 1.3, max(horizons) * 8))
    n = len(points)
    for i, line in enumerate(points):
        s = line.style
        # Dodged sideways (a tenth of an octave apart) so that intervals do not hide each other.
        x = np.asarray(line.x, dtype=float) * 2 ** ((i - (n - 1) / 2) * 0.1)
        y = np.asarray(line.y, dtype=float)
        errors = None
        if line.lo is not None and line.hi is not None:
            errors = np.clip(
                [y - np.asarray(line.lo, dtype=float), np.asarray(line.hi, dtype=float) - y],
                0,
                None,
            )
        ax.errorbar(
            x,
            y,
            yerr=errors,
            color=s.color,
            marker=s.marker,
            linestyle="none",
            capsize=3,
            ms=5,
            alpha=0.8,
            label=f"{s.label}: observed",
        )
    grid = np.exp(np.linspace(math.log(low), math.log(high), 200))
    for fit in fits:
        _draw_fit(ax, fit, grid, low, high)
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    _log2_axis(ax, horizons, HORIZON_LABEL)
    ax.set_xlim(low, high)
    ax.set_ylim(-0.03, 1.03)
    _finish(ax, title=title, ylabel="success rate (share of episodes exactly right)")
    return _png(canvas)


def _draw_fit(ax: Axes, fit: Logistic, grid: Any, low: float, high: float) -> None:
    """A logistic curve over `grid`, and its h50 on the 50% line with the interval as a bar
    (an arrow where it runs past [low, high]); an h50 off the plot is named in the legend."""
    import numpy as np

    s = fit.style
    if math.isfinite(fit.intercept) and math.isfinite(fit.slope):
        curve = 1.0 / (1.0 + np.exp(-(fit.intercept + fit.slope * np.log(grid))))
        ax.plot(grid, curve, color=s.color, linestyle=s.linestyle, linewidth=1.4)
    if fit.h50 is None or not math.isfinite(fit.h50) or fit.h50 <= 0:
        return
    if fit.h50_ci is not None:
        lo_ci, hi_ci = fit.h50_ci
        left, right = max(lo_ci, low), min(hi_ci, high)
        if right > left:
            ax.plot([left, right], [0.5, 0.5], color=s.color, linewidth=3, alpha=0.45)
            if lo_ci < low:
                ax.plot([left], [0.5], marker="<", color=s.color, ms=6, alpha=0.7)
            if hi_ci > high:
                ax.plot([right], [0.5], marker=">", color=s.color, ms=6, alpha=0.7)
    interval = ""
    if fit.h50_ci is not None:
        interval = f" [{_g(fit.h50_ci[0])}, {_g(fit.h50_ci[1])}]"
    note = ", extrapolated" if fit.extrapolated else ""
    if low <= fit.h50 <= high:
        ax.plot(
            [fit.h50],
            [0.5],
            marker=s.marker,
            ms=9,
            color=s.color,
            markerfacecolor="white" if fit.extrapolated else s.color,
            markeredgecolor="black",
            linestyle="none",
            label=f"{s.label}: h50 ≈ {_g(fit.h50)}{interval}{note}",
        )
    else:
        ax.plot([], [], " ", label=f"{s.label}: h50 ≈ {_g(fit.h50)}{interval} (off the plot)")


def actions_figure(
    *,
    title: str,
    by_horizon: Sequence[Line],
    by_actions: Sequence[SplitPoints],
    horizons: Sequence[int],
) -> bytes:
    """Left: incoherence by the horizon knob. Right: incoherence of each question's
    samples that took fewer (open marker) or more (filled) actions than its median,
    placed at the group's mean action count; a thin line joins a horizon's pair."""
    import numpy as np

    canvas = _canvas(2, width=5.2)
    left, right = canvas.axes
    _draw_lines(left, by_horizon)
    _log2_axis(left, horizons, HORIZON_LABEL)
    left.set_ylim(-0.03, 1.03)
    _finish(left, title=f"by horizon: {title}", ylabel="incoherence (variance / error)")
    ticks: list[float] = []
    for split in by_actions:
        s = split.style
        for fx, fy, mx, my in zip(
            split.fewer_x, split.fewer_y, split.more_x, split.more_y, strict=True
        ):
            right.plot([fx, mx], [fy, my], color=s.color, linewidth=0.8, alpha=0.6)
        right.plot(
            split.fewer_x,
            split.fewer_y,
            linestyle="none",
            marker=s.marker,
            markerfacecolor="white",
            color=s.color,
            label=f"{s.label}: fewer actions",
        )
        right.plot(
            split.more_x,
            split.more_y,
            linestyle="none",
            marker=s.marker,
            color=s.color,
            label=f"{s.label}: more actions",
        )
        ticks += [v for v in (*split.fewer_x, *split.more_x) if np.isfinite(v) and v > 0]
    _log2_axis(right, _round_ticks(ticks) or horizons, ACTIONS_LABEL)
    if ticks:
        right.set_xlim(min(ticks) / 2**0.35, max(ticks) * 2**0.35)
    right.set_ylim(-0.03, 1.03)
    _finish(right, title=f"by actions taken: {title}", ylabel="incoherence (variance / error)")
    return _png(canvas)


def _g(value: float) -> str:
    return "∞" if value == math.inf else f"{value:.3g}"


def _round_ticks(values: Sequence[float]) -> list[float]:
    """Powers of two spanning `values`: action counts are not on the swept grid."""
    if not values:
        return []
    low = math.floor(math.log2(min(values)))
    high = math.ceil(math.log2(max(values)))
    return [2.0**k for k in range(low, high + 1)]


def divergence_figure(
    *, title: str, series: Sequence[DivergenceSeries], horizons: Sequence[int]
) -> bytes:
    """Left: the step at which a question's samples first act differently, as a box per
    horizon and series (dodged sideways) with every question as a dot. Right: the share
    of questions whose samples never diverge."""
    import numpy as np

    canvas = _canvas(2, width=5.2)
    left, right = canvas.axes
    n = max(len(series), 1)
    width = 0.5 / n  # in log2 units: the series of one horizon share half an octave
    rng = np.random.default_rng(0)  # jitter only; fixed so the PNG is reproducible
    for i, item in enumerate(series):
        s = item.style
        offset = (i - (n - 1) / 2) * width
        positions, data = [], []
        for horizon, steps in zip(item.horizons, item.steps, strict=True):
            if len(steps):
                positions.append(horizon * 2**offset)
                data.append(np.asarray(steps, dtype=float))
        if data:
            widths = [p * (2 ** (width * 0.4) - 2 ** (-width * 0.4)) for p in positions]
            boxes = left.boxplot(
                data,
                positions=positions,
                widths=widths,
                manage_ticks=False,
                showfliers=False,
                patch_artist=True,
            )
            for patch in boxes["boxes"]:
                patch.set(facecolor=s.color, alpha=0.25, edgecolor=s.color)
            for part in ("whiskers", "caps", "medians"):
                for artist in boxes[part]:
                    artist.set(color=s.color)
            for position, values in zip(positions, data, strict=True):
                jitter = 2 ** (rng.uniform(-width * 0.3, width * 0.3, len(values)))
                left.plot(
                    position * jitter,
                    values,
                    linestyle="none",
                    marker=s.marker,
                    ms=3,
                    color=s.color,
                    alpha=0.6,
                )
        left.plot([], [], color=s.color, marker=s.marker, linestyle="none", label=s.label)
        right.plot(
            item.horizons,
            item.never,
            color=s.color,
            marker=s.marker,
            linestyle=s.linestyle,
            label=s.label,
        )
    from matplotlib.ticker import MaxNLocator

    _log2_axis(left, horizons, HORIZON_LABEL)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    _finish(
        left, title=f"divergence step: {title}", ylabel="first step where samples differ (1-based)"
    )
    _log2_axis(right, horizons, HORIZON_LABEL)
    right.set_ylim(-0.03, 1.03)
    _finish(
        right,
        title=f"never diverge: {title}",
        ylabel="share of tasks whose samples all act alike",
        legend=False,
    )
    return _png(canvas)
