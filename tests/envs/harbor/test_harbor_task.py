"""Harbor task folders parsed without Docker: discovery and its order, task.toml's fields
(Terminal-Bench 2.0's legacy ones too), the refusals, and the env's options."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hotmess.envs import make_env
from hotmess.envs.harbor.task import find_tasks, folder_digest, load_task, pick
from hotmess.errors import ConfigError

DATA = Path(__file__).parents[2] / "data" / "harbor_tasks"
NAMES = ["count-lines", "fix-calc", "partial-credit"]


def make_task(root: Path, toml: str = "", *, dockerfile: bool = True) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "task.toml").write_text(toml)
    (root / "instruction.md").write_text("Do the thing.\n")
    (root / "tests" / "test.sh").write_text("#!/bin/bash\necho 1 > /logs/verifier/reward.txt\n")
    if dockerfile:
        (root / "environment").mkdir()
        (root / "environment" / "Dockerfile").write_text("FROM ubuntu:24.04\nWORKDIR /app\n")
    return root


def test_a_dataset_folder_lists_its_tasks_sorted_and_a_task_folder_itself():
    assert [p.name for p in find_tasks(DATA)] == NAMES
    assert find_tasks(DATA / "fix-calc") == [(DATA / "fix-calc").resolve()]


def test_task_seed_picks_tasks_modulo_their_number_in_sorted_order():
    tasks = find_tasks(DATA)
    assert [pick(tasks, seed).name for seed in range(7)] == (NAMES * 3)[:7]


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_a_path_without_tasks_is_a_config_error_naming_it(tmp_path, where):
    path = tmp_path / "nothing" if where == "missing" else tmp_path
    with pytest.raises(ConfigError, match="nothing" if where == "missing" else "no Harbor task"):
        find_tasks(path)


def test_the_test_tasks_parse_with_their_resources():
    calc = load_task(DATA / "fix-calc")
    assert calc.config.environment.memory_mb == 512  # legacy memory = "512M"
    assert calc.config.environment.storage_mb == 1024  # legacy storage = "1G"
    assert calc.config.agent.timeout_sec == 600 and calc.config.verifier.timeout_sec == 120
    assert calc.instruction.startswith("The Python module /app/calc.py")
    assert calc.has_solution and not calc.config.environment.wants_network
    assert load_task(DATA / "partial-credit").config.environment.network_mode == "no-network"


def test_the_digest_changes_with_any_byte_of_the_folder(tmp_path):
    task = shutil.copytree(DATA / "count-lines", tmp_path / "count-lines")
    before = folder_digest(task)
    assert folder_digest(task) == before
    (task / "tests" / "test.sh").write_text((task / "tests" / "test.sh").read_text() + "\n")
    assert folder_digest(task) != before


@pytest.mark.parametrize(
    ("toml", "wants"),
    [
        ("", False),
        ("[environment]\nallow_internet = true\n", True),
        ("[environment]\nallow_internet = false\n", False),
        ('[environment]\nnetwork_mode = "public"\n', True),
        ('[environment]\nnetwork_mode = "allowlist"\nallowed_hosts = ["example.org"]\n', True),
        ('[environment]\nnetwork_mode = "no-network"\nallow_internet = true\n', False),
    ],
)
def test_a_task_wants_the_network_only_when_task_toml_says_so(tmp_path, toml, wants):
    assert load_task(make_task(tmp_path / "t", toml)).config.environment.wants_network is wants


@pytest.mark.parametrize(
    ("toml", "dockerfile", "message"),
    [
        ("[[steps]]\nname = 'one'\n", True, "multi-step"),
        ('[verifier]\nenvironment_mode = "separate"\n', True, "separate verifier"),
        ('[environment]\nos = "windows"\n', True, "only Linux"),
        ("", False, "environment/Dockerfile or docker_image"),
        ("[agent\n", True, "not valid TOML"),
        ('[environment]\nmemory = "lots"\n', True, "must end in G, M or K"),
        ("[verifier]\ntimeout_sec = -1\n", True, "timeout_sec"),
    ],
)
def test_what_hotmess_cannot_run_is_refused_with_the_reason(tmp_path, toml, dockerfile, message):
    with pytest.raises(ConfigError, match=message):
        load_task(make_task(tmp_path / "t", toml, dockerfile=dockerfile))


ENV_TOML = """\
[environment]
env = { A = "${HM_T_SET}", B = "${HM_T_UNSET:-fallback}", C = "x ${HM_T_SET} y", D = "${HM_T_SET:-}" }
[verifier]
env = { E = "${HM_T_EMPTY:-}", F = "plain" }
[solution]
env = { G = "${HM_T_SET:-other}" }
"""


def test_env_templates_are_filled_from_the_host_environment_as_harbor_does(tmp_path, monkeypatch):
    monkeypatch.setenv("HM_T_SET", "from-host")
    monkeypatch.delenv("HM_T_UNSET", raising=False)
    monkeypatch.delenv("HM_T_EMPTY", raising=False)
    task = load_task(make_task(tmp_path / "t", ENV_TOML))
    assert task.env("environment") == {
        "A": "from-host",
        "B": "fallback",
        "C": "x ${HM_T_SET} y",  # only a whole value is a template, as in Harbor
        "D": "from-host",
    }
    assert task.env("verifier") == {"E": "", "F": "plain"}
    assert task.env("solution") == {"G": "from-host"}
    assert task.config.environment.env["A"] == "${HM_T_SET}"  # the parsed config keeps no value
    monkeypatch.setenv("HM_T_SET", "changed")
    assert task.env("environment")["A"] == "changed"  # read when used


@pytest.mark.parametrize("section", ["environment", "verifier", "solution"])
def test_an_unset_variable_without_a_default_refuses_the_task(tmp_path, monkeypatch, section):
    monkeypatch.delenv("HM_T_MISSING", raising=False)
    toml = f'[{section}]\nenv = {{ KEY = "${{HM_T_MISSING}}" }}\n'
    with pytest.raises(
        ConfigError, match=rf"\[{section}\] env: KEY .* HM_T_MISSING, which is not set"
    ):
        load_task(make_task(tmp_path / "t", toml))


def test_a_docker_image_stands_in_for_the_dockerfile(tmp_path):
    root = make_task(tmp_path / "t", '[environment]\ndocker_image = "x/y:1"\n', dockerfile=False)
    assert load_task(root).config.environment.docker_image == "x/y:1"


@pytest.mark.parametrize("missing", ["instruction.md", "tests/test.sh"])
def test_a_task_without_its_prompt_or_its_test_script_is_refused(tmp_path, missing):
    root = make_task(tmp_path / "t")
    (root / missing).unlink()
    with pytest.raises(ConfigError, match=missing.split("/")[-1]):
        load_task(root)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs path="),
        ({"path": str(DATA), "sandbox": "bwrap"}, "own Docker image"),
        ({"path": str(DATA), "outcome": "score"}, "outcome must be one of"),
        ({"path": str(DATA), "allow_internet": "yes"}, "allow_internet must be true or false"),
    ],
)
def test_bad_env_options_are_one_clear_config_error(options, message):
    with pytest.raises(ConfigError, match=message):
        make_env("hotmess/Harbor-v0", horizon=4, **options)


def test_a_task_asking_for_the_network_is_refused_unless_the_user_allows_it(tmp_path):
    make_task(tmp_path / "web", "[environment]\nallow_internet = true\n")
    env = make_env("hotmess/Harbor-v0", horizon=4, path=str(tmp_path), sandbox="docker")
    with pytest.raises(ConfigError, match="-O allow_internet=true"):
        env.reset(seed=0)
    env.close()
    allowed = make_env(
        "hotmess/Harbor-v0", horizon=4, path=str(tmp_path), sandbox="docker", allow_internet=True
    )
    allowed._generate(0)  # the image is not built here: only the decision is checked
    assert allowed.network is True


@pytest.mark.parametrize(
    ("toml", "allowed", "network"),
    [
        ("", False, False),
        ("", True, True),  # Harbor's default: the network, once the user allows it
        ('[environment]\nnetwork_mode = "no-network"\n', True, False),
        ("[environment]\nallow_internet = false\n", True, False),
        ('[environment]\nnetwork_mode = "public"\n', True, True),
    ],
)
def test_allowed_the_network_is_harbors_otherwise_there_is_none(tmp_path, toml, allowed, network):
    make_task(tmp_path / "t", toml)
    env = make_env(
        "hotmess/Harbor-v0", horizon=4, path=str(tmp_path), sandbox="docker", allow_internet=allowed
    )
    env._generate(0)
    assert env.network is network
    env.close()


def test_the_tools_speak_of_the_tasks_container_not_hotmesss_workdir():
    env = make_env("hotmess/Harbor-v0", horizon=4, path=str(DATA), sandbox="docker")
    env._generate(1)
    specs = [tool.spec() for tool in env._tools()]
    env.close()
    assert [s["function"]["name"] for s in specs] == [
        "bash",
        "read_file",
        "write_file",
        "edit_file",
    ]
    text = str(specs)
    assert "/work" not in text and "relative to the working directory" in text
    assert "no network" in specs[0]["function"]["description"]


def test_a_sweep_asks_for_no_more_tasks_than_the_dataset_has() -> None:
    from hotmess.runner.config import SweepConfig
    from hotmess.runner.sweep import expand

    def config(tasks: int, **options: str) -> SweepConfig:
        return SweepConfig(
            envs=["hotmess/Harbor-v0"],
            agents=["oracle"],
            horizons=[4],
            tasks=tasks,
            samples=2,
            env_options={"hotmess/Harbor-v0": {"path": str(DATA), **options}},
        )

    cells = expand(config(3))
    assert sorted({c.task_seed for c in cells}) == [0, 1, 2]  # each folder once, in order
    with pytest.raises(ConfigError, match=r"has 3 task\(s\).*use --tasks 3 or fewer"):
        expand(config(4))


def test_an_episode_that_never_ran_has_the_kind_its_options_give() -> None:
    from hotmess.runner.cells import failed_episode, infra_episode
    from hotmess.runner.config import SweepConfig
    from hotmess.runner.sweep import expand

    for outcome, kind in (("tests", "tests"), ("reward", "scalar")):
        options = {"path": str(DATA), "outcome": outcome}
        config = SweepConfig(
            envs=["hotmess/Harbor-v0"],
            agents=["oracle"],
            horizons=[4],
            tasks=1,
            samples=1,
            env_options={"hotmess/Harbor-v0": options},
        )
        (cell,) = expand(config)
        assert failed_episode(cell, "worker died").outcome.kind == kind
        assert infra_episode(cell, "docker down").outcome.kind == kind
