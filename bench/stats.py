"""Statistics benchmark: the /stats queries over the running totals on two million entries and
two hundred thousand members, on SQLite and on PostgreSQL, against the same figures counted
from the entries directly, and what keeping the totals costs a submission.

    .venv/bin/python -m bench.stats [--entries 2000000] [--members 200000] [--no-postgres]

The database is a SQLite file made by the project's migrations (with the shipped units and the
default campaign, a secretary for every unit with members and an admin), filled once with
Core executemany and kept, keyed by size, by the last month it covers and by the generator's
GENERATION, under the temporary folder (`--data-dir`), so reruns start at once. Its
`stat_totals` (by the month entries happened) and `reporter_months` (by the month they were
sent) are computed in bulk while the entries are generated, then checked against a GROUP BY
recount of every entry, and a sample of the entries' reviewing units against
`review_unit_for`. A newer revision than the data is applied to it, as the bot does on start.
PostgreSQL gets the same rows: a server of our own over a cluster loaded from the SQLite file
once and kept beside it (bench/stats_pg.py).

Every query is timed from opening the read transaction to closing it, `--runs` times after a
few warm-up runs, through the project's async `Database` as the bot runs it, on each engine in
turn (SQLite first, then the PostgreSQL server is started). The naive figures (GROUP BY over
`entries`, answers read from the JSON) are timed in the same run on the same engine, and their
results must equal the maintained ones. Writes (SQLite only, on a copy of the database: they
add entries) compare `save_entry` (with its tally) against a plain insert of the Entry row and
against `save_entry` with the tally turned off, one transaction per submission, taking turns.
Exits 0 whatever the verdicts: it is a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import functools
import os
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Float,
    cast,
    create_engine,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession

from bench.stats_pg import postgres_for
from bot.app import App, build_app
from bot.statistics import CHART_MONTHS, ranking_groups
from domain.figures import Figures, figures_of
from domain.kinds import BEHALF
from domain.kinds import KINDS as ENTRY_KINDS
from domain.vocabulary import Role, Status
from models.entries import review_unit_for, save_entry, scope_unit_ids
from models.stats import (
    COUNTED,
    leaderboard,
    monthly_entries,
    silent_members,
    silent_units,
    totals,
)
from models.tables import (
    Campaign,
    Entry,
    Identity,
    Member,
    ReporterMonth,
    RoleGrant,
    StatTotal,
    Unit,
    UnitMonth,
)
from tests.conftest import make_config

TARGET_MS = 50.0
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "youthbot-bench" / "stats"
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
# The province's clocks have kept UTC+7 since 1975, so SQL can shift stored UTC times by it.
LOCAL_SHIFT = "+7 hours"
FIRST_MONTH = (2021, 1)
FIRST_DAY = dt.date(2021, 1, 1)  # the earliest day the report form accepts
# The shape of the generated data: part of the cached database's name, so that data made by an
# older generator is made again rather than reused (changed when the generator changes).
# 2: when entries happened, their reviewing units, own and collective hours; 3: unit_months
GENERATION = 3
BATCH = 20_000  # rows per INSERT executemany (and per commit) while generating
WARM_UP = 3
SEED = 20261127

Query = Callable[[AsyncSession], Awaitable[Any]]


# ---------------------------------------------------------------------------------------------
# The data.

FAMILY = ("Nguyễn", "Hoàng", "Lường", "Nông", "Vi", "Lộc", "Hà", "Triệu", "Lý", "Trần", "Mã")
MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Thu", "Quang", "Ngọc", "Hải")
GIVEN = ("Mai", "Nam", "Sơn", "Hùng", "Lan", "Hương", "Tuấn", "Linh", "Dũng", "Thảo", "Vy")
VILLAGES = ("Bản Chu", "Khòn Pát", "Nà Cạn", "Pác Là", "Còn Quan", "Nà Pàn", "Bó Củng")
ACTIVITIES = (
    "Sửa đường vào thôn {v}",
    "Dọn vệ sinh suối thôn {v}",
    "Trồng cây xanh ở nhà văn hoá thôn {v}",
    "Hiến máu tình nguyện tại trạm y tế xã",
    "Làm nhà nhân ái cho hộ nghèo thôn {v}",
)
INITIATIVES = (
    "Sổ tay điện tử cho chi đoàn thôn {v}",
    "Bản đồ số các điểm du lịch thôn {v}",
    "Mô hình thùng rác phân loại ở thôn {v}",
)
MODELS = (
    "Trang trại hồi thôn {v}",
    "Vườn na Chi Lăng thôn {v}",
    "Hợp tác xã chè thôn {v}",
    "Homestay thôn {v}",
)
SENTENCES = (
    "Đoàn viên chi đoàn thôn cùng nhau sửa 300 mét đường đất vào bản.",
    "Bà con phải đi xa mới làm được thủ tục hành chính.",
    "Mỗi tháng tổ chức một buổi hướng dẫn tại nhà văn hoá thôn.",
    "Thu nhập của các hộ tham gia tăng khoảng hai mươi phần trăm so với năm trước.",
)
KINDS = ("volunteer", "initiative", "economic_model")
KIND_WEIGHTS = (50, 30, 20)
STATUSES = ("approved", "submitted", "resubmitted", "rejected", "withdrawn")
# Older entries have mostly been decided; those of the last two months are still in review.
DECIDED_WEIGHTS = (78, 5, 3, 9, 5)
RECENT_WEIGHTS = (38, 45, 4, 8, 5)
# Youth month (March) and the summer volunteer campaign (July) are busy; Tết (February) is not.
SEASON = {2: 0.5, 3: 1.6, 7: 1.5, 8: 1.2}
QUIET_UNITS = 3  # communes that have not reported since last month: /stats lists them
NEVER_REPORTS = 0.4  # share of members who never submit anything


@dataclasses.dataclass(frozen=True)
class Month:
    key: str  # "2026-11", local
    start: dt.datetime  # UTC
    seconds: int  # length, or up to now for the current month
    recent: bool


def months_until(now: dt.datetime) -> list[Month]:
    """Every local month from the movement's start to this one."""
    local = now.astimezone(LOCAL)
    year, month = FIRST_MONTH
    found = []
    while (year, month) <= (local.year, local.month):
        start = dt.datetime(year, month, 1, tzinfo=LOCAL)
        following = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=LOCAL)
        end = min(following, now)
        months_back = (local.year - year) * 12 + local.month - month
        found.append(
            Month(
                f"{year:04d}-{month:02d}",
                start.astimezone(dt.UTC),
                int((end - start).total_seconds()),
                months_back <= 1,
            )
        )
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


