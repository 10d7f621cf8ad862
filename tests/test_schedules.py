"""Scheduled news and reminders: when they run in local time, quiet hours, runs missed while
the bot was down, several processes, and what recipients receive in their own language."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.config import ScheduleConfig
from bot.scheduler import Scheduler
from models.schedules import next_run, outside_quiet_hours
from models.tables import AuditRecord, Campaign, OutboxMessage, Schedule, ScheduleRun
from tests.botapi import FakeBotApi
from tests.conftest import make_config
from tests.test_admin import give
from tests.test_broadcast import FIRST_MEMBER, add_members, fast_config, member_deliveries
from tests.test_reporting import REGISTER, say
from tests.test_stats import add_plain_members
from tests.test_telegram import started, stopped

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LOCAL)


def clock(at: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: at.astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("rule", "after", "expected"),
    [
        # Monthly on the 5th at 08:00 local is 01:00 UTC.
        (
            {"every": "month", "day": 5, "time": "08:00"},
            local(2026, 11, 28, 9),
            local(2026, 12, 5, 8),
        ),
        # The 31st in a 30-day month is its last day; at the very time, the next month's.
        (
            {"every": "month", "day": 31, "time": "08:00"},
            local(2027, 4, 2),
            local(2027, 4, 30, 8),
        ),
        (
            {"every": "month", "day": 31, "time": "08:00"},
            local(2027, 4, 30, 8),
            local(2027, 5, 31, 8),
        ),
        # Weekly on Monday (0) at 19:30; today's time has passed, so next week.
        (
            {"every": "week", "weekday": 0, "time": "19:30"},
            local(2026, 11, 30, 20),
            local(2026, 12, 7, 19, 30),
        ),
        ({"every": "once", "at": "2026-12-01T08:00"}, local(2026, 11, 28), local(2026, 12, 1, 8)),
    ],
)
def test_the_next_run_is_at_the_local_time(
    rule: dict[str, object], after: dt.datetime, expected: dt.datetime
) -> None:
    assert next_run(rule, after.astimezone(dt.UTC), LOCAL) == expected.astimezone(dt.UTC)


def test_a_run_once_in_the_past_has_no_next() -> None:
    rule = {"every": "once", "at": "2026-12-01T08:00"}
    assert next_run(rule, local(2026, 12, 1, 8).astimezone(dt.UTC), LOCAL) is None


@pytest.mark.parametrize(
    ("moment", "leaves"),
    [
        (local(2026, 12, 1, 20, 59), local(2026, 12, 1, 20, 59)),
        (local(2026, 12, 1, 21, 0), local(2026, 12, 2, 7, 0)),
        (local(2026, 12, 1, 23, 30), local(2026, 12, 2, 7, 0)),
        (local(2026, 12, 2, 3, 0), local(2026, 12, 2, 7, 0)),
        (local(2026, 12, 2, 7, 0), local(2026, 12, 2, 7, 0)),
    ],
)
def test_quiet_hours_hold_messages_until_morning(moment: dt.datetime, leaves: dt.datetime) -> None:
    assert outside_quiet_hours(moment, ScheduleConfig(), LOCAL) == leaves


async def admin_with_members(app: App) -> None:
    """The console user, registered and admin; five more members in Na Sầm."""
    for line in REGISTER:
        await say(app, line)
    await give(app, "admin")
    async with app.db.write() as session:
        await add_plain_members(session, 5)


async def queued(app: App) -> list[OutboxMessage]:
    async with app.db.read() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


async def schedule_of(app: App) -> Schedule:
    async with app.db.read() as session:
        return (
            await session.scalars(select(Schedule).order_by(Schedule.id.desc()).limit(1))
        ).one()


async def test_a_monthly_reminder_is_armed_for_its_local_time_and_fills_the_outbox(
    app: App,
) -> None:
    await admin_with_members(app)
    for line in ("/reminders", "1", "1", "1", "5", "8h", "Cố lên các bạn!"):
        reply = await say(app, line)
        assert "⚠️" not in reply, reply
    assert "ngày 5 hằng tháng lúc 08:00" in await say(app, "1")
    schedule = await schedule_of(app)
    # The next 5th at 08:00 after the schedule was made (by the real clock), and the one after.
    first = fifth_at_eight(dt.datetime.now(LOCAL))
    second = fifth_at_eight(first)
    now = first - dt.timedelta(days=7)
    scheduler = Scheduler(app, now=clock(now))
    scheduler.jobs.start(paused=True)  # armed, but nothing fires by the wall clock
    try:
        await scheduler.sync()
        job = scheduler.jobs.get_job(f"schedule:{schedule.id}")
        assert job is not None
        assert job.next_run_time == first
        assert len(scheduler.jobs.get_jobs()) == 1  # one job per schedule, not per member
        scheduler.now = clock(first)
        assert await scheduler.run(schedule.id, first.astimezone(dt.UTC)) == 6
    finally:
        scheduler.stop()
    messages = await queued(app)
    assert len(messages) == 6  # the five members and the admin: nobody has reported
    assert {m.due_at for m in messages} == {first.astimezone(dt.UTC)}
    moved = await schedule_of(app)
    assert moved.next_run_at == second.astimezone(dt.UTC)


def fifth_at_eight(after: dt.datetime) -> dt.datetime:
    """The first 5th of a month at 08:00 (local time) later than `after`."""
    year, month = after.year, after.month
    while local(year, month, 5, 8) <= after:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return local(year, month, 5, 8)


async def test_a_run_missed_while_stopped_happens_once_on_start_and_never_twice(
    app: App,
) -> None:
    await admin_with_members(app)
    # The bot was stopped across the due time two hours ago (within the grace period).
    due = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    local_due = due.astimezone(LOCAL)
    rule = {"every": "month", "day": local_due.day, "time": local_due.strftime("%H:%M")}
    async with app.db.write() as session:
        session.add(
            Schedule(
                kind="reminder",
                rule=rule,
                audience={"who": "all", "units": None},
                template="general",
                text="Họp chi đoàn",
                status="active",
                next_run_at=due,
            )
        )
    # Two processes start; the real scheduler fires what is due, by the wall clock.
    first, second = Scheduler(app), Scheduler(app)
    try:
        await asyncio.gather(first.start(), second.start())
        await wait_for_outbox(app, 6)
        await first.sync()
        await second.sync()
    finally:
        first.stop()
        second.stop()
    assert await outbox_count(app) == 6  # once: five members and the admin
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(ScheduleRun)) == 1
    moved = await schedule_of(app)
    assert moved.next_run_at is not None and moved.next_run_at > dt.datetime.now(dt.UTC)
    assert moved.next_run_at.astimezone(LOCAL).day in (local_due.day, 28, 29, 30)


async def test_a_run_missed_by_more_than_the_grace_is_skipped_and_logged(app: App) -> None:
    await admin_with_members(app)
    async with app.db.write() as session:
        session.add(
            Schedule(
                kind="reminder",
                rule={"every": "week", "weekday": 0, "time": "08:00"},
                audience={"who": "all", "units": None},
                template="general",
                text="Họp chi đoàn",
                status="active",
                next_run_at=local(2026, 11, 30, 8).astimezone(dt.UTC),
            )
        )
    scheduler = Scheduler(app, now=clock(local(2026, 12, 2, 8)))  # two days late
    scheduler.jobs.start(paused=True)
    try:
        await scheduler.sync()
    finally:
        scheduler.stop()
    assert await outbox_count(app) == 0
    moved = await schedule_of(app)
    assert moved.next_run_at == local(2026, 12, 7, 8).astimezone(dt.UTC)
    async with app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert "schedule.missed" in actions


async def test_a_run_at_night_waits_for_the_end_of_quiet_hours(app: App) -> None:
    await admin_with_members(app)
    async with app.db.write() as session:
        session.add(
            Schedule(
                kind="news",
                rule={"every": "once", "at": "2026-12-05T22:30"},
                audience={"who": "all", "units": None},
                text="Tin tức",
                status="active",
                next_run_at=local(2026, 12, 5, 22, 30).astimezone(dt.UTC),
            )
        )
    schedule = await schedule_of(app)
    scheduler = Scheduler(app, now=clock(local(2026, 12, 5, 22, 30)))
    assert await scheduler.run(schedule.id, local(2026, 12, 5, 22, 30).astimezone(dt.UTC))
    assert {m.due_at for m in await queued(app)} == {local(2026, 12, 6, 7).astimezone(dt.UTC)}
    assert (await schedule_of(app)).status == "done"


async def test_news_is_scheduled_listed_changed_and_cancelled_from_the_chat(app: App) -> None:
    await admin_with_members(app)
    tomorrow = (dt.datetime.now(LOCAL) + dt.timedelta(days=1)).strftime("%d/%m/%Y")
    for line in ("/news", "Tuổi trẻ Lạng Sơn ra quân", "bỏ qua", "1", "1", "2"):
        assert "⚠️" not in await say(app, line)
    assert "đã qua" in await say(app, "01/01/2026 08:00")  # a time in the past is refused
    assert "Gửi lúc" in await say(app, f"{tomorrow} 22:15")
    done = await say(app, "1")
    assert "giờ nghỉ: tin sẽ được gửi lúc" in done  # 22:15 is in quiet hours
    assert await outbox_count(app) == 0

    listing = await say(app, "/scheduled")
    assert "Tuổi trẻ Lạng Sơn ra quân" in listing
    assert "Sửa nội dung" in await say(app, "1")
    await say(app, "1")  # change the message
    assert "Tuổi trẻ Lạng Sơn tình nguyện" in await say(app, "Tuổi trẻ Lạng Sơn tình nguyện")
    await say(app, "/scheduled")
    await say(app, "1")
    await say(app, "2")  # change the time
    assert "Đã lưu" in await say(app, f"{tomorrow} 09:00")
    schedule = await schedule_of(app)
    assert schedule.rule["at"].endswith("T09:00")
    assert schedule.text == "Tuổi trẻ Lạng Sơn tình nguyện"
    await say(app, "/scheduled")
    await say(app, "1")
    assert "Đã hủy" in await say(app, "3")
    assert (await schedule_of(app)).status == "cancelled"
    assert "Hiện chưa có gì được hẹn gửi" in await say(app, "/scheduled")


async def test_a_campaign_gets_deadline_reminders_that_name_it(app: App) -> None:
    await admin_with_members(app)
    today = dt.datetime.now(LOCAL).date()
    end = today + dt.timedelta(days=20)
    for line in (
        "/campaigns",
        "1",
        "Thi đua tháng cao điểm",
        "bỏ qua",
        today.strftime("%d/%m/%Y"),
        end.strftime("%d/%m/%Y"),
        "1",
        "2",
        "3",
        "4",
        "xong",
    ):
        assert "⚠️" not in await say(app, line)
    saved = await say(app, "1")
    assert "Đoàn viên, thanh niên sẽ được nhắc hạn chót" in saved
    async with app.db.read() as session:
        deadlines = (
            await session.scalars(select(Schedule).where(Schedule.kind == "deadline"))
        ).all()
        campaign = (await session.scalars(select(Campaign).where(~Campaign.is_default))).one()
    assert sorted(s.next_run_at for s in deadlines if s.next_run_at) == [
        dt.datetime.combine(end - dt.timedelta(days=days), dt.time(8), LOCAL).astimezone(dt.UTC)
        for days in (7, 1)
    ]
    assert campaign.kinds is None  # every kind chosen: every kind counts

    # Closing the campaign cancels its reminders.
    await say(app, "/campaigns")
    assert "Kết thúc đợt này" in await say(app, "2")  # the newest campaign is listed first
    assert "Đã kết thúc" in await say(app, "2")
    async with app.db.read() as session:
        statuses = (
            await session.scalars(select(Schedule.status).where(Schedule.kind == "deadline"))
        ).all()
    assert set(statuses) == {"cancelled"}


async def test_a_campaign_that_has_not_started_reads_as_upcoming(app: App) -> None:
    await admin_with_members(app)
    today = dt.datetime.now(LOCAL).date()
    start, end = today + dt.timedelta(days=10), today + dt.timedelta(days=40)
    for line in ("/campaigns", "1", "Thi đua chào mừng Đại hội Đoàn", "bỏ qua"):
        await say(app, line)
    await say(app, start.strftime("%d/%m/%Y"))
    await say(app, end.strftime("%d/%m/%Y"))
    review = await say(app, "1, 2, 3")
    # The campaign's own words, not an initiative's: "Tên đợt thi đua", not "Tên sáng kiến".
    assert "Tên đợt thi đua: Thi đua chào mừng Đại hội Đoàn" in review
    assert "Nội dung đợt thi đua: —" in review
    saved = await say(app, "1")
    assert "· sắp diễn ra" in saved and "đang diễn ra" not in saved
    listing = await say(app, "/campaigns")
    assert "🔜 Thi đua chào mừng Đại hội Đoàn" in listing
    running = await say(app, "3")  # the movement-wide campaign: started long ago
    assert "· đang diễn ra" in running


@pytest.mark.parametrize("command", ["/campaigns", "/news", "/reminders", "/scheduled"])
async def test_secretaries_and_members_may_not_schedule(app: App, command: str) -> None:
    for line in REGISTER:
        await say(app, line)
    assert "dành cho quản trị viên." in await say(app, command)
    await give(app, "secretary", "ls-x-na-sam")
    refusal = await say(app, command)
    assert "dành cho quản trị viên." in refusal
    async with app.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Schedule)) == 0


async def test_a_reminder_reaches_each_member_in_their_language_on_telegram(
    tmp_path: Path, server: FakeBotApi
) -> None:
    config = fast_config(tmp_path, server)
    no_quiet = dataclasses.replace(config.schedules, quiet_start=dt.time(0), quiet_end=dt.time(0))
    channel = await started(dataclasses.replace(config, schedules=no_quiet))
    due = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        await add_members(channel, 20)  # one in ten speaks English
        async with channel.app.db.write() as session:
            session.add(
                Schedule(
                    kind="reminder",
                    rule={"every": "once", "at": due.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M")},
                    audience={"who": "not_reported", "units": None},
                    template="not_reported",
                    text="Chi đoàn cố lên!",
                    status="active",
                    next_run_at=due,
                )
            )
        scheduler = Scheduler(channel.app, wake=channel.worker.wake)
        schedule = await schedule_of(channel.app)
        assert await scheduler.run(schedule.id, due) == 20
        await server.wait_for(lambda m: len(member_deliveries(server)) >= 20, timeout=30)
    finally:
        await stopped(channel)
    month = due.astimezone(LOCAL).strftime("%m/%Y")
    english = next(m for m in server.sent if m.chat_id == FIRST_MEMBER + 11)
    assert f"You have not reported anything for {month} yet" in (english.text or "")
    vietnamese = next(m for m in server.sent if m.chat_id == FIRST_MEMBER + 12)
    assert f"Tháng {month} bạn chưa gửi báo cáo nào" in (vietnamese.text or "")
    assert "Chi đoàn cố lên!" in (vietnamese.text or "")
    assert set(member_deliveries(server).values()) == {1}


async def outbox_count(app: App) -> int:
    async with app.db.read() as session:
        return await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


async def wait_for_outbox(app: App, expected: int, timeout: float = 10) -> None:
    """Awaits until the outbox holds `expected` messages (no fixed sleeps)."""

    async def poll() -> None:
        while await outbox_count(app) != expected:  # noqa: ASYNC110 (a database has no event)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


QUIET_FOR = dt.timedelta(hours=2)  # quiet hours around the time a test runs: till then


@pytest.fixture
async def quiet_app(tmp_path: Path) -> AsyncIterator[App]:
    """The app in quiet hours whatever the hour: they began an hour ago, end in QUIET_FOR."""
    now = dt.datetime.now(LOCAL)
    config = make_config(tmp_path)
    quiet = dataclasses.replace(
        config.schedules,
        quiet_start=(now - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0),
        quiet_end=(now + QUIET_FOR).time().replace(second=0, microsecond=0),
    )
    app = build_app(dataclasses.replace(config, schedules=quiet))
    await app.prepare()
    yield app
    await app.close()


async def test_news_for_now_in_quiet_hours_is_held_listed_and_audited(quiet_app: App) -> None:
    app = quiet_app
    until = dt.datetime.now(LOCAL) + QUIET_FOR
    await admin_with_members(app)
    for line in ("/news", "Ra quân Chủ nhật xanh", "bỏ qua", "1", "1"):
        assert "⚠️" not in await say(app, line)
    review = await say(app, "1")  # now
    held = f"{until:%H:%M %d/%m/%Y}"
    # Said before it is confirmed: it will wait for the end of quiet hours.
    assert f"Đang trong giờ nghỉ: tin sẽ được giữ đến {held} rồi mới gửi." in review
    done = await say(app, "1")
    assert f"tin được giữ đến {held} rồi mới gửi." in done
    assert await outbox_count(app) == 0
    assert f"🌙 {held} · Ra quân Chủ nhật xanh" in await say(app, "/scheduled")
    assert "được giữ đến sáng mới gửi" in await say(app, "1")
    assert f"🌙 Ra quân Chủ nhật xanh · giữ đến {held}" in await say(app, "/broadcasts")

    schedule = await schedule_of(app)
    assert schedule.next_run_at is not None
    scheduler = Scheduler(app, now=clock(schedule.next_run_at))
    assert await scheduler.run(schedule.id, schedule.next_run_at) == 6
    log = await say(app, "/audit")
    sent = log.index("Lịch gửi tự động: Gửi tin #")
    confirmed = log.index(f"Xác nhận tin #{schedule.id} trong giờ nghỉ: giữ đến {held}")
    assert sent < confirmed  # newest first: held, then sent


async def test_held_news_can_be_cancelled_from_the_broadcasts(quiet_app: App) -> None:
    app = quiet_app
    await admin_with_members(app)
    for line in ("/news", "Tin sẽ hủy", "bỏ qua", "1", "1", "1", "1"):
        await say(app, line)
    await say(app, "/broadcasts")
    assert "Đã hủy" in await say(app, "1")
    assert (await schedule_of(app)).status == "cancelled"
    assert "Không có thông báo nào đang được gửi" in await say(app, "/broadcasts")
