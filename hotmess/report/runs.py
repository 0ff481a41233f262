"""The runs a report covers: each run directory's episodes, metadata and statistics, and
the label every (run, agent) series carries in figures and tables."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotmess.scoring.stats import (
    ActionsGroup,
    CellStats,
    DeltaSensitivity,
    Divergence,
    HorizonFit,
    LightEpisode,
    TrendFit,
)
from hotmess.scoring.table import ScoreRow
from hotmess.store import SWEEP_FILE, load_unforked

LLM_AGENTS = ("openai", "anthropic", "local")
"""Agent kinds whose spec names a model (`openai:gpt-4o-mini`): legends spell the model out."""

Series = tuple[int, str]
"""(index of the run, agent spec): one line in every figure."""


@dataclass
class ReportRun:
    """One run directory with its statistics."""

    name: str
    path: Path
    meta: dict[str, Any]
    episodes: list[LightEpisode]
    cells: list[CellStats] = field(default_factory=list)
    rows: list[ScoreRow] = field(default_factory=list)
    """The score table's rows (missing answers, estimable tasks, pass@k) beside `cells`."""
    trends: list[TrendFit] = field(default_factory=list)
    fits: list[HorizonFit] = field(default_factory=list)
    splits: list[ActionsGroup] = field(default_factory=list)
    divergence: list[Divergence] = field(default_factory=list)
    divergence_summary: list[dict[str, Any]] = field(default_factory=list)
    delta_sensitivity: list[DeltaSensitivity] = field(default_factory=list)


def load_runs(paths: Sequence[Path]) -> list[ReportRun]:
    """Each run directory's episodes (forks left out) and sweep.json, named by directory."""
    return [
        ReportRun(name=name, path=path, meta=_meta(path), episodes=load_unforked(path))
        for name, path in zip(_run_names(paths), paths, strict=True)
    ]


def _meta(run_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads((run_dir / SWEEP_FILE).read_text())
    except (OSError, ValueError):
        return {}  # another tool's store: the report only needs episodes.jsonl
    return meta if isinstance(meta, dict) else {}


def _run_names(paths: Sequence[Path]) -> list[str]:
    names = [path.resolve().name or str(path) for path in paths]
    seen: dict[str, int] = defaultdict(int)
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if names.count(name) == 1 else f"{name} #{seen[name]}")
    return unique


def agent_label(spec: str) -> str:
    """How a legend names an agent: its spec, with the model spelled out for LLM agents
    (`openai:gpt-4o-mini,temperature=1` → `openai, model gpt-4o-mini, temperature=1`)."""
    kind, sep, rest = spec.partition(":")
    if kind not in LLM_AGENTS or not sep:
        return spec
    parts = [part.strip() for part in rest.split(",") if part.strip()]
    if parts and "=" not in parts[0]:
        return ", ".join([kind, f"model {parts[0]}", *parts[1:]])
    return spec


def series_labels(runs: Sequence[ReportRun]) -> dict[Series, str]:
    """Every (run, agent) series' label; with several runs it names the run too."""
    labels = {}
    for index, run in enumerate(runs):
        for agent in sorted({episode.agent for episode in run.episodes}):
            label = agent_label(agent)
            labels[(index, agent)] = label if len(runs) == 1 else f"{label} ({run.name})"
    return labels
