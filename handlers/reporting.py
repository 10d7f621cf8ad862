"""Reporting: a form for each entry kind (domain.kinds), and submitting one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.i18n import N_
from bot.router import Router, menu_reply
from bot.text import escape
from domain.kinds import BEHALF, KINDS, MYSELF, EntryKind
from domain.units import union_name
from domain.vocabulary import OPEN, Role, Status
from models.entries import (
    EvidenceRef,
    current_campaign,
    join_entry,
    open_campaigns,
    others_can_review,
    reviewing_unit,
    revise_entry,
    save_entry,
)
from models.outbox import enqueue_notice
from models.tables import Campaign, Entry, RoleGrant, Unit

__all__ = ["ENTRY_ID", "SECRETARY", "entry_form", "register", "reviewer_label", "submit"]

SECRETARY = "_secretary"  # prefilled: whether to ask "for myself or for my unit"
ENTRY_ID = "_entry_id"  # prefilled when changing an entry that waits or was returned
# The questions asked after the summary: the report's answers wait in SAVED meanwhile.
KIND, SAVED = "_kind", "_saved"
WHERE_IT_COUNTS = "_counts_for"  # "movement": outside every running campaign, confirmed
JOIN = "_join"  # "no": reported apart although the branch reported the same activity


async def led_units(ctx: Context, kinds: frozenset[str] = frozenset()) -> list[Unit]:
    """The units the person is secretary of (only those of these kinds, when given)."""
    ids = [unit_id for role, unit_id in ctx.person.roles if role == Role.SECRETARY and unit_id]
    if not ids:
        return []  # most people: no query
    found = {u.id: u for u in await ctx.session.scalars(select(Unit).where(Unit.id.in_(ids)))}
    units = [found[unit_id] for unit_id in dict.fromkeys(ids) if unit_id in found]
    return [unit for unit in units if not kinds or unit.kind in kinds]


async def behalf_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    """Myself, or one of the units the person is secretary of."""
    units = await led_units(ctx)
    return (Option(MYSELF, N_("Myself")), *(Option(str(unit.id), unit.name) for unit in units))


ON_BEHALF = Field(
    BEHALF,
    FieldKind.CHOICE,
    N_("Are you reporting for yourself, or on behalf of a unit?"),
    hint=N_("An entry on behalf of a unit counts for the unit (a collective entry)."),
    label=N_("Reported for"),
    options_for=behalf_options,
    ask_if=lambda answers: bool(answers.get(SECRETARY)),
)


def reporting_units(kind: EntryKind) -> Field:
    """For a kind only units report (a youth programme): which of the person's units."""

    async def options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
        return tuple(Option(str(u.id), u.name) for u in await led_units(ctx, kind.unit_kinds))

    return Field(
        BEHALF,
        FieldKind.CHOICE,
        N_("For which of your units do you report it?"),
        label=N_("Reported for"),
        options_for=options,
    )


Submit = Callable[[Context, dict[str, Any]], Awaitable[list[Reply]]]


