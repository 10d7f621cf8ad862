"""Broadcasts: a secretary (or admin) writes to the members of their units, sees exactly how
many it will reach, and confirms; delivery goes through the outbox. /stop opts out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from bot.capabilities import Capabilities
from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Document, Reply
from bot.i18n import N_
from bot.router import Audience, Router, menu_reply
from bot.text import escape
from domain.vocabulary import Role
from models.entries import scope_unit_ids
from models.outbox import (
    audience,
    audience_reach,
    cancel_broadcast,
    count_audience,
    enqueue_broadcast,
)
from models.people import audit
from models.schedules import cancel_schedule, pending_schedules
from models.tables import Broadcast, Member, Schedule, Unit, utcnow

__all__ = ["register"]

EVERYONE = "all"
NOT_REPORTED = "not_reported"
HELD = "held:"  # the value of held news among the broadcasts to cancel
# A broadcast taking longer than this is worth doing another way, where a channel says how.
SLOW_BROADCAST_MINUTES = 60


async def start_broadcast(ctx: Context) -> list[Reply]:
    if not ctx.person.leads:
        return [Reply(ctx._("Broadcasts are for youth union secretaries and admins."))]
    return await start_form(ctx, "broadcast")


async def unit_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    """Everyone the sender may reach, or one of the units they are secretary of."""
    if ctx.person.is_admin:
        options = [Option(EVERYONE, N_("Every member in the province"))]
    else:
        options = [Option(EVERYONE, N_("Every member of my units"))]
    for role, unit_id in ctx.person.roles:
        if role == Role.SECRETARY and unit_id is not None:
            unit = await ctx.session.get(Unit, unit_id)
            if unit is not None:
                options.append(Option(str(unit.id), unit.name))
    return tuple(options)


async def _recipients(ctx: Context, answers: dict[str, Any]) -> tuple[Any, set[int] | None]:
    """The audience query for these answers, within the sender's scope as of now."""
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    units = scope
    if answers["units"] != EVERYONE:
        chosen = {int(answers["units"])}
        units = chosen if scope is None else chosen & scope
    since = None
    if answers["who"] == NOT_REPORTED:
        today = ctx.today()
        month_start = dt.datetime(today.year, today.month, 1, tzinfo=ctx.config.tz)
        since = month_start.astimezone(dt.UTC)
    return audience(units, not_reported_since=since), scope


