"""Command-line flags derived from a pydantic config model: each field's type, default and
docstring become a flag and its help, so a new config field is a new flag with no CLI edit."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.markup import escape

from hotmess.errors import ConfigError

#: Typer's own spelling of these types, which the flags take as text (see `annotation`).
METAVARS: dict[Any, str] = {int: "<int>", float: "<float>", str: "<str>", Path: "<path>"}


def parse_int_list(text: str, flag: str, example: str) -> list[int]:
    """`1,2,4` as a list of integers; a ConfigError naming `flag` otherwise."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"{flag} takes comma-separated integers such as {example}; got '{text}'"
        ) from None
    if not values:
        raise ConfigError(f"{flag} is empty; give e.g. {example}")
    return values


def _optional_inner(annotation: Any) -> Any:
    """`X` for `X | None` (and for `X` itself)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _item_type(kind: Any) -> Any:
    """`X` for `list[X]`, else None."""
    return get_args(kind)[0] if get_origin(kind) is list and get_args(kind) else None


class ConfigFlag:
    """One field's flag: how typer declares it and how its value goes back into the config.

    `list[str]` repeats the flag (agent specs hold commas); other lists are comma-separated
    (`1,2,4`); `bool` is `--x/--no-x`; anything else is text that pydantic converts, so a
    bad value is the same one-line error as in a YAML file, and fields that parse text
    (`90m`) work.
    """

    def __init__(self, field: FieldInfo, decls: tuple[str, ...]) -> None:
        self.field = field
        self.decls = decls
        self.kind = _optional_inner(field.annotation)
        self.item = _item_type(self.kind)
        examples = field.examples or []
        self.example = ",".join(map(str, examples[0])) if examples else "1,2,3"

    @property
    def flag(self) -> str:
        return self.decls[0]

    def annotation(self) -> Any:
        """The typer annotation of this flag: the type it parses to and its `typer.Option`."""
        field = self.field
        help_text = escape(" ".join((field.description or "").split()))
        default = None if field.is_required() or field.default_factory else field.default
        decls, metavar = self.decls, METAVARS.get(self.kind, "<str>")
        cli_type: Any = str
        if self.item is str:
            cli_type = list[str]
            help_text += " Repeatable."
        elif self.item is not None:
            metavar = f"<{METAVARS.get(self.item, '<str>')[1:-1]},...>"
            help_text += f" Comma-separated, e.g. {self.example}."
            default = ",".join(map(str, default)) if default else None
        elif self.kind is bool:
            cli_type = bool
            decls = (f"{self.flag}/--no-{self.flag[2:]}", *decls[1:])
        elif get_origin(self.kind) is Literal:
            choices = get_args(self.kind)
            if not all(str(choice) in help_text for choice in choices):
                help_text += f" One of: {', '.join(map(str, choices))}."
        if default is not None:
            # In the help, not as the flag's default: an absent flag must leave the field to
            # the config file, so every flag defaults to None.
            help_text += " " + escape(f"[default: {default}]")
        option = typer.Option(*decls, help=help_text, metavar=metavar)
        return Annotated[cli_type | None, option]

    def value(self, given: Any) -> Any:
        """The config value for what the command line gave, None when the flag is absent."""
        if given is None or given == []:
            return None
        if self.item is int:
            return parse_int_list(given, self.flag, self.example)
        if self.item not in (None, str):
            return [part.strip() for part in given.split(",") if part.strip()]
        return given


def derive_flags(
    model: type[BaseModel], names: Mapping[str, tuple[str, ...]]
) -> dict[str, ConfigFlag]:
    """A flag per field of `model` (`--field-name`, or the declarations in `names`); fields
    that hold mappings or models get none: `--set field.key=value` reaches them."""
    flags = {}
    for name, field in model.model_fields.items():
        kind = _optional_inner(field.annotation)
        if get_origin(kind) is dict or (isinstance(kind, type) and issubclass(kind, BaseModel)):
            continue
        flags[name] = ConfigFlag(field, names.get(name, (f"--{name.replace('_', '-')}",)))
    return flags


def with_config_flags(
    model: type[BaseModel], names: Mapping[str, tuple[str, ...]]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a typer command a flag per field of `model`, beside its own parameters. The
    command takes `flags`: the values given on the command line, by field name (absent
    flags left out)."""
    derived = derive_flags(model, names)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command, eval_str=True)
        clash = set(own.parameters) & set(derived)
        assert not clash, f"{command.__name__} has parameters named like config fields: {clash}"
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [
            inspect.Parameter(
                name,
                keyword,
                default=None,
                annotation=flag.annotation(),
            )
            for name, flag in derived.items()
        ]
        parameters += [p.replace(kind=keyword) for n, p in own.parameters.items() if n != "flags"]

        @functools.wraps(command)
        def run(**given: Any) -> Any:
            values = {name: flag.value(given.pop(name)) for name, flag in derived.items()}
            flags = {name: value for name, value in values.items() if value is not None}
            return command(**given, flags=flags)

        run.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
        return run

    return decorate
