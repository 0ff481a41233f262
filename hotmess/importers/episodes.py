"""From another harness's samples to a hotmess run directory: stable task seeds, bounded
transcripts, horizon buckets, and the write itself (staged, then renamed into place).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotmess.errors import ConfigError, StoreError
from hotmess.store import EPISODES_FILE, SWEEP_FILE, EpisodeRecord, RunStore

ACTIONS = "actions"
"""`--horizon actions`: a question's horizon is the bucket of its median actions taken."""
TEXT_LIMIT = 4000
"""Characters kept of each action, observation and prompt: the transcript stays bounded."""
STAGING = ".importing-"
"""Infix of the directory an import is written to before it is renamed to `--out`."""


def stable_seed(task_id: int | str) -> int:
    """A task seed for another harness's task id: the id itself when it is a whole number,
    else 48 bits of its SHA-256, so the same id has the same seed in every import (and two
    imported runs of one dataset pair their questions in `hotmess compare`)."""
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        return task_id
    digest = hashlib.sha256(str(task_id).encode()).digest()
    return int.from_bytes(digest[:6], "big")


def episode_key(*parts: Any) -> str:
    """The record key of an imported episode: a hash of where it came from."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:24]


def bounded(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def actions_bucket(median: float) -> int:
    """The horizon of a question whose samples took `median` actions: the power of two at
    or above it (1, 2, 4, 8, ...), so questions of similar length share a horizon."""
    return 1 << max(0, math.ceil(math.log2(max(median, 1.0))))


@dataclass
class Imported:
    """One imported episode before its horizon and sample index are known."""

    record: dict[str, Any]
    """The `EpisodeRecord` fields but `horizon` and `sample`."""
    horizon: int | None = None
    """A fixed horizon (from a task field); None: the question's actions bucket."""

    @property
    def question(self) -> tuple[str, str, int]:
        return (self.record["env"], self.record["agent"], self.record["task_seed"])


@dataclass
class ImportResult:
    """What an import wrote."""

    out: Path
    n_episodes: int
    n_questions: int
    n_censored: int
    """Episodes censored for a fault outside the agent (they are not scored)."""
    n_duplicates: int
    """Episodes given twice (the same source read twice) and written once."""
    horizons: dict[int, int] = field(default_factory=dict)
    """Questions per horizon."""
    notes: list[str] = field(default_factory=list)
    """What the user should know about how the source was read."""


def prepare_out(out: Path, force: bool) -> None:
    """Refuse an `--out` that holds something, unless `force` and it is a run directory
    (an import never deletes a directory hotmess did not write)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a directory for the imported run")
    if not out.exists() or not any(out.iterdir()):
        return
    if not (out / SWEEP_FILE).exists() and not (out / EPISODES_FILE).exists():
        raise StoreError(
            f"{out} is not empty and not a hotmess run directory, so an import will not "
            "replace it; choose an empty or new --out"
        )
    if not force:
        raise StoreError(
            f"{out} already holds a run: pass --force to replace it with this import "
            "(import every log together to combine them), or choose another --out"
        )


def write_run(
    out: Path, episodes: Iterable[Imported], config: dict[str, Any], *, force: bool = False
) -> ImportResult:
    """Write `episodes` as the run directory `out` and return what was written.

    The run is written to a sibling staging directory and renamed into place at the end,
    so a failed import leaves `out` as it was. Pass 1 validates each record (horizon 0
    for now) into a scratch file and gathers each question's action counts; pass 2 sets
    each question's horizon and appends the lines to `episodes.jsonl`.
    """
    out = Path(out)
    prepare_out(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}{STAGING}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    scratch = staging.with_name(staging.name + ".records")
    try:
        result = _write_staged(staging, scratch, episodes, config)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        scratch.unlink(missing_ok=True)
    result.out = out
    return result


def _write_staged(
    staging: Path, scratch: Path, episodes: Iterable[Imported], config: dict[str, Any]
) -> ImportResult:
    seen: set[str] = set()
    samples: dict[tuple[str, str, int], int] = defaultdict(int)
    actions: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    fixed: dict[tuple[str, str, int], int] = {}
    n_duplicates = n_censored = 0
    with scratch.open("w", encoding="utf-8") as lines:
        for episode in episodes:
            record = episode.record
            if record["key"] in seen:
                n_duplicates += 1
                continue
            seen.add(record["key"])
            question = episode.question
            record["sample"] = samples[question]
            samples[question] += 1
            outcome = record["outcome"]
            if outcome.infra_error is None:
                actions[question].append(outcome.n_actions)
            else:
                n_censored += 1
            if episode.horizon is not None:
                fixed[question] = episode.horizon
            lines.write(EpisodeRecord(horizon=0, **record).model_dump_json() + "\n")
    if not samples:
        raise StoreError("the source holds no samples: nothing to import")
    horizons = {
        question: fixed.get(question) or actions_bucket(statistics.median(actions[question] or [0]))
        for question in samples
    }
    identity = {
        **config,
        "tasks": len({(env, seed) for env, _, seed in samples}),
        "samples": max(samples.values()),
    }
    store = RunStore.open_for_sweep(staging, identity, {}, resume=False)
    with store, scratch.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            record["horizon"] = horizons[(record["env"], record["agent"], record["task_seed"])]
            store.append_line(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    per_horizon: dict[int, int] = defaultdict(int)
    for horizon in horizons.values():
        per_horizon[horizon] += 1
    return ImportResult(
        out=staging,
        n_episodes=sum(samples.values()),
        n_questions=len(samples),
        n_censored=n_censored,
        n_duplicates=n_duplicates,
        horizons=dict(sorted(per_horizon.items())),
    )


def _swap_in(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`; an `out` already there (checked by `prepare_out`) is
    moved aside first and removed once the new run is in place."""
    if not out.exists():
        os.replace(staging, out)
        return
    aside = out.parent / f".{out.name}.replaced-{os.getpid()}"
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(out, aside)
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)
