"""pgshift's packages import one way: cli → render → review → engine → db → files →
analysis → the leaves (errors, results, config, _version). Read from the source with
ast, every import counted: also those inside functions and under ``if TYPE_CHECKING:``
(an import that dodges a cycle at run time is still one in the design)."""

from __future__ import annotations

import ast
from pathlib import Path

import pgshift

PACKAGE = Path(pgshift.__file__).parent

# Highest first. A module may import its own package and the packages of lower layers;
# the leaves may also import each other.
LAYERS: list[set[str]] = [
    {"__main__"},  # python -m pgshift: runs the command line
    {"__init__", "cli", "testing"},  # the faces: nothing inside pgshift imports them
    {"render"},
    {"lifecycle", "fleet"},  # around the migrations: wait, db, drift; many targets
    {"review"},
    {"engine"},
    {"db", "embedded"},
    {"files"},
    {"analysis"},
    {"errors", "results", "config", "_version"},
]
LEAVES = LAYERS[-1]


def layer_of(package: str) -> int:
    for number, members in enumerate(LAYERS):
        if package in members:
            return number
    raise AssertionError(f"pgshift.{package} is in no layer: add it to LAYERS")


def top_package(path: Path) -> str:
    """``cli`` for ``pgshift/cli/app.py``, ``config`` for ``pgshift/config.py``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_packages(source: str, module: tuple[str, ...],
                      is_package: bool = False) -> list[tuple[int, str]]:
    """(line, top package) of every pgshift module imported by ``source``, the text of
    module ``module`` (e.g. ``("pgshift", "cli", "app")``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(module if is_package else module[:-1])
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            names = ([f"{origin}.{alias.name}" for alias in node.names]
                     if origin == "pgshift" else [origin])
        for name in names:
            parts = name.split(".")
            if parts[0] == "pgshift" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return sorted(found)


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_package_has_a_layer() -> None:
    for path in modules():
        layer_of(top_package(path))


def test_imports_run_one_way() -> None:
    wrong = []
    for path in modules():
        package = top_package(path)
        layer = layer_of(package)
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        is_package = path.name == "__init__.py"
        module = parts[:-1] if is_package else parts
        for line, target in imported_packages(path.read_text(encoding="utf-8"), module,
                                              is_package):
            if target == package:
                continue
            below = layer_of(target) > layer
            if not below and not (package in LEAVES and target in LEAVES):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: "
                             f"{package} imports {target}")
    assert wrong == []


def test_the_check_counts_function_level_type_checking_and_relative_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pgshift.engine.migrator import Migrator\n"
        "def f() -> None:\n    import pgshift.cli.app\n"
        "from .. import review\n"
        "from ..db import store\n"
        "from pgshift import errors\n"
    )
    found = imported_packages(source, ("pgshift", "files", "probe"))
    assert [target for _, target in found] == ["engine", "cli", "review", "db", "errors"]