class Generator:
    """Entries as the dialogue stores them, and the totals they add up to."""

    def __init__(
        self, rng: random.Random, months: list[Month], parents: dict[int, int | None]
    ) -> None:
        self.rng = rng
        self.months = months
        self.parents = parents  # each unit's parent
        # The movement grew: three times as many entries now as in its first month.
        weights = [
            (1 + 2 * n / max(1, len(months) - 1)) * SEASON.get(int(m.key[5:]), 1.0)
            for n, m in enumerate(months)
        ]
        weights[-1] *= months[-1].seconds / (30 * 86_400)
        self.month_weights = _cumulative(weights)

    def name(self) -> str:
        return " ".join(self.rng.choice(part) for part in (FAMILY, MIDDLE, GIVEN))

    def headline(self, patterns: tuple[str, ...]) -> str:
        return self.rng.choice(patterns).format(v=self.rng.choice(VILLAGES))

    def answers(
        self, kind: str, *, collective: bool, unit_id: int, sent: dt.date
    ) -> dict[str, Any]:
        """The answers of an entry sent on a (local) day: a volunteer entry records its
        reporter's own hours, or, filed for a unit, participants and hours each."""
        rng = self.rng
        text = " ".join(rng.choice(SENTENCES) for _ in range(2))
        if kind == "volunteer":
            answers: dict[str, Any] = {BEHALF: str(unit_id)} if collective else {}
            answers |= {
                "activity": self.headline(ACTIVITIES),
                "date": self.day_before(sent, late=0.1).isoformat(),
                "place": f"Thôn {rng.choice(VILLAGES)}",
            }
            hours = rng.choice((1.5, 2.0, 3.0, 4.0, 6.0, 8.0))
            if collective:
                participants = min(200, int(rng.lognormvariate(2.7, 0.7)) + 1)
                answers |= {"participants": participants, "hours": hours}
            else:
                answers |= {"organised": rng.choice(("yes", "no")), "own_hours": hours}
            return answers | {
                # Optional in the form: a clean-up may help no one in particular.
                "beneficiaries": rng.randint(0, 2_000) if rng.random() < 0.8 else None,
                "description": text,
            }
        if kind == "economic_model":
            jobs = rng.randint(1, 40)
            return {
                "name": self.headline(MODELS),
                "sector": rng.choice(("crops", "livestock", "forestry", "trade", "tourism")),
                "year_started": rng.randint(2005, 2026),
                "capital": rng.randint(100, 20_000) * 100_000,
                "revenue": rng.randint(100, 50_000) * 100_000,
                "jobs": jobs,
                "youth_jobs": rng.randint(0, jobs),
                "description": text,
            }
        return {
            "title": self.headline(INITIATIVES),
            "field": rng.choice(("administration", "economy", "digital", "education")),
            "problem": text,
            "solution": text,
            "scope": rng.choice(("unit", "commune", "province")),
            # Reported once it has shown an effect: weeks to a year after it was first applied.
            "applied_on": self.day_before(sent, late=1.0).isoformat(),
        }

    def day_before(self, sent: dt.date, *, late: float) -> dt.date:
        """The day something happened that was reported on `sent`: mostly that day or the
        few before; with the chance `late`, weeks or months before (as the form allows, not
        before the movement's first day)."""
        rng = self.rng
        back = rng.randint(7, 365) if rng.random() < late else rng.randint(0, 6)
        return max(sent - dt.timedelta(days=back), FIRST_DAY)

    def entry(
        self, month: Month, reporter: int, unit_id: int, campaign_id: int, secretary: int
    ) -> dict[str, Any]:
        """An entry of a member, or one filed for the unit by its secretary (collective): it
        happened on the kind's date answer, else the day it was sent, and waits for the
        reviewers of the unit, or of the unit above when it is its secretary's own work
        (models.entries.review_unit_for, with secretaries leading their own unit only)."""
        rng = self.rng
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        status = rng.choices(STATUSES, RECENT_WEIGHTS if month.recent else DECIDED_WEIGHTS)[0]
        collective = rng.random() < 0.1
        if collective:
            reporter = secretary
        submitted = month.start + dt.timedelta(seconds=rng.randrange(month.seconds))
        sent = submitted.astimezone(LOCAL).date()
        answers = self.answers(kind, collective=collective, unit_id=unit_id, sent=sent)
        decided = status in ("approved", "rejected")
        return {
            "kind": kind,
            "status": status,
            # A few members deleted their account; their approved entries stay, anonymised.
            "reporter_id": None if status == "approved" and rng.random() < 0.005 else reporter,
            "unit_id": unit_id,
            "campaign_id": campaign_id,
            "collective": collective,
            "happened_on": ENTRY_KINDS[kind].happened_on(answers) or sent,
            "review_unit_id": self.parents[unit_id] if reporter == secretary else unit_id,
            "title": answers[ENTRY_KINDS[kind].headline],
            "answers": answers,
            "version": 2 if status == "resubmitted" else 1,
            "submitted_at": submitted,
            "updated_at": submitted,
            "decided_at": submitted + dt.timedelta(hours=rng.randint(2, 200)) if decided else None,
            "decided_by": "identity:1" if decided else None,
            "reject_reason": "Thiếu ảnh minh chứng" if status == "rejected" else None,
        }


