"""Identities, members, consent and roles."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import AuditRecord, Consent, Identity, Member, RoleGrant, Unit

__all__ = [
    "ROLES",
    "Person",
    "audit",
    "grant_role",
    "identity_for",
    "load_person",
    "person_for",
    "register_member",
    "revoke_role",
]

ROLES = ("admin", "secretary")


@dataclass(frozen=True)
class Person:
    """Who is talking, as handlers see them."""

    identity_id: int
    channel: str
    user_id: str
    locale: str | None
    member_id: int | None
    full_name: str | None
    unit_id: int | None
    unit_name: str | None
    birth_year: int | None
    roles: tuple[tuple[str, int | None], ...]

    @property
    def registered(self) -> bool:
        return self.member_id is not None

    @property
    def is_admin(self) -> bool:
        return any(role == "admin" for role, _ in self.roles)

    @property
    def leads(self) -> bool:
        """A secretary of some unit, or an admin: reviews, invites and broadcasts."""
        return any(role in ("secretary", "admin") for role, _ in self.roles)


async def identity_for(
    session: AsyncSession,
    channel: str,
    user_id: str,
    chat_id: str | None = None,
    client_language: str | None = None,
) -> Identity:
    """The identity of a channel account, created on first contact."""
    identity = await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.user_id == user_id)
    )
    if identity is None:
        return await _first_contact(session, channel, user_id, chat_id, client_language)
    _seen_again(identity, chat_id, client_language)
    return identity


async def person_for(
    session: AsyncSession,
    channel: str,
    user_id: str,
    chat_id: str | None = None,
    client_language: str | None = None,
) -> Person:
    """The person behind a channel account, as `load_person(identity_for(...))` would give,
    in one query: it runs for every message."""
    rows = (
        await session.execute(
            select(Identity, Member, Unit, RoleGrant.role, RoleGrant.unit_id)
            .outerjoin(Member, Member.id == Identity.member_id)
            .outerjoin(Unit, Unit.id == Member.unit_id)
            .outerjoin(RoleGrant, RoleGrant.identity_id == Identity.id)
            .where(Identity.channel == channel, Identity.user_id == user_id)
        )
    ).all()
    if not rows:
        identity = await _first_contact(session, channel, user_id, chat_id, client_language)
        return _person(identity, None, None, [])
    identity, member, unit = rows[0][:3]
    _seen_again(identity, chat_id, client_language)
    grants = [(role, unit_id) for *_, role, unit_id in rows if role is not None]
    return _person(identity, member, unit, grants)


async def _first_contact(
    session: AsyncSession,
    channel: str,
    user_id: str,
    chat_id: str | None,
    client_language: str | None,
) -> Identity:
    identity = Identity(
        channel=channel, user_id=user_id, chat_id=chat_id, client_language=client_language
    )
    session.add(identity)
    await session.flush()
    return identity


def _seen_again(identity: Identity, chat_id: str | None, client_language: str | None) -> None:
    if chat_id is not None and identity.chat_id != chat_id:
        identity.chat_id = chat_id
    if client_language is not None and identity.client_language != client_language:
        identity.client_language = client_language


async def load_person(session: AsyncSession, identity: Identity) -> Person:
    """The person behind an identity, with their member record and roles."""
    member = await session.get(Member, identity.member_id) if identity.member_id else None
    unit = await session.get(Unit, member.unit_id) if member else None
    grants = (
        await session.execute(
            select(RoleGrant.role, RoleGrant.unit_id).where(RoleGrant.identity_id == identity.id)
        )
    ).all()
    return _person(identity, member, unit, [(role, unit_id) for role, unit_id in grants])


def _person(
    identity: Identity,
    member: Member | None,
    unit: Unit | None,
    grants: list[tuple[str, int | None]],
) -> Person:
    return Person(
        identity_id=identity.id,
        channel=identity.channel,
        user_id=identity.user_id,
        locale=identity.locale,
        member_id=member.id if member else None,
        full_name=member.full_name if member else None,
        unit_id=member.unit_id if member else None,
        unit_name=unit.name if unit else None,
        birth_year=member.birth_year if member else None,
        roles=tuple(grants),
    )


async def register_member(
    session: AsyncSession,
    identity_id: int,
    *,
    full_name: str,
    birth_year: int,
    is_minor: bool,
    unit_id: int,
    phone: str | None,
    notice_version: str,
    consented_at: dt.datetime,
) -> Member:
    """Creates the member with their consent record and links the identity to it."""
    identity = await session.get_one(Identity, identity_id)
    member = Member(
        full_name=full_name,
        birth_year=birth_year,
        is_minor=is_minor,
        unit_id=unit_id,
        phone=phone,
    )
    session.add(member)
    await session.flush()
    session.add(
        Consent(
            member_id=member.id,
            notice_version=notice_version,
            channel=identity.channel,
            accepted_at=consented_at,
        )
    )
    identity.member_id = member.id
    await audit(session, f"identity:{identity.id}", "member.registered", member_id=member.id)
    return member


async def audit(session: AsyncSession, actor: str, action: str, **details: object) -> None:
    """Adds an audit row; details must hold no personal data."""
    session.add(AuditRecord(actor=actor, action=action, details=details))


async def grant_role(
    session: AsyncSession,
    identity: Identity,
    role: str,
    unit: Unit | None,
    *,
    granted_by: str,
) -> bool:
    """Grants a role; False if it was already held."""
    unit_id = unit.id if unit else None
    held = await session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.identity_id == identity.id,
            RoleGrant.role == role,
            RoleGrant.unit_id.is_(None) if unit_id is None else RoleGrant.unit_id == unit_id,
        )
    )
    if held is not None:
        return False
    session.add(
        RoleGrant(identity_id=identity.id, role=role, unit_id=unit_id, granted_by=granted_by)
    )
    await audit(
        session, granted_by, "role.granted", identity_id=identity.id, role=role, unit_id=unit_id
    )
    return True


async def revoke_role(
    session: AsyncSession, identity: Identity, role: str, unit: Unit | None, *, revoked_by: str
) -> int:
    """Revokes a role (for one unit, or every unit when none is given); returns how many."""
    statement = delete(RoleGrant).where(
        RoleGrant.identity_id == identity.id, RoleGrant.role == role
    )
    if unit is not None:
        statement = statement.where(RoleGrant.unit_id == unit.id)
    result = await session.execute(statement)
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        await audit(
            session,
            revoked_by,
            "role.revoked",
            identity_id=identity.id,
            role=role,
            unit_id=unit.id if unit else None,
        )
    return count
