"""Export a run store as two tables, one row per episode and one row per step, in parquet
or CSV, for pandas, polars, DuckDB, R or a spreadsheet. Needs the `export` extra.

Column types come from `EpisodeRecord`, `Outcome` and `StepRecord`, so they are the same
for every run (an int column stays an int column with no rows or with nulls), and files
of two runs concatenate. A field that is a list, an object or may be either a number or a
list (`env_options`, `outcome_prediction`, `outcome_answer`, ...) is a JSON string, in
parquet and CSV alike.
"""

from __future__ import annotations

import functools
import json
import math
import os
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from hotmess.errors import ConfigError, StoreError
from hotmess.outcome import Outcome
from hotmess.store import EpisodeRecord, StepRecord, iter_episodes

FORMATS = ("parquet", "csv")
"""The file formats `export_run` writes."""

STEP_BATCH_ROWS = 50_000
"""Steps held in memory before they are written out as one parquet row group (or CSV chunk)."""

Kind = Literal["int", "float", "bool", "str", "json"]
"""A column's type: the parquet type is int64, double, bool or large_string (str and json)."""

_LEADING = (
    "key",
    "env",
    "horizon",
    "task_seed",
    "task_index",
    "sample",
    "agent",
    "agent_seed",
    "sandbox",
    "started_at",
    "duration_s",
)
_STEP_SUMS: dict[str, Kind] = {
    "n_steps": "int",
    "tokens_in": "int",
    "tokens_out": "int",
    "cost": "float",
}
_PROMPTS = ("prompt", "system_prompt")
_NESTED = ("outcome", "steps")
_JOIN = ("key", "env", "agent", "horizon", "task_seed", "sample")
"""Episode fields repeated on every step row, so steps can be grouped without a merge."""


@dataclass(frozen=True)
class ExportResult:
    """What `export_run` wrote."""

    paths: tuple[Path, Path]
    """The episodes table, then the steps table."""
    n_episodes: int
    """Rows of the episodes table."""
    n_steps: int
    """Rows of the steps table."""


