"""Schedules: when each runs next (in local time), quiet hours, and claiming a run so that it
happens once however many processes see it fall due."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Campaign, Schedule, ScheduleRun, utcnow

__all__ = [
    "active_schedules",
    "arrange_deadlines",
    "cancel_schedule",
    "claim_run",
    "next_run",
    "outside_quiet_hours",
    "pending_schedules",
    "skip_run",
]

ONCE, WEEK, MONTH = "once", "week", "month"


class ScheduleConfig(Protocol):
    """The settings schedules follow (bot.config.ScheduleConfig), in local time."""

    @property
    def quiet_start(self) -> dt.time: ...
    @property
    def quiet_end(self) -> dt.time: ...
    @property
    def deadline_days(self) -> tuple[int, ...]: ...
    @property
    def deadline_time(self) -> dt.time: ...


def _at(day: dt.date, time: str, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(time), tzinfo=tz).astimezone(dt.UTC)


def next_run(rule: dict[str, Any], after: dt.datetime, tz: ZoneInfo) -> dt.datetime | None:
    """The first run strictly after `after` (UTC), or None when there is none left.

    Monthly on a day the month lacks (the 31st in April) runs on the month's last day."""
    if rule["every"] == ONCE:
        moment = dt.datetime.fromisoformat(rule["at"]).replace(tzinfo=tz).astimezone(dt.UTC)
        return moment if moment > after else None
    local = after.astimezone(tz).date()
    if rule["every"] == WEEK:
        for offset in range(8):
            day = local + dt.timedelta(days=offset)
            if day.weekday() == int(rule["weekday"]):
                moment = _at(day, rule["time"], tz)
                if moment > after:
                    return moment
        raise AssertionError("a weekday recurs within 8 days")
    if rule["every"] == MONTH:
        year, month = local.year, local.month
        for _ in range(2):
            last = calendar.monthrange(year, month)[1]
            moment = _at(dt.date(year, month, min(int(rule["day"]), last)), rule["time"], tz)
            if moment > after:
                return moment
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise AssertionError("a monthly day recurs within 2 months")
    raise ValueError(f"unknown rule {rule!r}")


def outside_quiet_hours(moment: dt.datetime, config: ScheduleConfig, tz: ZoneInfo) -> dt.datetime:
    """The moment itself, or the end of the quiet hours it falls in (UTC)."""
    local = moment.astimezone(tz)
    start, end = config.quiet_start, config.quiet_end
    clock = local.time().replace(tzinfo=None)
    if start == end:
        return moment
    overnight = start > end  # e.g. 21:00-07:00
    quiet = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not quiet:
        return moment
    day = local.date() if clock < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=tz).astimezone(dt.UTC)


async def claim_run(
    session: AsyncSession, schedule: Schedule, due_at: dt.datetime, tz: ZoneInfo
) -> ScheduleRun | None:
    """Takes the run due at `due_at` for this process: moves the schedule to its next run in
    a conditional update and records the run. None when another process took it first, or
    the schedule changed (edited, cancelled) since it was armed."""
    following = next_run(schedule.rule, due_at, tz)
    result = await session.execute(
        update(Schedule)
        .where(
            Schedule.id == schedule.id,
            Schedule.status == "active",
            Schedule.next_run_at == due_at,
        )
        .values(
            next_run_at=following,
            last_run_at=utcnow(),
            status="active" if following else "done",
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    run = ScheduleRun(schedule_id=schedule.id, due_at=due_at)
    session.add(run)
    await session.flush()
    return run


async def skip_run(
    session: AsyncSession, schedule: Schedule, due_at: dt.datetime, now: dt.datetime, tz: ZoneInfo
) -> dt.datetime | None:
    """A run too late to make (the bot was down past the grace period): moves on to the
    first run after now; returns it."""
    following = next_run(schedule.rule, now, tz)
    await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule.id, Schedule.next_run_at == due_at)
        .values(next_run_at=following, status="active" if following else "done")
    )
    return following


async def active_schedules(session: AsyncSession) -> Sequence[Schedule]:
    return (
        await session.scalars(
            select(Schedule)
            .where(Schedule.status == "active", Schedule.next_run_at.is_not(None))
            .order_by(Schedule.next_run_at)
        )
    ).all()


async def pending_schedules(session: AsyncSession, kinds: Sequence[str]) -> Sequence[Schedule]:
    return (
        await session.scalars(
            select(Schedule)
            .where(Schedule.status == "active", Schedule.kind.in_(kinds))
            .order_by(Schedule.next_run_at, Schedule.id)
        )
    ).all()


async def cancel_schedule(session: AsyncSession, schedule_id: int) -> bool:
    result = await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.status == "active")
        .values(status="cancelled", next_run_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def arrange_deadlines(
    session: AsyncSession,
    campaign: Campaign,
    config: ScheduleConfig,
    tz: ZoneInfo,
    *,
    created_by: int | None,
) -> list[Schedule]:
    """Replaces the campaign's deadline reminders: one per `deadline_days` before it ends,
    for those still to come; none for a closed campaign or one without an end."""
    await session.execute(
        update(Schedule)
        .where(
            Schedule.campaign_id == campaign.id,
            Schedule.kind == "deadline",
            Schedule.status == "active",
        )
        .values(status="cancelled", next_run_at=None)
    )
    if campaign.ends_on is None or campaign.closed_at is not None:
        return []
    now = utcnow()
    added = []
    for days in config.deadline_days:
        day = campaign.ends_on - dt.timedelta(days=days)
        at = dt.datetime.combine(day, config.deadline_time).isoformat(timespec="minutes")
        rule = {"every": ONCE, "at": at}
        when = next_run(rule, now, tz)
        if when is None:
            continue
        schedule = Schedule(
            kind="deadline",
            rule=rule,
            audience={"who": "all", "units": None},
            template="deadline_week" if days > 1 else "deadline_day",
            text="",
            campaign_id=campaign.id,
            status="active",
            next_run_at=when,
            created_by_identity_id=created_by,
        )
        session.add(schedule)
        added.append(schedule)
    await session.flush()
    return added
