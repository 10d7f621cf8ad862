"""The embedded database: durable settings, writers that wait instead of failing, migrations."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, func, select, text, update

from bot.app import App
from bot.channels.console import parse_line
from models import AuditRecord, Base, Campaign, Dialogue, InboxUpdate, Unit
from models.db import MIGRATIONS
from models.units import search_units


async def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(app: App) -> None:
    for transaction in (app.db.read, app.db.write):  # readers and writers connect apart
        async with transaction() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await session.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000


async def test_a_writer_waiting_for_another_process_leaves_the_bot_free(app: App) -> None:
    """Another process (the admin CLI, say) holds the write lock: the bot's next write waits
    for it without holding up the event loop, so the bot goes on reading and answering."""
    other = sqlite3.connect(str(app.db.url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with app.db.write() as session:
            session.add(AuditRecord(actor="test", action="after the other process"))

    waiting = asyncio.create_task(write())
    try:
        async with asyncio.timeout(5):
            async with app.db.read() as session:
                assert await session.scalar(select(func.count()).select_from(Unit))
        assert not waiting.done()
    finally:
        other.execute("COMMIT")
        other.close()
    await asyncio.wait_for(waiting, timeout=5)
    async with app.db.read() as session:
        actions = await session.scalars(select(AuditRecord.action))
        assert "after the other process" in actions.all()


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


async def test_what_users_sent_is_not_kept_once_answered(app: App) -> None:
    inbound = parse_line("Hoàng Thị Mai")
    await app.dispatcher.handle(inbound)
    async with app.db.read() as session:
        row = (await session.scalars(select(InboxUpdate))).one()
        assert "Hoàng Thị Mai" not in str(row.payload)
        assert row.replies is not None  # kept until sent, to resend after a crash
    app.dispatcher.replied("console", inbound.update_key)
    await app.dispatcher.settle()
    async with app.db.read() as session:
        assert (await session.scalars(select(InboxUpdate))).one().replies is None


async def test_maintenance_forgets_old_updates_and_abandoned_forms(app: App) -> None:
    for line in ("/start", "1", "Hoàng Thị Mai"):
        inbound = parse_line(line)
        await app.dispatcher.handle(inbound)
        app.dispatcher.replied("console", inbound.update_key)
    await app.dispatcher.settle()
    await app.maintain()
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(InboxUpdate)) == 3
        assert await session.scalar(select(func.count()).select_from(Dialogue)) == 1
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    async with app.db.write() as session:
        await session.execute(update(InboxUpdate).values(replied_at=long_ago))
        await session.execute(update(Dialogue).values(updated_at=long_ago))
    await app.maintain()
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(InboxUpdate)) == 0
        assert await session.scalar(select(func.count()).select_from(Dialogue)) == 0


async def test_the_migrations_build_exactly_the_declared_tables(app: App) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, Base.metadata))

    async with app.db.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def test_upgrading_counts_the_entries_made_before_the_totals_existed(tmp_path: Path) -> None:
    """Revision 0006 fills the statistics totals from entries an older version stored."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.exec_driver_sql(
            "INSERT INTO units (id, code, name, search_name, kind, created_at) "
            "VALUES (1, 'x', 'Xã X', 'xa x', 'commune', '2025-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO campaigns (id, title, description, starts_on, is_default, created_at) "
            "VALUES (1, 'C', '', '2021-01-01', 1, '2025-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO members (id, full_name, birth_year, is_minor, unit_id, "
            "broadcasts_off, registered_at) VALUES (1, 'A', 2000, 0, 1, 0, '2025-01-01')"
        )
        for number, (kind, status, submitted_at, answers) in enumerate(
            [
                (
                    "volunteer",
                    "approved",
                    "2026-10-31 18:00:00",
                    '{"participants": 10, "hours": 2.5, "beneficiaries": 40}',
                ),
                (
                    "volunteer",
                    "submitted",
                    "2026-10-31 16:00:00",
                    '{"participants": 5, "hours": 1, "beneficiaries": 0}',
                ),
                (
                    "economic_model",
                    "approved",
                    "2026-05-02 03:00:00",
                    '{"jobs": 7, "revenue": 300000000}',
                ),
            ],
            start=1,
        ):
            connection.exec_driver_sql(
                "INSERT INTO entries (id, kind, status, reporter_id, unit_id, campaign_id, "
                "collective, title, answers, version, submitted_at, updated_at) VALUES "
                "(?, ?, ?, 1, 1, 1, 0, 't', ?, 1, ?, ?)",
                (number, kind, status, answers, submitted_at, submitted_at),
            )
        command.upgrade(config, "0007")  # the rules of 0006; 0008 counts again by its own
        totals = connection.exec_driver_sql(
            "SELECT month, kind, status, entries, participants, volunteer_hours, "
            "beneficiaries, jobs, revenue FROM stat_totals ORDER BY month, kind, status"
        ).fetchall()
        reporters = connection.exec_driver_sql(
            "SELECT member_id, month FROM reporter_months ORDER BY month"
        ).fetchall()
    engine.dispose()
    # 18:00 UTC on 31 October is 1 November in Lạng Sơn.
    assert totals == [
        ("2026-05", "economic_model", "approved", 1, 0, 0.0, 0, 7, 300_000_000),
        ("2026-10", "volunteer", "submitted", 1, 5, 5.0, 0, 0, 0),
        ("2026-11", "volunteer", "approved", 1, 10, 25.0, 40, 0, 0),
    ]
    assert reporters == [(1, "2026-05"), (1, "2026-10"), (1, "2026-11")]


