"""Admins' news and reminders: /news posts now or at a set time, /reminders sets up recurring
reminders, /scheduled lists what is still to be sent, to change or cancel it. Each goes out
through the outbox, never during quiet hours."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from bot.announcements import (
    REMINDER_TEMPLATES,
    TimePassed,
    add_reminder,
    cancel_scheduled,
    held_until,
    post_news,
)
from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.i18n import N_
from bot.reminders import AUDIENCES
from bot.router import Audience, Router, menu_reply
from bot.text import escape
from domain.vocabulary import Role
from models.entries import scope_unit_ids
from models.people import audit
from models.schedules import (
    MONTH,
    ONCE,
    WEEK,
    next_run,
    outside_quiet_hours,
    pending_schedules,
)
from models.tables import Broadcast, Campaign, Schedule, Unit, utcnow

__all__ = ["register"]

WHOLE_PROVINCE = "all"
ONE_UNIT = "unit"
NOW, LATER = "now", "later"
KIND_ICONS = {"news": "📰", "reminder": "🔔", "deadline": "⏰"}
WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)
# Who news goes to, and the audience it means.
NEWS_AUDIENCES = (
    Option("all", N_("Members")),
    Option("secretaries", N_("Secretaries")),
    Option("everyone", N_("Members and secretaries")),
)


def _admins_only(ctx: Context) -> list[Reply] | None:
    if ctx.person.is_admin:
        return None
    return [Reply(ctx._("News and reminders are for admins."))]


async def open_news(ctx: Context) -> list[Reply]:
    return _admins_only(ctx) or await start_form(ctx, "news")


async def open_reminders(ctx: Context) -> list[Reply]:
    return _admins_only(ctx) or await start_form(ctx, "reminder")


async def open_scheduled(ctx: Context) -> list[Reply]:
    if refused := _admins_only(ctx):
        return refused
    if not await pending_schedules(ctx.session, tuple(KIND_ICONS)):
        return [menu_reply(ctx, ctx._("Nothing is scheduled."))]
    return await start_form(ctx, "scheduled")


async def _units(ctx: Context, answers: dict[str, Any]) -> set[int] | None:
    """The chosen unit and everything below it, or None: the whole province."""
    if answers.get("where") != ONE_UNIT:
        return None
    return await scope_unit_ids(ctx.session, [(Role.SECRETARY, int(answers["unit"]))])


def _when_text(ctx: Context, moment: dt.datetime | None) -> str:
    """When it is sent, saying so when quiet hours hold it back until the morning."""
    if moment is None:
        return "—"
    text = ctx.t.datetime(moment)
    leaves = outside_quiet_hours(moment, ctx.config.schedules, ctx.config.tz)
    if leaves != moment:
        text += " " + ctx._("(quiet hours: it goes out at {time})").format(
            time=ctx.t.datetime(leaves)
        )
    return text


# -- news ------------------------------------------------------------------------------------


async def news_confirmed(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Sends the news now, holds it for quiet hours, or schedules it (bot.announcements)."""
    if refused := _admins_only(ctx):
        return refused
    photos = answers.get("photo") or []
    try:
        posted = await post_news(
            ctx.session,
            ctx.config,
            text=answers["text"],
            who=answers["to"],
            units=await _units(ctx, answers),
            at=answers["at"] if answers["when"] == LATER else None,
            actor=ctx.person.actor,
            photo_path=str(photos[0]["path"]) if photos else None,
            sender_identity_id=ctx.person.identity_id,
            progress_chat_id=ctx.inbound.chat_id,
        )
    except TimePassed:
        return [menu_reply(ctx, ctx._("That time has already passed. Nothing was scheduled."))]
    if isinstance(posted, Broadcast):
        if posted.total == 0:
            return [menu_reply(ctx, ctx._("Nobody matches this audience, so nothing was sent."))]
        text = ctx._("📰 News #{id} is on its way to {count} people.").format(
            id=posted.id, count=ctx.t.number(posted.total)
        )
        return [menu_reply(ctx, text)]
    schedule = posted
    if schedule.rule.get("held"):
        text = ctx._(
            "🌙 Quiet hours: the news is held until {when} and sent then. "
            "Type /scheduled to see, change or cancel it."
        ).format(when=ctx.t.datetime(schedule.next_run_at) if schedule.next_run_at else "—")
        return [menu_reply(ctx, text)]
    text = ctx._(
        "🗓 The news is scheduled for {when}. Type /scheduled to see, change or cancel it."
    ).format(when=_when_text(ctx, schedule.next_run_at))
    return [menu_reply(ctx, text)]


