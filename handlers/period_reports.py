"""/periodreport: a secretary (for their units) or an admin (the province, or any unit) gets
the movement's period report, "Báo cáo sơ kết/tổng kết phong trào", as a Word file: the
figures of the period against the previous one, the charts, the exemplary entries, and the
units that reported least."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.documents import DOCX_MIME
from bot.events import Document, Reply
from bot.i18n import N_
from bot.period_reports import Period, write_period_report
from bot.router import Audience, Router, menu_reply
from bot.text import escape
from domain.forms import Invalid
from domain.vocabulary import Role
from models.entries import scope_unit_ids
from models.people import audit
from models.tables import Unit

__all__ = ["register"]

PROVINCE, OTHER_UNIT = "province", "other"
THIS_YEAR, FIRST_HALF, LAST_YEAR, MOVEMENT, TYPED = "year", "half", "last_year", "all", "typed"
MOVEMENT_STARTS = "2021-01"  # the programme 2021–2030
_MONTHS = re.compile(r"^\s*(\d{1,2})[/.-](\d{4})\s*(?:-|–|đến|den|to)\s*(\d{1,2})[/.-](\d{4})\s*$")


def _refused(ctx: Context) -> list[Reply]:
    return [Reply(ctx._("Period reports are for youth union secretaries and admins."))]


def _led(ctx: Context) -> list[int]:
    return [unit for role, unit in ctx.person.roles if role == Role.SECRETARY and unit]


async def start_period_report(ctx: Context) -> list[Reply]:
    """Asks for which units (when there is a choice) and which period."""
    if await scope_unit_ids(ctx.session, ctx.person.roles) == set():
        return _refused(ctx)
    answers: dict[str, Any] = {}
    led = _led(ctx)
    if not ctx.person.is_admin and len(led) == 1:
        answers["where"] = str(led[0])
    return await start_form(ctx, "period_report", answers)


async def where_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    if ctx.person.is_admin:
        return (
            Option(PROVINCE, N_("The whole province")),
            Option(OTHER_UNIT, N_("One unit (with the units below it)")),
        )
    options = []
    for unit_id in _led(ctx):
        unit = await ctx.session.get(Unit, unit_id)
        if unit is not None:
            options.append(Option(str(unit.id), unit.name))
    return tuple(options)


def _first_half_year(today: dt.date) -> int:
    """The year of the latest first half that has begun its review month (June)."""
    return today.year if today.month >= 6 else today.year - 1


async def period_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    year = ctx.today().year
    return (
        Option(THIS_YEAR, ctx._("The year {year}, up to this month").format(year=year)),
        Option(
            FIRST_HALF,
            ctx._("The first half of {year}").format(year=_first_half_year(ctx.today())),
        ),
        Option(LAST_YEAR, ctx._("The year {year}").format(year=year - 1)),
        Option(MOVEMENT, ctx._("Since the movement began (2021)")),
        Option(TYPED, ctx._("Other months…")),
    )


def parse_months(text: str, today: dt.date) -> Period:
    """ "01/2026 - 06/2026" as a period; Invalid when it is not one that has begun."""
    found = _MONTHS.match(text.replace("\u00a0", " "))
    if found is None:
        raise Invalid(N_("Please type the first and last month like this: 01/2026 - 06/2026"))
    first_month, first_year, last_month, last_year = (int(part) for part in found.groups())
    if not (1 <= first_month <= 12 and 1 <= last_month <= 12):
        raise Invalid(N_("A month is a number from 1 to 12."))
    period = Period(f"{first_year:04d}-{first_month:02d}", f"{last_year:04d}-{last_month:02d}")
    if period.first > period.last:
        raise Invalid(N_("The first month comes after the last one."))
    if period.first < MOVEMENT_STARTS or period.first > today.strftime("%Y-%m"):
        raise Invalid(
            N_("The period must begin between 01/2021 and this month ({month})."),
            {"month": today.strftime("%m/%Y")},
        )
    return period


async def check_months(ctx: Context, value: Any, _answers: dict[str, Any]) -> None:
    parse_months(str(value), ctx.today())


def _period(today: dt.date, answers: dict[str, Any]) -> Period:
    month = today.strftime("%Y-%m")
    choice = answers["period"]
    if choice == THIS_YEAR:
        return Period(f"{today.year}-01", month)
    if choice == FIRST_HALF:
        year = _first_half_year(today)
        return Period(f"{year}-01", f"{year}-06")
    if choice == LAST_YEAR:
        return Period(f"{today.year - 1}-01", f"{today.year - 1}-12")
    if choice == MOVEMENT:
        return Period(MOVEMENT_STARTS, month)
    return parse_months(answers["months"], today)


async def make_report(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Checks again what the person may report on, then writes the file after the
    transaction: a "preparing" message first, the file when it is ready."""
    allowed = await scope_unit_ids(ctx.session, ctx.person.roles)
    if allowed == set():
        return _refused(ctx)
    where = answers["where"]
    unit_id = None
    if where == PROVINCE:
        if allowed is not None:
            return _refused(ctx)
    else:
        unit_id = int(answers["unit"] if where == OTHER_UNIT else where)
        if allowed is not None and unit_id not in allowed:
            return [Reply(ctx._("That unit is not one of yours."))]
    period = _period(ctx.today(), answers)
    ctx.later.append(functools.partial(_produce, ctx, unit_id, allowed, period))
    return [
        Reply(
            ctx._("⏳ Preparing the report for {period}… The charts take a moment.").format(
                period=escape(period.label(ctx.t))
            )
        )
    ]


