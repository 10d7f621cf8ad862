"""Invites: codes that let young people register straight into a unit; created and revoked."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.people import audit
from models.tables import Invite, Unit, utcnow

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "active_invites",
    "can_join",
    "count_invite_use",
    "create_invite",
    "find_active_invite",
    "new_code",
    "normalize_code",
    "revoke_invite",
    "unit_with_code",
]

# No 0/O, 1/I/L: a code read aloud or copied from a poster is typed right the first time.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_ATTEMPTS = 5


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(typed: str) -> str | None:
    """The code as stored (upper case), or None when it cannot be one of ours."""
    code = typed.strip().upper()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def can_join(unit: Unit) -> bool:
    """Whether young people register in this unit: not the province, as in registration."""
    # The same rule as models.units.SELECTABLE, for a unit already loaded.
    return unit.kind != "province"


async def unit_with_code(session: AsyncSession, code: str) -> Unit | None:
    """The unit with this code from the unit tree (e.g. ls-x-na-sam), typed in any case."""
    # Operators may import codes in any case; the tree is small, so no index is needed.
    return await session.scalar(
        select(Unit).where(func.lower(Unit.code) == code.strip().lower()).limit(1)
    )


async def create_invite(session: AsyncSession, unit_id: int, *, actor: str) -> Invite:
    """A new active code for the unit, with an audit row."""
    for _ in range(MAX_ATTEMPTS):
        code = new_code()
        # 31^8 codes: a collision is very unlikely, but the column is unique, so look first.
        if await session.scalar(select(Invite.id).where(Invite.code == code)) is None:
            break
    else:
        raise RuntimeError("could not find an unused invite code")
    invite = Invite(code=code, unit_id=unit_id, created_by=actor, uses=0)
    session.add(invite)
    await session.flush()
    await audit(session, actor, "invite.created", invite_id=invite.id, unit_id=unit_id)
    return invite


async def find_active_invite(session: AsyncSession, typed: str) -> Invite | None:
    """The active invite with this code, typed in any case; None if unknown or revoked."""
    code = normalize_code(typed)
    if code is None:
        return None
    return await session.scalar(
        select(Invite).where(Invite.code == code, Invite.revoked_at.is_(None))
    )


async def active_invites(session: AsyncSession, unit_id: int) -> list[Invite]:
    """The unit's codes that still work, oldest first."""
    statement = (
        select(Invite)
        .where(Invite.unit_id == unit_id, Invite.revoked_at.is_(None))
        .order_by(Invite.created_at, Invite.id)
    )
    return list((await session.scalars(statement)).all())


async def revoke_invite(
    session: AsyncSession, invite_id: int, scope: set[int] | None, *, actor: str
) -> Invite | None:
    """Revokes an active invite of a unit in scope (None: all); None if there is none such."""
    statement = update(Invite).where(Invite.id == invite_id, Invite.revoked_at.is_(None))
    if scope is not None:
        statement = statement.where(Invite.unit_id.in_(scope))
    # Conditional, so that two secretaries revoking at once record one revocation.
    result = await session.execute(statement.values(revoked_at=utcnow()))
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    invite = await session.get_one(Invite, invite_id, populate_existing=True)
    await audit(session, actor, "invite.revoked", invite_id=invite.id, unit_id=invite.unit_id)
    return invite


async def count_invite_use(session: AsyncSession, code: str) -> None:
    """One more young person registered with this code (counted in SQL: no lost updates)."""
    await session.execute(update(Invite).where(Invite.code == code).values(uses=Invite.uses + 1))
