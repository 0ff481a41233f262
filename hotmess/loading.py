"""`module:attr` references (Gymnasium entry points, agent classes, sandbox backends) to the
objects they name: one loader, so every plugin reference fails the same way."""

from __future__ import annotations

import importlib
from typing import Any


class MissingObjectError(ImportError):
    """The module imports, but holds nothing under that name (as `from m import x` fails)."""


def load_object(reference: str) -> Any:
    """The object `module.path:name` names; `name` may be dotted (`module:Class.attr`).

    Raises ImportError when the module cannot be imported (whatever it raised on import
    propagates), MissingObjectError when it imports but lacks the name.
    """
    module_name, sep, name = reference.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"'{reference}' is not a `module:name` reference")
    found: Any = importlib.import_module(module_name)
    for part in name.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise MissingObjectError(
                f"cannot import name '{name}' from '{module_name}'", name=module_name
            ) from None
    return found
