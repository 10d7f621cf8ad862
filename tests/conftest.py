"""Shared fixtures: a configured app on a fresh SQLite file, and the bot as a subprocess."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.app import App, build_app
from bot.config import Config, load

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
# python-telegram-bot's future behaviour (retry_after as a timedelta), without its warning.
os.environ["PTB_TIMEDELTA"] = "true"


def make_config(tmp_path: Path, **env: str) -> Config:
    """The project's config.toml with a database and data directory of the test's own."""
    environ = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
        **env,
    }
    return load(_config_copy(tmp_path), environ)


def _config_copy(tmp_path: Path) -> Path:
    """The project's config.toml copied beside the test, so data_dir lands in tmp_path."""
    path = tmp_path / "config.toml"
    if not path.exists():
        shutil.copyfile(ROOT / "config.toml", path)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def app(config: Config) -> AsyncIterator[App]:
    app = build_app(config)
    await app.prepare()
    yield app
    await app.close()


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for running `python -m bot` as a subprocess against the test's database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "YOUTHBOT_"))
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
            "YOUTHBOT_CONFIG": str(_config_copy(tmp_path)),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


async def polled(probe: Callable[[], Awaitable[T | None]], *, timeout: float) -> T:
    """What `probe` gives once it gives something, asked again until `timeout`: for another
    process's port, which sends no event when it starts listening (nothing to await)."""
    async with asyncio.timeout(timeout):
        while True:
            found = await probe()
            if found is not None:
                return found
            await asyncio.sleep(0.1)  # the interval between two probes, not a wait for a state


async def start_bot_run(
    env: dict[str, str],
    *,
    stderr: Any = asyncio.subprocess.DEVNULL,
    cwd: Path = ROOT,
    stdin: Any = None,
) -> asyncio.subprocess.Process:
    """`python -m bot run` as a process of its own (its output to `stderr`: DEVNULL, PIPE or
    an open file), as an operator starts it."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=stderr,
    )


def run_bot(
    tmp_path: Path,
    *args: str,
    stdin: str = "",
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m bot ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=bot_env(tmp_path, **(env or {})),
        check=False,
    )


@pytest.fixture
def no_proxy() -> Iterator[None]:
    """Loopback traffic must never go through a proxy from the environment."""
    saved = {
        key: os.environ.pop(key) for key in list(os.environ) if key.lower().endswith("_proxy")
    }
    yield
    os.environ.update(saved)
