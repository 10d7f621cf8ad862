"""Reporting: a form for each entry kind (domain.kinds), and submitting one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.i18n import N_
from bot.router import Router, menu_reply
from domain.kinds import KINDS, EntryKind
from domain.vocabulary import Role, Status
from models.entries import EvidenceRef, current_campaign, resubmit_entry, save_entry
from models.tables import Entry, Unit

__all__ = ["ENTRY_ID", "SECRETARY", "entry_form", "register", "submit"]

SECRETARY = "_secretary"  # prefilled: whether to ask "for myself or for my unit"
ENTRY_ID = "_entry_id"  # prefilled when fixing a rejected entry
MYSELF = "self"


async def behalf_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    """Myself, or one of the units the person is secretary of."""
    unit_ids = [
        unit_id for role, unit_id in ctx.person.roles if role == Role.SECRETARY and unit_id
    ]
    options = [Option(MYSELF, N_("Myself"))]
    for unit_id in unit_ids:
        unit = await ctx.session.get(Unit, unit_id)
        if unit is not None:
            options.append(Option(str(unit.id), unit.name))
    return tuple(options)


ON_BEHALF = Field(
    "on_behalf",
    FieldKind.CHOICE,
    N_("Are you reporting for yourself, or on behalf of a unit?"),
    hint=N_("An entry on behalf of a unit counts for the unit (a collective entry)."),
    label=N_("Reported for"),
    options_for=behalf_options,
    ask_if=lambda answers: bool(answers.get(SECRETARY)),
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
        fields=(ON_BEHALF, *kind.fields),
    )


async def submit(ctx: Context, kind: str, answers: dict[str, Any]) -> list[Reply]:
    """Saves the entry, its files, its history and an audit row in this one transaction."""
    person = ctx.person
    if person.member_id is None or person.unit_id is None:
        return [Reply(ctx._("You have not registered yet. Type /start to begin."))]
    unit_id, collective = person.unit_id, False
    behalf = answers.get("on_behalf")
    if behalf not in (None, MYSELF):
        # Checked again now, not when the question was asked: the role may have gone since.
        if (Role.SECRETARY, int(behalf)) not in person.roles:
            return [Reply(ctx._("You are no longer a secretary of that unit. Nothing was saved."))]
        unit_id, collective = int(behalf), True
    stored = {k: v for k, v in answers.items() if not k.startswith("_")}
    evidence = [
        EvidenceRef(f["sha256"], f["path"], f["mime"], f["size"], f.get("name"))
        for f in stored.get("evidence") or []
    ]
    title = str(stored[KINDS[kind].headline])
    if ENTRY_ID in answers:
        entry = await ctx.session.get(Entry, int(answers[ENTRY_ID]))
        if (
            entry is None
            or entry.reporter_id != person.member_id
            or entry.status != Status.REJECTED
        ):
            return [Reply(ctx._("This entry can no longer be changed. Nothing was saved."))]
        await resubmit_entry(
            ctx.session,
            entry,
            unit_id=unit_id,
            collective=collective,
            title=title,
            answers=stored,
            evidence=evidence,
            actor=person.actor,
            tz=ctx.config.tz,
        )
        text = ctx._("✅ Sent again. Entry #{id} is back with your secretary for review.")
    else:
        campaign = await current_campaign(ctx.session, ctx.today(), kind)
        entry = await save_entry(
            ctx.session,
            kind=kind,
            reporter_id=person.member_id,
            unit_id=unit_id,
            campaign_id=campaign.id,
            collective=collective,
            title=title,
            answers=stored,
            evidence=evidence,
            actor=person.actor,
            tz=ctx.config.tz,
        )
        text = ctx._("✅ Saved. Entry #{id} has been sent to your secretary for review.")
    return [Reply(text.format(id=entry.id)), menu_reply(ctx)]


async def start_report(ctx: Context) -> list[Reply]:
    """The menu's "Report": choose what to report."""
    return await start_form(ctx, "report")


async def choose_kind(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Opens the chosen kind's form; a secretary is first asked for whom."""
    is_secretary = any(role == Role.SECRETARY for role, _ in ctx.person.roles)
    return await start_form(ctx, answers["kind"], {SECRETARY: is_secretary})


async def kind_options(_ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    return tuple(Option(name, kind.title) for name, kind in KINDS.items())


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


def register(router: Router) -> None:
    router.form(CHOOSE_KIND)
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
