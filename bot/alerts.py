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

__all__ = ["tell_admins_quota"]

log = logging.getLogger(__name__)

QUOTA_USED_UP = "channel.quota_used_up"


async def tell_admins_quota(app: App, channel: str, title: str, now: dt.datetime) -> int:
    """Tells the admins, once a month per channel, that the channel's message quota is used
    up; on their accounts elsewhere, since this channel carries nothing more. Returns how
    many were told (0 when told already this month)."""
    local = now.astimezone(app.config.tz)
    month = local.strftime("%Y-%m")
    month_start = dt.datetime(local.year, local.month, 1, tzinfo=app.config.tz)
    async with app.db.write() as session:
        earlier = await session.scalars(
            select(AuditRecord.details).where(
                AuditRecord.action == QUOTA_USED_UP, AuditRecord.at >= month_start
            )
        )
        if any(details.get("channel") == channel for details in earlier):
            return 0
        told = await enqueue_notices(
            session, "quota_used_up", {"channel": title}, admins_audience(off_channel=channel)
        )
        await audit(session, "system", QUOTA_USED_UP, channel=channel, month=month, told=told)
    if not told:
        log.error("%s: no admin can be told on another channel that its quota is used up", channel)
    return told