def audit_rows_of_an_older_version(connection: Connection) -> None:
    """At revision 0007: a member (1) with two accounts (1, 2), an account that never
    registered (3), an entry of the member's; and the rows a person erased before 0008 left:
    their actor (account 9) and their member id (5)."""
    execute = connection.exec_driver_sql
    execute(
        "INSERT INTO units (id, code, name, search_name, kind, created_at) "
        "VALUES (1, 'x', 'Xã X', 'xa x', 'commune', '2025-01-01 00:00:00')"
    )
    execute(
        "INSERT INTO campaigns (id, title, description, starts_on, is_default, created_at) "
        "VALUES (1, 'C', '', '2021-01-01', true, '2025-01-01 00:00:00')"
    )
    execute(
        "INSERT INTO members (id, full_name, birth_year, is_minor, unit_id, broadcasts_off, "
        "registered_at) VALUES (1, 'A B', 2000, false, 1, false, '2025-01-01 00:00:00')"
    )
    for identity_id, member_id in ((1, 1), (2, 1), (3, None)):
        connection.execute(
            text(
                "INSERT INTO identities (id, channel, user_id, member_id, created_at) "
                "VALUES (:id, 'telegram', :user, :member, '2025-01-01 00:00:00')"
            ),
            {"id": identity_id, "user": str(identity_id), "member": member_id},
        )
    execute(
        "INSERT INTO entries (id, kind, status, reporter_id, unit_id, campaign_id, collective, "
        "title, answers, version, submitted_at, updated_at) VALUES (1, 'volunteer', 'approved', "
        "1, 1, 1, false, 't', '{}', 1, '2025-01-02 00:00:00', '2025-01-02 00:00:00')"
    )
    for actor, action, details in AUDIT_BEFORE_0008:
        connection.execute(
            text(
                "INSERT INTO audit_log (actor, action, details, at) "
                "VALUES (:actor, :action, :details, '2025-01-03 00:00:00')"
            ),
            {"actor": actor, "action": action, "details": json.dumps(details)},
        )


