"""/stats: the movement's figures for a secretary's units or, for an admin, the province or
any unit (/stats na sam); charts of entries per month and of units ranked; who has not
reported this month, with one tap to remind them."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.charts import leaderboard_chart, monthly_chart
from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Document, Reply
from bot.i18n import N_
from bot.reminders import send_now
from bot.router import Router, menu_reply
from bot.text import escape
from handlers.reporting import KINDS
from models.entries import OPEN, scope_unit_ids
from models.people import audit
from models.stats import (
    COUNTED,
    Figures,
    leaderboard,
    monthly_entries,
    silent_members,
    silent_units,
    totals,
)
from models.tables import Unit
from models.units import search_units

__all__ = ["register"]

CHART_MONTHS = 12
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
        subtree = await scope_unit_ids(ctx.session, [("secretary", unit_id)])
        return (subtree if scope is None else (subtree or set()) & scope), unit.name
    if scope is None:
        return None, ctx._("the whole province")
    names = [
        (await ctx.session.get_one(Unit, unit)).name
        for role, unit in ctx.person.roles
        if role == "secretary" and unit is not None
    ]
    return scope, ", ".join(names)


def _figures_lines(ctx: Context, found: dict[tuple[str, str], Figures]) -> list[str]:
    """Entries by kind (approved, waiting, returned) and what they add up to."""
    if not found:
        return [ctx._("No entries yet.")]
    lines = []
    for name, kind in KINDS.items():
        by_status = {status: f.entries for (k, status), f in found.items() if k == name}
        if not by_status:
            continue
        counted = sum(by_status.get(status, 0) for status in COUNTED)
        lines.append(
            ctx._(
                "• {kind}: {count} (approved {approved}, waiting {waiting}, returned {returned})"
            ).format(
                kind=ctx._(kind.form.title),
                count=ctx.t.number(counted),
                approved=ctx.t.number(by_status.get("approved", 0)),
                waiting=ctx.t.number(sum(by_status.get(s, 0) for s in OPEN)),
                returned=ctx.t.number(by_status.get("rejected", 0)),
            )
        )
    total = Figures(entries=0)
    for (_, status), figures in found.items():
        if status in COUNTED:
            total.add(figures)
    lines += [
        ctx._("Volunteer hours: {n}").format(n=ctx.t.number(round(total.volunteer_hours, 1))),
        ctx._("Participants: {n} · beneficiaries: {m}").format(
            n=ctx.t.number(total.participants), m=ctx.t.number(total.beneficiaries)
        ),
        ctx._("Jobs created: {n} · revenue of economic models: {money}").format(
            n=ctx.t.number(total.jobs), money=ctx.t.money(total.revenue)
        ),
    ]
    return lines


async def _report(ctx: Context, unit_id: int | None) -> list[Reply]:
    scope, name = await _scope(ctx, unit_id)
    today = ctx.today()
    month = today.strftime("%Y-%m")
    periods = (
        (ctx._("<b>This month</b>"), month, month),
        (ctx._("<b>This year</b>"), f"{today.year}-01", month),
        (ctx._("<b>Since the movement began</b>"), None, None),
    )
    lines = [ctx._("📊 <b>Statistics: {name}</b>").format(name=escape(name))]
    for title, first, last in periods:
        lines += ["", title, *_figures_lines(ctx, await totals(ctx.session, scope, first, last))]
    # The charts follow the figures; the question what next comes after the charts.
    then = await start_form(ctx, "stats_more", {"unit": unit_id})
    ctx.later.append(functools.partial(_charts, ctx, scope, name, then))
    return [Reply("\n".join(lines))]


def _month_keys(today: dt.date, count: int) -> list[str]:
    year, month = today.year, today.month
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return keys[::-1]


async def _groups(session: AsyncSession, scope: set[int] | None) -> dict[int, int]:
    """Each unit in scope and the unit it is ranked as: a child of the top of the view."""
    parents = dict((await session.execute(select(Unit.id, Unit.parent_id))).all())
    units = set(parents) if scope is None else scope
    tops = {unit for unit in units if parents.get(unit) not in units}
    # One top (the province, or a secretary's commune): rank the units right below it.
    level = {u for u in units if parents.get(u) in tops} if len(tops) == 1 else tops
    groups = {}
    for unit in units:
        current: int | None = unit
        while current is not None and current not in level and current not in tops:
            current = parents.get(current)
        groups[unit] = current if current is not None else unit
    return groups


async def _charts(
    ctx: Context, scope: set[int] | None, name: str, then: list[Reply]
) -> list[Reply]:
    """The two charts, drawn in worker threads after the request's transaction."""
    if ctx.db is None:
        raise RuntimeError("charts need the database")
    months = _month_keys(ctx.today(), CHART_MONTHS)
    async with ctx.db.read() as session:
        per_month = await monthly_entries(session, scope, months[0], months[-1])
        groups = await _groups(session, scope)
        ranked = await leaderboard(session, groups)
        names = dict(
            (
                await session.execute(
                    select(Unit.id, Unit.name).where(Unit.id.in_([u for u, _ in ranked[:15]]))
                )
            ).all()
        )
    labels = [f"{m[5:]}/{m[:4]}" for m in months]
    series = [
        (ctx._(kind.form.title), [per_month.get((m, key), 0) for m in months])
        for key, kind in KINDS.items()
    ]
    monthly = await asyncio.to_thread(
        monthly_chart,
        ctx._("Entries per month: {name}").format(name=name),
        labels,
        series,
    )
    replies = [
        Reply(
            ctx._("📈 Entries per month"),
            document=Document("entries-per-month.png", monthly, "image/png"),
        )
    ]
    if ranked:
        board = await asyncio.to_thread(
            leaderboard_chart,
            ctx._("Units ranked by approved entries"),
            [(names.get(unit, "?"), count) for unit, count in ranked[:15]],
            value_label=ctx._("approved entries"),
        )
        replies.append(
            Reply(
                ctx._("🏆 Units ranked"),
                document=Document("units-ranked.png", board, "image/png"),
            )
        )
    return [*replies, *then]


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
    if units:
        shown = ", ".join(escape(unit.name) for unit in units[:SILENT_UNITS_SHOWN])
        if len(units) > SILENT_UNITS_SHOWN:
            shown += " " + ctx._("and {n} more").format(n=len(units) - SILENT_UNITS_SHOWN)
        lines.append(ctx._("Units with members but no entry: {units}").format(units=shown))
    else:
        lines.append(ctx._("Every unit with members has reported this month. 🎉"))
    if count == 0:
        lines.append(ctx._("Every member has reported this month. 🎉"))
        return [menu_reply(ctx, "\n".join(lines))]
    lines += [
        "",
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
        f"identity:{ctx.person.identity_id}",
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
    router.command("stats", show_stats, N_("statistics and charts of your units (secretaries)"))
    router.menu_item(
        "stats", N_("📈 Statistics"), show_stats, visible=lambda ctx: ctx.person.leads
    )
