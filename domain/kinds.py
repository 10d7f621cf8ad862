"""The entry kinds: what people report, as form declarations, and what each counts.

Adding a kind is one more `EntryKind` in KINDS (its fields, which answer names it and which
says when it happened, and which units report it) plus its translations and what it adds up
to (domain.figures); the reporting form, the review card, exports and statistics all follow
from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from domain.forms import Field, FieldKind, Invalid, Option
from domain.vocabulary import N_, NC_

__all__ = ["BEHALF", "KINDS", "MYSELF", "ORGANISATIONS", "EntryKind", "is_collective"]

# For whom an entry is reported: the answer "on_behalf" is MYSELF, or the id of a unit the
# reporter is secretary of (a collective entry, which counts for the unit).
BEHALF = "on_behalf"
MYSELF = "self"
MOST_HOURS = 500  # a volunteer campaign of several days, counted in hours per person


def is_collective(answers: dict[str, Any]) -> bool:
    return answers.get(BEHALF) not in (None, MYSELF)


def evidence_field() -> Field:
    return Field(
        "evidence",
        FieldKind.PHOTOS,
        N_("Please send photos or documents as evidence"),
        # {max_files} and {max_mb} come from the form and from what the chat can fetch.
        hint=N_(
            "Up to {max_files} photos or PDF files, {max_mb} MB each. You can send several "
            "at once."
        ),
        label=N_("Evidence"),
        optional=True,
        max_files=10,
    )


# The prompts and labels these kinds share are marked with the kind as their context (NC_):
# "Description" of an activity and of a model read differently in Vietnamese.
def place_field(prompt: str, label: str) -> Field:
    return Field(
        "place",
        FieldKind.LOCATION,
        prompt,
        hint=N_("Type the village, commune or address, or share a location (📎 → Location)."),
        label=label,
    )


def description_field(prompt: str, label: str) -> Field:
    return Field(
        "description",
        FieldKind.TEXT,
        prompt,
        hint=N_("From 20 to 3,000 characters."),
        label=label,
        min_length=20,
        max_length=3000,
    )


AREAS = (
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


async def check_youth_jobs(_ctx: object, value: Any, answers: dict[str, Any]) -> None:
    if value is not None and value > answers.get("jobs", 0):
        raise Invalid(
            N_("Jobs for young people cannot be more than all jobs created ({jobs})."),
            {"jobs": answers.get("jobs", 0)},
        )


INITIATIVE: tuple[Field, ...] = (
    Field(
        "title",
        FieldKind.TEXT,
        N_("What is the initiative or solution called?"),
        hint=N_("Up to 200 characters."),
        label=NC_("initiative", "Title"),
        min_length=5,
        max_length=200,
    ),
    Field(
        "field",
        FieldKind.CHOICE,
        N_("Which field is it in?"),
        label=N_("Field"),
        options=AREAS,
    ),
    Field(
        "problem",
        FieldKind.TEXT,
        N_("What problem does it solve?"),
        hint=N_("From 20 to 2,000 characters."),
        label=N_("Problem"),
        min_length=20,
        max_length=2000,
    ),
    Field(
        "solution",
        FieldKind.TEXT,
        N_("What is the solution?"),
        hint=N_("From 20 to 3,000 characters."),
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
        hint=N_("From 10 to 2,000 characters."),
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
        hint=N_("Their full names, separated by commas (up to 500 characters)."),
        label=N_("Co-authors"),
        optional=True,
        min_length=2,
        max_length=500,
    ),
    evidence_field(),
)

VOLUNTEER: tuple[Field, ...] = (
    Field(
        "activity",
        FieldKind.TEXT,
        N_("What was the activity?"),
        hint=N_("For example: Repairing the road to Bản Chu village (up to 200 characters)."),
        label=N_("Activity"),
        min_length=5,
        max_length=200,
    ),
    Field(
        "date",
        FieldKind.DATE,
        N_("On which day?"),
        hint=N_('dd/mm/yyyy, or "hôm nay" / "hôm qua".'),
        label=NC_("volunteer", "Date"),
    ),
    place_field(NC_("volunteer", "Where?"), NC_("volunteer", "Place")),
    Field(
        "organised",
        FieldKind.CHOICE,
        N_("Was it organised by your youth union branch?"),
        hint=N_("If your branch has already reported it, you can join its report."),
        label=N_("Organised by the branch"),
        options=(Option("yes", N_("Yes")), Option("no", N_("No"))),
        ask_if=lambda answers: not is_collective(answers),
    ),
    Field(
        "own_hours",
        FieldKind.DECIMAL,
        N_("How many hours did you give?"),
        hint=N_("From 0,5 to 500 hours; an activity of several days counts them all."),
        label=N_("Your hours"),
        minimum=0.5,
        maximum=MOST_HOURS,
        unusual=lambda _ctx, hours: hours > 24,
        unusual_prompt=N_("{value} hours: did it last several days?"),
        ask_if=lambda answers: not is_collective(answers),
    ),
    Field(
        "participants",
        FieldKind.INTEGER,
        N_("How many people took part?"),
        label=N_("Participants"),
        minimum=1,
        maximum=100_000,
        ask_if=is_collective,
    ),
    Field(
        "hours",
        FieldKind.DECIMAL,
        N_("How many hours did each person give?"),
        hint=N_("From 0,5 to 500 hours; an activity of several days counts them all."),
        label=N_("Hours per participant"),
        minimum=0.5,
        maximum=MOST_HOURS,
        unusual=lambda _ctx, hours: hours > 24,
        unusual_prompt=N_("{value} hours for each person: did it last several days?"),
        ask_if=is_collective,
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
        label=NC_("volunteer", "Value"),
        optional=True,
    ),
    description_field(
        NC_("volunteer", "Describe it in a few sentences"), NC_("volunteer", "Description")
    ),
    evidence_field(),
)

ECONOMIC_MODEL: tuple[Field, ...] = (
    Field(
        "name",
        FieldKind.TEXT,
        N_("What is the model called?"),
        hint=N_("For example: Hồi (star anise) farm of Hoàng Văn Nam (up to 200 characters)."),
        label=NC_("economic_model", "Name"),
        min_length=5,
        max_length=200,
    ),
    Field("sector", FieldKind.CHOICE, N_("Which sector?"), label=N_("Sector"), options=SECTORS),
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
    place_field(NC_("economic_model", "Where?"), NC_("economic_model", "Place")),
    description_field(
        NC_("economic_model", "Describe it in a few sentences"),
        NC_("economic_model", "Description"),
    ),
    evidence_field(),
)


async def check_document_number(_ctx: object, value: Any, _answers: dict[str, Any]) -> None:
    if not any(character.isdigit() for character in str(value)):
        raise Invalid(N_("A document number has digits, for example 45/KH-UBND."))


# What a department, body or commune reports of its own youth programme (the plan's criteria
# IV.1.a–b): the programme or plan it issued, where youth targets were integrated, the budget
# allocated and resources mobilised, and the models replicated.
PROGRAMME: tuple[Field, ...] = (
    Field(
        "title",
        FieldKind.TEXT,
        N_("Which programme or plan for young people did your unit issue?"),
        hint=N_(
            "Its title, for example: Kế hoạch thực hiện Chương trình phát triển thanh niên "
            "năm 2026 (up to 200 characters)."
        ),
        label=N_("Programme or plan"),
        min_length=5,
        max_length=200,
    ),
    Field(
        "document_number",
        FieldKind.TEXT,
        N_("What is its number?"),
        hint=N_("As written on the document, for example 45/KH-UBND."),
        label=N_("Number"),
        min_length=2,
        max_length=50,
        check=check_document_number,
    ),
    Field(
        "issued_on",
        FieldKind.DATE,
        N_("On which day was it issued?"),
        hint=N_("dd/mm/yyyy, for example 15/01/2026."),
        label=N_("Day issued"),
    ),
    Field(
        "integrated_into",
        FieldKind.TEXT,
        N_("Into which plan were youth development targets integrated? (optional)"),
        hint=N_(
            "For example: Kế hoạch phát triển kinh tế - xã hội 5 năm 2026–2030 của xã "
            "(up to 500 characters)."
        ),
        label=N_("Youth targets integrated into"),
        optional=True,
        min_length=5,
        max_length=500,
    ),
    Field(
        "budget",
        FieldKind.MONEY,
        N_("How much budget was allocated to it, in đồng?"),
        hint=N_("For example 150 triệu; 0 if none."),
        label=N_("Budget allocated"),
    ),
    Field(
        "mobilised",
        FieldKind.MONEY,
        N_("How much was mobilised from other lawful sources, in đồng? (optional)"),
        hint=N_("Sponsors, enterprises, people's contributions; for example 30 triệu."),
        label=N_("Resources mobilised"),
        optional=True,
    ),
    Field(
        "models_replicated",
        FieldKind.INTEGER,
        N_("How many models of young people were replicated?"),
        hint=N_("Economic models, initiatives or good practices spread elsewhere; 0 if none."),
        label=N_("Models replicated"),
        minimum=0,
        maximum=10_000,
    ),
    description_field(
        NC_("youth_programme", "Describe it in a few sentences"),
        NC_("youth_programme", "Description"),
    ),
    evidence_field(),
)

# The unit kinds that report their programmes: provincial departments and bodies (the Front,
# the youth union and associations), enterprises, and communes and wards.
ORGANISATIONS = frozenset(
    {"department", "front", "youth_union", "association", "enterprise", "commune", "ward"}
)


@dataclass(frozen=True)
class EntryKind:
    name: str
    title: str  # msgid
    fields: tuple[Field, ...]
    headline: str  # the answer that names the entry in lists
    # The answer that says when it happened (a DATE field); None: the day it was reported.
    happened: str | None = None
    # Only secretaries of units of these kinds report it, always on behalf of such a unit;
    # empty: everyone, for themselves or (secretaries) for their unit.
    unit_kinds: frozenset[str] = frozenset()

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def happened_on(self, answers: dict[str, Any]) -> dt.date | None:
        """When it happened, by its answers; None when that is the day it is reported."""
        day = answers.get(self.happened) if self.happened else None
        return dt.date.fromisoformat(day) if isinstance(day, str) else None


KINDS: dict[str, EntryKind] = {
    kind.name: kind
    for kind in (
        EntryKind(
            "initiative",
            N_("Initiative"),
            INITIATIVE,
            headline="title",
            happened="applied_on",
        ),
        EntryKind(
            "volunteer",
            N_("Volunteer work"),
            VOLUNTEER,
            headline="activity",
            happened="date",
        ),
        EntryKind("economic_model", N_("Economic model"), ECONOMIC_MODEL, headline="name"),
        EntryKind(
            "programme",
            N_("Youth programme or plan"),
            PROGRAMME,
            headline="title",
            happened="issued_on",
            unit_kinds=ORGANISATIONS,
        ),
    )
}