def _cumulative(weights: list[float]) -> list[float]:
    total, found = 0.0, []
    for weight in weights:
        total += weight
        found.append(total)
    return found


def database_for(entries: int, members: int, data_dir: Path, now: dt.datetime) -> Path:
    """The generated database of this size up to this month, made on first use."""
    months = months_until(now)
    name = f"entries-{entries}-members-{members}-to-{months[-1].key}-g{GENERATION}"
    path = data_dir / name / "bench.sqlite3"
    if path.is_file():
        started = time.perf_counter()
        asyncio.run(_migrate(path.parent))  # revisions newer than the data, as the bot would
        print(f"SQLite: the newest revision applied in {time.perf_counter() - started:.1f} s")
        return path
    partial = data_dir / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.perf_counter()
    print(f"generating {entries:,} entries, {members:,} members in {path.parent} (kept)")
    asyncio.run(_migrate(partial))
    engine = create_engine(f"sqlite:///{partial / 'bench.sqlite3'}")
    try:
        _fill(engine, entries, members, months)
        print(f"  generated in {time.perf_counter() - started:.0f} s; checking the totals")
        _check_totals(engine)
        asyncio.run(_check_review_units(partial, entries))
        with engine.connect() as connection:
            # No ANALYZE: the bot never runs it, so the planner works without statistics.
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    partial.rename(path.parent)
    print(f"  ready in {time.perf_counter() - started:.0f} s")
    return path


async def _migrate(folder: Path) -> None:
    """The schema, the shipped units and the default campaign, as the app makes them."""
    app = build_app(make_config(folder, DATABASE_URL=_url(folder / "bench.sqlite3")))
    try:
        await app.prepare()
    finally:
        await app.close()


def _fill(engine: Engine, entries: int, members: int, months: list[Month]) -> None:
    """Members, each unit's secretary and an admin, entries, and their totals and reporters
    computed in the same pass."""
    rng = random.Random(SEED)  # noqa: S311 (reproducible test data, not a secret)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA synchronous=OFF")
        parents = dict(connection.execute(select(Unit.id, Unit.parent_id)).all())
        generator = Generator(rng, months, parents)
        units = connection.execute(
            select(Unit.id, Unit.kind).where(Unit.kind != "province").order_by(Unit.id)
        ).all()
        campaign_id = connection.scalar(select(Campaign.id).where(Campaign.is_default))
        assert campaign_id is not None
        # Communes and wards differ in size; provincial bodies have few members of their own.
        unit_weights = _cumulative(
            [
                rng.lognormvariate(0, 0.5) if kind in ("commune", "ward") else 0.1
                for _, kind in units
            ]
        )
        unit_ids = [unit_id for unit_id, _ in units]
        people = [
            {
                "full_name": generator.name(),
                "birth_year": rng.randint(1991, 2010),
                "is_minor": False,
                "unit_id": unit_id,
                "broadcasts_off": rng.random() < 0.02,
                "registered_at": dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
                + dt.timedelta(days=rng.randrange(2_100)),
            }
            for unit_id in rng.choices(unit_ids, cum_weights=unit_weights, k=members)
        ]
        for first in range(0, members, BATCH):
            connection.execute(insert(Member), people[first : first + BATCH])
        count_unit_members(connection)
        member_units = dict(connection.execute(select(Member.id, Member.unit_id)).all())
        secretaries = _appoint(connection, member_units)
    communes = [unit_id for unit_id, kind in units if kind == "commune"]
    quiet = set(rng.sample(communes, min(QUIET_UNITS, len(communes))))
    quiet_from = months[-2].key if len(months) > 1 else months[-1].key
    reporters = list(member_units)
    activity = _cumulative(
        [
            0.0 if rng.random() < NEVER_REPORTS else min(rng.paretovariate(1.3), 40.0)
            for _ in reporters
        ]
    )
    sums: dict[tuple[int, str, str, str], Figures] = defaultdict(lambda: Figures(entries=0))
    sent = Sent()
    made = 0
    while made < entries:
        count = min(BATCH, entries - made)
        batch = []
        chosen = rng.choices(reporters, cum_weights=activity, k=count)
        for month, first_choice in zip(
            rng.choices(months, cum_weights=generator.month_weights, k=count), chosen, strict=True
        ):
            reporter, unit_id = first_choice, member_units[first_choice]
            while unit_id in quiet and month.key >= quiet_from:
                reporter = rng.choices(reporters, cum_weights=activity)[0]
                unit_id = member_units[reporter]
            row = generator.entry(month, reporter, unit_id, campaign_id, secretaries[unit_id])
            # As models.stats.tally counts it: in the month it happened, by the kind's rules.
            happened = row["happened_on"].strftime("%Y-%m")
            sums[(unit_id, happened, row["kind"], row["status"])].add(
                figures_of(row["kind"], row["answers"], collective=row["collective"])
            )
            sent.note(row["reporter_id"], unit_id, month.key)
            batch.append(row)
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            connection.execute(insert(Entry), batch)
        made += count
        if made % (BATCH * 25) == 0 or made == entries:
            print(f"  {made:,} entries", flush=True)
    _write_totals(engine, sums, sent, member_units)


