"""Entries: saving a report with its evidence and history, and reading one's own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.text import fold
from domain.vocabulary import OPEN, Role, Status
from models.people import audit, member_roles
from models.stats import tally
from models.tables import (
    Campaign,
    Entry,
    EntryFile,
    EntryParticipant,
    EntryRevision,
    Identity,
    RoleGrant,
    Unit,
    UnitChange,
    utcnow,
)
from models.units import unit_path

__all__ = [
    "EvidenceRef",
    "Reviewer",
    "count_own_entries",
    "current_campaign",
    "decidable",
    "decide",
    "entry_files",
    "join_entry",
    "last_sent",
    "likely_duplicates",
    "movement_campaign",
    "next_to_review",
    "open_campaigns",
    "others_can_review",
    "own_entries",
    "review_unit_for",
    "reviewer",
    "reviewing_unit",
    "revise_entry",
    "save_entry",
    "scope_unit_ids",
    "waiting_by_unit",
    "waiting_count",
    "waiting_since",
    "withdraw_entry",
]


@dataclass(frozen=True)
class EvidenceRef:
    sha256: str
    path: str
    mime: str
    size: int
    original_name: str | None


async def open_campaigns(session: AsyncSession, day: dt.date, kind: str) -> list[Campaign]:
    """Open campaigns (not the movement-wide one) that count this kind and whose dates hold
    the day, newest first."""
    found = await session.scalars(
        select(Campaign)
        .where(
            Campaign.closed_at.is_(None),
            Campaign.is_default.is_(False),
            Campaign.starts_on <= day,
            (Campaign.ends_on.is_(None)) | (Campaign.ends_on >= day),
        )
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    )
    return [c for c in found.all() if c.kinds is None or kind in c.kinds]


async def movement_campaign(session: AsyncSession) -> Campaign:
    """The movement-wide campaign: what counts for no campaign in particular."""
    return (await session.scalars(select(Campaign).where(Campaign.is_default))).one()


async def current_campaign(session: AsyncSession, day: dt.date, kind: str) -> Campaign:
    """The campaign an entry of this kind that happened on this day counts for: the newest
    open one whose dates hold the day, else the movement-wide one."""
    matching = await open_campaigns(session, day, kind)
    return matching[0] if matching else await movement_campaign(session)


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
    happened_on: dt.date,
    evidence: Sequence[EvidenceRef],
    actor: str,
    tz: ZoneInfo,
) -> Entry:
    """A new submitted entry with its files, its first revision and an audit row; it waits
    for the reviewers of its unit, or of a unit above when it is a secretary's own work."""
    entry = Entry(
        kind=kind,
        status=Status.SUBMITTED,
        reporter_id=reporter_id,
        unit_id=unit_id,
        campaign_id=campaign_id,
        collective=collective,
        happened_on=happened_on,
        review_unit_id=await review_unit_for(
            session, unit_id, reporter_id=reporter_id, collective=collective
        ),
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


async def revise_entry(
    session: AsyncSession,
    entry: Entry,
    *,
    unit_id: int,
    collective: bool,
    title: str,
    answers: dict[str, Any],
    happened_on: dt.date,
    evidence: Sequence[EvidenceRef],
    actor: str,
    tz: ZoneInfo,
) -> None:
    """A new revision of a waiting or returned entry goes (back) for review; the earlier
    ones stay in its history, and a decision taken on an earlier one changes nothing."""
    await tally(session, entry, tz, sign=-1)
    entry.unit_id, entry.collective = unit_id, collective
    if entry.reporter_id is not None:
        entry.review_unit_id = await review_unit_for(
            session, unit_id, reporter_id=entry.reporter_id, collective=collective
        )
    entry.version += 1
    entry.status = Status.RESUBMITTED
    entry.title = title
    entry.answers = answers
    entry.happened_on = happened_on
    entry.updated_at = utcnow()
    entry.decided_at = entry.decided_by = None
    entry.reject_reason = None
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


async def join_entry(
    session: AsyncSession, entry: Entry, member_id: int, hours: float, *, actor: str
) -> bool:
    """Records a member as a participant of a collective entry, with their own hours;
    False if they had joined it already."""
    joined = await session.scalar(
        select(EntryParticipant.id).where(
            EntryParticipant.entry_id == entry.id, EntryParticipant.member_id == member_id
        )
    )
    if joined is not None:
        return False
    session.add(EntryParticipant(entry_id=entry.id, member_id=member_id, hours=hours))
    await audit(session, actor, "entry.joined", entry_id=entry.id)
    return True


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


async def withdraw_entry(
    session: AsyncSession, entry: Entry, *, version: int, actor: str, tz: ZoneInfo
) -> bool:
    """Withdraws the entry at the revision its reporter saw, if it still waits; False when
    it was decided or changed meanwhile."""
    result = await session.execute(
        update(Entry)
        .where(Entry.id == entry.id, Entry.status.in_(OPEN), Entry.version == version)
        .values(status=Status.WITHDRAWN, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    before = entry.status
    await session.refresh(entry)
    await tally(session, entry, tz, sign=-1, status=before)
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
    return True


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


async def last_sent(session: AsyncSession, entry_id: int) -> dt.datetime | None:
    """When the entry was last sent again (changed), if it was."""
    return await session.scalar(
        select(func.max(EntryRevision.at)).where(
            EntryRevision.entry_id == entry_id, EntryRevision.status == Status.RESUBMITTED
        )
    )


async def entry_files(session: AsyncSession, entry_id: int) -> list[EntryFile]:
    statement = (
        select(EntryFile).where(EntryFile.entry_id == entry_id).order_by(EntryFile.position)
    )
    return list((await session.scalars(statement)).all())


async def scope_unit_ids(
    session: AsyncSession, roles: Sequence[tuple[str, int | None]]
) -> set[int] | None:
    """The units a person leads: for a secretary their units and every unit below them;
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


@dataclass(frozen=True)
class Reviewer:
    """Who decides: the units they lead (None: an admin, everything) and the member they
    are, whose own work they never decide."""

    scope: set[int] | None
    member_id: int | None

    @property
    def reviews(self) -> bool:
        return self.scope != set()


async def reviewer(
    session: AsyncSession, roles: Sequence[tuple[str, int | None]], member_id: int | None
) -> Reviewer:
    return Reviewer(await scope_unit_ids(session, roles), member_id)


async def review_unit_for(
    session: AsyncSession, unit_id: int, *, reporter_id: int, collective: bool
) -> int | None:
    """The unit whose secretaries (and those above them) decide an entry: the entry's own
    unit, unless that would let the reporter decide their own work. A collective entry goes
    to the level above its unit; an entry by a secretary goes above every unit they lead on
    its way up. None: only admins can decide it."""
    path = [unit.id for unit in await unit_path(session, unit_id)]
    roles = await member_roles(session, reporter_id)
    led = {unit for role, unit in roles if role == Role.SECRETARY}
    highest = max((i for i, unit in enumerate(path) if unit in led), default=-1)
    index = max(1 if collective else 0, highest + 1)
    return path[index] if index < len(path) else None


async def others_can_review(
    session: AsyncSession, review_unit_id: int | None, reporter_id: int | None
) -> bool:
    """Whether anyone but the reporter holds a role that decides at this unit."""
    units = [] if review_unit_id is None else await unit_path(session, review_unit_id)
    decides = (RoleGrant.role == Role.ADMIN) | (
        (RoleGrant.role == Role.SECRETARY) & RoleGrant.unit_id.in_([u.id for u in units])
    )
    statement = (
        select(RoleGrant.id)
        .join(Identity, Identity.id == RoleGrant.identity_id)
        .where(decides)
        .limit(1)
    )
    if reporter_id is not None:
        statement = statement.where(
            or_(Identity.member_id.is_(None), Identity.member_id != reporter_id)
        )
    return await session.scalar(statement) is not None


async def reviewing_unit(
    session: AsyncSession, review_unit_id: int | None, reporter_id: int | None
) -> Unit | None:
    """The nearest unit, from the one that decides an entry upwards, with a secretary other
    than the reporter: whose secretary will review it. None: the admins (Tỉnh Đoàn)."""
    units = [] if review_unit_id is None else await unit_path(session, review_unit_id)
    for unit in units:
        statement = (
            select(RoleGrant.id)
            .join(Identity, Identity.id == RoleGrant.identity_id)
            .where(RoleGrant.role == Role.SECRETARY, RoleGrant.unit_id == unit.id)
            .limit(1)
        )
        if reporter_id is not None:
            statement = statement.where(
                or_(Identity.member_id.is_(None), Identity.member_id != reporter_id)
            )
        if await session.scalar(statement) is not None:
            return unit
    return None


async def likely_duplicates(session: AsyncSession, entry: Entry) -> list[tuple[Entry, str]]:
    """Other entries this one may repeat, and why: "photo" (a piece of evidence with the
    same content fingerprint) or "title" (same unit and kind, the same day, a similar
    title)."""
    shared = (
        select(EntryFile.entry_id)
        .where(
            EntryFile.sha256.in_(select(EntryFile.sha256).where(EntryFile.entry_id == entry.id)),
            EntryFile.entry_id != entry.id,
        )
        .distinct()
    )
    found: dict[int, tuple[Entry, str]] = {}
    for other in await session.scalars(
        select(Entry)
        .where(Entry.id.in_(shared), Entry.status != Status.WITHDRAWN)
        .order_by(Entry.id)
        .limit(5)
    ):
        found[other.id] = (other, "photo")
    same_day = await session.scalars(
        select(Entry)
        .where(
            Entry.id != entry.id,
            Entry.unit_id == entry.unit_id,
            Entry.kind == entry.kind,
            Entry.happened_on == entry.happened_on,
            Entry.status != Status.WITHDRAWN,
        )
        .order_by(Entry.id)
        .limit(50)
    )
    for other in same_day:
        if other.id not in found and similar_titles(entry.title, other.title):
            found[other.id] = (other, "title")
    return list(found.values())[:5]


def similar_titles(first: str, second: str) -> bool:
    """Titles that name the same thing, typed differently ("Dọn rác bờ suối" and "dọn rác
    bờ suối Bản Chu")."""
    a, b = fold(first), fold(second)
    return a in b or b in a or SequenceMatcher(None, a, b).ratio() >= 0.6


def _decidable(who: Reviewer) -> list[ColumnElement[bool]]:
    """Waiting entries this reviewer may decide: at a unit they lead, not their own."""
    conditions: list[ColumnElement[bool]] = [Entry.status.in_(OPEN)]
    if who.scope is not None:
        conditions.append(Entry.review_unit_id.in_(who.scope))
    if who.member_id is not None:
        conditions.append(or_(Entry.reporter_id.is_(None), Entry.reporter_id != who.member_id))
    return conditions


async def decidable(session: AsyncSession, who: Reviewer, entry_id: int) -> bool:
    """Whether the entry waits for this reviewer now."""
    statement = select(Entry.id).where(Entry.id == entry_id, *_decidable(who))
    return await session.scalar(statement) is not None


async def waiting_since(
    session: AsyncSession, who: Reviewer, since: dt.datetime | None
) -> tuple[int, int]:
    """(entries, requests to move into their units) that began waiting for this reviewer
    after `since` (all when None)."""
    entries = select(func.count()).select_from(Entry).where(*_decidable(who))
    moves = select(func.count()).select_from(UnitChange).where(UnitChange.status == "waiting")
    if who.scope is not None:
        moves = moves.where(UnitChange.to_unit_id.in_(who.scope))
    if who.member_id is not None:
        moves = moves.where(UnitChange.member_id != who.member_id)
    if since is not None:
        entries = entries.where(Entry.updated_at > since)
        moves = moves.where(UnitChange.requested_at > since)
    return (await session.scalar(entries) or 0, await session.scalar(moves) or 0)


async def waiting_count(session: AsyncSession, who: Reviewer) -> int:
    statement = select(func.count()).select_from(Entry).where(*_decidable(who))
    return await session.scalar(statement) or 0


async def waiting_by_unit(session: AsyncSession, who: Reviewer) -> list[tuple[str, int]]:
    """(unit name, entries waiting for this reviewer) for each unit with any, most first."""
    rows = await session.execute(
        select(Unit.name, func.count(Entry.id))
        .join(Entry, Entry.unit_id == Unit.id)
        .where(*_decidable(who))
        .group_by(Unit.name)
        .order_by(func.count(Entry.id).desc(), Unit.name)
    )
    return [(name, count) for name, count in rows.all()]


async def next_to_review(
    session: AsyncSession, who: Reviewer, *, skipped: Sequence[int]
) -> Entry | None:
    """The oldest entry waiting for this reviewer, leaving out the ones skipped in this
    session."""
    statement = (
        select(Entry)
        .where(*_decidable(who), Entry.id.not_in(skipped))
        .order_by(Entry.updated_at, Entry.id)
        .limit(1)
    )
    return await session.scalar(statement)


async def decide(
    session: AsyncSession,
    entry_id: int,
    *,
    version: int,
    who: Reviewer,
    approve: bool,
    reason: str | None,
    actor: str,
    tz: ZoneInfo,
) -> Entry | None:
    """Approves or rejects the entry at the revision the reviewer saw, if it still waits for
    them; None otherwise (decided first by someone else, changed, withdrawn, or no longer
    theirs to decide). The conditional update makes the first decision win."""
    status = Status.APPROVED if approve else Status.REJECTED
    before = await session.scalar(select(Entry.status).where(Entry.id == entry_id))
    if before not in OPEN:
        return None
    result = await session.execute(
        update(Entry)
        .where(
            Entry.id == entry_id,
            Entry.status == before,
            Entry.version == version,
            *_decidable(who),
        )
        .values(
            status=status,
            decided_at=utcnow(),
            decided_by=actor,
            reject_reason=None if approve else reason,
            updated_at=utcnow(),
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
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
    await audit(
        session,
        actor,
        f"entry.{status}",
        entry_id=entry.id,
        version=entry.version,
        reporter_id=entry.reporter_id,
        collective=entry.collective,
    )
    return entry
