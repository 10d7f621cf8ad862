"""What a period report reads beyond the statistics totals: the entries that stand out, and
how much each unit reported."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import Status
from models.tables import Entry, Member, StatTotal, Unit

__all__ = ["Standout", "exemplary_entries", "members_by_unit", "reported_by_unit"]


@dataclass(frozen=True)
class Standout:
    entry: Entry
    unit_name: str
    reporter: str | None  # None: a collective entry (the unit's), or a reporter since erased


def _number(name: str) -> ColumnElement[float]:
    return func.coalesce(Entry.answers[name].as_float(), 0)


# How entries of each kind are ranked: the measures, largest first.
_RANKED: dict[str, tuple[ColumnElement[float], ...]] = {
    # The hours given: an activity's participants times hours each, or one person's own.
    "volunteer": (
        case(
            (Entry.collective, _number("participants") * _number("hours")),
            else_=func.coalesce(Entry.answers["own_hours"].as_float(), _number("hours")),
        ),
        _number("beneficiaries"),
    ),
    # How widely it is applied, then its estimated value.
    "initiative": (
        case(
            (Entry.answers["scope"].as_string() == "province", 3),
            (Entry.answers["scope"].as_string() == "commune", 2),
            else_=1,
        ),
        _number("value"),
    ),
    "economic_model": (_number("jobs"), _number("revenue")),
}


async def exemplary_entries(
    session: AsyncSession,
    scope: Iterable[int] | None,
    first: dt.date,
    last: dt.date,
    *,
    per_kind: int,
) -> list[Standout]:
    """The approved entries of each kind that happened between the days that stand out most
    by the kind's measures (see _RANKED), at most `per_kind` of each."""
    units = true() if scope is None else Entry.unit_id.in_(list(scope))
    found: list[Standout] = []
    for kind, measures in _RANKED.items():
        rows = await session.execute(
            select(Entry, Unit.name, Member.full_name)
            .join(Unit, Unit.id == Entry.unit_id)
            .outerjoin(Member, Member.id == Entry.reporter_id)
            .where(
                units,
                Entry.kind == kind,
                Entry.status == Status.APPROVED,
                Entry.happened_on.between(first, last),
            )
            .order_by(*(measure.desc() for measure in measures), Entry.id)
            .limit(per_kind)
        )
        found += [
            Standout(entry, unit_name, None if entry.collective else reporter)
            for entry, unit_name, reporter in rows.all()
        ]
    return found


async def reported_by_unit(
    session: AsyncSession, scope: Iterable[int] | None, first: str, last: str
) -> dict[int, tuple[int, int]]:
    """For each unit with entries that happened in the months: (entries sent, not counting
    those withdrawn; of them approved)."""
    units = true() if scope is None else StatTotal.unit_id.in_(list(scope))
    rows = await session.execute(
        select(StatTotal.unit_id, StatTotal.status, func.sum(StatTotal.entries))
        .where(units, StatTotal.month >= first, StatTotal.month <= last)
        .group_by(StatTotal.unit_id, StatTotal.status)
    )
    found: dict[int, tuple[int, int]] = {}
    for unit_id, status, count in rows.all():
        if status == Status.WITHDRAWN or not count:
            continue
        sent, approved = found.get(unit_id, (0, 0))
        found[unit_id] = (sent + int(count), approved + int(count) * (status == Status.APPROVED))
    return found


async def members_by_unit(session: AsyncSession, scope: Iterable[int] | None) -> dict[int, int]:
    """How many members each unit with members has."""
    units = true() if scope is None else Member.unit_id.in_(list(scope))
    rows = await session.execute(
        select(Member.unit_id, func.count()).where(units).group_by(Member.unit_id)
    )
    return {unit_id: int(count) for unit_id, count in rows.all()}
