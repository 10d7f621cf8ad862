"""The database: engine set-up, transactions and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["Database"]

MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite folds the write-ahead log back into the database when it passes this many pages;
# the writer whose commit crosses it pays for it. Larger than the default 1,000 so that a
# broadcast's outbox (one row per recipient) does not make a chatting user wait for it;
# maintenance checkpoints hourly instead, and an erasure at once (see `checkpoint`).
WAL_AUTOCHECKPOINT_PAGES = 20_000
# Several processes starting at once on one PostgreSQL database (bot.cluster) migrate and
# seed it one after the other: the others wait on this advisory lock, then find it done.
PREPARE_LOCK = 0x796F757468  # "youth"


class Database:
    """Owns the engine; use cases open `write()` or `read()` transactions on it."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            connect_args["timeout"] = busy_timeout_ms / 1000
        self.engine: AsyncEngine = create_async_engine(
            self.url, connect_args=connect_args, pool_pre_ping=not self.is_sqlite
        )
        write_engine = self.engine
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms)
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            write_engine = create_async_engine(
                self.url,
                async_creator=partial(_connect_writer, self.url.database, busy_timeout_ms),
            )
            _configure_sqlite(write_engine, busy_timeout_ms)
        self._write_engine = write_engine
        self._writer = async_sessionmaker(
            write_engine.execution_options(begin="IMMEDIATE"), expire_on_commit=False
        )
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time; a writer that finds the lock taken sleeps in
        # growing steps (up to 100 ms) before trying again. Queueing this process's writers
        # here instead hands the lock over at once: a reply never sleeps behind the outbox.
        self._write_turn = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One use case that writes: commits on success, rolls back on error."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_turn is not None:
                await stack.enter_async_context(self._write_turn)
            session = await stack.enter_async_context(self._writer())
            await stack.enter_async_context(session.begin())
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only use case."""
        async with self._reader() as session, session.begin():
            yield session

    async def checkpoint(self) -> bool:
        """Folds the SQLite write-ahead log into the database and empties it, so that what
        was deleted is gone from both files (with secure_delete, deleted content is
        overwritten in the database file). False if a reader kept part of it for now.

        Nothing to do on PostgreSQL or an in-memory database."""
        if self._write_engine is self.engine:
            return True
        async with contextlib.AsyncExitStack() as stack:
            if self._write_turn is not None:
                await stack.enter_async_context(self._write_turn)
            connection = await stack.enter_async_context(self._write_engine.connect())
            raw = (await connection.get_raw_connection()).driver_connection
            if not isinstance(raw, aiosqlite.Connection):
                raise TypeError(f"not an aiosqlite connection: {raw!r}")
            # Outside any transaction, so on the connection's thread: it may wait for readers.
            cursor = await raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = await cursor.fetchone()  # (busy, pages in the log, pages folded back)
            await cursor.close()
        return row is not None and not row[0]

    async def migrate(self) -> None:
        """Brings the schema to the newest migration (creating the SQLite file's folder, and
        the file itself readable by its owner only)."""
        database = self.url.database
        if self.is_sqlite and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # SQLite gives its -wal and -shm files the database file's permissions.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        async with self.engine.execution_options(begin="IMMEDIATE").begin() as connection:
            if not self.is_sqlite:
                await connection.execute(_ONE_AT_A_TIME, {"key": PREPARE_LOCK})
            await connection.run_sync(_upgrade)

    async def one_at_a_time(self, session: AsyncSession) -> None:
        """Waits until no other process prepares the database, and keeps them waiting until
        this transaction ends (PostgreSQL; SQLite's writers take turns anyway)."""
        if not self.is_sqlite:
            await session.execute(_ONE_AT_A_TIME, {"key": PREPARE_LOCK})

    async def close(self) -> None:
        await self._write_engine.dispose()
        await self.engine.dispose()


_ONE_AT_A_TIME = text("SELECT pg_advisory_xact_lock(:key)")


class _WriterConnection(aiosqlite.Connection):
    """A writer's SQLite connection: only what may wait goes to aiosqlite's thread.

    aiosqlite hands every call to the connection's own thread and back; through SQLAlchemy a
    statement makes four such trips (cursor, execute, fetch, close), which cost far more than
    the index lookups of a chat step themselves (see BENCHMARKS.md, "Update throughput").
    Inside a write transaction nothing waits: `BEGIN IMMEDIATE` already holds the database's
    write lock, so its statements run on the event loop's thread, as do cursors and a
    rollback. What may wait still goes to the thread: a statement outside a transaction (the
    `BEGIN` may wait for another process's writer), the commit (it waits for the disk, and
    may fold the write-ahead log back), and closing.
    """

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        if connection is None or fn in (connection.commit, connection.close):
            return await super()._execute(fn, *args, **kwargs)
        if not connection.in_transaction and fn.__name__.startswith("execute"):
            return await super()._execute(fn, *args, **kwargs)
        return fn(*args, **kwargs)


async def _connect_writer(path: str, busy_timeout_ms: int) -> aiosqlite.Connection:
    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, timeout=busy_timeout_ms / 1000, check_same_thread=False)

    connection = _WriterConnection(connector, iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite: exiting never waits
    return await connection


def _upgrade(connection: Connection) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, full sync, foreign keys, secure delete, and BEGIN IMMEDIATE for writers.

    A deferred BEGIN that later writes fails with SQLITE_BUSY at once instead of waiting for
    the busy timeout, so transactions that will write take the write lock up front.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see on_begin), not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted content is overwritten with zeros, not left in free space (many builds,
        # but not all, have this on by default): erased data is gone from the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("begin", "DEFERRED")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")
