"""The one reader of `episodes.jsonl`: record dicts (full), validated `EpisodeRecord`s, or
`LightEpisode`s without observations (light), all under one torn-line policy.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from pydantic import ValidationError

from hotmess.errors import ConfigError, StoreError
from hotmess.store.light import LightEpisode, parse_light
from hotmess.store.records import EpisodeRecord

EPISODES_FILE = "episodes.jsonl"
"""The run store's episode log, one JSON object per line."""

Run = str | os.PathLike[str]
"""A run directory, or the path of its `episodes.jsonl`."""

T = TypeVar("T")


class TornLineWarning(UserWarning):
    """The last line of `episodes.jsonl` is not valid JSON (a sweep died mid-write); skipped."""


def episodes_path(run: Run) -> Path:
    """The `episodes.jsonl` of a run directory (a file path is taken as it is)."""
    path = Path(run)
    return path / EPISODES_FILE if path.is_dir() else path


def iter_episodes(
    run: Run, *, keep_steps: bool = True, keys: Collection[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Each episode of a run as the record dict of its line, in store order.

    A last line that is not valid JSON was torn by a crash: it is skipped with a
    `TornLineWarning` once the file ends. An invalid line anywhere else raises `StoreError`
    naming it (when the line after it is read). `keep_steps=False` drops the per-step
    records. `keys` keeps only the episodes with those keys and parses no line that cannot
    hold one (so checks no such line either): a few episodes cost little more than a read.
    """
    wanted = None if keys is None else set(keys)
    holds = None if wanted is None else _key_filter(wanted)
    for _, record, _ in _records(episodes_path(run), _whole, holds):
        if wanted is not None and record.get("key") not in wanted:
            continue  # the key was elsewhere in the line
        if not keep_steps:
            record.pop("steps", None)
        yield record


def load_episodes(run: Run, *, keep_steps: bool = True) -> list[dict[str, Any]]:
    """Every episode of a run as a record dict: `iter_episodes`, as a list."""
    return list(iter_episodes(run, keep_steps=keep_steps))


def iter_records(run: Run) -> Iterator[EpisodeRecord]:
    """Each episode of a run as a validated `EpisodeRecord` (the torn-line policy of
    `iter_episodes`); a line that is JSON but not an episode record is a StoreError."""
    for where, record, _ in _records(episodes_path(run), _whole):
        try:
            episode = EpisodeRecord.model_validate(record)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(map(str, first["loc"])) or "record"
            raise StoreError(f"{where}: not an episode record ({field}: {first['msg']})") from None
        yield episode


def load_light(run: Run) -> list[LightEpisode]:
    """Every episode of a run as a `LightEpisode`, in one pass.

    Observations are dropped as each line is read (most lines are parsed without building
    their steps), so memory grows with the number of episodes, not the size of the log.
    The torn-line policy is `iter_episodes`'.
    """
    episodes: list[LightEpisode] = []
    for where, record, actions in _records(episodes_path(run), parse_light):
        episodes.append(LightEpisode.of(record, actions, where))
    return episodes


def _whole(line: bytes) -> tuple[Any, None]:
    return json.loads(line), None


def _records(
    path: Path,
    parse: Callable[[bytes], tuple[Any, T]],
    holds: Callable[[bytes], bool] | None = None,
) -> Iterator[tuple[str, dict[str, Any], T]]:
    """(where, record, extra) for each non-blank line of `path` that `holds` admits, where
    `parse(line)` gives (record, extra): the torn-line policy, the check that each record
    is a JSON object, and the supersession rule.

    Superseded records are left out: `--resume` runs a censored episode again and appends
    its new record, the old line stays. A censored record (an `infra_error`) is skipped when
    a later line holds the same key; a first, cheap pass finds the keys on several lines."""
    repeated = _repeated_keys(path, holds)
    for item in _lines(path, parse, holds):
        later = repeated.get(item[1].get("key")) if repeated else None
        if later is not None:
            repeated[item[1]["key"]] = later - 1
            if later > 1 and _censored(item[1]):
                continue
        yield item


def _censored(record: dict[str, Any]) -> bool:
    outcome = record.get("outcome")
    return isinstance(outcome, dict) and outcome.get("infra_error") is not None


_KEY_FIRST = b'{"key":"'
"""How every line the store writes starts (`key` is the record's first field)."""


def _repeated_keys(path: Path, holds: Callable[[bytes], bool] | None) -> dict[Any, int]:
    """How many whole lines hold each key that is on more than one (a resumed sweep's
    reruns), reading the record's own key without parsing the line where it can. A torn
    last line (no newline: each line is one write) supersedes nothing."""
    counts: dict[Any, int] = {}
    with _open(path) as handle:
        for line in handle:
            if not line.endswith(b"\n") or (holds is not None and not holds(line)):
                continue
            key: Any = None
            if line.startswith(_KEY_FIRST):
                end = line.find(b'"', len(_KEY_FIRST))
                value = line[len(_KEY_FIRST) : end]
                if end > 0 and b"\\" not in value:
                    key = value.decode(errors="replace")
            if key is None and line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # the main pass says what is wrong with it
                key = record.get("key") if isinstance(record, dict) else None
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
    return {key: n for key, n in counts.items() if n > 1}


def _lines(
    path: Path,
    parse: Callable[[bytes], tuple[Any, T]],
    holds: Callable[[bytes], bool] | None = None,
) -> Iterator[tuple[str, dict[str, Any], T]]:
    handle = _open(path)
    bad_line: tuple[int, str] | None = None
    with handle:
        for number, line in enumerate(handle, start=1):
            if line[:1] != b"{" and not line.strip():  # strip copies: only when needed
                continue
            if bad_line is not None:
                raise StoreError(
                    f"{path}, line {bad_line[0]}: not valid JSON ({bad_line[1]}); only the "
                    "last line may be torn by a crash, so the file is corrupt"
                )
            if holds is not None and not holds(line):
                continue
            try:
                record, extra = parse(line)
            except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError mid-character
                bad_line = (number, str(exc))
                continue
            if not isinstance(record, dict):
                raise StoreError(
                    f"{path}, line {number}: expected a JSON object, got {type(record).__name__}"
                )
            yield f"{path}, line {number}", record, extra
    if bad_line is not None:
        warnings.warn(
            f"{path}, line {bad_line[0]}: skipping a torn last line ({bad_line[1]}); the "
            "sweep was probably stopped while writing it",
            TornLineWarning,
            stacklevel=4,
        )


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise StoreError(f"{path} not found: pass a run directory written by a sweep") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc}") from None


_KEY_FIELD = b'"key"'


def _key_filter(keys: Collection[str]) -> Callable[[bytes], bool]:
    """Whether a line may be the record of one of `keys`, without parsing it: a `"key"`
    field in it, wherever it stands, has one of them as its value (or an escaped value,
    which only parsing can tell). A record's own key field is one of those fields."""
    wanted = {key.encode() for key in keys}

    def holds(line: bytes) -> bool:
        at = line.find(_KEY_FIELD)
        while at >= 0:
            value = _string_value(line, at + len(_KEY_FIELD))
            if value is not None and (value in wanted or b"\\" in value):
                return True
            at = line.find(_KEY_FIELD, at + 1)
        return False

    return holds


def _string_value(line: bytes, at: int) -> bytes | None:
    """The raw bytes of the string after the `:` at `at` (spaces allowed around it), up to
    its next `"`; None when no string follows."""
    at = _skip_space(line, at)
    if line[at : at + 1] != b":":
        return None
    at = _skip_space(line, at + 1)
    if line[at : at + 1] != b'"':
        return None
    end = line.find(b'"', at + 1)
    return line[at + 1 : end] if end >= 0 else None


def _skip_space(line: bytes, at: int) -> int:
    while line[at : at + 1] in (b" ", b"\t", b"\r", b"\n"):
        at += 1
    return at


def _run_episodes_path(run_dir: Path) -> Path:
    if not run_dir.exists():
        raise ConfigError(
            f"{run_dir} does not exist: give a run directory written by `hotmess sweep`"
        )
    if not run_dir.is_dir():
        raise ConfigError(
            f"{run_dir} is not a directory: give a run directory written by `hotmess sweep`"
        )
    path = run_dir / EPISODES_FILE
    if not path.exists():
        raise StoreError(
            f"{run_dir} holds no {EPISODES_FILE}: give a directory written by `hotmess sweep`"
        )
    return path


def load_unforked(run_dir: Run) -> list[LightEpisode]:
    """The run's episodes without their steps, forks left out (they are scored apart); an
    error naming the fix when `run_dir` is no run directory or holds no episode."""
    _run_episodes_path(Path(run_dir))
    episodes = [episode for episode in load_light(run_dir) if episode.fork_of is None]
    if not episodes:
        raise StoreError(
            f"{Path(run_dir) / EPISODES_FILE} holds no episodes: the sweep has not run yet"
        )
    return episodes
