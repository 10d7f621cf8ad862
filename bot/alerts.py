"""Alerts to the admins about the bot itself: notices (bot.notices) through the outbox, in each
admin's language."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from models.outbox import admins_audience, enqueue_notices
from models.people import audit
from models.tables import AuditRecord

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["tell_admins", "tell_admins_quota"]

log = logging.getLogger(__name__)

QUOTA_USED_UP = "quota_used_up"


async def tell_admins_quota(app: App, channel: str, title: str, now: dt.datetime) -> int:
    """Tells the admins, once a month per channel, that the channel's message quota is used
    up (see tell_admins)."""
    return await tell_admins(app, channel, title, now, QUOTA_USED_UP)


async def tell_admins(app: App, channel: str, title: str, now: dt.datetime, notice: str) -> int:
    """Tells the admins that the channel stopped sending, with the notice of that name: on
    their accounts elsewhere, since this channel carries nothing more; once a month for a
    used-up quota, once a day for anything else (a token the platform no longer accepts,
    which an operator fixes). Returns how many were told (0 when told already)."""
    local = now.astimezone(app.config.tz)
    if notice == QUOTA_USED_UP:
        since = dt.datetime(local.year, local.month, 1, tzinfo=app.config.tz)
    else:
        since = dt.datetime(local.year, local.month, local.day, tzinfo=app.config.tz)
    action = f"channel.{notice}"
    async with app.db.write() as session:
        earlier = await session.scalars(
            select(AuditRecord.details).where(
                AuditRecord.action == action, AuditRecord.at >= since
            )
        )
        if any(details.get("channel") == channel for details in earlier):
            return 0
        told = await enqueue_notices(
            session, notice, {"channel": title}, admins_audience(off_channel=channel)
        )
        await audit(
            session, "system", action, channel=channel, month=local.strftime("%Y-%m"), told=told
        )
    if not told:
        log.error("%s: no admin can be told on another channel (%s)", channel, notice)
    return told
