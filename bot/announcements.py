"""What admins set in motion: campaigns (with their deadline reminders), news now or at a
set time, recurring reminders, and cancelling what is scheduled. One function each, shared by
the chat (handlers/campaigns.py, handlers/schedules.py) and the command line
(bot/admin_cli.py); each writes in the caller's transaction and audits what it did, and
writes nothing when it refuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.reminders import send_now
from domain.kinds import KINDS
from models.people import audit
from models.schedules import (
    ONCE,
    arrange_deadlines,
    cancel_schedule,
    next_run,
    outside_quiet_hours,
)
from models.tables import Broadcast, Campaign, Schedule, utcnow

__all__ = [
    "REMINDER_TEMPLATES",
    "TimePassed",
    "add_reminder",
    "cancel_scheduled",
    "close_campaign",
    "held_until",
    "post_news",
    "save_campaign",
]

# Audiences whose reminder has a built-in text (translated for each recipient); any other
# audience gets the general heading with the admin's own message.
REMINDER_TEMPLATES = {"not_reported": "not_reported", "waiting_review": "waiting_review"}


class TimePassed(Exception):
    """The time asked for has already passed: nothing was scheduled."""


def _audience(who: str, units: set[int] | None) -> dict[str, Any]:
    return {"who": who, "units": sorted(units) if units is not None else None}


async def save_campaign(
    session: AsyncSession,
    config: Config,
    campaign: Campaign | None,
    *,
    title: str,
    description: str,
    starts_on: dt.date,
    ends_on: dt.date,
    kinds: Sequence[str] | None,
    actor: str,
    created_by: int | None = None,
) -> tuple[Campaign, list[Schedule]]:
    """Creates a campaign (or changes `campaign`) counting these entry kinds (None or every
    kind: all), and arranges its deadline reminders; returns it with them."""
    values: dict[str, Any] = {
        "title": title,
        "description": description,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "kinds": None if kinds is None or set(kinds) >= set(KINDS) else sorted(set(kinds)),
    }
    action = "campaign.edited"
    if campaign is None:
        campaign, action = Campaign(is_default=False, **values), "campaign.created"
        session.add(campaign)
    else:
        for name, value in values.items():
            setattr(campaign, name, value)
    await session.flush()
    reminders = await arrange_deadlines(
        session, campaign, config.schedules, config.tz, created_by=created_by
    )
    await audit(session, actor, action, campaign_id=campaign.id)
    return campaign, reminders


async def close_campaign(
    session: AsyncSession,
    config: Config,
    campaign: Campaign,
    *,
    actor: str,
    created_by: int | None = None,
) -> None:
    """Closes the campaign: new entries no longer attach to it, its reminders are cancelled."""
    campaign.closed_at = utcnow()
    await arrange_deadlines(session, campaign, config.schedules, config.tz, created_by=created_by)
    await audit(session, actor, "campaign.closed", campaign_id=campaign.id)


async def post_news(
    session: AsyncSession,
    config: Config,
    *,
    text: str,
    who: str,
    units: set[int] | None,
    at: str | None,
    actor: str,
    photo_path: str | None = None,
    sender_identity_id: int | None = None,
    progress_chat_id: str | None = None,
) -> Broadcast | Schedule:
    """News to the audience: queued now (at=None), or scheduled for a local
    "YYYY-MM-DDTHH:MM". News for now in quiet hours is held: scheduled for their end (its rule
    says "held"), so that it shows with what is scheduled until it goes; audited "held", then
    "sent" by the scheduler. Raises TimePassed, writing nothing, when `at` has passed."""
    held = held_until(config) if at is None else None
    if held is not None:
        at = held.astimezone(config.tz).replace(tzinfo=None).isoformat(timespec="minutes")
    if at is None:
        broadcast = await send_now(
            session,
            config,
            who=who,
            units=units,
            text=text,
            photo_path=photo_path,
            sender_identity_id=sender_identity_id,
            progress_chat_id=progress_chat_id,
        )
        await audit(
            session, actor, "news.sent", broadcast_id=broadcast.id, recipients=broadcast.total
        )
        return broadcast
    rule: dict[str, Any] = {"every": ONCE, "at": at}
    if held is not None:
        rule["held"] = True  # news for now, waiting for the morning
    schedule = await _schedule(
        session,
        config,
        "news",
        rule,
        audience=_audience(who, units),
        text=text,
        photo_path=photo_path,
        created_by_identity_id=sender_identity_id,
    )
    if held is not None:
        await audit(session, actor, "news.held", schedule_id=schedule.id, until=held.isoformat())
    else:
        await audit(session, actor, "news.scheduled", schedule_id=schedule.id)
    return schedule


def held_until(config: Config, now: dt.datetime | None = None) -> dt.datetime | None:
    """When quiet hours end, if it is quiet hours now (UTC); None otherwise."""
    now = now or utcnow()
    leaves = outside_quiet_hours(now, config.schedules, config.tz)
    return leaves if leaves != now else None


async def add_reminder(
    session: AsyncSession,
    config: Config,
    *,
    who: str,
    units: set[int] | None,
    rule: dict[str, Any],
    text: str,
    actor: str,
    created_by: int | None = None,
) -> Schedule:
    """A reminder to the audience by the rule (once, weekly or monthly, local time), with
    its built-in text and the admin's note, or the admin's own message. Raises TimePassed,
    writing nothing, when a one-off time has passed."""
    schedule = await _schedule(
        session,
        config,
        "reminder",
        rule,
        audience=_audience(who, units),
        template=REMINDER_TEMPLATES.get(who, "general"),
        text=text,
        created_by_identity_id=created_by,
    )
    await audit(session, actor, "reminder.created", schedule_id=schedule.id)
    return schedule


async def _schedule(
    session: AsyncSession, config: Config, kind: str, rule: dict[str, Any], **values: Any
) -> Schedule:
    when = next_run(rule, utcnow(), config.tz)
    if when is None:
        raise TimePassed
    schedule = Schedule(kind=kind, rule=rule, status="active", next_run_at=when, **values)
    session.add(schedule)
    await session.flush()
    return schedule


async def cancel_scheduled(session: AsyncSession, schedule_id: int, *, actor: str) -> bool:
    """Cancels what is still to be sent; False when it was sent or cancelled already."""
    if not await cancel_schedule(session, schedule_id):
        return False
    await audit(session, actor, "schedule.cancelled", schedule_id=schedule_id)
    return True