@dataclasses.dataclass
class Sent:
    """Who reported, and which units sent something, in each month entries were sent."""

    reporters: set[tuple[int, str]] = dataclasses.field(default_factory=set)
    units: set[tuple[int, str]] = dataclasses.field(default_factory=set)

    def note(self, reporter: int | None, unit_id: int, month: str) -> None:
        if reporter is not None:
            self.reporters.add((reporter, month))
        self.units.add((unit_id, month))


def _write_totals(
    engine: Engine,
    sums: dict[tuple[int, str, str, str], Figures],
    sent: Sent,
    member_units: dict[int, int],
) -> None:
    """The totals, reporters (under their unit) and units that sent something, as tally
    keeps them."""
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA synchronous=OFF")
        connection.execute(
            insert(StatTotal),
            [
                {"unit_id": unit_id, "month": month, "kind": kind, "status": status}
                | dataclasses.asdict(figures)
                for (unit_id, month, kind, status), figures in sums.items()
            ],
        )
        rows = [
            {"member_id": member, "month": month, "unit_id": member_units[member]}
            for member, month in sorted(sent.reporters)
        ]
        for first in range(0, len(rows), BATCH * 5):
            connection.execute(insert(ReporterMonth), rows[first : first + BATCH * 5])
        connection.execute(
            insert(UnitMonth),
            [{"unit_id": unit, "month": month} for unit, month in sorted(sent.units)],
        )


def count_unit_members(connection: Any) -> None:
    """What registration keeps for members written directly: how many each unit has."""
    connection.execute(
        update(Unit).values(
            members=select(func.count())
            .where(Member.unit_id == Unit.id)
            .correlate(Unit)
            .scalar_subquery()
        )
    )


def _appoint(connection: Any, member_units: dict[int, int]) -> dict[int, int]:
    """A secretary for every unit with members (its first member, with a Telegram account)
    and one admin of the provincial Youth Union (an account that is no member); the member
    id of each unit's secretary."""
    secretaries: dict[int, int] = {}
    for member_id, unit_id in sorted(member_units.items()):
        secretaries.setdefault(unit_id, member_id)
    accounts = [
        {"channel": "telegram", "user_id": f"bench-{member_id}", "member_id": member_id}
        for member_id in secretaries.values()
    ]
    identities = connection.execute(
        insert(Identity).returning(Identity.id, Identity.member_id, sort_by_parameter_order=True),
        [*accounts, {"channel": "telegram", "user_id": "bench-admin", "member_id": None}],
    ).all()
    connection.execute(
        insert(RoleGrant),
        [
            {
                "identity_id": identity_id,
                "role": Role.ADMIN if member_id is None else Role.SECRETARY,
                "unit_id": None if member_id is None else member_units[member_id],
                "granted_by": "bench",
            }
            for identity_id, member_id in identities
        ],
    )
    return secretaries


def _local_month(column: Any) -> ColumnElement[str]:
    return func.strftime("%Y-%m", column, LOCAL_SHIFT)


def _answer(name: str, kind: type[Float | BigInteger] = BigInteger) -> ColumnElement[Any]:
    """An answer as a number, on SQLite (json_extract) as on PostgreSQL (->>)."""
    return cast(Entry.answers[name].as_string(), kind)


def _happened_month(dialect: str = "sqlite") -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(Entry.happened_on, "YYYY-MM")
    return func.strftime("%Y-%m", Entry.happened_on)


def _recount_columns() -> list[ColumnElement[Any]]:
    """What domain.figures.figures_of adds up, as SQL aggregates over entries: a volunteer
    entry counts its reporter with their own hours or, filed for a unit, its participants
    times the hours each gave, and its beneficiaries; an economic model its jobs and
    revenue."""
    volunteer, model = Entry.kind == "volunteer", Entry.kind == "economic_model"
    collective = volunteer & Entry.collective.is_(True)
    participants = sql_case((collective, _answer("participants")), (volunteer, 1), else_=0)
    hours = sql_case(
        (collective, _answer("hours", Float) * _answer("participants")),
        (volunteer, func.coalesce(_answer("own_hours", Float), _answer("hours", Float))),
        else_=0.0,
    )
    return [
        func.count(),
        func.coalesce(func.sum(participants), 0),
        func.coalesce(func.sum(hours), 0.0),
        func.coalesce(func.sum(sql_case((volunteer, _answer("beneficiaries")))), 0),
        func.coalesce(func.sum(sql_case((model, _answer("jobs")))), 0),
        func.coalesce(func.sum(sql_case((model, _answer("revenue")))), 0),
    ]


