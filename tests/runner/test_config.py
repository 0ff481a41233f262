"""The sweep config's own parsing: `--set KEY=VALUE` settings and the executor's old name."""

from __future__ import annotations

import pytest

from hotmess.errors import ConfigError, HotmessDeprecationWarning
from hotmess.runner import SweepConfig
from hotmess.runner.config import EXECUTOR_ALIASES, apply_settings

BASE = {"envs": ["hotmess/KVSum-v0"], "agents": ["oracle"], "horizons": [1]}


def test_settings_read_values_as_yaml_and_win_in_order():
    data = apply_settings(BASE, ["tasks=3", "horizons=[4, 1]", "tasks=5", "out=runs/x", "seed="])
    assert data == {**BASE, "tasks": 5, "horizons": [4, 1], "out": "runs/x", "seed": None}
    assert SweepConfig.build({**data, "seed": 0}).horizons == [1, 4]


def test_dotted_keys_reach_into_mappings_without_touching_the_original():
    original = {**BASE, "sandbox_options": {"cpus": 1.0}}
    data = apply_settings(
        original,
        [
            "sandbox_options.memory_mb=2048",
            "env_options.hotmess/PointerChase-v0.n_colours=6",
            "env_options={hotmess/KVSum-v0: {}}",
            "env_options.hotmess/KVSum-v0.n_keys=4",
        ],
    )
    assert data["sandbox_options"] == {"cpus": 1.0, "memory_mb": 2048}
    assert original["sandbox_options"] == {"cpus": 1.0}
    # A whole mapping replaces what was there; a later dotted key adds to it.
    assert data["env_options"] == {"hotmess/KVSum-v0": {"n_keys": 4}}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("tasks", "--set takes KEY=VALUE"),
        ("=3", "--set takes KEY=VALUE"),
        ("sandbox_options..x=1", "--set takes KEY=VALUE"),
        ("envs.first=1", r"--set envs.first: envs is \['hotmess/KVSum-v0'\], not a mapping"),
    ],
)
def test_malformed_settings_are_named(setting, message):
    with pytest.raises(ConfigError, match=message):
        apply_settings(BASE, [setting])


def test_an_unknown_setting_is_a_one_line_config_error():
    with pytest.raises(
        ConfigError, match="invalid sweep flags: nope: Extra inputs are not permitted"
    ):
        SweepConfig.build(apply_settings(BASE, ["nope=1"]), source="sweep flags")


def test_the_async_executor_is_threads_with_a_warning_naming_it():
    assert EXECUTOR_ALIASES == {"async": "threads"}
    with pytest.warns(HotmessDeprecationWarning, match="'async' is now called 'threads'"):
        config = SweepConfig(**BASE, executor="async")
    assert config.executor == config.executor_name == "threads"
    with pytest.raises(ConfigError, match="executor: Input should be 'serial', 'pool', 'threads'"):
        SweepConfig.build({**BASE, "executor": "asyncio"})