def submitter(kind: str) -> Submit:
    """The `complete` of an entry form: submits the answers as an entry of this kind."""

    async def complete(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
        return await submit(ctx, kind, answers)

    return complete


def entry_form(kind: EntryKind) -> Form:
    """The reporting form of a kind: for whom (secretaries), its fields, then a summary."""
    return Form(
        name=kind.name,
        title=kind.title,
        review=True,
        submit=N_("✅ Submit"),
        complete=submitter(kind.name),
        cancelled=N_("Report cancelled. Nothing was saved."),
        fields=(reporting_units(kind) if kind.unit_kinds else ON_BEHALF, *kind.fields),
    )


async def submit(ctx: Context, kind: str, answers: dict[str, Any]) -> list[Reply]:
    """Saves the entry (or a new revision of one still open or returned), its files, its
    history and an audit row in this one transaction; first asks where it counts when it
    happened outside the running campaigns, and offers to join the branch's own report of
    the same activity instead of reporting it twice."""
    person = ctx.person
    if person.member_id is None or person.unit_id is None:
        return [Reply(ctx._("You have not registered yet. Type /start to begin."))]
    unit_id, collective = person.unit_id, False
    behalf = answers.get(BEHALF)
    allowed = KINDS[kind].unit_kinds
    if behalf not in (None, MYSELF):
        # Checked again now, not when the question was asked: the role may have gone since.
        if int(behalf) not in {unit.id for unit in await led_units(ctx, allowed)}:
            return [Reply(ctx._("You are no longer a secretary of that unit. Nothing was saved."))]
        unit_id, collective = int(behalf), True
    elif allowed:
        return [Reply(ctx._("Only the secretary of a unit reports this. Nothing was saved."))]
    entry: Entry | None = None
    if ENTRY_ID in answers:
        entry = await ctx.session.get(Entry, int(answers[ENTRY_ID]))
        if (
            entry is None
            or entry.reporter_id != person.member_id
            or entry.status not in (*OPEN, Status.REJECTED)
        ):
            return [Reply(ctx._("This entry can no longer be changed. Nothing was saved."))]
    happened = KINDS[kind].happened_on(answers) or (entry.happened_on if entry else ctx.today())
    campaign = await current_campaign(ctx.session, happened, kind)
    if entry is not None and entry.campaign_id != campaign.id:
        kept = await ctx.session.get(Campaign, entry.campaign_id)
        if kept is not None and kept.is_default:
            campaign = kept
    if campaign.is_default and answers.get(WHERE_IT_COUNTS) != "movement":
        running = await open_campaigns(ctx.session, ctx.today(), kind)
        if running:
            shown = {
                "date": ctx.t.date(happened),
                "campaign": running[0].title,
                "start": ctx.t.date(running[0].starts_on),
                "end": ctx.t.date(running[0].ends_on) if running[0].ends_on else "…",
            }
            return await start_form(ctx, "report_where", {KIND: kind, SAVED: answers, **shown})
    if entry is None and answers.get("organised") == "yes" and answers.get(JOIN) != "no":
        activities = await joinable(ctx, unit_id, happened)
        if activities:
            return await start_form(ctx, "report_join", {KIND: kind, SAVED: answers})
    stored = {k: v for k, v in answers.items() if not k.startswith("_") and k != WHERE_IT_COUNTS}
    evidence = [
        EvidenceRef(f["sha256"], f["path"], f["mime"], f["size"], f.get("name"))
        for f in stored.get("evidence") or []
    ]
    title = str(stored[KINDS[kind].headline])
    if entry is not None:
        entry.campaign_id = campaign.id
        await revise_entry(
            ctx.session,
            entry,
            unit_id=unit_id,
            collective=collective,
            title=title,
            answers=stored,
            happened_on=happened,
            evidence=evidence,
            actor=person.actor,
            tz=ctx.config.tz,
        )
        text = ctx._("✅ Sent again. Entry #{id} goes to {reviewer} for review.")
    else:
        entry = await save_entry(
            ctx.session,
            kind=kind,
            reporter_id=person.member_id,
            unit_id=unit_id,
            campaign_id=campaign.id,
            collective=collective,
            title=title,
            answers=stored,
            happened_on=happened,
            evidence=evidence,
            actor=person.actor,
            tz=ctx.config.tz,
        )
        text = ctx._("✅ Saved. Entry #{id} has been sent to {reviewer} for review.")
    reviewer = await reviewer_label(ctx, entry.review_unit_id, entry.reporter_id)
    replies = [Reply(text.format(id=entry.id, reviewer=reviewer))]
    if not await others_can_review(ctx.session, entry.review_unit_id, entry.reporter_id):
        told = await tell_admins(ctx, "nobody_reviews", {"id": entry.id, "title": entry.title})
        text = (
            ctx._(
                "Nobody else can review it yet (nobody reviews their own work): it waits "
                "until a secretary of a unit above, or another admin, is appointed."
            )
            if person.leads
            else ctx._("No secretary or admin can review it yet: it waits until one is appointed.")
        )
        if told:
            text += " " + ctx._("The admins have been told.")
        replies.append(Reply(text))
    return [*replies, menu_reply(ctx)]


async def reviewer_label(ctx: Context, unit_id: int | None, member_id: int | None) -> str:
    """Who will decide something of this member at this unit, as they read it: the secretary
    of the nearest unit that has one (not themselves), or the provincial Youth Union."""
    unit = await reviewing_unit(ctx.session, unit_id, member_id)
    if unit is None or unit.parent_id is None:
        return ctx._("the provincial Youth Union")
    return ctx._("the secretary of {union}").format(union=escape(union_name(unit.name, unit.kind)))


async def tell_admins(ctx: Context, template: str, params: dict[str, Any]) -> int:
    """A notice to every admin, on the account they are reached on; how many were told."""
    admins = await ctx.session.scalars(
        select(RoleGrant.identity_id).where(RoleGrant.role == Role.ADMIN).distinct()
    )
    told = 0
    for identity_id in admins.all():
        told += await enqueue_notice(ctx.session, template, params, identity_id=identity_id)
    return told


# -- where an entry counts -------------------------------------------------------------------


def where_params(_ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {key: answers[key] for key in ("date", "campaign", "start", "end")}


async def counted_where(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Counts the entry for the movement as a whole, or goes back to its date."""
    kind, saved = answers[KIND], dict(answers[SAVED])
    if answers["where"] == "movement":
        return await submit(ctx, kind, {**saved, WHERE_IT_COUNTS: "movement"})
    happened = KINDS[kind].happened
    if happened is not None:
        saved.pop(happened, None)
    return await start_form(ctx, kind, saved)


# -- joining the branch's own report ---------------------------------------------------------


async def joinable(ctx: Context, unit_id: int, day: dt.date) -> list[Entry]:
    """Collective volunteer entries of the unit on that day that still count or wait."""
    found = await ctx.session.scalars(
        select(Entry)
        .where(
            Entry.kind == "volunteer",
            Entry.collective.is_(True),
            Entry.unit_id == unit_id,
            Entry.happened_on == day,
            Entry.status.not_in((Status.WITHDRAWN, Status.REJECTED)),
        )
        .order_by(Entry.id)
        .limit(8)
    )
    return list(found.all())


async def join_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    saved = answers[SAVED]
    day = KINDS["volunteer"].happened_on(saved) or ctx.today()
    unit_id = ctx.person.unit_id or 0
    options = [
        Option(str(entry.id), f"#{entry.id} · {_place(entry)}{entry.title}")
        for entry in await joinable(ctx, unit_id, day)
    ]
    return (*options, Option("own", N_("No, report it as my own")))


def _place(entry: Entry) -> str:
    place = entry.answers.get("place")
    return f"{place['place']} · " if isinstance(place, dict) and "place" in place else ""


async def joined(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Joins the chosen collective entry with the person's own hours, or reports it apart."""
    kind, saved = answers[KIND], answers[SAVED]
    if answers["activity"] == "own":
        return await submit(ctx, kind, {**saved, JOIN: "no"})
    member_id = ctx.person.member_id
    day = KINDS["volunteer"].happened_on(saved) or ctx.today()
    offered = {e.id: e for e in await joinable(ctx, ctx.person.unit_id or 0, day)}
    entry = offered.get(int(answers["activity"]))
    if member_id is None or entry is None:
        text = ctx._("That activity can no longer be joined. Nothing was saved.")
        return [menu_reply(ctx, text)]
    hours = float(saved.get("own_hours") or 0)
    if not await join_entry(ctx.session, entry, member_id, hours, actor=ctx.person.actor):
        text = ctx._("You had already joined entry #{id}.").format(id=entry.id)
        return [menu_reply(ctx, text)]
    text = ctx._(
        "✅ You have joined entry #{id} «{title}» with {hours} hours. They count in your "
        "results once the entry is approved."
    ).format(id=entry.id, title=escape(entry.title), hours=ctx.t.number(hours))
    if saved.get("evidence"):
        text += "\n" + ctx._(
            "Your photos were not added: the branch's report keeps its own evidence."
        )
    return [menu_reply(ctx, text)]


async def start_report(ctx: Context) -> list[Reply]:
    """The menu's "Report": choose what to report."""
    return await start_form(ctx, "report")


async def choose_kind(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Opens the chosen kind's form; a secretary is first asked for whom."""
    is_secretary = any(role == Role.SECRETARY for role, _ in ctx.person.roles)
    return await start_form(ctx, answers["kind"], {SECRETARY: is_secretary})


async def kind_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    """Every kind the person may report: a youth programme only for secretaries of a
    department, body, commune or ward."""
    offered = []
    for name, kind in KINDS.items():
        if not kind.unit_kinds or await led_units(ctx, kind.unit_kinds):
            offered.append(Option(name, kind.title))
    return tuple(offered)


CHOOSE_KIND = Form(
    name="report",
    title=N_("Report"),
    steps=False,
    complete=choose_kind,
    fields=(
        Field(
            "kind",
            FieldKind.CHOICE,
            N_("What would you like to report?"),
            options_for=kind_options,
        ),
    ),
)


REPORT_WHERE = Form(
    name="report_where",
    title=N_("Report"),
    steps=False,
    complete=counted_where,
    cancelled=N_("Report cancelled. Nothing was saved."),
    fields=(
        Field(
            "where",
            FieldKind.CHOICE,
            N_(
                "It happened on {date}, outside the campaign «{campaign}» ({start} to {end}). "
                "It will count for the movement as a whole, not for that campaign."
            ),
            params=where_params,
            options=(
                Option("movement", N_("✅ Count it for the movement")),
                Option("date", N_("📅 Change the date")),
            ),
        ),
    ),
)

REPORT_JOIN = Form(
    name="report_join",
    title=N_("Report"),
    steps=False,
    complete=joined,
    cancelled=N_("Report cancelled. Nothing was saved."),
    fields=(
        Field(
            "activity",
            FieldKind.CHOICE,
            N_(
                "Your branch has already reported an activity on that day. Is it the one you "
                "took part in? Join it, and your hours count for you without reporting it twice."
            ),
            options_for=join_options,
        ),
    ),
)


def register(router: Router) -> None:
    router.form(CHOOSE_KIND)
    router.form(REPORT_WHERE)
    router.form(REPORT_JOIN)
    for kind in KINDS.values():
        router.form(entry_form(kind))
    router.command(
        "report",
        start_report,
        N_("report an initiative, volunteer work or an economic model"),
        members_only=True,
    )
    router.menu_item(
        "report", N_("📝 Report"), start_report, visible=lambda ctx: ctx.person.registered
    )