def _same(found: Figures, expected: Figures) -> bool:
    return dataclasses.replace(found, volunteer_hours=0) == dataclasses.replace(
        expected, volunteer_hours=0
    ) and abs(found.volunteer_hours - expected.volunteer_hours) <= 1e-6 * max(
        1.0, expected.volunteer_hours
    )


def _check_totals(engine: Engine) -> None:
    """Every row of stat_totals (the month things happened) and reporter_months (the month
    they were sent) equals a recount of the entries."""
    happened, sent = _happened_month(), _local_month(Entry.submitted_at)
    with engine.connect() as connection:
        recount = {
            (unit_id, key, kind, status): Figures(*values)
            for unit_id, key, kind, status, *values in connection.execute(
                select(
                    Entry.unit_id, happened, Entry.kind, Entry.status, *_recount_columns()
                ).group_by(Entry.unit_id, happened, Entry.kind, Entry.status)
            )
        }
        names = [getattr(StatTotal, f.name) for f in dataclasses.fields(Figures)]
        kept = {
            (unit_id, key, kind, status): Figures(*values)
            for unit_id, key, kind, status, *values in connection.execute(
                select(
                    StatTotal.unit_id, StatTotal.month, StatTotal.kind, StatTotal.status, *names
                )
            )
        }
        assert kept.keys() == recount.keys(), "stat_totals rows differ from the entries"
        wrong = [key for key, figures in recount.items() if not _same(kept[key], figures)]
        assert not wrong, f"stat_totals differ from a recount at {wrong[:5]}"
        pairs = select(Entry.reporter_id, sent).where(Entry.reporter_id.is_not(None))
        kept_pairs = select(ReporterMonth.member_id, ReporterMonth.month)
        assert connection.scalar(
            select(func.count()).select_from(pairs.distinct().subquery())
        ) == (connection.scalar(select(func.count()).select_from(ReporterMonth)))
        missing = pairs.except_(kept_pairs).subquery()
        assert connection.scalar(select(func.count()).select_from(missing)) == 0
    print(f"  stat_totals: {len(kept):,} rows equal to a recount of every entry")


async def _check_review_units(folder: Path, entries: int, sample: int = 1_000) -> None:
    """A sample of the entries waits for the unit save_entry would have sent it to."""
    app = build_app(make_config(folder, DATABASE_URL=_url(folder / "bench.sqlite3")))
    chosen = random.Random(SEED).sample(range(1, entries + 1), min(sample, entries))  # noqa: S311
    try:
        async with app.db.read() as session:
            rows = await session.execute(
                select(
                    Entry.unit_id, Entry.reporter_id, Entry.collective, Entry.review_unit_id
                ).where(Entry.id.in_(chosen), Entry.reporter_id.is_not(None))
            )
            for unit_id, reporter_id, collective, review_unit_id in rows.all():
                assert reporter_id is not None
                routed = await review_unit_for(
                    session, unit_id, reporter_id=reporter_id, collective=collective
                )
                assert routed == review_unit_id, (unit_id, reporter_id, collective)
    finally:
        await app.close()
    print(f"  review units: a sample of {len(chosen):,} entries routed as save_entry routes them")


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# ---------------------------------------------------------------------------------------------
# Measuring.


@dataclasses.dataclass(frozen=True)
class Timing:
    samples: list[float]  # seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95(self) -> float:
        if len(self.samples) < 2:
            return self.max
        return statistics.quantiles(self.samples, n=20, method="inclusive")[-1] * 1000

    @property
    def max(self) -> float:
        return max(self.samples) * 1000


async def timed(
    app: App, query: Query, runs: int, *, warm_up: int = WARM_UP
) -> tuple[Timing, Any]:
    """The query in a read transaction of its own, as /stats runs it; the last result."""
    samples, result = [], None
    for run in range(warm_up + runs):
        started = time.perf_counter()
        async with app.db.read() as session:
            result = await query(session)
        if run >= warm_up:
            samples.append(time.perf_counter() - started)
    return Timing(samples), result


def _month_range(key: str) -> tuple[dt.datetime, dt.datetime]:
    year, month = int(key[:4]), int(key[5:])
    start = dt.datetime(year, month, 1, tzinfo=LOCAL)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=LOCAL)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _days(key: str) -> tuple[dt.date, dt.date]:
    """The first and the last day of a month."""
    year, month = int(key[:4]), int(key[5:])
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, 1), following - dt.timedelta(days=1)


async def naive_totals(
    session: AsyncSession, scope: set[int] | None, first: str | None, last: str | None
) -> dict[tuple[str, str], Figures]:
    """totals() counted from every entry that happened in the months."""
    statement = select(Entry.kind, Entry.status, *_recount_columns()).group_by(
        Entry.kind, Entry.status
    )
    if scope is not None:
        statement = statement.where(Entry.unit_id.in_(scope))
    if first is not None:
        statement = statement.where(Entry.happened_on >= _days(first)[0])
    if last is not None:
        statement = statement.where(Entry.happened_on <= _days(last)[1])
    rows = await session.execute(statement)
    return {(kind, status): Figures(*values) for kind, status, *values in rows.all()}


