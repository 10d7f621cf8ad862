"""What the bot sends by itself: the audiences of news and reminders, the built-in reminder
texts (translated for each recipient when delivered), and filling the outbox for one run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import distinct, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.i18n import N_, Translator
from bot.notices import format_params
from bot.text import escape
from domain.vocabulary import OPEN
from models.outbox import audience, enqueue_broadcast, leaders_audience
from models.schedules import outside_quiet_hours
from models.tables import Broadcast, Campaign, Entry, Unit, utcnow

__all__ = [
    "AUDIENCES",
    "TEMPLATES",
    "recipients",
    "render",
    "send_now",
]

# Who a scheduled message goes to; `units` narrows any of them.
AUDIENCES = {
    "all": N_("every member"),
    "not_reported": N_("members who have not reported this month"),
    "secretaries": N_("secretaries"),
    "everyone": N_("members and secretaries"),
    "waiting_review": N_("secretaries with entries waiting for review"),
}

# The built-in texts of reminders: {placeholders} come from the broadcast's params.
TEMPLATES = {
    "not_reported": N_(
        "🔔 <b>Reminder</b>\n\nYou have not reported anything for {month} yet. Tell us about "
        "your initiatives, volunteer work or economic models: type /report."
    ),
    "waiting_review": N_(
        "🔔 <b>Reminder</b>\n\nEntries from your units are waiting for your review. "
        "Type /review to open them."
    ),
    "general": N_("🔔 <b>Reminder from the provincial Youth Union</b>"),
    "deadline_week": N_(
        "⏰ <b>{campaign}</b> ends on {date}: one week left. Please send your reports before "
        "then: type /report."
    ),
    "deadline_day": N_(
        "⏰ <b>{campaign}</b> ends tomorrow, {date}. Please send your reports today: type /report."
    ),
}


def render(t: Translator, template: str, params: Mapping[str, Any], note: str) -> str:
    """A reminder in the recipient's language, with the admin's note below it."""
    text = t.gettext(TEMPLATES[template]).format(**format_params(t, params))
    return f"{text}\n\n{escape(note)}" if note else text


async def _waiting_units(session: AsyncSession) -> set[int]:
    """Units whose secretaries have entries waiting for review, and every unit above."""
    waiting = set(
        await session.scalars(
            select(distinct(Entry.review_unit_id)).where(
                Entry.status.in_(OPEN), Entry.review_unit_id.is_not(None)
            )
        )
    )
    parents = dict((await session.execute(select(Unit.id, Unit.parent_id))).all())
    found = set()
    for unit_id in waiting:
        current: int | None = unit_id
        while current is not None and current not in found:
            found.add(current)
            current = parents.get(current)
    return found


async def recipients(
    session: AsyncSession, who: str, units: set[int] | None, month_start: dt.datetime
) -> Any:
    """The audience query (see models.outbox.audience) for a scheduled message."""
    if who == "all":
        return audience(units)
    if who == "not_reported":
        return audience(units, not_reported_since=month_start)
    if who == "secretaries":
        return leaders_audience(units)
    if who == "everyone":
        return union(audience(units), leaders_audience(units))
    if who == "waiting_review":
        waiting = await _waiting_units(session)
        return leaders_audience(waiting if units is None else waiting & units)
    raise ValueError(f"unknown audience {who!r}")


async def send_now(
    session: AsyncSession,
    config: Config,
    *,
    who: str,
    units: set[int] | None,
    text: str = "",
    photo_path: str | None = None,
    template: str | None = None,
    campaign_id: int | None = None,
    sender_identity_id: int | None = None,
    progress_chat_id: str | None = None,
    now: dt.datetime | None = None,
) -> Broadcast:
    """A broadcast to the audience, queued in the outbox in this transaction. Outside quiet
    hours it leaves at once; inside, it waits for their end."""
    now = now or utcnow()
    local = now.astimezone(config.tz)
    month_start = dt.datetime(local.year, local.month, 1, tzinfo=config.tz)
    params: dict[str, Any] = {}
    if template == "not_reported":
        params["month"] = local.strftime("%Y-%m")
    if campaign_id is not None and template in ("deadline_week", "deadline_day"):
        campaign = await session.get_one(Campaign, campaign_id)
        params = {
            "campaign": campaign.title,
            "date": (campaign.ends_on or local.date()).isoformat(),
        }
    broadcast = Broadcast(
        sender_identity_id=sender_identity_id,
        sender_unit_id=None,
        text=text,
        photo_path=photo_path,
        template=template,
        params=params,
        audience={"who": who, "units": sorted(units) if units is not None else None},
        status="running",
        progress_chat_id=progress_chat_id,
    )
    session.add(broadcast)
    await session.flush()
    query = await recipients(session, who, units, month_start.astimezone(dt.UTC))
    due = outside_quiet_hours(now, config.schedules, config.tz)
    await enqueue_broadcast(session, broadcast, query, due_at=due)
    return broadcast