async def _produce(
    ctx: Context, unit_id: int | None, allowed: set[int] | None, period: Period
) -> list[Reply]:
    if ctx.db is None:
        raise RuntimeError("reports need the database")
    async with ctx.db.read() as session:
        unit = await session.get(Unit, unit_id) if unit_id is not None else None
        scope = None
        if unit_id is not None:
            subtree = await scope_unit_ids(session, [(Role.SECRETARY, unit_id)]) or set()
            scope = subtree if allowed is None else subtree & allowed
        content = await write_period_report(
            session,
            ctx.t,
            unit=unit,
            scope=scope,
            period=period,
            today=ctx.today(),
            ladder=ctx.config.ladder,
        )
    async with ctx.db.write() as session:
        # It names people (the exemplary entries): who took it is recorded, as for exports.
        await audit(
            session,
            ctx.person.actor,
            "report.created",
            unit_id=unit_id,
            first=period.first,
            last=period.last,
        )
    review = "tong-ket" if period.final else "so-ket"
    name = f"bao-cao-{review}-{period.first}-{period.last}.docx"
    text = ctx._(
        "📄 The report for {period}: check it, complete the assessment and the tasks ahead, "
        "then sign it."
    ).format(period=escape(period.label(ctx.t)))
    return [Reply(text, document=Document(name, content, DOCX_MIME)), menu_reply(ctx)]


PERIOD_REPORT = Form(
    name="period_report",
    interruptible=True,
    title=N_("Period report"),
    complete=make_report,
    fields=(
        Field(
            "where",
            FieldKind.CHOICE,
            N_("A period report (sơ kết, tổng kết): for which units?"),
            options_for=where_options,
        ),
        Field(
            "unit",
            FieldKind.UNIT,
            N_("Which unit?"),
            hint=N_('Type part of its name, e.g. "na sam", or "list".'),
            ask_if=lambda answers: answers.get("where") == OTHER_UNIT,
        ),
        Field(
            "period",
            FieldKind.CHOICE,
            N_("For which period?"),
            hint=N_("Figures count by the month things happened."),
            options_for=period_options,
        ),
        Field(
            "months",
            FieldKind.TEXT,
            N_("Which months? Type the first and the last one."),
            hint=N_("For example 01/2026 - 06/2026."),
            max_length=40,
            check=check_months,
            ask_if=lambda answers: answers.get("period") == TYPED,
        ),
    ),
)


def register(router: Router) -> None:
    router.form(PERIOD_REPORT)
    router.command(
        "periodreport",
        start_period_report,
        N_("the period report (sơ kết, tổng kết) of your units as a Word file"),
        audience=Audience.SECRETARIES,
    )
