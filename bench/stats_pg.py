"""PostgreSQL for the statistics benchmark: a server of our own (as the test suite starts one)
over a cluster kept next to the generated SQLite database, loaded from it once with COPY, so
reruns start at once.

The schema is the project's migrations, as the bot makes it; then every table is emptied and
refilled from the SQLite file in one transaction: secondary indexes dropped and built again
after the rows are in, foreign keys not checked row by row (the rows come from a database
that kept them), and the WAL skipped (`wal_level=minimal`, for loading only). The copy is
checked by counting every table on both sides (as `python -m bot migrate-data` checks its
copy). Each start brings the schema to the newest revision and vacuums and analyses, as
autovacuum would do soon after a load or a migration.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Boolean, Date, DateTime, Float, Table, TypeDecorator
from sqlalchemy.types import TypeEngine

from bot.app import build_app
from models.db import Database
from models.tables import Base
from models.transfer import count_tables, restart_sequences
from tests.conftest import make_config
from tests.test_postgres import postgres_server

# While loading only: COPY into a table emptied in the same transaction writes no WAL, and
# indexes are built with room to sort.
LOADING = (
    "-c wal_level=minimal -c max_wal_senders=0 -c maintenance_work_mem=1GB "
    "-c max_wal_size=16GB -c checkpoint_timeout=1h"
)
ROWS = 50_000  # read from SQLite and sent with COPY at a time


@contextlib.contextmanager
def postgres_for(sqlite_path: Path) -> Iterator[str]:
    """A server over the copy of this SQLite database (made on first use), its URL; the
    schema brought to the newest revision, as the bot does on start."""
    home = sqlite_path.parent / "postgres"
    if not home.is_dir():
        partial = sqlite_path.parent / "postgres.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        started = time.perf_counter()
        print(f"loading the database into PostgreSQL in {home} (kept)", flush=True)
        with postgres_server(partial, LOADING) as url:
            asyncio.run(_load(sqlite_path, url))
        partial.rename(home)
        print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)
    with postgres_server(home) as url:
        started = time.perf_counter()
        asyncio.run(_prepare(url, sqlite_path.parent))
        seconds = time.perf_counter() - started
        print(f"PostgreSQL: the newest revision applied in {seconds:.1f} s", flush=True)
        asyncio.run(_vacuum(url))
        yield url


async def _prepare(url: str, folder: Path) -> None:
    app = build_app(make_config(folder, DATABASE_URL=url))
    try:
        await app.prepare()
    finally:
        await app.close()


async def _load(source: Path, url: str) -> None:
    await _prepare(url, source.parent)  # the schema, at the same revision as the source's
    tables = list(Base.metadata.sorted_tables)
    reader = sqlite3.connect(source)
    writer = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with writer.transaction():
            await writer.execute("SET session_replication_role = replica")  # no FK triggers
            names = ", ".join(table.name for table in tables)
            await writer.execute(f"TRUNCATE {names} RESTART IDENTITY")
            for table in tables:
                started = time.perf_counter()
                indexes = await _drop_indexes(writer, table.name)
                copied = await _copy(reader, writer, table)
                for definition in indexes:
                    await writer.execute(definition)
                if copied:
                    seconds = time.perf_counter() - started
                    print(f"  {table.name}: {copied:,} rows in {seconds:.0f} s", flush=True)
    finally:
        reader.close()
        await writer.close()
    sqlite, postgres = Database(f"sqlite+aiosqlite:///{source}"), Database(url)
    try:
        async with postgres.write() as session:
            await restart_sequences(session)
        counts = await count_tables(sqlite, postgres)
    finally:
        await sqlite.close()
        await postgres.close()
    wrong = [count for count in counts if not count.matches]
    assert not wrong, f"the copy differs from the SQLite database: {wrong}"
    print("  every table's count matches the SQLite database's", flush=True)


async def _vacuum(url: str) -> None:
    """What autovacuum does soon after a load or a migration (statistics for the planner,
    the visibility map for index-only scans), done before measuring rather than during."""
    started = time.perf_counter()
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    print(f"PostgreSQL vacuumed and analysed in {time.perf_counter() - started:.0f} s", flush=True)


async def _drop_indexes(writer: asyncpg.Connection, table: str) -> list[str]:
    """Drops the table's indexes that belong to no constraint; their definitions."""
    rows = await writer.fetch(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = $1
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        table,
    )
    for row in rows:
        await writer.execute(f'DROP INDEX "{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


async def _copy(reader: sqlite3.Connection, writer: asyncpg.Connection, table: Table) -> int:
    columns = [column.name for column in table.columns]
    converters = [_converter(column.type) for column in table.columns]
    quoted = ", ".join(f'"{name}"' for name in columns)
    cursor = reader.execute(f"SELECT {quoted} FROM {table.name}")  # noqa: S608 (our own names)
    copied = 0

    async def records() -> AsyncIterator[tuple[Any, ...]]:
        nonlocal copied
        while rows := cursor.fetchmany(ROWS):
            copied += len(rows)
            for row in rows:
                yield tuple(
                    value if convert is None or value is None else convert(value)
                    for convert, value in zip(converters, row, strict=True)
                )

    await writer.copy_records_to_table(table.name, records=records(), columns=columns)
    return copied


def _converter(kind: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How a value SQLite returns becomes the one asyncpg sends (JSON stays text)."""
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, DateTime):
        return _utc
    if isinstance(kind, Date):
        return dt.date.fromisoformat
    if isinstance(kind, Boolean):
        return bool
    if isinstance(kind, Float):
        return float
    return None


def _utc(stored: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC)