def export_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    fmt: str = "parquet",
    *,
    prompts: bool = False,
    batch_rows: int = STEP_BATCH_ROWS,
) -> ExportResult:
    """Write `episodes.<fmt>` and `steps.<fmt>` for the run store in `run_dir` into `out_dir`
    (default: the run directory).

    One pass over `episodes.jsonl`: steps go out every `batch_rows` rows, and only the
    episode rows are held until the end. `prompts=True` adds each episode's `prompt` and
    `system_prompt` (long) to the episodes table. Each file is written under a temporary
    name and renamed when complete, so a failed export leaves no half-written table.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    _require_extra()
    source = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else (source if source.is_dir() else source.parent)
    out.mkdir(parents=True, exist_ok=True)
    episodes = _Columns(episode_kinds(prompts=prompts))
    steps = _Columns(STEP_KINDS, open_ended=False)
    n_steps = 0
    steps_path = out / f"steps.{fmt}"
    with _table_writer(steps_path, _schema(STEP_KINDS), fmt) as write_steps:
        for number, record in enumerate(iter_episodes(source), start=1):
            where = f"{source}, episode {number}"
            episodes.add(_episode_row(record, prompts, where))
            _add_steps(steps, record, where)
            if steps.n_rows >= batch_rows:
                n_steps += steps.n_rows
                write_steps(steps.table(where=str(steps_path)))
                steps = _Columns(STEP_KINDS, open_ended=False)
        n_steps += steps.n_rows
        write_steps(steps.table(where=str(steps_path)))
    episodes_path = out / f"episodes.{fmt}"
    table = episodes.table(where=str(episodes_path))
    with _table_writer(episodes_path, table.schema, fmt) as write_episodes:
        write_episodes(table)
    return ExportResult((episodes_path, steps_path), episodes.n_rows, n_steps)


def episodes_frame(
    records: Iterable[Mapping[str, Any] | EpisodeRecord], *, prompts: bool = False
) -> Any:
    """A pandas DataFrame with one row per episode: the columns of `episodes.parquet`.

    Records without `steps` (`load_episodes(..., keep_steps=False)`) get null step sums.
    """
    _require_extra()
    columns = _Columns(episode_kinds(prompts=prompts))
    for number, record in enumerate(records, start=1):
        columns.add(_episode_row(_as_dict(record), prompts, f"episode {number}"))
    return columns.table(where="episodes").to_pandas()


def steps_frame(records: Iterable[Mapping[str, Any] | EpisodeRecord]) -> Any:
    """A pandas DataFrame with one row per step: the columns of `steps.parquet`."""
    _require_extra()
    columns = _Columns(STEP_KINDS, open_ended=False)
    for number, record in enumerate(records, start=1):
        _add_steps(columns, _as_dict(record), f"episode {number}")
    return columns.table(where="steps").to_pandas()


def column_kind(annotation: Any) -> Kind:
    """The column type of a model field: scalars keep theirs (`int | float` is a float),
    and anything else (lists, objects, `Any`, unions of a number and a list) is JSON."""
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        return "str" if all(isinstance(value, str) for value in values) else "json"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = {arg for arg in typing.get_args(annotation) if arg is not type(None)}
    else:
        members = {annotation}
    return _scalar_kind(members)


def _scalar_kind(types_: set[Any]) -> Kind:
    if types_ == {bool}:
        return "bool"
    if types_ == {int}:
        return "int"
    if types_ and types_ <= {int, float}:
        return "float"
    if types_ == {str}:
        return "str"
    return "json"


def _inferred_kind(values: list[Any]) -> Kind:
    """The type of a column no model declares, from its values (all null: a string)."""
    present = {type(value) for value in values if value is not None}
    return _scalar_kind(present) if present else "str"


def episode_kinds(*, prompts: bool = False) -> dict[str, Kind]:
    """The episodes table's columns before any field the models do not declare: the
    identifying fields, the step sums, the outcome (`outcome_` prefix), the record's other
    fields, then (with `prompts`) the prompts. Undeclared fields follow, typed by value."""
    fields = EpisodeRecord.model_fields
    kinds: dict[str, Kind] = {
        name: column_kind(fields[name].annotation) for name in _LEADING if name in fields
    }
    kinds.update(_STEP_SUMS)
    kinds.update(
        {
            f"outcome_{name}": column_kind(field.annotation)
            for name, field in Outcome.model_fields.items()
        }
    )
    for name, field in fields.items():
        if name not in kinds and name not in _NESTED and name not in _PROMPTS:
            kinds[name] = column_kind(field.annotation)
    if prompts:
        kinds.update({name: column_kind(fields[name].annotation) for name in _PROMPTS})
    return kinds


def _step_kinds() -> dict[str, Kind]:
    episode = EpisodeRecord.model_fields
    kinds: dict[str, Kind] = {name: column_kind(episode[name].annotation) for name in _JOIN}
    kinds["step"] = "int"
    kinds.update(
        {name: column_kind(field.annotation) for name, field in StepRecord.model_fields.items()}
    )
    return kinds


STEP_KINDS = _step_kinds()
"""The steps table's columns: the episode's key and join fields, the 0-based `step` index,
then every `StepRecord` field. A step field `StepRecord` does not declare is left out."""


def _as_dict(record: Mapping[str, Any] | BaseModel) -> Mapping[str, Any]:
    return record.model_dump(mode="json") if isinstance(record, BaseModel) else record


def _episode_row(record: Mapping[str, Any], prompts: bool, where: str) -> dict[str, Any]:
    row = {
        name: value
        for name, value in record.items()
        if name not in _NESTED and (prompts or name not in _PROMPTS)
    }
    outcome = record.get("outcome") or {}
    if not isinstance(outcome, Mapping):
        raise StoreError(f"{where}: `outcome` must be a JSON object, got {outcome!r}")
    row.update({f"outcome_{name}": value for name, value in outcome.items()})
    steps = record.get("steps")
    if steps is None:  # dropped by the reader: the sums are unknown, not zero
        row.update(dict.fromkeys(_STEP_SUMS))
        return row
    steps = _step_list(steps, where)
    costs = [step["cost"] for step in steps if step.get("cost") is not None]
    row["n_steps"] = len(steps)
    row["tokens_in"] = sum(step.get("tokens_in") or 0 for step in steps)
    row["tokens_out"] = sum(step.get("tokens_out") or 0 for step in steps)
    row["cost"] = math.fsum(costs) if len(costs) == len(steps) else None  # unknown if any is
    return row


def _add_steps(columns: _Columns, record: Mapping[str, Any], where: str) -> None:
    join = {name: record.get(name) for name in _JOIN}
    for index, step in enumerate(_step_list(record.get("steps") or [], where)):
        columns.add({**step, **join, "step": index})


def _step_list(steps: Any, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(steps, list) or not all(isinstance(step, Mapping) for step in steps):
        raise StoreError(f"{where}: `steps` must be a list of JSON objects")
    return steps


class _Columns:
    """Rows gathered column by column. Declared columns keep their type; a column first
    seen in the data (a field no model declares) is added, typed from its values."""

    def __init__(self, kinds: Mapping[str, Kind], *, open_ended: bool = True) -> None:
        self.kinds = dict(kinds)
        self.values: dict[str, list[Any]] = {name: [] for name in kinds}
        self.open_ended = open_ended
        """Whether undeclared fields become columns (not for a table streamed out in
        batches, whose schema is fixed by its first)."""
        self.n_rows = 0

    def add(self, row: Mapping[str, Any]) -> None:
        for name, column in self.values.items():
            column.append(row.get(name))
        if self.open_ended:
            for name in row.keys() - self.values.keys():
                self.values[name] = [None] * self.n_rows + [row[name]]
        self.n_rows += 1

    def table(self, *, where: str) -> Any:
        import pyarrow as pa

        kinds = {
            name: self.kinds.get(name) or _inferred_kind(values)
            for name, values in self.values.items()
        }
        arrays = []
        for name, values in self.values.items():
            kind = kinds[name]
            if kind == "json":
                values = [None if value is None else json.dumps(value) for value in values]
            try:
                arrays.append(pa.array(values, type=_arrow_type(kind)))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise StoreError(
                    f"{where}: column {name!r} should hold {kind} values: {exc}"
                ) from None
        return pa.Table.from_arrays(arrays, schema=_schema(kinds))


_PANDAS_DTYPES = {
    "int": "Int64",
    "float": "Float64",
    "bool": "boolean",
    "str": "string",
    "json": "string",
}


def _arrow_type(kind: Kind) -> Any:
    import pyarrow as pa

    if kind == "int":
        return pa.int64()
    if kind == "float":
        return pa.float64()
    if kind == "bool":
        return pa.bool_()
    return pa.large_string()  # str and json: large, so a batch of long prompts fits


def _schema(kinds: Mapping[str, Kind]) -> Any:
    return _cached_schema(tuple(kinds.items()))


@functools.lru_cache(maxsize=16)
def _cached_schema(kinds: tuple[tuple[str, Kind], ...]) -> Any:
    """The arrow schema, with the pandas metadata that makes `pandas.read_parquet` give
    nullable dtypes (Int64, boolean, Float64, string) whether or not a column has nulls."""
    import pandas as pd
    import pyarrow as pa

    empty = pd.DataFrame({name: pd.Series([], dtype=_PANDAS_DTYPES[kind]) for name, kind in kinds})
    metadata = pa.Schema.from_pandas(empty, preserve_index=False).metadata
    return pa.schema([pa.field(name, _arrow_type(kind)) for name, kind in kinds], metadata=metadata)


@contextmanager
def _table_writer(path: Path, schema: Any, fmt: str) -> Iterator[Any]:
    """Yield a function that appends an arrow table to `path` (a parquet row group, or CSV
    rows under one header); the file appears under its name only if the block succeeds."""
    import pyarrow.csv
    import pyarrow.parquet

    partial = path.with_name(path.name + ".partial")
    if fmt == "parquet":
        writer = pyarrow.parquet.ParquetWriter(partial, schema)
    else:
        writer = pyarrow.csv.CSVWriter(partial, schema)
    try:
        yield writer.write_table
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    partial.replace(path)


def _require_extra() -> None:
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"export needs pandas and pyarrow ({exc.name} is missing): pip install 'hotmess[export]'"
        ) from None
