"""/audit: admins see the recent sensitive actions (exports, roles, reviews, deletions,
broadcasts), with who did them."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.context import Context
from bot.events import Reply
from bot.i18n import N_
from bot.router import Router
from bot.text import escape
from models.people import actor_name
from models.tables import AuditRecord

__all__ = ["register"]

SHOWN = 25


async def show_audit(ctx: Context) -> list[Reply]:
    """The newest audit rows, newest first."""
    if not ctx.person.is_admin:
        return [Reply(ctx._("The audit log is for admins."))]
    records = (
        await ctx.session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(SHOWN))
    ).all()
    if not records:
        return [Reply(ctx._("Nothing has been recorded yet."))]
    lines = [ctx._("<b>Recent actions</b> (newest first)")]
    for record in records:
        details = json.dumps(record.details, ensure_ascii=False, sort_keys=True)
        lines.append(
            f"{ctx.t.datetime(record.at)} · {escape(await _actor(ctx, record.actor))} · "
            f"<b>{escape(record.action)}</b> {escape(details)}"
        )
    return [Reply("\n".join(lines))]


async def _actor(ctx: Context, actor: str) -> str:
    """A person's name when the actor is a registered member, else the actor as recorded."""
    return await actor_name(ctx.session, actor) or actor


def register(router: Router) -> None:
    router.command("audit", show_audit, N_("recent sensitive actions (admins)"))
