"""The one reader of `episodes.jsonl`: full and light modes agree, one torn-line policy, no
dependence on field order or layout, and fetching episodes by key."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotmess.errors import StoreError
from hotmess.runner import SweepConfig, run_sweep
from hotmess.store import (
    EpisodeRecord,
    LightEpisode,
    TornLineWarning,
    iter_episodes,
    iter_records,
    load_episodes,
    load_light,
)
from hotmess.store.light import parse_light

MODES = ("full", "records", "light", "keys")


def reader(mode: str, run: Path) -> Callable[[Path], list[Any]]:
    """Read a store in one of the reader's modes (`keys`: every episode of `run`, by key)."""
    if mode == "keys":
        keys = {record["key"] for record in load_episodes(run)}
        return lambda path: list(iter_episodes(path, keys=keys))
    return {
        "full": load_episodes,
        "records": lambda path: list(iter_records(path)),
        "light": load_light,
    }[mode]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real sweep: scalar and categorical outcomes, a noisy and an exact agent."""
    out = tmp_path_factory.mktemp("store") / "run"
    run_sweep(
        SweepConfig(
            envs=["hotmess/KVSum-v0", "hotmess/PointerChase-v0"],
            agents=["noisy:p=0.3", "oracle"],
            horizons=[1, 4],
            tasks=3,
            samples=3,
            out=out,
        )
    )
    return out


def lines_of(run: Path) -> list[str]:
    return (run / "episodes.jsonl").read_text().splitlines(keepends=True)


def write(path: Path, text: str | bytes) -> Path:
    path.mkdir(parents=True)
    target = path / "episodes.jsonl"
    target.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_full_and_light_modes_agree(run: Path) -> None:
    records = load_episodes(run)
    light = load_light(run)
    models = list(iter_records(run))
    assert len(records) == len(light) == len(models) == 2 * 2 * 2 * 3 * 3
    for record, episode, model in zip(records, light, models, strict=True):
        assert episode == LightEpisode.of(record)
        assert episode.actions == tuple(zlib.crc32(s["action"].encode()) for s in record["steps"])
        assert isinstance(model, EpisodeRecord) and model.model_dump(mode="json") == record
    without_steps = [{k: v for k, v in r.items() if k != "steps"} for r in records]
    assert load_episodes(run, keep_steps=False) == without_steps


@pytest.mark.parametrize("mode", MODES)
def test_a_torn_last_line_is_skipped_with_a_warning(run: Path, tmp_path: Path, mode: str) -> None:
    lines = lines_of(run)
    torn = write(tmp_path / "torn", "".join(lines) + lines[-1][: len(lines[-1]) // 2])
    with pytest.warns(TornLineWarning, match=f"line {len(lines) + 1}: skipping a torn last line"):
        assert len(reader(mode, run)(torn)) == len(lines)


@pytest.mark.parametrize("mode", MODES)
def test_a_torn_line_before_the_last_is_an_error(run: Path, tmp_path: Path, mode: str) -> None:
    lines = lines_of(run)
    corrupt = write(tmp_path / "corrupt", "".join([*lines[:3], lines[3][:-40] + "\n", *lines[4:]]))
    with pytest.raises(StoreError, match=r"line 4: not valid JSON.*only the last line may be torn"):
        reader(mode, run)(corrupt)


def test_a_line_cut_inside_a_character_is_torn_too(run: Path, tmp_path: Path) -> None:
    record = load_episodes(run)[0]
    record["prompt"] = "ünïcode"
    raw = json.dumps(record, ensure_ascii=False).encode()
    torn = write(tmp_path / "torn", raw + b"\n" + raw[: raw.index("ü".encode()) + 1])
    for mode in MODES:
        with pytest.warns(TornLineWarning):
            assert len(reader(mode, torn)(torn)) == 1


def test_other_lines_are_errors_that_name_them(run: Path, tmp_path: Path) -> None:
    good = lines_of(run)[0]
    array = write(tmp_path / "array", good + "[1, 2]\n" + good)
    for mode in ("full", "records", "light"):
        with pytest.raises(StoreError, match="line 2: expected a JSON object, got list"):
            reader(mode, run)(array)
    stranger = write(tmp_path / "stranger", good + '{"key": "k", "env": "e"}\n')
    with pytest.raises(StoreError, match="line 2: not an episode record"):
        list(iter_records(stranger))
    with pytest.raises(StoreError, match="line 2: `agent` must be a string"):
        load_light(stranger)
    assert load_episodes(stranger)[1] == {"key": "k", "env": "e"}  # dicts are any tool's
    with pytest.raises(StoreError, match="not found: pass a run directory"):
        load_light(tmp_path / "nowhere")


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's fields in a random order."""
    if isinstance(value, dict):
        items = [(k, shuffled(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@pytest.mark.parametrize("layout", ["compact", "spaced", "ascii"])
def test_field_order_and_layout_do_not_matter(run: Path, tmp_path: Path, layout: str) -> None:
    records = load_episodes(run)
    rng = random.Random(layout)
    dump = {
        "compact": lambda r: json.dumps(r, separators=(",", ":"), ensure_ascii=False),
        "spaced": json.dumps,
        "ascii": lambda r: json.dumps(r, separators=(",", ":")),
    }[layout]
    records[0]["steps"][0]["action"] = 'ä\n\\"], "steps":[{"action":"x"}]'  # escapes, lures
    records[1]["steps"] = []
    text = "".join(dump(shuffled(record, rng)) + "\n" for record in records)
    other = write(tmp_path / layout, text)
    assert load_episodes(other) == records
    assert load_light(other) == [LightEpisode.of(record) for record in records]
    wanted = {records[0]["key"], records[-1]["key"]}
    assert list(iter_episodes(other, keys=wanted)) == [records[0], records[-1]]


def test_episodes_are_fetched_by_key_in_store_order(run: Path) -> None:
    records = load_episodes(run)
    wanted = [records[5]["key"], records[2]["key"], "not-a-key"]
    assert list(iter_episodes(run, keys=wanted)) == [records[2], records[5]]
    assert list(iter_episodes(run, keys=[])) == []
    without = list(iter_episodes(run, keys=wanted, keep_steps=False))
    assert [r["key"] for r in without] == wanted[1::-1] and "steps" not in without[0]


def test_a_key_quoted_elsewhere_in_a_line_is_not_that_episode(run: Path, tmp_path: Path) -> None:
    first, second = load_episodes(run)[:2]
    # An observation that quotes the first episode's key field word for word.
    second["steps"][0]["observation"] = f'"key": "{first["key"]}"'
    second["env_options"] = {"key": first["key"]}
    escaped = dict(first, key=first["key"][:4] + "\u00e9" + first["key"][4:])
    lines = [json.dumps(second), json.dumps(first), json.dumps(escaped)]
    store = write(tmp_path / "quoted", "\n".join(lines) + "\n")
    assert list(iter_episodes(store, keys={first["key"]})) == [first]
    assert list(iter_episodes(store, keys={escaped["key"]})) == [escaped]


# --------------------------------------------------------------------------- the light parse

# Text that looks like the patterns the light parse cuts by, or closes strings and arrays.
LURES = ['"', "\\", '\\"', "],", '],"', "},{", '},{"', '"action":"', '"steps":[', "\n", "ü", "{}"]
texts = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(LURES)), max_size=5).map("".join)
nested = st.dictionaries(st.sampled_from(["action", "steps"]) | texts, texts, max_size=2)
steps = st.lists(
    st.fixed_dictionaries(
        {"action": texts, "observation": texts},
        optional={"tool": st.none() | texts, "cost": st.floats(0, 1), "meta": nested},
    ),
    max_size=4,
)
records = st.fixed_dictionaries(
    {
        "key": texts,
        "env": texts,
        "agent": texts,
        "horizon": st.integers(0, 64),
        "task_seed": st.integers(0, 2**31) | texts,
        "outcome": st.fixed_dictionaries(
            {"kind": st.just("scalar"), "prediction": st.none() | st.floats(-9, 9)},
            optional={"n_actions": st.integers(0, 9), "tests": st.lists(texts, max_size=2)},
        ),
    },
    optional={
        "steps": steps,
        "prompt": texts,
        "sample": st.integers(0, 9),
        "fork_of": st.none() | texts,
        "env_options": st.dictionaries(st.sampled_from(["steps", "n"]), texts | steps),
        "history": st.lists(st.fixed_dictionaries({"action": texts}), max_size=2),
    },
)


def same_as_json(line: str) -> None:
    """The light parse of `line` is what `json.loads` and the steps give."""
    parsed, actions = parse_light(line.encode())
    whole = json.loads(line)
    if actions is not None:
        assert parsed == {k: v for k, v in whole.items() if k != "steps"}
    else:
        assert parsed == whole
    assert LightEpisode.of(parsed, actions) == LightEpisode.of(whole)


@settings(max_examples=400, deadline=None)
@given(record=records, seed=st.integers(0, 2**16), compact=st.booleans(), ascii=st.booleans())
def test_the_light_parse_reads_any_record_as_json_does(
    record: dict[str, Any], seed: int, compact: bool, ascii: bool
) -> None:
    separators = (",", ":") if compact else None
    same_as_json(
        json.dumps(shuffled(record, random.Random(seed)), separators=separators, ensure_ascii=ascii)
    )


HEAD = '"key":"k","env":"e","agent":"a","horizon":1,"task_seed":1,"outcome":{"kind":"scalar"}'


@pytest.mark.parametrize(
    "fields",
    [
        # arrays of objects with actions after the steps, one beside a string ending in "},{"
        '"steps":[{"action":"a","observation":"x},{"}],"history":[{"action":"b"}]',
        '"steps":[{"action":"a"}],"history":[{"x":1},{"action":"b"}]',
        '"steps":[{"action":"a"}],"h\\\\":[{"x":1},{"action":"b"}]',
        # a repeated field (json keeps the last) beside a string ending in "},{"
        '"steps":[{"action":"a","action":"b","observation":"},{"}]',
        # an action nested inside a step, also beside a string ending in "},{"
        '"steps":[{"action":"a","meta":{"action":"b"}}]',
        '"steps":[{"action":"","observation":"","meta":{"action":"},{"}}]',
        # a field named with a trailing backslash holding objects, after the steps
        '"steps":[{"action":"a"}],"h\\\\":[{"x":1}]',
        # steps only inside another field, and then beside a null one
        '"env_options":{"steps":[{"action":"a"}]}',
        '"steps":null,"env_options":{"steps":[{"action":"a"}]}',
        # an action string that ends like the steps' end
        '"steps":[{"observation":"o","action":"a}],"},{"action":"b}],"}],"prompt":""',
    ],
)
def test_layouts_the_fast_path_must_not_trust(fields: str) -> None:
    same_as_json("{" + HEAD + "," + fields + "}")
    same_as_json("{" + fields + "," + HEAD + "}")


@pytest.mark.parametrize(
    "fields",
    [
        '"steps":[{"x\\"action":"q"},{"action":"a"}]',  # a name that ends in "action"
        '"steps":[1,{"action":"a"}]',
        '"h":{"action":"x"},"steps":[{"y":1},{"action":"a"}]',
        '"steps":[{"action":"a"},{"action":"b"},2]',
    ],
)
def test_steps_without_an_action_each_are_an_error(tmp_path: Path, fields: str) -> None:
    line = "{" + HEAD + "," + fields + "}\n"
    match = "`steps` must be a list of objects with a string `action`"
    with pytest.raises(StoreError, match=match):
        load_light(write(tmp_path / "run", line))
