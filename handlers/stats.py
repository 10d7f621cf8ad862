"""/stats: the movement's figures for a secretary's units or, for an admin, the province or
any unit (/stats na sam); charts of entries per month and of units ranked; who has not
reported this month, with one tap to remind them."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Document, Reply
from bot.i18n import N_
from bot.reminders import send_now
from bot.router import Audience, Router, menu_reply
from bot.statistics import charts, summary
from bot.text import escape
from domain.vocabulary import Role
from models.entries import scope_unit_ids
from models.people import audit
from models.stats import silent_members, silent_units
from models.tables import Unit
from models.units import search_units

__all__ = ["register"]

SILENT_UNITS_SHOWN = 30


def _refused(ctx: Context) -> list[Reply]:
    return [Reply(ctx._("Statistics are for youth union secretaries and admins."))]


async def show_stats(ctx: Context) -> list[Reply]:
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    if scope == set():
        return _refused(ctx)
    unit = None
    if ctx.inbound.args.strip():
        unit = await _find_unit(ctx, ctx.inbound.args, scope)
        if unit is None:
            text = ctx._("No unit of yours matches “{typed}”. Type /stats for all your units.")
            return [Reply(text.format(typed=escape(ctx.inbound.args.strip())))]
    return await _report(ctx, unit.id if unit else None)


async def _find_unit(ctx: Context, typed: str, scope: set[int] | None) -> Unit | None:
    for unit in await search_units(ctx.session, typed, limit=20):
        if scope is None or unit.id in scope:
            return unit
    return None


async def _scope(ctx: Context, unit_id: int | None) -> tuple[set[int] | None, str]:
    """The units the figures cover (None: all) and their name, within the person's scope."""
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    if unit_id is not None:
        unit = await ctx.session.get_one(Unit, unit_id)
        subtree = await scope_unit_ids(ctx.session, [(Role.SECRETARY, unit_id)])
        return (subtree if scope is None else (subtree or set()) & scope), unit.name
    if scope is None:
        return None, ctx._("the whole province")
    names = [
        (await ctx.session.get_one(Unit, unit)).name
        for role, unit in ctx.person.roles
        if role == Role.SECRETARY and unit is not None
    ]
    return scope, ", ".join(names)


async def _report(ctx: Context, unit_id: int | None) -> list[Reply]:
    scope, name = await _scope(ctx, unit_id)
    text = await summary(ctx.session, ctx.t, scope, name, ctx.today())
    # The charts follow the figures; the question what next comes after the charts.
    then = await start_form(ctx, "stats_more", {"unit": unit_id})
    ctx.later.append(functools.partial(_charts, ctx, scope, name, then))
    return [Reply(text)]


async def _charts(
    ctx: Context, scope: set[int] | None, name: str, then: list[Reply]
) -> list[Reply]:
    """Drawn after the request's transaction, in a read of their own."""
    if ctx.db is None:
        raise RuntimeError("charts need the database")
    async with ctx.db.read() as session:
        drawn = await charts(session, ctx.t, scope, name, ctx.today())
    return [
        *(
            Reply(chart.caption, document=Document(chart.file_name, chart.png, "image/png"))
            for chart in drawn
        ),
        *then,
    ]


async def more(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if answers["next"] != "silent":
        return [menu_reply(ctx)]
    scope, name = await _scope(ctx, answers.get("unit"))
    if scope == set():
        return _refused(ctx)
    month = ctx.today().strftime("%Y-%m")
    all_units = scope
    if all_units is None:
        all_units = set((await ctx.session.scalars(select(Unit.id))).all())
    units = await silent_units(ctx.session, all_units, month, month)
    count, sample = await silent_members(ctx.session, scope, month)
    lines = [ctx._("👥 <b>Not reported this month: {name}</b>").format(name=escape(name)), ""]
    if count == 0:  # then every unit has reported too: one congratulation is enough
        lines.append(ctx._("Everyone has reported this month. 🎉"))
        return [menu_reply(ctx, "\n".join(lines))]
    if units:
        shown = ", ".join(escape(unit.name) for unit in units[:SILENT_UNITS_SHOWN])
        if len(units) > SILENT_UNITS_SHOWN:
            shown += " " + ctx._("and {n} more").format(n=len(units) - SILENT_UNITS_SHOWN)
        lines += [ctx._("Units with members but no entry: {units}").format(units=shown), ""]
    lines += [
        ctx.t.ngettext(
            "{n} member has not reported:", "{n} members have not reported:", count
        ).format(n=ctx.t.number(count)),
        *(f"• {escape(person)} · {escape(unit)}" for person, unit in sample),
    ]
    if count > len(sample):
        lines.append(ctx._("and {n} more").format(n=ctx.t.number(count - len(sample))))
    return [
        Reply("\n".join(lines)),
        *await start_form(ctx, "stats_remind", {"unit": answers.get("unit"), "count": count}),
    ]


async def remind(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if answers["remind"] != "yes":
        return [menu_reply(ctx, ctx._("Nothing was sent."))]
    scope, _ = await _scope(ctx, answers.get("unit"))
    if scope == set():
        return _refused(ctx)
    broadcast = await send_now(
        ctx.session,
        ctx.config,
        who="not_reported",
        units=scope,
        template="not_reported",
        sender_identity_id=ctx.person.identity_id,
        progress_chat_id=ctx.inbound.chat_id,
    )
    await audit(
        ctx.session,
        ctx.person.actor,
        "reminder.sent",
        broadcast_id=broadcast.id,
        recipients=broadcast.total,
    )
    if broadcast.total == 0:
        return [menu_reply(ctx, ctx._("Nobody matches this audience, so nothing was sent."))]
    text = ctx._("🔔 A reminder is on its way to {count} members.").format(
        count=ctx.t.number(broadcast.total)
    )
    return [menu_reply(ctx, text)]


def remind_params(ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {"count": ctx.t.number(int(answers.get("count", 0)))}


STATS_MORE = Form(
    name="stats_more",
    interruptible=True,
    title=N_("Statistics"),
    steps=False,
    complete=more,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "next",
            FieldKind.CHOICE,
            N_("Anything else?"),
            options=(
                Option("silent", N_("👥 Who has not reported this month")),
                Option("menu", N_("Back to the menu")),
            ),
        ),
    ),
)

STATS_REMIND = Form(
    name="stats_remind",
    interruptible=True,
    title=N_("Statistics"),
    steps=False,
    complete=remind,
    cancelled=N_("Nothing was sent."),
    fields=(
        Field(
            "remind",
            FieldKind.CHOICE,
            N_("Send these {count} members a reminder to report?"),
            params=remind_params,
            options=(
                Option("yes", N_("🔔 Remind them")),
                Option("no", N_("Not now")),
            ),
        ),
    ),
)


def register(router: Router) -> None:
    router.form(STATS_MORE)
    router.form(STATS_REMIND)
    router.command(
        "stats",
        show_stats,
        N_("statistics and charts of your units"),
        audience=Audience.SECRETARIES,
    )
    router.menu_item(
        "stats", N_("📈 Statistics"), show_stats, visible=lambda ctx: ctx.person.leads
    )