async def quiet_note(ctx: Context, answers: dict[str, Any]) -> str | None:
    """Before news for now is confirmed in quiet hours: that it will wait for the morning."""
    if answers.get("when") != NOW:
        return None
    held = held_until(ctx.config)
    if held is None:
        return None
    return ctx._(
        "🌙 It is quiet hours now: the news will be held until {time} and sent then."
    ).format(time=ctx.t.datetime(held))


WHERE = Field(
    "where",
    FieldKind.CHOICE,
    N_("Which area should it reach?"),
    label=N_("Where"),
    options=(
        Option(WHOLE_PROVINCE, N_("The whole province")),
        Option(ONE_UNIT, N_("One unit and the units below it")),
    ),
)
UNIT = Field(
    "unit",
    FieldKind.UNIT,
    N_("Which unit?"),
    hint=N_('Type part of its name, or "list".'),
    label=N_("Unit"),
    ask_if=lambda answers: answers.get("where") == ONE_UNIT,
)
AT = Field(
    "at",
    FieldKind.MOMENT,
    N_("When should it be sent?"),
    hint=N_("Write the date and time, for example 01/12/2026 08:00."),
    label=N_("Send at"),
)

NEWS = Form(
    name="news",
    title=N_("Campaign news"),
    review=True,
    submit=N_("📰 Confirm"),
    complete=news_confirmed,
    note=quiet_note,
    cancelled=N_("Nothing was sent."),
    fields=(
        Field(
            "text",
            FieldKind.TEXT,
            N_("Write the news"),
            hint=N_("Plain text, up to 3,500 characters. It is sent exactly as you write it."),
            label=N_("News"),
            min_length=5,
            max_length=3500,
        ),
        Field(
            "photo",
            FieldKind.PHOTOS,
            N_("A photo to go with it? (optional)"),
            hint=N_("Send one photo, or skip."),
            label=N_("Photo"),
            optional=True,
            max_files=1,
        ),
        WHERE,
        UNIT,
        Field("to", FieldKind.CHOICE, N_("To whom?"), label=N_("To"), options=NEWS_AUDIENCES),
        Field(
            "when",
            FieldKind.CHOICE,
            N_("Send it now, or at a set time?"),
            label=N_("When"),
            options=(Option(NOW, N_("Now")), Option(LATER, N_("At a set time"))),
        ),
        replace(AT, ask_if=lambda answers: answers.get("when") == LATER),
    ),
)


# -- reminders -------------------------------------------------------------------------------


def _rule(answers: dict[str, Any]) -> dict[str, Any]:
    every = answers["every"]
    if every == ONCE:
        return {"every": ONCE, "at": answers["at"]}
    if every == WEEK:
        return {"every": WEEK, "weekday": int(answers["weekday"]), "time": answers["time"]}
    return {"every": MONTH, "day": int(answers["day"]), "time": answers["time"]}


def describe_rule(ctx: Context, rule: dict[str, Any]) -> str:
    if rule["every"] == ONCE:
        local = dt.datetime.fromisoformat(rule["at"]).replace(tzinfo=ctx.config.tz)
        return ctx._("once, on {when}").format(when=ctx.t.datetime(local))
    if rule["every"] == WEEK:
        return ctx._("every {weekday} at {time}").format(
            weekday=ctx._(WEEKDAYS[int(rule["weekday"])]), time=rule["time"]
        )
    return ctx._("monthly on day {day} at {time}").format(day=rule["day"], time=rule["time"])