async def naive_monthly(
    session: AsyncSession, scope: set[int] | None, first: str, last: str
) -> dict[tuple[str, str], int]:
    """monthly_entries() from the entries: approved ones by the month they happened."""
    month = _happened_month(session.get_bind().dialect.name)
    statement = (
        select(month, Entry.kind, func.count())
        .where(
            Entry.status.in_(COUNTED),
            Entry.happened_on >= _days(first)[0],
            Entry.happened_on <= _days(last)[1],
        )
        .group_by(month, Entry.kind)
    )
    if scope is not None:
        statement = statement.where(Entry.unit_id.in_(scope))
    return {(key, kind): count for key, kind, count in (await session.execute(statement)).all()}


async def naive_leaderboard(
    session: AsyncSession, groups: dict[int, int]
) -> list[tuple[int, int]]:
    rows = await session.execute(
        select(Entry.unit_id, func.count())
        .where(Entry.status == Status.APPROVED, Entry.unit_id.in_(groups))
        .group_by(Entry.unit_id)
    )
    ranked: Counter[int] = Counter()
    for unit_id, count in rows.all():
        ranked[groups[unit_id]] += count
    return sorted(ranked.items(), key=lambda item: (-item[1], item[0]))


async def naive_silent(
    session: AsyncSession, scope: set[int] | None, key: str, sample: int = 20
) -> tuple[int, list[tuple[str, str]]]:
    """silent_members() from the entries: members with no entry submitted in the month."""
    start, end = _month_range(key)
    silent = [
        ~exists().where(
            Entry.reporter_id == Member.id, Entry.submitted_at >= start, Entry.submitted_at < end
        )
    ]
    if scope is not None:
        silent.append(Member.unit_id.in_(scope))
    count = await session.scalar(select(func.count()).select_from(Member).where(*silent))
    names = await session.execute(
        select(Member.full_name, Unit.name)
        .join(Unit, Unit.id == Member.unit_id)
        .where(*silent)
        .order_by(Unit.search_name, Member.full_name)
        .limit(sample)
    )
    return int(count or 0), [(name, unit) for name, unit in names.all()]


def _equal_figures(
    kept: dict[tuple[str, str], Figures], counted: dict[tuple[str, str], Figures]
) -> None:
    counted = {key: figures for key, figures in counted.items() if figures.entries}
    assert kept.keys() == counted.keys(), (kept.keys(), counted.keys())
    for key, figures in counted.items():
        assert _same(kept[key], figures), (key, kept[key], figures)


@dataclasses.dataclass(frozen=True)
class WriteTiming:
    name: str
    work: list[float]  # seconds inside the transaction, before the commit
    whole: list[float]  # seconds from BEGIN to the end of COMMIT


async def write_costs(app: App, count: int, rng: random.Random) -> list[WriteTiming]:
    """Submissions one transaction each, as the bot makes them, taking turns: a plain Entry
    insert (the unit as its reviewing unit), save_entry with its tally turned off (it still
    finds the reviewing unit: the reporter's roles and the units above), and save_entry as it
    is. Each is a member's own report, sent today."""
    async with app.db.read() as session:
        members = (await session.execute(select(Member.id, Member.unit_id))).all()
        campaign_id = await session.scalar(select(Campaign.id).where(Campaign.is_default))
        parents = dict((await session.execute(select(Unit.id, Unit.parent_id))).all())
    assert campaign_id is not None
    generator = Generator(rng, months_until(dt.datetime.now(dt.UTC)), parents)
    tz = app.config.tz
    today = dt.datetime.now(tz).date()

    async def plain(session: AsyncSession, kind: str, member: Any, answers: Any) -> None:
        session.add(
            Entry(
                kind=kind,
                status=Status.SUBMITTED,
                reporter_id=member.id,
                unit_id=member.unit_id,
                campaign_id=campaign_id,
                collective=False,
                happened_on=ENTRY_KINDS[kind].happened_on(answers) or today,
                review_unit_id=member.unit_id,
                title=answers[ENTRY_KINDS[kind].headline],
                answers=answers,
                version=1,
            )
        )
        await session.flush()

    async def saved(session: AsyncSession, kind: str, member: Any, answers: Any) -> None:
        await save_entry(
            session,
            kind=kind,
            reporter_id=member.id,
            unit_id=member.unit_id,
            campaign_id=campaign_id,
            collective=False,
            title=answers[ENTRY_KINDS[kind].headline],
            answers=answers,
            happened_on=ENTRY_KINDS[kind].happened_on(answers) or today,
            evidence=[],
            actor=f"identity:{member.id}",
            tz=tz,
        )

    async def untallied(session: AsyncSession, kind: str, member: Any, answers: Any) -> None:
        with mock.patch("models.entries.tally", _no_tally):
            await saved(session, kind, member, answers)

    variants = {
        "plain Entry insert": plain,
        "save_entry, tally off": untallied,
        "save_entry (with tally)": saved,
    }
    work: dict[str, list[float]] = {name: [] for name in variants}
    whole: dict[str, list[float]] = {name: [] for name in variants}
    for run in range(WARM_UP + count):
        for name, submit in variants.items():
            kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
            member = rng.choice(members)
            answers = generator.answers(kind, collective=False, unit_id=member.unit_id, sent=today)
            started = time.perf_counter()
            async with app.db.write() as session:
                await submit(session, kind, member, answers)
                done = time.perf_counter()
            if run >= WARM_UP:
                work[name].append(done - started)
                whole[name].append(time.perf_counter() - started)
    return [WriteTiming(name, work[name], whole[name]) for name in variants]


