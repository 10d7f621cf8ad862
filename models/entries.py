"""Entries: saving a report with its evidence and history, and reading one's own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import OPEN, Role, Status
from models.people import audit
from models.stats import tally
from models.tables import Campaign, Entry, EntryFile, EntryRevision, Unit, utcnow

__all__ = [
    "EvidenceRef",
    "count_own_entries",
    "current_campaign",
    "decide",
    "entry_files",
    "next_to_review",
    "own_entries",
    "resubmit_entry",
    "save_entry",
    "scope_unit_ids",
    "waiting_by_unit",
    "waiting_count",
    "withdraw_entry",
]


@dataclass(frozen=True)
class EvidenceRef:
    sha256: str
    path: str
    mime: str
    size: int
    original_name: str | None


async def current_campaign(session: AsyncSession, today: dt.date, kind: str) -> Campaign:
    """The campaign a new entry of this kind attaches to: the newest open one running today
    that counts the kind, else the movement-wide one."""
    running = (
        await session.scalars(
            select(Campaign)
            .where(
                Campaign.closed_at.is_(None),
                Campaign.is_default.is_(False),
                Campaign.starts_on <= today,
                (Campaign.ends_on.is_(None)) | (Campaign.ends_on >= today),
            )
            .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
        )
    ).all()
    for campaign in running:
        if campaign.kinds is None or kind in campaign.kinds:
            return campaign
    return (await session.scalars(select(Campaign).where(Campaign.is_default))).one()


async def save_entry(
    session: AsyncSession,
    *,
    kind: str,
    reporter_id: int,
    unit_id: int,
    campaign_id: int,
    collective: bool,
    title: str,
    answers: dict[str, Any],
    evidence: Sequence[EvidenceRef],
    actor: str,
    tz: ZoneInfo,
) -> Entry:
    """A new submitted entry with its files, its first revision and an audit row."""
    entry = Entry(
        kind=kind,
        status=Status.SUBMITTED,
        reporter_id=reporter_id,
        unit_id=unit_id,
        campaign_id=campaign_id,
        collective=collective,
        title=title,
        answers=answers,
        version=1,
    )
    session.add(entry)
    await session.flush()
    await tally(session, entry, tz)
    _attach(session, entry, evidence)
    session.add(
        EntryRevision(entry_id=entry.id, version=1, status=Status.SUBMITTED, answers=answers)
    )
    await audit(session, actor, "entry.submitted", entry_id=entry.id, kind=kind)
    return entry


async def resubmit_entry(
    session: AsyncSession,
    entry: Entry,
    *,
    unit_id: int,
    collective: bool,
    title: str,
    answers: dict[str, Any],
    evidence: Sequence[EvidenceRef],
    actor: str,
    tz: ZoneInfo,
) -> None:
    """A fixed rejected entry goes back for review; the rejected version stays in history."""
    await tally(session, entry, tz, sign=-1)
    entry.unit_id, entry.collective = unit_id, collective
    entry.version += 1
    entry.status = Status.RESUBMITTED
    entry.title = title
    entry.answers = answers
    entry.updated_at = utcnow()
    entry.decided_at = entry.decided_by = None
    await tally(session, entry, tz)
    for old in await entry_files(session, entry.id):
        await session.delete(old)
    await session.flush()
    _attach(session, entry, evidence)
    session.add(
        EntryRevision(
            entry_id=entry.id, version=entry.version, status=Status.RESUBMITTED, answers=answers
        )
    )
    await audit(session, actor, "entry.resubmitted", entry_id=entry.id, version=entry.version)


def _attach(session: AsyncSession, entry: Entry, evidence: Sequence[EvidenceRef]) -> None:
    seen: set[str] = set()
    for position, ref in enumerate(evidence):
        if ref.sha256 in seen:
            continue  # the same photo sent twice is one piece of evidence
        seen.add(ref.sha256)
        session.add(
            EntryFile(
                entry_id=entry.id,
                sha256=ref.sha256,
                path=ref.path,
                mime=ref.mime,
                size=ref.size,
                original_name=ref.original_name,
                position=position,
            )
        )


async def withdraw_entry(session: AsyncSession, entry: Entry, *, actor: str, tz: ZoneInfo) -> None:
    await tally(session, entry, tz, sign=-1)
    entry.status = Status.WITHDRAWN
    entry.updated_at = utcnow()
    await tally(session, entry, tz)
    session.add(
        EntryRevision(
            entry_id=entry.id,
            version=entry.version,
            status=Status.WITHDRAWN,
            answers=entry.answers,
        )
    )
    await audit(session, actor, "entry.withdrawn", entry_id=entry.id)


async def own_entries(
    session: AsyncSession, reporter_id: int, *, offset: int, limit: int
) -> list[Entry]:
    """The reporter's entries, newest first."""
    statement = (
        select(Entry)
        .where(Entry.reporter_id == reporter_id)
        .order_by(Entry.submitted_at.desc(), Entry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


async def count_own_entries(session: AsyncSession, reporter_id: int) -> int:
    statement = select(func.count()).select_from(Entry).where(Entry.reporter_id == reporter_id)
    return await session.scalar(statement) or 0


async def entry_files(session: AsyncSession, entry_id: int) -> list[EntryFile]:
    statement = (
        select(EntryFile).where(EntryFile.entry_id == entry_id).order_by(EntryFile.position)
    )
    return list((await session.scalars(statement)).all())


async def scope_unit_ids(
    session: AsyncSession, roles: Sequence[tuple[str, int | None]]
) -> set[int] | None:
    """The units a person reviews: for a secretary their units and every unit below them;
    None for an admin (everything); empty for a member."""
    if any(role == Role.ADMIN for role, _ in roles):
        return None
    roots = {unit_id for role, unit_id in roles if role == Role.SECRETARY and unit_id is not None}
    if not roots:
        return set()
    children: dict[int, list[int]] = {}
    for unit_id, parent_id in (await session.execute(select(Unit.id, Unit.parent_id))).all():
        if parent_id is not None:
            children.setdefault(parent_id, []).append(unit_id)
    scope, stack = set(), list(roots)
    while stack:
        unit_id = stack.pop()
        if unit_id not in scope:
            scope.add(unit_id)
            stack.extend(children.get(unit_id, ()))
    return scope


def _in_scope(scope: set[int] | None) -> Any:
    return true() if scope is None else Entry.unit_id.in_(scope)


async def waiting_count(session: AsyncSession, scope: set[int] | None) -> int:
    statement = select(func.count()).select_from(Entry).where(Entry.status.in_(OPEN))
    return await session.scalar(statement.where(_in_scope(scope))) or 0


async def waiting_by_unit(session: AsyncSession, scope: set[int] | None) -> list[tuple[str, int]]:
    """(unit name, entries waiting) for each unit in scope with any, most first."""
    rows = await session.execute(
        select(Unit.name, func.count(Entry.id))
        .join(Entry, Entry.unit_id == Unit.id)
        .where(Entry.status.in_(OPEN), _in_scope(scope))
        .group_by(Unit.name)
        .order_by(func.count(Entry.id).desc(), Unit.name)
    )
    return [(name, count) for name, count in rows.all()]


async def next_to_review(
    session: AsyncSession, scope: set[int] | None, *, skipped: Sequence[int]
) -> Entry | None:
    """The oldest entry waiting in scope, leaving out the ones skipped in this session."""
    statement = (
        select(Entry)
        .where(Entry.status.in_(OPEN), _in_scope(scope), Entry.id.not_in(skipped))
        .order_by(Entry.updated_at, Entry.id)
        .limit(1)
    )
    return await session.scalar(statement)


async def decide(
    session: AsyncSession,
    entry_id: int,
    scope: set[int] | None,
    *,
    approve: bool,
    reason: str | None,
    actor: str,
    tz: ZoneInfo,
) -> bool:
    """Approves or rejects if the entry is still waiting and in scope; False when someone
    else decided first (the conditional update makes the first decision win)."""
    status = Status.APPROVED if approve else Status.REJECTED
    before = await session.scalar(select(Entry.status).where(Entry.id == entry_id))
    if before not in OPEN:
        return False
    result = await session.execute(
        update(Entry)
        .where(Entry.id == entry_id, Entry.status == before, _in_scope(scope))
        .values(
            status=status,
            decided_at=utcnow(),
            decided_by=actor,
            reject_reason=None if approve else reason,
            updated_at=utcnow(),
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    entry = await session.get_one(Entry, entry_id, populate_existing=True)
    await tally(session, entry, tz, sign=-1, status=before)
    await tally(session, entry, tz)
    session.add(
        EntryRevision(
            entry_id=entry.id,
            version=entry.version,
            status=status,
            answers=entry.answers,
            note=reason,
        )
    )
    await audit(session, actor, f"entry.{status}", entry_id=entry.id)
    return True