AUDIT_BEFORE_0008 = [
    ("identity:1", "member.registered", {"member_id": 1}),
    ("cli", "role.granted", {"identity_id": 2, "role": "secretary", "unit_id": 1}),
    ("cli", "role.granted", {"identity_id": 3, "role": "admin", "unit_id": None}),
    ("identity:7", "entry.approved", {"entry_id": 1}),
    ("identity:9", "entry.submitted", {"entry_id": 4, "kind": "volunteer"}),
    ("identity:9", "member.registered", {"member_id": 5}),
    ("system", "member.deleted", {"member_id": 5, "kept_anonymised": 1, "deleted_entries": 0}),
    ("cli", "export.created", {"rows": 3}),
]
AUDIT_AFTER_0008 = [
    ("identity:1", "member.registered", {"member_id": 1}, "member:1"),
    ("cli", "role.granted", {"identity_id": 2, "role": "secretary", "unit_id": 1}, "member:1"),
    ("cli", "role.granted", {"identity_id": 3, "role": "admin", "unit_id": None}, "identity:3"),
    ("erased", "entry.approved", {"entry_id": 1}, "member:1"),
    ("erased", "entry.submitted", {"entry_id": 4, "kind": "volunteer"}, None),
    ("erased", "member.registered", {}, None),
    ("system", "member.deleted", {"kept_anonymised": 1, "deleted_entries": 0}, None),
    ("cli", "export.created", {"rows": 3}, None),
]


def audit_rows_after_upgrade(connection: Connection) -> list[tuple[object, ...]]:
    rows = connection.exec_driver_sql(
        "SELECT actor, action, details, subject FROM audit_log ORDER BY id"
    ).all()
    return [
        (actor, action, details if isinstance(details, dict) else json.loads(details), subject)
        for actor, action, details, subject in rows
    ]


