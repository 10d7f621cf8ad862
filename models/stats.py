"""Statistics: running totals kept with every change of an entry, and the queries over them.

An entry counts in one row of `stat_totals` (its unit, the month it happened, kind and
status) with what it adds up to (domain.figures). Every change of status or answers moves it
between rows in the same transaction, so the figures are always those of the entries, and a
query adds up a few hundred rows. Headline figures read the approved rows; waiting entries
are counted apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.figures import NAMES, Figures, figures_of
from domain.vocabulary import Status
from models.tables import Entry, Member, ReporterMonth, StatTotal, Unit, UnitMonth

__all__ = [
    "COUNTED",
    "count_member",
    "forget_reporter",
    "leaderboard",
    "month_of",
    "monthly_entries",
    "refile_reporter",
    "silent_members",
    "silent_units",
    "tally",
    "totals",
]

# The statuses headline figures count: approved only. Waiting entries (OPEN) are shown apart.
COUNTED = (Status.APPROVED,)


def month_of(at: dt.datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m")


async def tally(
    session: AsyncSession,
    entry: Entry,
    tz: ZoneInfo,
    *,
    sign: int = 1,
    status: str | None = None,
) -> None:
    """Adds the entry as it is now to the totals (in the month it happened); sign -1 takes it
    away (before a change, or with the `status` it had). Its reporter has reported in the
    month it was sent."""
    values = figures_of(entry.kind, entry.answers, collective=entry.collective).scaled(sign)
    key = {
        "unit_id": entry.unit_id,
        "month": entry.happened_on.strftime("%Y-%m"),
        "kind": entry.kind,
        "status": status or entry.status,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(StatTotal).values(**key, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: getattr(StatTotal, name) + statement.excluded[name] for name in values},
        )
    )
    if sign > 0:
        sent = month_of(entry.submitted_at, tz)
        unit = dialect.insert(UnitMonth).values(unit_id=entry.unit_id, month=sent)
        await session.execute(unit.on_conflict_do_nothing())
        if entry.reporter_id is not None:
            unit_now = select(Member.unit_id).where(Member.id == entry.reporter_id)
            reported = dialect.insert(ReporterMonth).values(
                member_id=entry.reporter_id, month=sent, unit_id=unit_now.scalar_subquery()
            )
            await session.execute(reported.on_conflict_do_nothing())


async def forget_reporter(session: AsyncSession, member_id: int) -> None:
    await session.execute(delete(ReporterMonth).where(ReporterMonth.member_id == member_id))


async def count_member(session: AsyncSession, unit_id: int | None, by: int) -> None:
    """Keeps units.members: +1 when a member comes into the unit (registered, moved in), -1
    when one leaves it (moved out, merged into another registration, erased). The unit is the
    one the changed row of members had (DELETE … RETURNING, a locked read), so that two
    changes of one member at once count where each actually happened."""
    if unit_id is None:  # the member was gone already: nothing left the unit
        return
    await session.execute(
        update(Unit)
        .where(Unit.id == unit_id)
        .values(members=Unit.members + by)
        .execution_options(synchronize_session=False)
    )


async def refile_reporter(session: AsyncSession, member_id: int) -> None:
    """Files the months the member reported in under the unit they are in now (after a move,
    or a merge of two registrations): their unit's "who has not reported" counts them."""
    unit_now = select(Member.unit_id).where(Member.id == member_id).scalar_subquery()
    await session.execute(
        update(ReporterMonth).where(ReporterMonth.member_id == member_id).values(unit_id=unit_now)
    )


def _scoped(scope: Iterable[int] | None) -> ColumnElement[bool]:
    return true() if scope is None else StatTotal.unit_id.in_(list(scope))


def _months(first: str | None, last: str | None) -> list[ColumnElement[bool]]:
    conditions = []
    if first is not None:
        conditions.append(StatTotal.month >= first)
    if last is not None:
        conditions.append(StatTotal.month <= last)
    return conditions


