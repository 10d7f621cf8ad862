"""The period report "Báo cáo sơ kết/tổng kết phong trào" of a unit (with every unit below
it) or of the province, for a period of whole months: its figures against the previous period
of the same length, the charts, the exemplary entries, nominations and awards, and the units
that reported least. Shared by /periodreport and `python -m bot reports period`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents import (
    Achievement,
    AwardLine,
    ChartImage,
    FigureRow,
    Letterhead,
    NominationRow,
    PeriodReport,
    QuietUnit,
    achievement_of,
    period_report_docx,
)
from bot.i18n import Translator
from bot.nomination_files import award_lines, period_nominations
from bot.statistics import months_between, period_charts, ranking_groups
from domain.awards import Ladder
from domain.figures import Figures
from domain.kinds import KINDS
from domain.units import union_name
from domain.vocabulary import OPEN
from models.reports import exemplary_entries, members_by_unit, reported_by_unit
from models.stats import COUNTED, totals
from models.tables import Unit
from models.units import DEFAULT_CAMPAIGN_TITLE, place_name, province

__all__ = ["EXEMPLARY_PER_KIND", "QUIET_UNITS", "Period", "write_period_report"]

EXEMPLARY_PER_KIND = 3
QUIET_UNITS = 10


@dataclass(frozen=True)
class Period:
    """Whole months, from first to last ("2026-01" to "2026-06"): the figures are kept by the
    month things happened."""

    first: str
    last: str

    @classmethod
    def of_days(cls, first: dt.date, last: dt.date) -> Period:
        """The months that hold the days."""
        return cls(first.strftime("%Y-%m"), last.strftime("%Y-%m"))

    @property
    def months(self) -> list[str]:
        return months_between(self.first, self.last)

    def previous(self) -> Period:
        """The period of as many months just before this one."""
        count = len(self.months)
        year, month = int(self.first[:4]), int(self.first[5:7])
        index = year * 12 + month - 1
        start, end = index - count, index - 1
        return Period(
            f"{start // 12:04d}-{start % 12 + 1:02d}", f"{end // 12:04d}-{end % 12 + 1:02d}"
        )

    @property
    def first_day(self) -> dt.date:
        return dt.date(int(self.first[:4]), int(self.first[5:7]), 1)

    @property
    def last_day(self) -> dt.date:
        year, month = int(self.last[:4]), int(self.last[5:7])
        after = dt.date(year + month // 12, month % 12 + 1, 1)
        return after - dt.timedelta(days=1)

    @property
    def final(self) -> bool:
        """Whole years: a tổng kết (final review); anything shorter is a sơ kết."""
        return self.first[5:] == "01" and self.last[5:] == "12"

    def label(self, t: Translator) -> str:
        """ "năm 2026", "tháng 06/2026", "tháng 01/2026 – tháng 06/2026"."""
        if self.final:
            first, last = self.first[:4], self.last[:4]
            if first == last:
                return t.gettext("the year {year}").format(year=first)
            return t.gettext("the years {first} – {last}").format(first=first, last=last)
        month = t.gettext("month {month}")
        first = month.format(month=f"{self.first[5:]}/{self.first[:4]}")
        if self.first == self.last:
            return first
        return f"{first} – " + month.format(month=f"{self.last[5:]}/{self.last[:4]}")


async def write_period_report(
    session: AsyncSession,
    t: Translator,
    *,
    unit: Unit | None,
    scope: set[int] | None,
    period: Period,
    today: dt.date,
    ladder: Ladder,
) -> bytes:
    """The report of the unit's units in scope (the province when unit is None) as DOCX;
    its nominations and awards are those of the award ladder."""
    root = unit or await province(session)
    name = unit.name if unit else t.gettext("the whole province")
    parent = await session.get(Unit, root.parent_id) if root and root.parent_id else None
    issuer = union_name(root.name, root.kind) if root else name
    superior = union_name(parent.name, parent.kind) if parent else None
    previous = period.previous()
    now, before = (
        await totals(session, scope, period.first, period.last),
        await totals(session, scope, previous.first, previous.last),
    )
    charts = await period_charts(session, t, scope, name, first=period.first, last=period.last)
    quiet, idle = await _quiet_units(session, scope, period, root.id if root else None)
    report = PeriodReport(
        letterhead=Letterhead(
            issuer=issuer,
            superior=superior,
            place=await place_name(session),
            day=today,
            union=True,
        ),
        final=period.final,
        movement=DEFAULT_CAMPAIGN_TITLE,
        scope=name,
        period=period.label(t),
        previous=previous.label(t),
        rows=_figure_rows(t, now, before),
        waiting=sum(f.entries for (_, status), f in now.items() if status in OPEN),
        charts=tuple(
            ChartImage(t.gettext("Figure {n}. {title}").format(n=n, title=chart.title), chart.png)
            for n, chart in enumerate(charts, start=1)
        ),
        exemplary=await _exemplary(session, t, scope, period),
        criteria=t.gettext(
            "Chosen among the approved entries of the period: volunteer work by the hours "
            "given (then the people who benefited), initiatives by how widely they are "
            "applied (then their estimated value), economic models by the jobs created (then "
            "their revenue); at most {n} of each kind."
        ).format(n=EXEMPLARY_PER_KIND),
        quiet_units=quiet,
        idle_units=idle,
        nominations=await _nominations(session, t, ladder, scope, period),
        awards=await _awards(session, t, ladder, scope, period),
        recipients=(superior,) if superior else (),
    )
    return period_report_docx(t, report)


def _approved(found: dict[tuple[str, str], Figures]) -> tuple[dict[str, int], Figures]:
    """Approved entries by kind, and what they add up to."""
    by_kind: dict[str, int] = {}
    total = Figures(entries=0)
    for (kind, status), figures in found.items():
        if status in COUNTED:
            by_kind[kind] = by_kind.get(kind, 0) + figures.entries
            total.add(figures)
    return by_kind, total


def _figure_rows(
    t: Translator, now: dict[tuple[str, str], Figures], before: dict[tuple[str, str], Figures]
) -> tuple[FigureRow, ...]:
    (kinds_now, total_now), (kinds_before, total_before) = _approved(now), _approved(before)
    rows = [
        FigureRow(
            t.gettext("{kind}: approved entries").format(kind=t.gettext(kind.title)),
            kinds_now.get(key, 0),
            kinds_before.get(key, 0),
        )
        for key, kind in KINDS.items()
    ]
    for label, name in (
        (t.gettext("Volunteer hours"), "volunteer_hours"),
        (t.gettext("Participants"), "participants"),
        (t.gettext("People who benefited"), "beneficiaries"),
        (t.gettext("Jobs created"), "jobs"),
    ):
        rows.append(FigureRow(label, getattr(total_now, name), getattr(total_before, name)))
    rows.append(
        FigureRow(
            t.gettext("Yearly revenue of economic models"),
            total_now.revenue,
            total_before.revenue,
            money=True,
        )
    )
    # What departments, bodies and communes report of their youth programmes.
    for label, name, money in (
        (t.gettext("Budget allocated to youth programmes"), "budget", True),
        (t.gettext("Resources mobilised for youth programmes"), "mobilised", True),
        (t.gettext("Models of young people replicated"), "models_replicated", False),
    ):
        current, earlier = getattr(total_now, name), getattr(total_before, name)
        if current or earlier:
            rows.append(FigureRow(label, current, earlier, money=money))
    return tuple(rows)


async def _exemplary(
    session: AsyncSession, t: Translator, scope: set[int] | None, period: Period
) -> tuple[Achievement, ...]:
    found = await exemplary_entries(
        session, scope, period.first_day, period.last_day, per_kind=EXEMPLARY_PER_KIND
    )
    return tuple(
        achievement_of(
            t,
            kind=item.entry.kind,
            title=item.entry.title,
            answers=item.entry.answers,
            collective=item.entry.collective,
            happened_on=item.entry.happened_on,
            by=f"{item.reporter}, {item.unit_name}" if item.reporter else item.unit_name,
        )
        for item in found
    )


async def _quiet_units(
    session: AsyncSession, scope: set[int] | None, period: Period, root: int | None
) -> tuple[tuple[QuietUnit, ...], tuple[str, ...]]:
    """The units right below the report's unit (a branch counts for its commune) with the
    fewest entries sent in the period, and the names of those with neither a member nor an
    entry (listed apart: they have not begun)."""
    groups = await ranking_groups(session, scope)
    reported = await reported_by_unit(session, scope, period.first, period.last)
    members = await members_by_unit(session, scope)
    counts = {group: [0, 0, 0] for group in set(groups.values()) - {root}}
    for unit, group in groups.items():
        if group in counts:
            sent, approved = reported.get(unit, (0, 0))
            counts[group][0] += members.get(unit, 0)
            counts[group][1] += sent
            counts[group][2] += approved
    names = dict(
        (await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(counts)))).all()
    )
    ranked = sorted(
        (QuietUnit(names[group], *values) for group, values in counts.items() if any(values)),
        key=lambda unit: (unit.reported, unit.approved, -unit.members, unit.name),
    )
    idle = sorted(names[group] for group, values in counts.items() if not any(values))
    return tuple(ranked[:QUIET_UNITS]), tuple(idle)


async def _nominations(
    session: AsyncSession, t: Translator, ladder: Ladder, scope: set[int] | None, period: Period
) -> tuple[NominationRow, ...]:
    """The nominations the units in scope sent during the period, and where each is now."""
    return await period_nominations(
        session, t, ladder, scope, first=period.first_day, last=period.last_day
    )


async def _awards(
    session: AsyncSession, t: Translator, ladder: Ladder, scope: set[int] | None, period: Period
) -> tuple[AwardLine, ...]:
    """The awards decided during the period for nominations of the units in scope."""
    return await award_lines(
        session, t, ladder, scope, first=period.first_day, last=period.last_day
    )