async def _no_tally(*_args: Any, **_kwargs: Any) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Measured:
    """One engine's timings: the queries, the naive baseline (by case) and the writes."""

    engine: str
    cases: list[Case]
    queries: dict[Case, Timing]
    naive: dict[Case, Timing]
    writes: list[WriteTiming]


async def measure(
    engine: str, url: str, folder: Path, *, runs: int, baseline_runs: int, writes: int
) -> Measured:
    app = build_app(make_config(folder, DATABASE_URL=url))
    try:
        cases = await _cases(app)
        print(f"{engine}: timing the queries", flush=True)
        kept = {case: await timed(app, case.query, runs) for case in cases}
        naive = {}
        if baseline_runs:
            print(f"{engine}: timing the naive baseline", flush=True)
            for case in cases:
                if case.naive is not None:
                    # A naive query of seconds warms itself up: one run before those timed.
                    naive[case], result = await timed(app, case.naive, baseline_runs, warm_up=1)
                    case.same(kept[case][1], result)
        costs = []
        if writes:
            print(f"{engine}: timing {writes:,} submissions of each kind", flush=True)
            costs = await write_costs(app, writes, random.Random(SEED + 1))  # noqa: S311
    finally:
        await app.close()
    queries = {case: timing for case, (timing, _) in kept.items()}
    return Measured(engine, cases, queries, naive, costs)


def _assert_equal(kept: Any, counted: Any) -> None:
    assert kept == counted, (kept, counted)


@dataclasses.dataclass(frozen=True)
class Case:
    """A query as /stats issues it and, for some, the same figure counted from the entries."""

    name: str
    scope: str
    query: Query
    naive: Query | None = None
    # Asserts that the maintained result (first) equals the naive one.
    same: Callable[[Any, Any], None] = _assert_equal


async def _cases(app: App) -> list[Case]:
    today = dt.datetime.now(app.config.tz).date()
    month = today.strftime("%Y-%m")
    chart = _month_keys(today, CHART_MONTHS)
    async with app.db.read() as session:
        entries = await session.scalar(select(func.count()).select_from(Entry))
        members = await session.scalar(select(func.count()).select_from(Member))
        rows = await session.scalar(select(func.count()).select_from(StatTotal))
        reporters = await session.scalar(select(func.count()).select_from(ReporterMonth))
        all_units = set((await session.scalars(select(Unit.id))).all())
        # The secretary of the commune with the most members: the largest scope below the top.
        commune = (
            await session.execute(
                select(Unit.id, Unit.name, func.count().label("members"))
                .join(Member, Member.unit_id == Unit.id)
                .where(Unit.kind == "commune")
                .group_by(Unit.id)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).one()
        secretary = await scope_unit_ids(session, [("secretary", commune.id)])
        assert secretary
        province_groups = await ranking_groups(session, None)
    print(
        f"{entries:,} entries, {members:,} members, {rows:,} rows of stat_totals, "
        f"{reporters:,} of reporter_months; this month {month}; the secretary's scope: "
        f"{commune.name} ({commune.members:,} members, {len(secretary)} unit(s))"
    )
    cases = []
    for label, scope in (("province", None), ("commune", secretary)):
        for name, first, last in (
            ("totals, this month", month, month),
            ("totals, this year", f"{today.year}-01", month),
            ("totals, all time", None, None),
        ):
            cases.append(
                Case(
                    name,
                    label,
                    functools.partial(totals, scope=scope, first=first, last=last),
                    functools.partial(naive_totals, scope=scope, first=first, last=last),
                    _equal_figures,
                )
            )
        cases += [
            Case(
                f"monthly_entries, {CHART_MONTHS} months",
                label,
                functools.partial(monthly_entries, scope=scope, first=chart[0], last=chart[-1]),
                functools.partial(naive_monthly, scope=scope, first=chart[0], last=chart[-1]),
            ),
            Case(
                "ranking_groups + leaderboard",
                label,
                functools.partial(_ranked, scope=scope),
                functools.partial(naive_leaderboard, groups=province_groups)
                if scope is None
                else None,
            ),
            Case(
                "silent_units, this month",
                label,
                functools.partial(
                    silent_units,
                    scope=all_units if scope is None else scope,
                    first=month,
                    last=month,
                ),
            ),
            Case(
                "silent_members, this month",
                label,
                functools.partial(silent_members, scope=scope, month=month),
                functools.partial(naive_silent, scope=scope, key=month),
            ),
        ]
    return cases


async def _ranked(session: AsyncSession, scope: set[int] | None) -> list[tuple[int, int]]:
    """The leaderboard as the chart asks for it, groups included."""
    return await leaderboard(session, await ranking_groups(session, scope))


def report(measured: list[Measured], runs: int, baseline_runs: int) -> None:
    """The engines side by side: each query's p50, p95 and max and its verdict, then the
    naive baseline against the maintained figures, then the writes."""
    print()
    print(f"statistics queries, {runs} runs each after {WARM_UP} warm-up runs (ms)")
    header = f"{'query':36} {'scope':9}" + "".join(
        f" | {m.engine[:10]:>10} {'p50':>7} {'p95':>7} {'max':>7}" for m in measured
    )
    print(header)
    print("-" * len(header))
    for case in measured[0].cases:
        line = f"{case.name:36} {case.scope:9}"
        for engine in measured:
            timing = _same_case(engine.queries, case)
            verdict = "PASS" if timing.p95 <= TARGET_MS else "FAIL"
            line += f" | {verdict:>10} {timing.p50:7.2f} {timing.p95:7.2f} {timing.max:7.2f}"
        print(line)
    print(f"target: p95 <= {TARGET_MS:.0f} ms")
    if baseline_runs:
        _report_naive(measured, baseline_runs)
    for engine in measured:
        if engine.writes:
            print()
            print(f"{engine.engine} writes: one transaction each, in turns (ms)")
            _print_write_costs(engine.writes)


def _report_naive(measured: list[Measured], baseline_runs: int) -> None:
    print()
    print(
        f"the naive way: the same figures by GROUP BY over entries, {baseline_runs} run(s) "
        "each after one warm-up run; every result equals the maintained one"
    )
    header = f"{'figure':36} {'scope':9}" + "".join(
        f" | {m.engine[:10]:>10} {'naive p50':>10} {'ratio':>7}" for m in measured
    )
    print(header)
    print("-" * len(header))
    for case in measured[0].cases:
        if case.naive is None:
            continue
        line = f"{case.name:36} {case.scope:9}"
        for engine in measured:
            slow, fast = _same_case(engine.naive, case), _same_case(engine.queries, case)
            line += f" | {'':10} {slow.p50:10.1f} {slow.p50 / fast.p50:6.1f}x"
        print(line)


def _same_case(timings: dict[Case, Timing], case: Case) -> Timing:
    """The timing of the case of the same name and scope (each engine has its own cases)."""
    return next(t for c, t in timings.items() if (c.name, c.scope) == (case.name, case.scope))


def _print_write_costs(costs: list[WriteTiming]) -> None:
    header = f"{'submission':26} {'work p50':>9} {'work p95':>9} {'commit p50':>11} {'p95':>8}"
    print(header)
    print("-" * len(header))
    for cost in costs:
        print(
            f"{cost.name:26} {_ms(cost.work, 50):9.2f} {_ms(cost.work, 95):9.2f} "
            f"{_ms(cost.whole, 50):11.2f} {_ms(cost.whole, 95):8.2f}"
        )
    plain, untallied, tallied = costs
    print(
        f"save_entry / plain insert: {_ratio(tallied.work, plain.work):.2f}x in the transaction, "
        f"{_ratio(tallied.whole, plain.whole):.2f}x with the commit"
    )
    print(
        "the tally's own share (save_entry / save_entry with tally off): "
        f"{_ratio(tallied.work, untallied.work):.2f}x in the transaction, "
        f"{_ratio(tallied.whole, untallied.whole):.2f}x with the commit; "
        f"+{_ms(tallied.work, 50) - _ms(untallied.work, 50):.2f} ms p50"
    )


def _month_keys(today: dt.date, count: int) -> list[str]:
    """The last `count` months up to this one, oldest first (as the chart shows them)."""
    index = today.year * 12 + today.month - 1
    return [f"{n // 12:04d}-{n % 12 + 1:02d}" for n in range(index - count + 1, index + 1)]


def _ms(samples: list[float], percent: int) -> float:
    if percent == 50:
        return statistics.median(samples) * 1000
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1] * 1000


