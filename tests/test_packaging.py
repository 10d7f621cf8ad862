"""`pip install .` must give an operator a working, translated bot: the wheel carries the
catalogs, the unit tree, the award ladder and the migrations (catalogs compile on first
start)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_the_wheel_carries_catalogs_units_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("youthbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "locales/vi/LC_MESSAGES/messages.po" in names
    assert "locales/en/LC_MESSAGES/messages.po" in names
    assert "bot/shipped/lang-son-units-2025.csv" in names
    assert "bot/shipped/awards.toml" in names
    assert "models/migrations/env.py" in names
    assert "models/migrations/versions/0001_initial_schema.py" in names
    assert "bot/channels/telegram.py" in names
    assert not any(name.startswith("tests/") for name in names)
