"""Gymnasium environments, registered as `hotmess/<Name>-v<N>` when hotmess is imported.

Third-party families register through `gymnasium.register` or the `hotmess.envs`
entry-point group (see docs/adding-an-environment.md).
"""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import Any

import gymnasium as gym

from hotmess.envs.base import Oracle, Tool, ToolEnv, ToolError, params, tool_call
from hotmess.errors import ConfigError, UnknownEnvError
from hotmess.loading import load_object

NAMESPACE = "hotmess"
ENTRY_POINT_GROUP = "hotmess.envs"

#: Built-in families: registered id -> entry point. Bump the version when a change alters
#: the task a seed generates.
BUILTIN_ENVS: dict[str, str] = {
    "hotmess/KVSum-v0": "hotmess.envs.kvsum:KVSumEnv",
    "hotmess/PointerChase-v0": "hotmess.envs.pointer_chase:PointerChaseEnv",
    "hotmess/FileChain-v0": "hotmess.envs.filechain:FileChainEnv",
    "hotmess/CodeFix-v0": "hotmess.envs.codefix:CodeFixEnv",
    "hotmess/CodeBuild-v0": "hotmess.envs.codebuild:CodeBuildEnv",
    "hotmess/Ledger-v0": "hotmess.envs.ledger:LedgerEnv",
    "hotmess/Harbor-v0": "hotmess.envs.harbor:HarborEnv",
}

_plugin_ids: set[str] = set()


def register_envs() -> None:
    """Register the built-in families and those of installed plugins (idempotent).

    A plugin declares each env as an entry point of the `hotmess.envs` group whose name is
    the env id and whose value is the env class: `"myorg/Maze-v0" = "my_pkg.maze:MazeEnv"`.
    """
    for env_id, entry_point in BUILTIN_ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=True)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in gym.registry:
            try:
                gym.register(id=entry.name, entry_point=entry.value, disable_env_checker=True)
            except Exception as exc:  # a malformed plugin id must not break hotmess itself
                warnings.warn(
                    f"cannot register hotmess env plugin {entry.name!r} ({entry.value}): {exc}",
                    stacklevel=2,
                )
                continue
        _plugin_ids.add(entry.name)


def env_ids() -> list[str]:
    """Every registered hotmess env: the `hotmess/` namespace and plugin ids."""
    register_envs()
    return sorted(
        env_id
        for env_id, spec in gym.registry.items()
        if spec.namespace == NAMESPACE or env_id in _plugin_ids
    )


def generated_env_ids() -> list[str]:
    """The registered envs that generate their tasks from a seed at any horizon: all but
    those whose tasks come from folders the user names (`external_tasks`, Harbor-v0)."""
    return [e for e in env_ids() if not getattr(env_class(e), "external_tasks", False)]


def env_class(env_id: str) -> type[ToolEnv]:
    """The environment class behind a registered id; a clear error for an unknown id."""
    register_envs()
    if env_id not in gym.registry and ":" in env_id:
        return _loaded_class(env_id)
    if env_id not in gym.registry:
        known = ", ".join(env_ids())
        raise UnknownEnvError(
            f"unknown environment '{env_id}'; registered: {known} (see `hotmess envs`), or "
            "give a class as module:Class"
        )
    entry = gym.registry[env_id].entry_point
    return load_object(entry) if isinstance(entry, str) else entry  # type: ignore[return-value]


def _loaded_class(reference: str) -> type[ToolEnv]:
    """The ToolEnv subclass `module:Class` names, as agents are loaded."""
    try:
        found = load_object(reference)
    except (ImportError, ValueError) as exc:
        raise UnknownEnvError(f"cannot load environment '{reference}': {exc}") from None
    if not (isinstance(found, type) and issubclass(found, ToolEnv)):
        raise UnknownEnvError(
            f"'{reference}' is not a hotmess ToolEnv subclass; hotmess runs ToolEnv subclasses"
        )
    return found


def make_env(env_id: str, **kwargs: Any) -> ToolEnv:
    """`gymnasium.make` with hotmess's error for unknown ids, returning the unwrapped env.

    Gymnasium's order-enforcing and checker wrappers are for interactive use; the runner
    drives the env directly, so it gets the env itself.
    """
    cls = env_class(env_id)  # a clear error for an unknown id
    try:
        # A `module:Class` env is not registered: it is made as Gymnasium would make it.
        env = gym.make(env_id, **kwargs).unwrapped if env_id in gym.registry else cls(**kwargs)
    except (TypeError, ValueError) as exc:
        # Gymnasium appends the kwargs to a TypeError; the first part says what is wrong.
        reason = str(exc).split(" was raised from the environment creator")[0]
        raise ConfigError(f"bad options for {env_id}: {reason}") from None
    if not isinstance(env, ToolEnv):
        raise UnknownEnvError(
            f"{env_id} is a {type(env).__name__}, not a hotmess ToolEnv; hotmess runs ToolEnv subclasses"
        )
    return env


__all__ = [
    "BUILTIN_ENVS",
    "Oracle",
    "Tool",
    "ToolEnv",
    "ToolError",
    "env_class",
    "env_ids",
    "generated_env_ids",
    "make_env",
    "params",
    "register_envs",
    "tool_call",
]

register_envs()