def _ratio(slow: list[float], fast: list[float]) -> float:
    return statistics.median(slow) / statistics.median(fast)


@dataclasses.dataclass(frozen=True)
class Options:
    entries: int
    members: int
    runs: int
    baseline_runs: int
    writes: int
    data_dir: Path
    postgres: bool


def main(options: Options) -> None:
    cached = database_for(
        options.entries, options.members, options.data_dir, dt.datetime.now(dt.UTC)
    )
    measured = [_measure_sqlite(cached, options)]
    if options.postgres:
        # Its server's own settings as the suite starts it (fsync off: reads only, no writes).
        with postgres_for(cached) as url:
            measured.append(
                asyncio.run(
                    measure(
                        "PostgreSQL",
                        url,
                        cached.parent,
                        runs=options.runs,
                        baseline_runs=options.baseline_runs,
                        writes=0,
                    )
                )
            )
    report(measured, options.runs, options.baseline_runs)


def _measure_sqlite(cached: Path, options: Options) -> Measured:
    if not options.writes:  # reads only: the cached database as it is
        return asyncio.run(
            measure(
                "SQLite",
                _url(cached),
                cached.parent,
                runs=options.runs,
                baseline_runs=options.baseline_runs,
                writes=0,
            )
        )
    work = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    try:
        # The writes add entries: they go to a copy, so the cached database stays as made.
        copy = work / "bench.sqlite3"
        shutil.copyfile(cached, copy)
        with copy.open("rb+") as written:
            os.fsync(written.fileno())  # no write-back of the copy during the measurements
        return asyncio.run(
            measure(
                "SQLite",
                _url(copy),
                work,
                runs=options.runs,
                baseline_runs=options.baseline_runs,
                writes=options.writes,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=2_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--baseline-runs", type=int, default=5, help="0: no naive baseline")
    parser.add_argument("--writes", type=int, default=2_000, help="0: no write measurements")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--postgres",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also on PostgreSQL (a server of our own over a copy of the data, kept)",
    )
    arguments = parser.parse_args()
    main(
        Options(
            arguments.entries,
            arguments.members,
            arguments.runs,
            arguments.baseline_runs,
            arguments.writes,
            arguments.data_dir,
            arguments.postgres,
        )
    )
