"""Entries: saving a report with its evidence and history, and reading one's own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.people import audit
from models.tables import Campaign, Entry, EntryFile, EntryRevision, utcnow

__all__ = [
    "OPEN",
    "EvidenceRef",
    "count_own_entries",
    "current_campaign",
    "entry_files",
    "own_entries",
    "resubmit_entry",
    "save_entry",
    "withdraw_entry",
]

# Statuses in which the reporter may still withdraw the entry.
OPEN = ("submitted", "resubmitted")


@dataclass(frozen=True)
class EvidenceRef:
    sha256: str
    path: str
    mime: str
    size: int
    original_name: str | None


async def current_campaign(session: AsyncSession, today: dt.date) -> Campaign:
    """The campaign new entries attach to: the newest open one running today, else the
    movement-wide one."""
    running = await session.scalar(
        select(Campaign)
        .where(
            Campaign.closed_at.is_(None),
            Campaign.starts_on <= today,
            (Campaign.ends_on.is_(None)) | (Campaign.ends_on >= today),
        )
        .order_by(Campaign.is_default, Campaign.starts_on.desc())
        .limit(1)
    )
    if running is not None:
        return running
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
) -> Entry:
    """A new submitted entry with its files, its first revision and an audit row."""
    entry = Entry(
        kind=kind,
        status="submitted",
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
    _attach(session, entry, evidence)
    session.add(EntryRevision(entry_id=entry.id, version=1, status="submitted", answers=answers))
    await audit(session, actor, "entry.submitted", entry_id=entry.id, kind=kind)
    return entry


async def resubmit_entry(
    session: AsyncSession,
    entry: Entry,
    *,
    title: str,
    answers: dict[str, Any],
    evidence: Sequence[EvidenceRef],
    actor: str,
) -> None:
    """A fixed rejected entry goes back for review; the rejected version stays in history."""
    entry.version += 1
    entry.status = "resubmitted"
    entry.title = title
    entry.answers = answers
    entry.updated_at = utcnow()
    entry.decided_at = entry.decided_by = None
    for old in await entry_files(session, entry.id):
        await session.delete(old)
    await session.flush()
    _attach(session, entry, evidence)
    session.add(
        EntryRevision(
            entry_id=entry.id, version=entry.version, status="resubmitted", answers=answers
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


async def withdraw_entry(session: AsyncSession, entry: Entry, *, actor: str) -> None:
    entry.status = "withdrawn"
    entry.updated_at = utcnow()
    session.add(
        EntryRevision(
            entry_id=entry.id, version=entry.version, status="withdrawn", answers=entry.answers
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
