"""The embedded database: durable settings, writers that wait instead of failing, migrations."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text

from bot.app import App
from models import AuditRecord, Campaign, Unit
from models.units import search_units


async def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(app: App) -> None:
    async with app.db.read() as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await session.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000


async def test_concurrent_read_then_write_transactions_all_succeed(app: App) -> None:
    """Each writer reads, then writes. With a deferred BEGIN the losers would fail at once with
    "database is locked"; BEGIN IMMEDIATE makes them wait their turn."""

    async def writer(n: int) -> None:
        async with app.db.write() as session:
            count = await session.scalar(select(func.count()).select_from(AuditRecord))
            await asyncio.sleep(0)  # let the others start their transactions too
            session.add(AuditRecord(actor="test", action="write", details={"n": n, "seen": count}))

    await asyncio.gather(*(writer(n) for n in range(30)))
    async with app.db.read() as session:
        seen = sorted(
            record.details["seen"] for record in (await session.scalars(select(AuditRecord))).all()
        )
    assert seen == list(range(30))  # strictly one after another


async def test_first_start_imports_units_and_campaign_once(app: App) -> None:
    await app.prepare()  # a second start changes nothing
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Unit)) == 71
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 1


async def test_unit_search_ignores_diacritics_and_case(app: App) -> None:
    async with app.db.read() as session:
        assert [u.name for u in await search_units(session, "na sam", limit=5)] == ["Xã Na Sầm"]
        assert [u.name for u in await search_units(session, "NA SẦM", limit=5)] == ["Xã Na Sầm"]
        assert [u.name for u in await search_units(session, "dong dang", limit=5)] == [
            "Xã Đồng Đăng"
        ]
        assert await search_units(session, "100%_", limit=5) == []
        names = [u.name for u in await search_units(session, "lang son", limit=50)]
        assert "Tỉnh Lạng Sơn" not in names  # the province itself is not a unit to join
