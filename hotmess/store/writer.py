"""The writer of a run store: `sweep.json` (the resolved config and versions) once, then
`episodes.jsonl`, one line per finished episode, appended whole and flushed, so a crash at
any moment loses at most the episode in flight and never corrupts the rest.
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

from hotmess.errors import StoreError
from hotmess.store.reader import EPISODES_FILE, load_episodes
from hotmess.store.records import EpisodeRecord

SWEEP_FILE = "sweep.json"
"""The run store's resolved config, execution settings and versions."""


def versions() -> dict[str, str]:
    """Versions recorded with every sweep."""
    import gymnasium
    import numpy
    import pydantic

    from hotmess import __version__

    return {
        "hotmess": __version__,
        "python": platform.python_version(),
        "gymnasium": gymnasium.__version__,
        "numpy": numpy.__version__,
        "pydantic": pydantic.__version__,
    }


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two config dicts, e.g. `samples: 10 -> 20`."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return diffs


class RunStore:
    """A sweep's directory. Opened by the single process that writes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.episodes_path = self.path / EPISODES_FILE
        self.sweep_path = self.path / SWEEP_FILE
        self._fd: int | None = None

    @classmethod
    def open_for_sweep(
        cls, path: str | Path, identity: dict[str, Any], execution: dict[str, Any], *, resume: bool
    ) -> RunStore:
        """Create the store, or reopen it with `resume` after checking the config matches."""
        store = cls(path)
        if store.sweep_path.exists():
            if not resume:
                raise StoreError(
                    f"{store.path} already holds a sweep: pass --resume to continue it, or choose another --out"
                )
            recorded = store.read_meta()
            diffs = config_differences(recorded.get("config", {}), identity)
            if diffs:
                raise StoreError(
                    f"{store.path} was written by a different sweep config ({'; '.join(diffs)}); use a new --out for the new config"
                )
            store.repair()
        else:
            # A sweep.json.tmp alone is a sweep killed while creating its store.
            if store.path.exists() and any(
                entry.name != "sweep.json.tmp" for entry in store.path.iterdir()
            ):
                raise StoreError(
                    f"{store.path} exists and is not a hotmess run directory; choose an empty or new --out"
                )
            store.path.mkdir(parents=True, exist_ok=True)
            meta = {
                "config": identity,
                "execution": execution,
                "versions": versions(),
                "created_at": time.time(),
            }
            tmp = store.sweep_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=2) + "\n")
            os.replace(tmp, store.sweep_path)
        return store

    def read_meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.sweep_path.read_text())
        except FileNotFoundError:
            raise StoreError(
                f"{self.path} is not a hotmess run directory (no {SWEEP_FILE})"
            ) from None
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"{self.sweep_path} is corrupt ({exc.msg}); it cannot be resumed"
            ) from None

    def repair(self) -> int:
        """Cut a torn last line (a crash mid-write). Returns the number of bytes removed."""
        if not self.episodes_path.exists():
            return 0
        with open(self.episodes_path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            keep = size
            f.seek(max(0, size - 1))
            if f.read(1) != b"\n":
                keep = _last_newline(f, size) + 1
            # The last complete line must parse too: a crash can leave a whole-looking line
            # only if a write was cut exactly at a newline inside a string, which JSON forbids,
            # but check rather than trust.
            start = _last_newline(f, keep - 1) + 1 if keep > 0 else 0
            f.seek(start)
            try:
                if keep > start:
                    json.loads(f.read(keep - start))
            except ValueError:  # as the reader: invalid JSON, or UTF-8 cut mid-character
                keep = start
            if keep < size:
                warnings.warn(
                    f"{self.episodes_path}: removed a torn last line ({size - keep} bytes) left by a crash",
                    stacklevel=2,
                )
                f.truncate(keep)
            return size - keep

    def episodes(self) -> list[dict[str, Any]]:
        """Every episode stored so far, as record dicts (through the one reader)."""
        if not self.episodes_path.exists():
            return []
        return load_episodes(self.episodes_path)

    def done_keys(self, *, censored: bool = True) -> set[str]:
        """The keys of the cells already stored: what `--resume` skips (`censored=False`:
        not those whose latest record is censored, so they run again)."""
        latest = {record["key"]: record for record in self.episodes()}
        return {
            key
            for key, record in latest.items()
            if censored or (record.get("outcome") or {}).get("infra_error") is None
        }

    def append(self, record: EpisodeRecord) -> None:
        """Append one episode as one line with one write (O_APPEND), flushed to the OS."""
        self.append_line(record.model_dump_json())

    def append_line(self, line: str) -> None:
        """Append one episode already serialised as a JSON object on one line."""
        if self._fd is None:
            self._fd = os.open(self.episodes_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        data = (line + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _last_newline(f: Any, end: int) -> int:
    """Offset of the last b"\\n" before `end`, or -1."""
    pos = end
    while pos > 0:
        start = max(0, pos - 65536)
        f.seek(start)
        chunk = f.read(pos - start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index
        pos = start
    return -1
