"""The import rules that keep the layers apart: the domain below everything, the tables below
the services and handlers, and no platform in the core."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A package, and the top-level modules it may never import.
FORBIDDEN = {
    "domain": {"bot", "handlers", "models", "sqlalchemy", "telegram", "httpx"},
    "models": {"bot", "handlers", "telegram", "httpx"},
    "handlers": {"telegram", "httpx", "tornado"},
}


# The core, where no platform is named and none of a platform's facts written (sizes, links):
# each channel adapter declares what its platform can do (bot.capabilities), and the core
# asks the declaration.
CORE = (
    "handlers",
    "models",
    "domain",
    "bot/dispatch.py",
    "bot/dialogue.py",
    "bot/context.py",
    "bot/router.py",
    "bot/events.py",
)
PLATFORM_FACTS = re.compile(r"telegram|zalo|t\.me/|bot_username|\b\d+\s*MB\b", re.IGNORECASE)


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


def platform_facts(path: Path) -> list[str]:
    """Lines of a module that name a platform or write down one of its facts."""
    lines = enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
    return [f"{n}: {line.strip()}" for n, line in lines if PLATFORM_FACTS.search(line)]


def core_modules() -> list[Path]:
    found = []
    for name in CORE:
        path = ROOT / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [path for path in found if "migrations" not in path.parts]


def test_the_core_names_no_platform_and_none_of_its_facts() -> None:
    broken = {
        str(path.relative_to(ROOT)): lines
        for path in core_modules()
        if (lines := platform_facts(path))
    }
    assert broken == {}


def test_the_platform_rule_sees_a_name_a_link_and_a_size(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "# a Telegram limit\nLINK = 'https://t.me/x'\nTEXT = _('up to 50 MB')\n"
        "OK = _('up to {max_mb} MB')\n"
    )
    assert [line.split(":")[0] for line in platform_facts(module)] == ["1", "2", "3"]
