"""Certificates: the register of those issued, and the volunteer hours a member may have
certified."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.figures import own_hours
from domain.vocabulary import ERASED, Status
from models.people import audit
from models.tables import Certificate, Entry, EntryParticipant, utcnow

__all__ = [
    "AWARD",
    "VOLUNTEER_HOURS",
    "add_certificate",
    "approved_volunteer_hours",
    "certificate_by_serial",
    "forget_holder",
    "revoke_certificate",
    "same_certificate",
]

VOLUNTEER_HOURS = "volunteer_hours"
AWARD = "award"


async def approved_volunteer_hours(
    session: AsyncSession, member_id: int, first: dt.date, last: dt.date
) -> tuple[float, float]:
    """A member's approved volunteer hours that happened between the days (both included):
    (their own, reported by themselves; those of the branch activities they joined). A
    collective entry they filed is the unit's and counts the participants, not them."""
    own = await session.scalars(
        select(Entry.answers).where(
            Entry.reporter_id == member_id,
            Entry.kind == "volunteer",
            Entry.collective.is_(False),
            Entry.status == Status.APPROVED,
            Entry.happened_on.between(first, last),
        )
    )
    joined = await session.scalar(
        select(func.sum(EntryParticipant.hours))
        .join(Entry, Entry.id == EntryParticipant.entry_id)
        .where(
            EntryParticipant.member_id == member_id,
            Entry.status == Status.APPROVED,
            Entry.happened_on.between(first, last),
        )
    )
    return sum(own_hours(answers) for answers in own.all()), float(joined or 0)


async def same_certificate(
    session: AsyncSession, kind: str, holder: str, member_id: int | None, details: dict[str, Any]
) -> Certificate | None:
    """A valid certificate that certifies exactly this of the same holder already."""
    member = (
        Certificate.member_id.is_(None)
        if member_id is None
        else (Certificate.member_id == member_id)
    )
    found = await session.scalars(
        select(Certificate)
        .where(
            member,
            Certificate.kind == kind,
            Certificate.holder == holder,
            Certificate.revoked_at.is_(None),
        )
        .order_by(Certificate.id.desc())
    )
    return next((c for c in found.all() if c.details == details), None)


async def add_certificate(
    session: AsyncSession,
    *,
    serial: str,
    kind: str,
    member_id: int | None,
    holder: str,
    unit_name: str,
    details: dict[str, Any],
    issued_at: dt.datetime,
    actor: str,
) -> Certificate:
    certificate = Certificate(
        serial=serial,
        kind=kind,
        member_id=member_id,
        holder=holder,
        unit_name=unit_name,
        details=details,
        issued_at=issued_at,
        issued_by=actor,
    )
    session.add(certificate)
    await session.flush()
    await audit(
        session,
        actor,
        "certificate.issued",
        certificate_id=certificate.id,
        kind=kind,
        member_id=member_id,
    )
    return certificate


async def certificate_by_serial(session: AsyncSession, serial: str) -> Certificate | None:
    return await session.scalar(select(Certificate).where(Certificate.serial == serial))


async def revoke_certificate(
    session: AsyncSession, certificate_id: int, *, reason: str, actor: str
) -> Certificate | None:
    """Revokes a valid certificate; None when it was revoked already (the first revocation
    stands, with its reason)."""
    result = await session.execute(
        update(Certificate)
        .where(Certificate.id == certificate_id, Certificate.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=actor, revoke_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    certificate = await session.get_one(Certificate, certificate_id, populate_existing=True)
    await audit(
        session,
        actor,
        "certificate.revoked",
        certificate_id=certificate_id,
        member_id=certificate.member_id,
    )
    return certificate


async def forget_holder(session: AsyncSession, member_id: int) -> int:
    """A member erased their data: their certificates keep only their serial and that they
    were withdrawn (by ERASED), so that a code in someone's hands is answered clearly and
    names no one. Returns how many."""
    result = await session.execute(
        update(Certificate)
        .where(Certificate.member_id == member_id)
        .values(
            member_id=None,
            holder="",
            unit_name="",
            details={},
            revoked_at=utcnow(),
            revoked_by=ERASED,
            revoke_reason=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