async def totals(
    session: AsyncSession,
    scope: Iterable[int] | None,
    first: str | None = None,
    last: str | None = None,
) -> dict[tuple[str, str], Figures]:
    """Figures per (kind, status) in the units (all: None) and months, both included."""
    rows = await session.execute(
        select(
            StatTotal.kind,
            StatTotal.status,
            *(func.sum(getattr(StatTotal, name)) for name in NAMES),
        )
        .where(_scoped(scope), *_months(first, last))
        .group_by(StatTotal.kind, StatTotal.status)
    )
    result = {}
    for kind, status, *sums in rows.all():
        figures = Figures.of_sums(sums)
        if figures.entries:
            result[(kind, status)] = figures
    return result


async def monthly_entries(
    session: AsyncSession, scope: Iterable[int] | None, first: str, last: str
) -> dict[tuple[str, str], int]:
    """Entries that count, per (month, kind)."""
    rows = await session.execute(
        select(StatTotal.month, StatTotal.kind, func.sum(StatTotal.entries))
        .where(_scoped(scope), StatTotal.status.in_(COUNTED), *_months(first, last))
        .group_by(StatTotal.month, StatTotal.kind)
    )
    return {(month, kind): int(count) for month, kind, count in rows.all() if count}


async def leaderboard(
    session: AsyncSession,
    groups: Mapping[int, int],
    first: str | None = None,
    last: str | None = None,
) -> list[tuple[int, int]]:
    """(group unit, approved entries), most first; `groups` maps each unit in scope to the
    unit it is ranked as (a branch counts for its commune)."""
    rows = await session.execute(
        select(StatTotal.unit_id, func.sum(StatTotal.entries))
        .where(_scoped(groups), StatTotal.status == Status.APPROVED, *_months(first, last))
        .group_by(StatTotal.unit_id)
    )
    ranked: dict[int, int] = {}
    for unit_id, count in rows.all():
        group = groups[unit_id]
        ranked[group] = ranked.get(group, 0) + int(count)
    return sorted(ranked.items(), key=lambda item: (-item[1], item[0]))


async def silent_units(
    session: AsyncSession, scope: Iterable[int], first: str, last: str
) -> list[Unit]:
    """Units in scope with members but no entry sent in the months."""
    units = list(scope)
    active = select(UnitMonth.unit_id).where(
        UnitMonth.unit_id.in_(units), UnitMonth.month >= first, UnitMonth.month <= last
    )
    # One index probe per unit; IN (SELECT unit_id FROM members) would read every member.
    with_members = select(Member.id).where(Member.unit_id == Unit.id).exists()
    statement = (
        select(Unit)
        .where(Unit.id.in_(units), with_members, Unit.id.not_in(active))
        .order_by(Unit.search_name)
    )
    return list((await session.scalars(statement)).all())


async def silent_members(
    session: AsyncSession, scope: Iterable[int] | None, month: str, *, sample: int = 20
) -> tuple[int, list[tuple[str, str]]]:
    """How many members in scope submitted nothing this month, and the first few of them
    (name, unit name), unit by unit in the order of the units' names."""
    units = None if scope is None else list(scope)
    members = select(func.coalesce(func.sum(Unit.members), 0))
    reporters = select(func.count()).select_from(ReporterMonth).where(ReporterMonth.month == month)
    if units is not None:
        members = members.where(Unit.id.in_(units))
        reporters = reporters.where(ReporterMonth.unit_id.in_(units))
    # The units' members minus this month's reporters among them (each one row, filed under
    # the unit the member is in, counted from an index), not a look-up per member: a
    # province has hundreds of thousands.
    count = int(await session.scalar(members) or 0) - int(await session.scalar(reporters) or 0)
    if count == 0:
        return 0, []
    in_order = select(Unit.id, Unit.name).order_by(Unit.search_name, Unit.id)
    if units is not None:
        in_order = in_order.where(Unit.id.in_(units))
    reported = select(ReporterMonth.member_id).where(
        ReporterMonth.month == month, ReporterMonth.member_id == Member.id
    )
    names: list[tuple[str, str]] = []
    # Unit by unit, each read in name order from an index, until the sample is full: sorting
    # every silent member of the province to keep twenty would read them all.
    for unit_id, unit_name in (await session.execute(in_order)).all():
        found = await session.scalars(
            select(Member.full_name)
            .where(Member.unit_id == unit_id, ~reported.exists())
            .order_by(Member.full_name)
            .limit(sample - len(names))
        )
        names += [(name, unit_name) for name in found.all()]
        if len(names) >= sample:
            break
    return count, names