async def save_reminder(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if refused := _admins_only(ctx):
        return refused
    try:
        schedule = await add_reminder(
            ctx.session,
            ctx.config,
            who=answers["who"],
            units=await _units(ctx, answers),
            rule=_rule(answers),
            text=answers.get("note") or answers.get("message") or "",
            actor=ctx.person.actor,
            created_by=ctx.person.identity_id,
        )
    except TimePassed:
        return [menu_reply(ctx, ctx._("That time has already passed. Nothing was scheduled."))]
    text = ctx._("🔔 Reminder saved: {rule}. The next one goes out on {when}.").format(
        rule=describe_rule(ctx, schedule.rule), when=_when_text(ctx, schedule.next_run_at)
    )
    return [menu_reply(ctx, text + "\n" + ctx._("Type /scheduled to change or cancel it."))]


def _general(answers: dict[str, Any]) -> bool:
    return answers.get("who") not in REMINDER_TEMPLATES


TIME = Field(
    "time",
    FieldKind.TIME,
    N_("At what time? (hh:mm)"),
    hint=N_("For example 08:00."),
    label=N_("Time"),
)

REMINDER = Form(
    name="reminder",
    title=N_("Reminder"),
    review=True,
    complete=save_reminder,
    fields=(
        Field(
            "who",
            FieldKind.CHOICE,
            N_("Who should be reminded?"),
            label=N_("Who"),
            options=tuple(
                Option(key, AUDIENCES[key])
                for key in ("not_reported", "waiting_review", "all", "secretaries")
            ),
        ),
        WHERE,
        UNIT,
        Field(
            "every",
            FieldKind.CHOICE,
            N_("How often?"),
            label=N_("How often"),
            options=(
                Option(MONTH, N_("Every month")),
                Option(WEEK, N_("Every week")),
                Option(ONCE, N_("Once")),
            ),
        ),
        Field(
            "day",
            FieldKind.INTEGER,
            N_("On which day of the month? (1-31)"),
            hint=N_("In shorter months, day 31 means the last day."),
            label=N_("Day of the month"),
            minimum=1,
            maximum=31,
            ask_if=lambda answers: answers.get("every") == MONTH,
        ),
        Field(
            "weekday",
            FieldKind.CHOICE,
            N_("On which day of the week?"),
            label=N_("Day of the week"),
            options=tuple(Option(str(i), name) for i, name in enumerate(WEEKDAYS)),
            ask_if=lambda answers: answers.get("every") == WEEK,
        ),
        replace(TIME, ask_if=lambda answers: answers.get("every") != ONCE),
        replace(AT, ask_if=lambda answers: answers.get("every") == ONCE),
        Field(
            "note",
            FieldKind.TEXT,
            N_("A few words of your own to add? (optional)"),
            label=N_("Note"),
            optional=True,
            max_length=1000,
            ask_if=lambda answers: not _general(answers),
        ),
        Field(
            "message",
            FieldKind.TEXT,
            N_("Write the reminder"),
            label=N_("Message"),
            min_length=5,
            max_length=1000,
            ask_if=_general,
        ),
    ),
)


# -- what is scheduled -------------------------------------------------------------------------


async def scheduled_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    options = []
    for schedule in await pending_schedules(ctx.session, tuple(KIND_ICONS)):
        when = ctx.t.datetime(schedule.next_run_at) if schedule.next_run_at else "—"
        what = await _about(ctx, schedule)
        options.append(Option(str(schedule.id), f"{_icon(schedule)} {when} · {what}"))
    return tuple(options)


def _icon(schedule: Schedule) -> str:
    return "🌙" if schedule.rule.get("held") else KIND_ICONS[schedule.kind]


async def _campaign_title(ctx: Context, schedule: Schedule) -> str | None:
    """The campaign whose deadline a reminder announces."""
    if schedule.kind != "deadline" or schedule.campaign_id is None:
        return None
    campaign = await ctx.session.get(Campaign, schedule.campaign_id)
    return campaign.title if campaign else f"#{schedule.campaign_id}"


async def _about(ctx: Context, schedule: Schedule) -> str:
    """What a scheduled message is, in a few words: the campaign whose deadline it
    announces, its text, or whom it reminds."""
    title = await _campaign_title(ctx, schedule)
    if title is not None:
        return ctx._("deadline of {campaign}").format(campaign=_short(title))
    return _short(schedule.text) or ctx._(AUDIENCES[schedule.audience["who"]])


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def scheduled_card(ctx: Context, schedule: Schedule) -> str:
    units = schedule.audience.get("units")
    where = ctx._("the whole province")
    if units:
        names = [
            unit.name
            for unit in [await ctx.session.get(Unit, unit_id) for unit_id in units[:3]]
            if unit is not None
        ]
        where = ", ".join(names) + ("…" if len(units) > 3 else "")
    lines = [
        f"{_icon(schedule)} <b>#{schedule.id}</b> · {describe_rule(ctx, schedule.rule)}",
        ctx._("Next: {when}").format(when=_when_text(ctx, schedule.next_run_at)),
        ctx._("To: {who} · {where}").format(
            who=ctx._(AUDIENCES[schedule.audience["who"]]), where=escape(where)
        ),
    ]
    title = await _campaign_title(ctx, schedule)
    if title is not None:
        lines.append(ctx._("Deadline of the campaign “{campaign}”").format(campaign=escape(title)))
    if schedule.rule.get("held"):
        lines.append(ctx._("🌙 News sent during quiet hours, held until the morning."))
    if schedule.text:
        lines += ["", escape(schedule.text)]
    return "\n".join(lines)


async def scheduled_chosen(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if refused := _admins_only(ctx):
        return refused
    schedule = await ctx.session.get(Schedule, int(answers["schedule"]))
    if schedule is None or schedule.status != "active":
        return [menu_reply(ctx, ctx._("That has already been sent or cancelled."))]
    return [
        Reply(await scheduled_card(ctx, schedule)),
        *await start_form(ctx, "scheduled_action", {"id": schedule.id}),
    ]


async def scheduled_actions(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    schedule = await ctx.session.get(Schedule, int(answers["id"]))
    options = []
    if schedule is not None and schedule.status == "active":
        bound = f":{schedule.id}"  # each action names the item on the card
        if schedule.kind != "deadline":
            options.append(Option("text" + bound, N_("✏️ Change the message")))
        options.append(Option("time" + bound, N_("🕗 Change the time")))
        options.append(Option("cancel" + bound, N_("🗑 Cancel it")))
    options.append(Option("back", N_("⬅️ Back to the list")))
    return tuple(options)


async def stale_action(ctx: Context, value: str) -> str | None:
    """Why a button of an earlier card does nothing: that item's state now."""
    _, _, schedule_id = value.partition(":")
    if not schedule_id.isdigit() or not ctx.person.is_admin:
        return None
    schedule = await ctx.session.get(Schedule, int(schedule_id))
    if schedule is None or schedule.status != "active":
        return ctx._("#{id} has already been sent or cancelled; nothing was changed.").format(
            id=schedule_id
        )
    return ctx._("That button belongs to #{id}, not to the card shown now.").format(id=schedule.id)


async def scheduled_act(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if refused := _admins_only(ctx):
        return refused
    action, _, bound = str(answers["action"]).partition(":")
    if action == "back":
        return await open_scheduled(ctx)
    schedule = await ctx.session.get(Schedule, int(answers["id"]))
    if schedule is None or schedule.status != "active" or bound != str(schedule.id):
        return [menu_reply(ctx, ctx._("That has already been sent or cancelled."))]
    if action == "cancel":
        await cancel_scheduled(ctx.session, schedule.id, actor=ctx.person.actor)
        return [
            menu_reply(ctx, ctx._("🗑 Cancelled: #{id} will not be sent.").format(id=schedule.id))
        ]
    if action == "text":
        return await start_form(ctx, "schedule_text", {"id": schedule.id})
    return await start_form(
        ctx, "schedule_time", {"id": schedule.id, "_once": schedule.rule["every"] == ONCE}
    )


async def change_text(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if refused := _admins_only(ctx):
        return refused
    schedule = await ctx.session.get(Schedule, int(answers["id"]))
    if schedule is None or schedule.status != "active":
        return [menu_reply(ctx, ctx._("That has already been sent or cancelled."))]
    schedule.text = answers["text"]
    await audit(ctx.session, ctx.person.actor, "schedule.edited", schedule_id=schedule.id)
    return [menu_reply(ctx, ctx._("✅ Saved.") + "\n\n" + await scheduled_card(ctx, schedule))]


async def change_time(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if refused := _admins_only(ctx):
        return refused
    schedule = await ctx.session.get(Schedule, int(answers["id"]))
    if schedule is None or schedule.status != "active":
        return [menu_reply(ctx, ctx._("That has already been sent or cancelled."))]
    rule = dict(schedule.rule)
    if rule["every"] == ONCE:
        rule["at"] = answers["at"]
    else:
        rule["time"] = answers["time"]
    schedule.rule = rule
    schedule.next_run_at = next_run(rule, utcnow(), ctx.config.tz)
    await audit(ctx.session, ctx.person.actor, "schedule.edited", schedule_id=schedule.id)
    return [menu_reply(ctx, ctx._("✅ Saved.") + "\n\n" + await scheduled_card(ctx, schedule))]


SCHEDULED = Form(
    name="scheduled",
    interruptible=True,
    title=N_("Scheduled"),
    steps=False,
    complete=scheduled_chosen,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "schedule",
            FieldKind.CHOICE,
            N_("Still to be sent: choose one to see, change or cancel it."),
            options_for=scheduled_options,
        ),
    ),
)

SCHEDULED_ACTION = Form(
    name="scheduled_action",
    interruptible=True,
    title=N_("Scheduled"),
    steps=False,
    complete=scheduled_act,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "action",
            FieldKind.CHOICE,
            N_("What would you like to do?"),
            options_for=scheduled_actions,
            stale=stale_action,
        ),
    ),
)

SCHEDULE_TEXT = Form(
    name="schedule_text",
    title=N_("Scheduled"),
    steps=False,
    complete=change_text,
    cancelled=N_("Nothing was changed."),
    fields=(
        Field(
            "text",
            FieldKind.TEXT,
            N_("Write the new message"),
            min_length=5,
            max_length=3500,
        ),
    ),
)

SCHEDULE_TIME = Form(
    name="schedule_time",
    title=N_("Scheduled"),
    steps=False,
    complete=change_time,
    cancelled=N_("Nothing was changed."),
    fields=(
        replace(AT, ask_if=lambda answers: bool(answers.get("_once"))),
        replace(TIME, ask_if=lambda answers: not answers.get("_once")),
    ),
)


def register(router: Router) -> None:
    for form in (NEWS, REMINDER, SCHEDULED, SCHEDULED_ACTION, SCHEDULE_TEXT, SCHEDULE_TIME):
        router.form(form)
    router.command(
        "news",
        open_news,
        N_("post campaign news, now or at a set time"),
        audience=Audience.ADMINS,
    )
    router.command(
        "reminders",
        open_reminders,
        N_("set up a recurring reminder"),
        audience=Audience.ADMINS,
    )
    router.command(
        "scheduled",
        open_scheduled,
        N_("see, change or cancel what is scheduled"),
        audience=Audience.ADMINS,
    )
    admin = lambda ctx: ctx.person.is_admin  # noqa: E731
    router.menu_item("news", N_("📰 News"), open_news, visible=admin)
    router.menu_item("reminders", N_("🔔 Reminders"), open_reminders, visible=admin)
