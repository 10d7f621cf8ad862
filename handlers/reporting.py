"""Reporting: the three entry kinds as form declarations, and submitting one.

Adding a fourth kind is one more `EntryKind` in KINDS (its form and which answer is its title)
plus its translations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, Stop, start_form
from bot.events import Reply
from bot.fields import Invalid
from bot.i18n import N_
from bot.router import Router, menu_reply
from models.entries import EvidenceRef, current_campaign, resubmit_entry, save_entry
from models.tables import Entry, Unit

__all__ = ["KINDS", "EntryKind", "register", "submit", "submitter"]

SECRETARY = "_secretary"  # prefilled: whether to ask "for myself or for my unit"
ENTRY_ID = "_entry_id"  # prefilled when fixing a rejected entry
MYSELF = "self"


async def behalf_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    """Myself, or one of the units the person is secretary of."""
    unit_ids = [unit_id for role, unit_id in ctx.person.roles if role == "secretary" and unit_id]
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


def evidence_field() -> Field:
    return Field(
        "evidence",
        FieldKind.PHOTOS,
        N_("Please send photos or documents as evidence"),
        hint=N_("Up to 10 photos or PDF files, 20 MB each. You can send several at once."),
        label=N_("Evidence"),
        optional=True,
        max_files=10,
    )


def place_field() -> Field:
    return Field(
        "place",
        FieldKind.LOCATION,
        N_("Where?"),
        hint=N_("Type the village, commune or address, or share a location (📎 → Location)."),
        label=N_("Place"),
    )


def description_field() -> Field:
    return Field(
        "description",
        FieldKind.TEXT,
        N_("Describe it in a few sentences"),
        label=N_("Description"),
        min_length=20,
        max_length=3000,
    )


INITIATIVE_FIELDS = (
    Option("administration", N_("Administration")),
    Option("economy", N_("Economy")),
    Option("agriculture", N_("Agriculture")),
    Option("education", N_("Education")),
    Option("health", N_("Health")),
    Option("digital", N_("Digital transformation")),
    Option("culture", N_("Culture and society")),
    Option("defence", N_("Defence and security")),
    Option("other", N_("Other")),
)
SCOPES = (
    Option("unit", N_("In my unit")),
    Option("commune", N_("In the commune or ward")),
    Option("province", N_("Across the province")),
)
SECTORS = (
    Option("crops", N_("Crops")),
    Option("livestock", N_("Livestock")),
    Option("forestry", N_("Forestry")),
    Option("trade", N_("Trade and services")),
    Option("handicraft", N_("Handicraft")),
    Option("tourism", N_("Tourism")),
    Option("startup", N_("Tech start-up")),
    Option("other", N_("Other")),
)


async def check_youth_jobs(_ctx: Context, value: Any, answers: dict[str, Any]) -> Stop | None:
    if value is not None and value > answers.get("jobs", 0):
        raise Invalid(
            N_("Jobs for young people cannot be more than all jobs created ({jobs})."),
            {"jobs": answers.get("jobs", 0)},
        )
    return None


@dataclass(frozen=True)
class EntryKind:
    form: Form
    headline: str  # the answer that names the entry in lists


Submit = Callable[[Context, dict[str, Any]], Awaitable[list[Reply]]]


def submitter(kind: str) -> Submit:
    """The `complete` of an entry form: submits the answers as an entry of this kind."""

    async def complete(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
        return await submit(ctx, kind, answers)

    return complete


INITIATIVE = Form(
    name="initiative",
    title=N_("Initiative"),
    review=True,
    submit=N_("✅ Submit"),
    complete=submitter("initiative"),
    cancelled=N_("Report cancelled. Nothing was saved."),
    fields=(
        ON_BEHALF,
        Field(
            "title",
            FieldKind.TEXT,
            N_("What is the initiative or solution called?"),
            label=N_("Title"),
            min_length=5,
            max_length=200,
        ),
        Field(
            "field",
            FieldKind.CHOICE,
            N_("Which field is it in?"),
            label=N_("Field"),
            options=INITIATIVE_FIELDS,
        ),
        Field(
            "problem",
            FieldKind.TEXT,
            N_("What problem does it solve?"),
            label=N_("Problem"),
            min_length=20,
            max_length=2000,
        ),
        Field(
            "solution",
            FieldKind.TEXT,
            N_("What is the solution?"),
            label=N_("Solution"),
            min_length=20,
            max_length=3000,
        ),
        Field(
            "scope",
            FieldKind.CHOICE,
            N_("Where has it been applied?"),
            label=N_("Scope applied"),
            options=SCOPES,
        ),
        Field(
            "effect",
            FieldKind.TEXT,
            N_("What effect has it had?"),
            label=N_("Effect"),
            min_length=10,
            max_length=2000,
        ),
        Field(
            "value",
            FieldKind.MONEY,
            N_("Its estimated value in đồng (optional)"),
            hint=N_("For example 50 triệu, 1.500.000 or 500k."),
            label=N_("Estimated value"),
            optional=True,
        ),
        Field(
            "applied_on",
            FieldKind.DATE,
            N_("When was it first applied?"),
            hint=N_("dd/mm/yyyy, for example 15/03/2026."),
            label=N_("First applied"),
        ),
        Field(
            "coauthors",
            FieldKind.TEXT,
            N_("Co-authors (optional)"),
            hint=N_("Their full names, separated by commas."),
            label=N_("Co-authors"),
            optional=True,
            min_length=2,
            max_length=500,
        ),
        evidence_field(),
    ),
)

VOLUNTEER = Form(
    name="volunteer",
    title=N_("Volunteer work"),
    review=True,
    submit=N_("✅ Submit"),
    complete=submitter("volunteer"),
    cancelled=N_("Report cancelled. Nothing was saved."),
    fields=(
        ON_BEHALF,
        Field(
            "activity",
            FieldKind.TEXT,
            N_("What was the activity?"),
            hint=N_("For example: Repairing the road to Bản Chu village."),
            label=N_("Activity"),
            min_length=5,
            max_length=200,
        ),
        Field(
            "date",
            FieldKind.DATE,
            N_("On which day?"),
            hint=N_('dd/mm/yyyy, or "hôm nay" / "hôm qua".'),
            label=N_("Date"),
        ),
        place_field(),
        Field(
            "participants",
            FieldKind.INTEGER,
            N_("How many people took part?"),
            label=N_("Participants"),
            minimum=1,
            maximum=100_000,
        ),
        Field(
            "hours",
            FieldKind.DECIMAL,
            N_("How many hours did each person give?"),
            hint=N_("From 0,5 to 24."),
            label=N_("Hours per participant"),
            minimum=0.5,
            maximum=24,
        ),
        Field(
            "beneficiaries",
            FieldKind.INTEGER,
            N_("How many people benefited?"),
            label=N_("Beneficiaries"),
            minimum=0,
            maximum=10_000_000,
        ),
        Field(
            "value",
            FieldKind.MONEY,
            N_("Its value in đồng (optional)"),
            hint=N_("For example 2 triệu or 500k."),
            label=N_("Value"),
            optional=True,
        ),
        description_field(),
        evidence_field(),
    ),
)

ECONOMIC_MODEL = Form(
    name="economic_model",
    title=N_("Economic model"),
    review=True,
    submit=N_("✅ Submit"),
    complete=submitter("economic_model"),
    cancelled=N_("Report cancelled. Nothing was saved."),
    fields=(
        ON_BEHALF,
        Field(
            "name",
            FieldKind.TEXT,
            N_("What is the model called?"),
            hint=N_("For example: Hồi (star anise) farm of Hoàng Văn Nam."),
            label=N_("Name"),
            min_length=5,
            max_length=200,
        ),
        Field(
            "sector", FieldKind.CHOICE, N_("Which sector?"), label=N_("Sector"), options=SECTORS
        ),
        Field(
            "year_started",
            FieldKind.YEAR,
            N_("In which year did it start?"),
            label=N_("Year started"),
            minimum=1990,
        ),
        Field(
            "capital",
            FieldKind.MONEY,
            N_("How much capital was invested, in đồng?"),
            hint=N_("For example 200 triệu."),
            label=N_("Capital"),
        ),
        Field(
            "revenue",
            FieldKind.MONEY,
            N_("Revenue per year, in đồng?"),
            label=N_("Yearly revenue"),
        ),
        Field(
            "profit",
            FieldKind.MONEY,
            N_("Profit per year, in đồng?"),
            hint=N_("0 if there is no profit yet."),
            label=N_("Yearly profit"),
        ),
        Field(
            "jobs",
            FieldKind.INTEGER,
            N_("How many jobs has it created?"),
            label=N_("Jobs created"),
            minimum=0,
            maximum=100_000,
        ),
        Field(
            "youth_jobs",
            FieldKind.INTEGER,
            N_("Of those, how many for young people?"),
            label=N_("Jobs for young people"),
            minimum=0,
            maximum=100_000,
            check=check_youth_jobs,
        ),
        place_field(),
        description_field(),
        evidence_field(),
    ),
)

KINDS: dict[str, EntryKind] = {
    "initiative": EntryKind(INITIATIVE, "title"),
    "volunteer": EntryKind(VOLUNTEER, "activity"),
    "economic_model": EntryKind(ECONOMIC_MODEL, "name"),
}


async def submit(ctx: Context, kind: str, answers: dict[str, Any]) -> list[Reply]:
    """Saves the entry, its files, its history and an audit row in this one transaction."""
    person = ctx.person
    if person.member_id is None or person.unit_id is None:
        return [Reply(ctx._("You have not registered yet. Type /start to begin."))]
    unit_id, collective = person.unit_id, False
    behalf = answers.get("on_behalf")
    if behalf not in (None, MYSELF):
        # Checked again now, not when the question was asked: the role may have gone since.
        if ("secretary", int(behalf)) not in person.roles:
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
        if entry is None or entry.reporter_id != person.member_id or entry.status != "rejected":
            return [Reply(ctx._("This entry can no longer be changed. Nothing was saved."))]
        await resubmit_entry(
            ctx.session,
            entry,
            unit_id=unit_id,
            collective=collective,
            title=title,
            answers=stored,
            evidence=evidence,
            actor=f"identity:{person.identity_id}",
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
            actor=f"identity:{person.identity_id}",
            tz=ctx.config.tz,
        )
        text = ctx._("✅ Saved. Entry #{id} has been sent to your secretary for review.")
    return [Reply(text.format(id=entry.id)), menu_reply(ctx)]


async def start_report(ctx: Context) -> list[Reply]:
    """The menu's "Report": choose what to report."""
    return await start_form(ctx, "report")


async def choose_kind(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Opens the chosen kind's form; a secretary is first asked for whom."""
    is_secretary = any(role == "secretary" for role, _ in ctx.person.roles)
    return await start_form(ctx, answers["kind"], {SECRETARY: is_secretary})


async def kind_options(_ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    return tuple(Option(name, kind.form.title) for name, kind in KINDS.items())


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
        router.form(kind.form)
    router.command(
        "report",
        start_report,
        N_("report an initiative, volunteer work or an economic model"),
        members_only=True,
    )
    router.menu_item(
        "report", N_("📝 Report"), start_report, visible=lambda ctx: ctx.person.registered
    )
