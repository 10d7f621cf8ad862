"""The import rules that keep the layers apart: the domain below everything, the tables below
the services and handlers, and no platform in the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A package, and the top-level modules it may never import.
FORBIDDEN = {
    "domain": {"bot", "handlers", "models", "sqlalchemy", "telegram", "httpx"},
    "models": {"bot", "handlers", "telegram", "httpx"},
    "handlers": {"telegram", "httpx", "tornado"},
}


def imports(path: Path) -> set[str]:
    """The top-level names a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_what_is_below_them(package: str) -> None:
    broken = {
        str(path.relative_to(ROOT)): sorted(imports(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }
    assert {path: names for path, names in broken.items() if names} == {}


def test_the_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom bot.config import Config\nfrom . import sibling\n")
    assert imports(module) == {"os", "bot"}
