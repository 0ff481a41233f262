"""Errors a user can fix. Each message says what was wrong and what to do.

The CLI turns any `HotmessError` into one line on stderr and exit code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


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