async def preview(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Shows the message as members will see it and the exact number of recipients."""
    query, scope = await _recipients(ctx, answers)
    if scope == set():
        return [Reply(ctx._("Broadcasts are for youth union secretaries and admins."))]
    count = await count_audience(ctx.session, query)
    if count == 0:
        return [menu_reply(ctx, ctx._("Nobody matches this audience, so nothing was sent."))]
    sample = ctx._("<b>This is how members will see it:</b>") + "\n\n" + escape(answers["text"])
    photo = _photo(answers)
    document = (
        Document("photo.jpg", mime_type="image/jpeg", evidence_path=photo) if photo else None
    )
    reach = await _reach(ctx, query)
    return [
        Reply(sample, document=document),
        *([Reply(reach)] if reach else []),
        *await start_form(ctx, "broadcast_confirm", {**answers, "count": count}),
    ]


async def _reach(ctx: Context, query: Any) -> str:
    """What sending costs and how long it takes, where some channel lets the bot write
    first free only for a while after a person last wrote, or paces broadcasts so that this
    one takes a while; "" when there is nothing to say."""
    now = utcnow()
    windows = {
        name: now - capabilities.free_window
        for name, capabilities in ctx.channels.items()
        if capabilities.free_window is not None
    }
    free = paid = cost = unreachable = 0
    minutes = 0.0
    hints: set[str] = set()
    for name, (total, inside) in (await audience_reach(ctx.session, query, windows)).items():
        capabilities = ctx.channels.get(name) or Capabilities()
        free += inside
        outside = total - inside
        sending = total
        if capabilities.paid_message_cost is None:
            unreachable += outside
            sending = inside
        else:
            paid += outside
            cost += outside * capabilities.paid_message_cost
        if capabilities.bulk_per_minute:
            own = sending / capabilities.bulk_per_minute
            minutes = max(minutes, own)
            if own >= SLOW_BROADCAST_MINUTES and capabilities.slow_broadcast_hint:
                hints.add(capabilities.slow_broadcast_hint)
    if not windows and minutes < 2:
        return ""
    lines = [ctx._("<b>Before you send:</b>")]
    lines.append(
        ctx.t.ngettext(
            "✅ {n} member receives it free.", "✅ {n} members receive it free.", free
        ).format(n=ctx.t.number(free))
    )
    if paid:
        lines.append(
            ctx.t.ngettext(
                "💳 {n} member has not written to the bot for a while and gets it as a paid "
                "template message: about {cost} in all.",
                "💳 {n} members have not written to the bot for a while and get it as a paid "
                "template message: about {cost} in all.",
                paid,
            ).format(n=ctx.t.number(paid), cost=ctx.t.money(cost))
        )
    if unreachable:
        lines.append(
            ctx.t.ngettext(
                "🚫 {n} member cannot be reached now: they have not written to the bot for a "
                "while, and no template message is set up. They get news again once they "
                "write.",
                "🚫 {n} members cannot be reached now: they have not written to the bot for a "
                "while, and no template message is set up. They get news again once they "
                "write.",
                unreachable,
            ).format(n=ctx.t.number(unreachable))
        )
    if minutes >= 1:
        hours, rest = divmod(round(minutes), 60)
        took = (
            ctx._("about {hours} h {minutes} min").format(hours=hours, minutes=rest)
            if hours
            else ctx._("about {minutes} min").format(minutes=max(1, rest))
        )
        lines.append(
            ctx._("⏱ Sending takes {time} at the pace the channels allow.").format(time=took)
        )
    lines += [ctx._(hint) for hint in sorted(hints)]
    return "\n".join(lines)


def _photo(answers: dict[str, Any]) -> str | None:
    files = answers.get("photo") or []
    return str(files[0]["path"]) if files else None


def count_params(ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {"count": ctx.t.number(int(answers.get("count", 0)))}


async def send(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Creates the broadcast and one outbox row per recipient, in this one transaction."""
    if answers["confirm"] != "send":
        return [menu_reply(ctx, ctx._("Nothing was sent."))]
    query, scope = await _recipients(ctx, answers)
    if scope == set():
        return [Reply(ctx._("Broadcasts are for youth union secretaries and admins."))]
    sender_unit = None if answers["units"] == EVERYONE else int(answers["units"])
    if sender_unit is None and not ctx.person.is_admin:
        sender_unit = next(
            (unit for role, unit in ctx.person.roles if role == Role.SECRETARY and unit), None
        )
    broadcast = Broadcast(
        sender_identity_id=ctx.person.identity_id,
        sender_unit_id=sender_unit,
        text=answers["text"],
        photo_path=_photo(answers),
        audience={"units": answers["units"], "who": answers["who"]},
        status="running",
        progress_chat_id=ctx.inbound.chat_id,
    )
    ctx.session.add(broadcast)
    await ctx.session.flush()
    total = await enqueue_broadcast(ctx.session, broadcast, query)
    await audit(
        ctx.session,
        ctx.person.actor,
        "broadcast.created",
        broadcast_id=broadcast.id,
        recipients=total,
    )
    text = ctx._(
        "📢 Broadcast #{id} is on its way to {count} members. I will show the progress here."
    ).format(id=broadcast.id, count=ctx.t.number(total))
    return [Reply(text)]


async def list_broadcasts(ctx: Context) -> list[Reply]:
    """Running broadcasts the person may cancel, and news held for the end of quiet hours."""
    if not ctx.person.leads:
        return [Reply(ctx._("Broadcasts are for youth union secretaries and admins."))]
    if not await _running(ctx) and not await _held(ctx):
        return [menu_reply(ctx, ctx._("No broadcast is running."))]
    return await start_form(ctx, "broadcasts")


async def _running(ctx: Context) -> list[Broadcast]:
    statement = select(Broadcast).where(Broadcast.status == "running")
    if not ctx.person.is_admin:
        statement = statement.where(Broadcast.sender_identity_id == ctx.person.identity_id)
    return list((await ctx.session.scalars(statement.order_by(Broadcast.id))).all())


async def _held(ctx: Context) -> list[Schedule]:
    """News confirmed in quiet hours, waiting for the morning (admins post news)."""
    if not ctx.person.is_admin:
        return []
    waiting = await pending_schedules(ctx.session, ("news",))
    return [schedule for schedule in waiting if schedule.rule.get("held")]


async def running_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    running = [Option(str(b.id), f"#{b.id} · {_short(b.text)}") for b in await _running(ctx)]
    held = [
        Option(
            f"{HELD}{schedule.id}",
            ctx._("🌙 {text} · held until {time}").format(
                text=_short(schedule.text),
                time=ctx.t.datetime(schedule.next_run_at) if schedule.next_run_at else "—",
            ),
        )
        for schedule in await _held(ctx)
    ]
    return (*running, *held)


async def stale_broadcast(ctx: Context, value: str) -> str | None:
    """Why the button of a broadcast no longer listed cancels nothing."""
    broadcast = await ctx.session.get(Broadcast, int(value)) if value.isdigit() else None
    if broadcast is None or not (
        ctx.person.is_admin or broadcast.sender_identity_id == ctx.person.identity_id
    ):
        return None
    return ctx._("Broadcast #{id} is no longer running; nothing was changed.").format(
        id=broadcast.id
    )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def cancel_chosen(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if answers["broadcast"].startswith(HELD):
        return await _cancel_held(ctx, int(answers["broadcast"].removeprefix(HELD)))
    broadcast_id = int(answers["broadcast"])
    if broadcast_id not in {b.id for b in await _running(ctx)}:  # checked again now
        return [menu_reply(ctx, ctx._("That broadcast is no longer running."))]
    skipped = await cancel_broadcast(ctx.session, broadcast_id)
    await audit(
        ctx.session,
        ctx.person.actor,
        "broadcast.cancelled",
        broadcast_id=broadcast_id,
    )
    text = ctx._("Broadcast #{id} cancelled; {n} messages will not be sent.").format(
        id=broadcast_id, n=ctx.t.number(skipped)
    )
    return [menu_reply(ctx, text)]


async def _cancel_held(ctx: Context, schedule_id: int) -> list[Reply]:
    """Cancels held news, if it is still held (checked again now)."""
    if schedule_id not in {s.id for s in await _held(ctx)}:
        return [menu_reply(ctx, ctx._("That has already been sent or cancelled."))]
    await cancel_schedule(ctx.session, schedule_id)
    await audit(ctx.session, ctx.person.actor, "schedule.cancelled", schedule_id=schedule_id)
    return [menu_reply(ctx, ctx._("🗑 Cancelled: #{id} will not be sent.").format(id=schedule_id))]


async def stop_broadcasts(ctx: Context) -> list[Reply]:
    """/stop: no more announcements (answers about one's own entries still come)."""
    await ctx.session.execute(
        update(Member).where(Member.id == ctx.person.member_id).values(broadcasts_off=True)
    )
    return [
        Reply(
            ctx._(
                "You will no longer receive announcements. You will still hear about your own "
                "entries. Type /start to receive announcements again."
            )
        )
    ]


BROADCAST = Form(
    name="broadcast",
    title=N_("Broadcast"),
    complete=preview,
    fields=(
        Field(
            "text",
            FieldKind.TEXT,
            N_("Write the message to send"),
            hint=N_("Plain text, up to 3,500 characters. It is sent exactly as you write it."),
            min_length=5,
            max_length=3500,
        ),
        Field(
            "photo",
            FieldKind.PHOTOS,
            N_("A photo to go with it? (optional)"),
            hint=N_("Send one photo, or skip."),
            optional=True,
            max_files=1,
        ),
        Field("units", FieldKind.CHOICE, N_("Who should receive it?"), options_for=unit_options),
        Field(
            "who",
            FieldKind.CHOICE,
            N_("Everyone, or only members who have not reported this month?"),
            options=(
                Option(EVERYONE, N_("Everyone")),
                Option(NOT_REPORTED, N_("Only those who have not reported this month")),
            ),
        ),
    ),
)

BROADCAST_CONFIRM = Form(
    name="broadcast_confirm",
    title=N_("Broadcast"),
    steps=False,
    complete=send,
    cancelled=N_("Nothing was sent."),
    fields=(
        Field(
            "confirm",
            FieldKind.CHOICE,
            N_("Send it to {count} members now?"),
            params=count_params,
            options=(Option("send", N_("📢 Send now")), Option("no", N_("Do not send"))),
        ),
    ),
)

RUNNING = Form(
    name="broadcasts",
    interruptible=True,  # a list to pick from: any command leaves it
    title=N_("Broadcasts"),
    steps=False,
    complete=cancel_chosen,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "broadcast",
            FieldKind.CHOICE,
            N_("Which broadcast do you want to cancel?"),
            options_for=running_options,
            stale=stale_broadcast,
        ),
    ),
)


def register(router: Router) -> None:
    for form in (BROADCAST, BROADCAST_CONFIRM, RUNNING):
        router.form(form)
    router.command(
        "broadcast",
        start_broadcast,
        N_("send a message to the young people of your units"),
        audience=Audience.SECRETARIES,
    )
    router.command(
        "broadcasts",
        list_broadcasts,
        N_("see or cancel running broadcasts"),
        audience=Audience.SECRETARIES,
    )
    router.command("stop", stop_broadcasts, N_("stop receiving announcements"), members_only=True)
    router.menu_item(
        "broadcast", N_("📢 Broadcast"), start_broadcast, visible=lambda ctx: ctx.person.leads
    )