def migrate_to(connection: Connection, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def test_upgrading_notes_whom_each_audit_row_concerns(tmp_path: Path) -> None:
    """Revision 0008 finds the subject of older rows from their details, and anonymises the
    rows of people erased before it as an erasure now does."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with engine.begin() as connection:
        migrate_to(connection, "0007")
        audit_rows_of_an_older_version(connection)
        migrate_to(connection, "head")
        assert audit_rows_after_upgrade(connection) == AUDIT_AFTER_0008
    engine.dispose()


def test_upgrading_dates_routes_and_counts_entries_by_the_new_rules(tmp_path: Path) -> None:
    """0009: entries count in the month they happened; an individual volunteer entry counts
    its reporter's own hours, a collective one participants times hours; a secretary's own
    and collective entries go to the level above for review."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        run = connection.exec_driver_sql
        run(
            "INSERT INTO units (id, code, name, search_name, kind, parent_id, created_at) VALUES "
            "(1, 'p', 'Tỉnh', 'tinh', 'province', NULL, '2025-01-01'), "
            "(2, 'x', 'Xã X', 'xa x', 'commune', 1, '2025-01-01'), "
            "(3, 'b', 'Chi đoàn B', 'chi doan b', 'branch', 2, '2025-01-01')"
        )
        run(
            "INSERT INTO campaigns (id, title, description, starts_on, is_default, created_at) "
            "VALUES (1, 'C', '', '2021-01-01', 1, '2025-01-01 00:00:00')"
        )
        run(
            "INSERT INTO members (id, full_name, birth_year, is_minor, unit_id, broadcasts_off, "
            "registered_at) VALUES (1, 'A', 2000, 0, 3, 0, '2025-01-01'), "
            "(2, 'S', 1995, 0, 2, 0, '2025-01-01')"
        )
        run(
            "INSERT INTO identities (id, channel, user_id, chat_id, member_id, created_at) "
            "VALUES (1, 'telegram', '1', '1', 1, '2025-01-01'), "
            "(2, 'telegram', '2', '2', 2, '2025-01-01')"
        )
        run(  # S is the commune's secretary
            "INSERT INTO role_grants (identity_id, role, unit_id, granted_at, granted_by) "
            "VALUES (2, 'secretary', 2, '2025-01-01', 'test')"
        )
        rows = [  # (reporter, unit, collective, kind, status, sent, answers)
            (1, 3, 0, "volunteer", "approved", "2026-12-01 03:00:00",
             '{"date": "2026-06-20", "participants": 25, "hours": 3.5, "beneficiaries": 40}'),
            (2, 2, 1, "volunteer", "submitted", "2026-12-02 03:00:00",
             '{"date": "2026-11-30", "participants": 10, "hours": 2, "beneficiaries": 5}'),
            (2, 3, 0, "initiative", "submitted", "2026-12-02 04:00:00",
             '{"title": "t", "applied_on": "2025-03-15"}'),
            (1, 3, 0, "economic_model", "approved", "2026-10-31 18:00:00",
             '{"jobs": 7, "revenue": 300000000}'),
        ]  # fmt: skip
        for number, (reporter, unit, collective, kind, status, sent, answers) in enumerate(
            rows, start=1
        ):
            run(
                "INSERT INTO entries (id, kind, status, reporter_id, unit_id, campaign_id, "
                "collective, title, answers, version, submitted_at, updated_at) VALUES "
                "(?, ?, ?, ?, ?, 1, ?, 't', ?, 1, ?, ?)",
                (number, kind, status, reporter, unit, collective, answers, sent, sent),
            )
        command.upgrade(config, "head")
        entries = run(
            "SELECT id, happened_on, review_unit_id, answers FROM entries ORDER BY id"
        ).fetchall()
        totals = run(
            "SELECT month, kind, status, entries, participants, volunteer_hours "
            "FROM stat_totals ORDER BY month, kind, status"
        ).fetchall()
        units_sent = run(
            "SELECT unit_id, month FROM unit_months ORDER BY unit_id, month"
        ).fetchall()
    engine.dispose()
    # 0011: the units that sent something each (local) month, whatever the work's date.
    assert units_sent == [(2, "2026-12"), (3, "2026-11"), (3, "2026-12")]
    assert [(i, day, unit) for i, day, unit, _ in entries] == [
        (1, "2026-06-20", 3),  # a member's entry: their branch decides
        (2, "2026-11-30", 1),  # the commune's collective entry: the province decides
        (3, "2025-03-15", 1),  # the commune secretary's own entry in a branch: above them
        (4, "2026-11-01", 3),  # no date answer: the local day it was sent
    ]
    assert '"own_hours": 3.5' in entries[0][3] and '"hours"' not in entries[0][3]
    assert totals == [
        ("2025-03", "initiative", "submitted", 1, 0, 0.0),
        ("2026-06", "volunteer", "approved", 1, 1, 3.5),  # one person's own hours
        ("2026-11", "economic_model", "approved", 1, 0, 0.0),
        ("2026-11", "volunteer", "submitted", 1, 10, 20.0),  # the activity's total
    ]


def test_upgrading_writes_the_youth_federation_as_it_writes_itself(tmp_path: Path) -> None:
    """Revision 0012: "Thanh niên" with a capital T, unless an operator renamed the unit."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with engine.begin() as connection:
        migrate_to(connection, "0011")
        for number, (code, name) in enumerate(
            (
                ("ls-hoi-lhtn", "Hội Liên hiệp thanh niên Việt Nam tỉnh Lạng Sơn"),
                ("other-lhtn", "Hội Liên hiệp thanh niên Việt Nam tỉnh Lạng Sơn"),
            ),
            start=1,
        ):
            connection.exec_driver_sql(
                "INSERT INTO units (id, code, name, search_name, kind, created_at) "
                "VALUES (?, ?, ?, 'hoi', 'association', '2025-01-01 00:00:00')",
                (number, code, name),
            )
        migrate_to(connection, "head")
        names = connection.exec_driver_sql("SELECT code, name FROM units ORDER BY id").fetchall()
    engine.dispose()
    assert names == [
        ("ls-hoi-lhtn", "Hội Liên hiệp Thanh niên Việt Nam tỉnh Lạng Sơn"),
        ("other-lhtn", "Hội Liên hiệp thanh niên Việt Nam tỉnh Lạng Sơn"),  # not the shipped unit
    ]


def test_upgrading_keeps_the_totals_and_reads_the_figures_from_the_index_alone(
    tmp_path: Path,
) -> None:
    """0013: the running totals gain what youth programmes add up to (0 for the rows of
    before), and the province's figures are still read from the figures index alone."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with engine.begin() as connection:
        migrate_to(connection, "0012")
        run = connection.exec_driver_sql
        run(
            "INSERT INTO units (id, code, name, search_name, kind, created_at) "
            "VALUES (1, 'x', 'Xã X', 'xa x', 'commune', '2025-01-01')"
        )
        run(
            "INSERT INTO stat_totals (unit_id, month, kind, status, entries, participants, "
            "volunteer_hours, beneficiaries, jobs, revenue) "
            "VALUES (1, '2026-11', 'volunteer', 'approved', 2, 5, 7.5, 40, 0, 0)"
        )
        migrate_to(connection, "head")
        rows = run(
            "SELECT kind, entries, volunteer_hours, budget, mobilised, models_replicated "
            "FROM stat_totals"
        ).fetchall()
        plan = run(
            "EXPLAIN QUERY PLAN SELECT kind, status, sum(entries), sum(participants), "
            "sum(volunteer_hours), sum(beneficiaries), sum(jobs), sum(revenue), sum(budget), "
            "sum(mobilised), sum(models_replicated) FROM stat_totals GROUP BY kind, status"
        ).fetchall()
        tables = {
            name
            for (name,) in run("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        }
    engine.dispose()
    assert rows == [("volunteer", 2, 7.5, 0, 0, 0)]
    assert "COVERING INDEX ix_stat_totals_figures" in " ".join(str(step[-1]) for step in plan)
    assert {"nominations", "nomination_entries", "nomination_steps", "highlights"} <= tables
    assert "contact_requests" in tables


def test_upgrading_files_reported_months_under_units_and_counts_their_members(
    tmp_path: Path,
) -> None:
    """0017: the months members reported in name the unit each member is in, and a unit's
    reporters of a month are counted from the index on (month, unit) alone; 0018: each unit
    knows how many members it has; 0019: the province's figures of a range of months are
    read from an index alone."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with engine.begin() as connection:
        migrate_to(connection, "0016")
        run = connection.exec_driver_sql
        run(
            "INSERT INTO units (id, code, name, search_name, kind, created_at) VALUES "
            "(1, 'x', 'Xã X', 'xa x', 'commune', '2025-01-01'), "
            "(2, 'y', 'Xã Y', 'xa y', 'commune', '2025-01-01')"
        )
        run(
            "INSERT INTO members (id, full_name, birth_year, is_minor, unit_id, broadcasts_off, "
            "registered_at) VALUES (1, 'A', 2000, 0, 1, 0, '2025-01-01'), "
            "(2, 'B', 2001, 0, 2, 0, '2025-01-01'), (3, 'C', 2002, 0, 2, 0, '2025-01-01')"
        )
        run(
            "INSERT INTO reporter_months (member_id, month) VALUES "
            "(1, '2026-11'), (1, '2026-12'), (2, '2026-12')"
        )
        migrate_to(connection, "head")
        filed = run("SELECT member_id, month, unit_id FROM reporter_months ORDER BY 1, 2").all()
        sizes = run("SELECT id, members FROM units ORDER BY id").all()
        this_year = run(
            "EXPLAIN QUERY PLAN SELECT kind, status, sum(entries), sum(participants), "
            "sum(volunteer_hours), sum(beneficiaries), sum(jobs), sum(revenue), sum(budget), "
            "sum(mobilised), sum(models_replicated) FROM stat_totals "
            "WHERE month >= '2026-01' AND month <= '2026-12' GROUP BY kind, status"
        ).all()
        plan = run(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM reporter_months "
            "WHERE month = '2026-12' AND unit_id IN (1, 2)"
        ).all()
    engine.dispose()
    assert filed == [(1, "2026-11", 1), (1, "2026-12", 1), (2, "2026-12", 2)]
    assert sizes == [(1, 1), (2, 2)]
    assert "COVERING INDEX ix_stat_totals_month_figures" in " ".join(row[-1] for row in this_year)
    assert "COVERING INDEX ix_reporter_months_month_unit" in " ".join(row[-1] for row in plan)
