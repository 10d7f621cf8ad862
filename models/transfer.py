"""Copying every table from one database to another (a province moving from SQLite to
PostgreSQL): into an empty database at the same schema, in one transaction, checked by
counting each table's rows on both sides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Integer, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Database
from models.tables import Base

__all__ = ["NotEmpty", "TableCount", "copy_tables", "count_tables", "restart_sequences"]

CHUNK = 1000  # rows read and written at a time


class NotEmpty(Exception):
    """The target database holds data already: nothing is copied into it."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


def _tables() -> list[Table]:
    """Every table, each after the tables it refers to."""
    return list(Base.metadata.sorted_tables)


async def _count(session: AsyncSession, table: Table) -> int:
    return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def copy_tables(
    source: Database, target: Database, *, copied: Callable[[str, int], None] | None = None
) -> None:
    """Copies every row of every table, in one transaction of the target: all or nothing.
    Both databases must be at the newest schema. `copied(table, rows)` hears of progress."""
    async with target.write() as out, source.read() as into:
        if target.is_sqlite:
            await out.execute(text("PRAGMA defer_foreign_keys=ON"))  # checked at commit
        for table in _tables():
            if await _count(out, table):
                raise NotEmpty(table.name)
        for table in _tables():
            # A table that refers to itself (units and their parents) goes in one statement:
            # its references are checked once all its rows are in.
            refers_to_itself = any(fk.column.table is table for fk in table.foreign_keys)
            chunk = None if refers_to_itself else CHUNK
            rows = await into.stream(select(table).order_by(*table.primary_key.columns))
            total = 0
            async for part in rows.mappings().partitions(chunk):
                await out.execute(insert(table), [dict(row) for row in part])
                total += len(part)
                if copied is not None:
                    copied(table.name, total)
        if not target.is_sqlite:
            await restart_sequences(out)


async def restart_sequences(session: AsyncSession) -> None:
    """PostgreSQL's id sequences continue after the copied ids."""
    for table in _tables():
        key = list(table.primary_key.columns)
        if len(key) != 1 or key[0].name != "id" or not isinstance(key[0].type, Integer):
            continue
        highest = select(func.max(key[0])).scalar_subquery()
        await session.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(table.name, "id"),
                    func.coalesce(highest, 0) + 1,
                    False,
                )
            )
        )


async def count_tables(source: Database, target: Database) -> list[TableCount]:
    """Each table's rows on both sides."""
    counts = []
    async with source.read() as left, target.read() as right:
        for table in _tables():
            counts.append(
                TableCount(table.name, await _count(left, table), await _count(right, table))
            )
    return counts
