"""Errors a user can fix, and the one-line form of a config model's validation report.

The CLI turns any `HotmessError` into one line on stderr and exit code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class HotmessError(Exception):
    """Base class for errors caused by input the user can correct."""


class ConfigError(HotmessError):
    """A sweep config, CLI flag or agent/env option is invalid."""


class UnknownEnvError(HotmessError):
    """An environment id is not registered."""


class UnknownAgentError(HotmessError):
    """An agent spec names no built-in, entry-point or importable agent."""


class StoreError(HotmessError):
    """A run directory is missing, unreadable, or belongs to a different sweep."""


class SandboxError(HotmessError):
    """A sandbox backend cannot be created on this machine."""


class InfrastructureError(Exception):
    """A fault outside the agent while an episode runs (the container engine failing under
    a sandbox): the episode is censored. Not a HotmessError: the sweep goes on."""


class HotmessDeprecationWarning(FutureWarning):
    """A name hotmess still accepts but will drop; the message names the one to use.

    A FutureWarning, not a DeprecationWarning: it is meant for the people running sweeps,
    and Python shows DeprecationWarnings only to code in `__main__`."""


def validation_problems(
    exc: ValidationError, *, takes: Iterable[str] | None = None, whole: str = "config"
) -> str:
    """pydantic's report on one line: `field: message; ...`.

    With `takes` (the fields a model accepts), an unknown field reads `unknown option 'x'
    (it takes: a, b)`; an error about the whole model is named `whole`.
    """
    accepted = None if takes is None else ", ".join(takes) or "no options"
    problems = []
    for error in exc.errors():
        where = ".".join(map(str, error["loc"])) or whole
        if accepted is not None and error["type"] == "extra_forbidden":
            problems.append(f"unknown option '{error['loc'][0]}' (it takes: {accepted})")
        else:
            problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)
