"""The member's own profile, as stored."""

from __future__ import annotations

from sqlalchemy import select

from bot.context import Context
from bot.events import Reply
from bot.i18n import N_
from bot.router import Router
from bot.text import escape
from models.tables import Consent, Member

__all__ = ["register"]


async def show_profile(ctx: Context) -> list[Reply]:
    """Shows what we store about the member: name, birth year, unit, phone, consent."""
    member = await ctx.session.get_one(Member, ctx.person.member_id)
    consent = await ctx.session.scalar(
        select(Consent)
        .where(Consent.member_id == member.id)
        .order_by(Consent.accepted_at.desc())
        .limit(1)
    )
    lines = [
        ctx._("<b>Your profile</b>"),
        ctx._("Full name: {name}").format(name=escape(member.full_name)),
        ctx._("Birth year: {year}").format(year=member.birth_year),
        ctx._("Unit: {name}").format(name=escape(ctx.person.unit_name or "")),
        ctx._("Phone: {phone}").format(phone=member.phone or ctx._("not given")),
        ctx._("Registered on: {date}").format(date=ctx.t.datetime(member.registered_at)),
    ]
    if consent is not None:
        lines.append(
            ctx._("Consent: notice version {version}, given {date}").format(
                version=consent.notice_version, date=ctx.t.datetime(consent.accepted_at)
            )
        )
    return [Reply("\n".join(lines))]


def register(router: Router) -> None:
    router.menu_item(
        "profile", N_("👤 My profile"), show_profile, visible=lambda ctx: ctx.person.registered
    )
