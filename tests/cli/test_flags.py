"""Flags derived from a config model: each field's type, default and docstring make a flag
and its help, so a field added to the model is a flag with no CLI edit."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
import typer
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from hotmess.cli.flags import derive_flags, with_config_flags
from hotmess.errors import ConfigError
from hotmess.runner import SweepConfig


class Knobs(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    names: list[str] = Field(min_length=1)
    """Names to greet."""
    sizes: list[int] = Field([1], examples=[[1, 2, 4]])
    """Sizes to try."""
    rate: float = 0.5
    """How fast to go."""
    mode: Literal["fast", "slow"] = "fast"
    """Which way."""
    verbose: bool = False
    """Say more."""
    limit: int | None = None
    """Stop after this many."""
    extra: dict[str, int] = {}
    """Anything else: no flag, only --set."""


class MoreKnobs(Knobs):
    depth: int = 3
    """How deep to dig."""


def app_for(model: type[BaseModel]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @with_config_flags(model, {"names": ("--name", "-n")})
    def show(loud: bool = False, *, flags: dict[str, Any]) -> None:
        """Print the flags given and the config they make."""
        config = model.model_validate(flags)
        print(json.dumps({"flags": flags, "config": config.model_dump(), "loud": loud}))

    return app


def invoke(model: type[BaseModel], *args: str) -> Any:
    result = CliRunner().invoke(app_for(model), list(args), terminal_width=200)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def help_of(model: type[BaseModel]) -> str:
    """The help text, box-drawing and line breaks out."""
    return " ".join(invoke(model, "--help").output.replace("│", " ").split())


def test_every_field_but_mappings_is_a_flag_that_reaches_the_config():
    given = invoke(
        Knobs, "-n", "ada", "--name", "bob", "--sizes", "2,8", "--rate", "0.25",
        "--mode", "slow", "--verbose", "--limit", "7", "--loud",
    )  # fmt: skip
    shown = json.loads(given.output)
    assert shown["config"] == {
        "names": ["ada", "bob"],
        "sizes": [2, 8],
        "rate": 0.25,
        "mode": "slow",
        "verbose": True,
        "limit": 7,
        "extra": {},
    }
    assert shown["loud"] is True
    assert set(derive_flags(Knobs, {})) == set(Knobs.model_fields) - {"extra"}


def test_an_absent_flag_leaves_the_field_out():
    shown = json.loads(invoke(Knobs, "-n", "ada").output)
    assert shown["flags"] == {"names": ["ada"]}
    assert json.loads(invoke(Knobs, "-n", "ada", "--no-verbose").output)["flags"] == {
        "names": ["ada"],
        "verbose": False,
    }


def test_help_is_the_docstring_with_the_default():
    help_text = help_of(Knobs)
    for text in (
        "--name", "-n", "Names to greet. Repeatable.", "Sizes to try. Comma-separated, e.g. 1,2,4.",
        "[default: 1]", "How fast to go. [default: 0.5]", "Which way. One of: fast, slow.",
        "--verbose", "--no-verbose", "Stop after this many.", "--loud",
    ):  # fmt: skip
        assert text in help_text, text
    assert "--extra" not in help_text


def test_a_field_added_to_the_model_is_a_flag():
    assert "How deep to dig. [default: 3]" in help_of(MoreKnobs)
    shown = json.loads(invoke(MoreKnobs, "-n", "ada", "--depth", "9").output)
    assert shown["config"]["depth"] == 9


def test_a_bad_list_names_the_flag():
    with pytest.raises(ConfigError, match="--sizes takes comma-separated integers such as 1,2,4"):
        invoke(Knobs, "-n", "ada", "--sizes", "1,x")


def test_hotmess_sweep_has_a_flag_for_every_sweep_field():
    from hotmess.cli import app

    result = CliRunner().invoke(app, ["sweep", "--help"], terminal_width=200)
    assert result.exit_code == 0
    help_text = " ".join(result.output.replace("│", " ").split())
    mappings = {"env_options", "sandbox_options"}
    for name, field in SweepConfig.model_fields.items():
        if name in mappings:
            continue
        flag = {"envs": "--env", "agents": "--agent"}.get(name, f"--{name.replace('_', '-')}")
        assert f"{flag} " in help_text, flag
        assert " ".join(field.description.split()[:4]) in help_text, name
    for short in ("-e", "-a", "-o", "-w", "-c", "-q"):
        assert f" {short} " in help_text
