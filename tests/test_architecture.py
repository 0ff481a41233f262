"""Imports point down, as docs/architecture.md draws them: a package may import only the
packages listed for it here. An AST walk over the source, so nothing is imported to check."""

from __future__ import annotations

import ast
from pathlib import Path

import hotmess

PACKAGE = Path(hotmess.__file__).parent

#: Each top-level part of hotmess and the parts it may import (itself always). Keep in step
#: with the table in docs/architecture.md.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "outcome": set(),
    "loading": {"errors"},
    "sandbox": {"errors", "loading"},
    "store": {"errors", "outcome"},
    "envs": {"sandbox", "errors", "loading", "outcome"},
    "agents": {"envs", "errors", "loading", "outcome"},
    "scoring": {"store", "errors", "loading", "outcome"},
    "runner": {"store", "scoring", "envs", "agents", "sandbox", "errors", "loading", "outcome"},
    "report": {"scoring", "store", "errors", "outcome"},
    "importers": {"store", "errors", "loading", "outcome"},
    # The command line and the package's front door may import anything.
    "cli": {"*"},
    "__main__": {"*"},
    "__init__": {"*"},
}
#: What any module may import: the version string, a constant of the package itself.
EVERYWHERE = {"__version__"}


def part_of(module: str) -> str:
    """`hotmess.scoring.table` -> `scoring`; `hotmess` -> `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """Every hotmess module `path` imports, with its line, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "hotmess":  # `from hotmess import scoring` names the parts
                found += [(node.lineno, f"hotmess.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name.split(".")[0] == "hotmess"]


def source_modules() -> list[tuple[Path, str]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append((path, ".".join(parts)))
    return modules


def test_every_part_of_the_package_is_placed() -> None:
    parts = {part_of(module) for _, module in source_modules()}
    assert parts <= set(ALLOWED), (
        f"place these in ALLOWED and docs/architecture.md: {parts - set(ALLOWED)}"
    )


def test_imports_point_down() -> None:
    wrong = []
    for path, module in source_modules():
        own = part_of(module)
        allowed = ALLOWED[own]
        for line, target in imported_modules(path, module):
            other = part_of(target)
            if not (other == own or other in EVERYWHERE or "*" in allowed or other in allowed):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {target}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    """The walk finds a relative import that climbs out of its package."""
    source = tmp_path / "table.py"
    source.write_text("from ..runner import sweep\nfrom . import samples\nimport hotmess.report\n")
    found = [name for _, name in imported_modules(source, "hotmess.scoring.table")]
    assert found == ["hotmess.runner", "hotmess.scoring", "hotmess.report"]
