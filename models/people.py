"""Identities, members, consent and roles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import Role, identity_actor, identity_of_actor, member_subject
from models.stats import count_member, refile_reporter
from models.tables import (
    AuditRecord,
    Consent,
    Entry,
    Identity,
    Member,
    RoleGrant,
    Unit,
    UnitChange,
    utcnow,
)

__all__ = [
    "Person",
    "RoleHolder",
    "actor_name",
    "audit",
    "correct_member",
    "decide_unit_change",
    "grant_role",
    "identity_for",
    "list_roles",
    "load_person",
    "member_roles",
    "next_unit_change",
    "person_for",
    "register_member",
    "request_unit_change",
    "revoke_role",
]


@dataclass(frozen=True)
class Person:
    """Who is talking, as handlers see them."""

    identity_id: int
    channel: str
    user_id: str
    locale: str | None = None
    member_id: int | None = None  # None until they register
    full_name: str | None = None
    unit_id: int | None = None
    unit_name: str | None = None
    birth_year: int | None = None
    roles: tuple[tuple[str, int | None], ...] = ()

    @property
    def registered(self) -> bool:
        return self.member_id is not None

    @property
    def is_admin(self) -> bool:
        return any(role == Role.ADMIN for role, _ in self.roles)

    @property
    def leads(self) -> bool:
        """A secretary of some unit, or an admin: reviews, invites and broadcasts."""
        return any(role in (Role.SECRETARY, Role.ADMIN) for role, _ in self.roles)

    @property
    def actor(self) -> str:
        """Who acted, as the audit log records it."""
        return identity_actor(self.identity_id)


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
        identity = Identity(
            channel=channel, user_id=user_id, chat_id=chat_id, client_language=client_language
        )
        session.add(identity)
        await session.flush()
        return identity
    if chat_id is not None and identity.chat_id != chat_id:
        identity.chat_id = chat_id
    if client_language is not None and identity.client_language != client_language:
        identity.client_language = client_language
    return identity


# When the person last wrote is kept to within this much, so that a person chatting does not
# cost a write per message; it errs on the early side (a window seems to close sooner).
LAST_MESSAGE_GRAIN = dt.timedelta(minutes=10)

# Runs for every message, so it is built once and runs over the tables (Core): building a
# statement and the ORM's handling of it cost more than the lookups themselves.
_identities, _members = Identity.__table__, Member.__table__
_units, _grants = Unit.__table__, RoleGrant.__table__
_accounts = Identity.__table__.alias("accounts")  # the person's other accounts (/link)
_PERSON = (
    select(
        _identities.c.id,
        _identities.c.locale,
        _identities.c.chat_id,
        _identities.c.client_language,
        _identities.c.unreachable_at,
        _identities.c.last_message_at,
        _members.c.id,
        _members.c.full_name,
        _members.c.unit_id,
        _members.c.birth_year,
        _units.c.name,
        _members.c.account_id,
        _grants.c.role,
        _grants.c.unit_id,
    )
    .select_from(_identities)
    .outerjoin(_members, _members.c.id == _identities.c.member_id)
    .outerjoin(_units, _units.c.id == _members.c.unit_id)
    # The roles held on this account or on any other account of the same member.
    .outerjoin(
        _grants,
        _grants.c.identity_id.in_(
            select(_accounts.c.id).where(
                or_(
                    _accounts.c.id == _identities.c.id,
                    _accounts.c.member_id == _identities.c.member_id,
                )
            )
        ),
    )
    .where(
        _identities.c.channel == bindparam("channel"),
        _identities.c.user_id == bindparam("user_id"),
    )
)


async def person_for(
    session: AsyncSession,
    channel: str,
    user_id: str,
    chat_id: str | None = None,
    client_language: str | None = None,
) -> Person:
    """The person behind a channel account, whose identity is created on first contact and
    told the chat and client language it writes from, and that it wrote now (to within
    LAST_MESSAGE_GRAIN). An account marked unreachable (the platform said the person blocked
    the bot) is reachable again: they are writing. One query, as it runs for every message
    (two on first contact, when something changed, or ten minutes after the last write)."""
    rows = (await session.execute(_PERSON, {"channel": channel, "user_id": user_id})).all()
    if not rows:
        identity = await identity_for(session, channel, user_id, chat_id, client_language)
        identity.last_message_at = utcnow()
        return Person(identity_id=identity.id, channel=channel, user_id=user_id)
    identity_id, locale, known_chat, known_language, unreachable_at, wrote_at = rows[0][:6]
    seen: dict[str, object] = {
        name: value
        for name, value, known in (
            ("chat_id", chat_id, known_chat),
            ("client_language", client_language, known_language),
        )
        if value is not None and value != known
    }
    if unreachable_at is not None:
        seen["unreachable_at"] = None
    now = utcnow()
    if wrote_at is None or now - wrote_at > LAST_MESSAGE_GRAIN:
        seen["last_message_at"] = now
    if seen:
        await session.execute(update(Identity).where(Identity.id == identity_id).values(**seen))
    member_id, full_name, unit_id, birth_year, unit_name, account_id = rows[0][6:12]
    if member_id is not None and account_id != identity_id:
        # They write from another of their accounts: notices follow them there.
        await session.execute(
            update(Member).where(Member.id == member_id).values(account_id=identity_id)
        )
    return Person(
        identity_id=identity_id,
        channel=channel,
        user_id=user_id,
        locale=locale,
        member_id=member_id,
        full_name=full_name,
        unit_id=unit_id,
        unit_name=unit_name,
        birth_year=birth_year,
        roles=tuple((role, unit) for *_, role, unit in rows if role is not None),
    )


async def load_person(session: AsyncSession, identity: Identity) -> Person:
    """The person behind an identity, with their member record and roles."""
    return await person_for(session, identity.channel, identity.user_id)


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
        account_id=identity.id,
    )
    session.add(member)
    await session.flush()
    await count_member(session, unit_id, 1)
    session.add(
        Consent(
            member_id=member.id,
            notice_version=notice_version,
            channel=identity.channel,
            accepted_at=consented_at,
        )
    )
    identity.member_id = member.id
    await audit(session, identity_actor(identity.id), "member.registered", member_id=member.id)
    return member


async def member_roles(session: AsyncSession, member_id: int) -> list[tuple[str, int | None]]:
    """The roles held on any of a member's accounts."""
    rows = await session.execute(
        select(RoleGrant.role, RoleGrant.unit_id)
        .join(Identity, Identity.id == RoleGrant.identity_id)
        .where(Identity.member_id == member_id)
    )
    return [(role, unit_id) for role, unit_id in rows.all()]


async def actor_name(session: AsyncSession, actor: str | None) -> str | None:
    """The full name of the member behind an audit actor; None when there is none."""
    identity_id = identity_of_actor(actor)
    if identity_id is None:
        return None
    return await session.scalar(
        select(Member.full_name)
        .join(Identity, Identity.member_id == Member.id)
        .where(Identity.id == identity_id)
    )


async def audit(session: AsyncSession, actor: str, action: str, **details: object) -> None:
    """Adds an audit row; details must hold no personal data, only ids. The row notes whose
    data it concerns, from the member, account or entry its details name."""
    subject = await _subject(session, details)
    session.add(AuditRecord(actor=actor, action=action, details=details, subject=subject))


async def _subject(session: AsyncSession, details: dict[str, object]) -> str | None:
    member_id = details.get("member_id", details.get("reporter_id"))
    if isinstance(member_id, int):
        return member_subject(member_id)
    identity_id = details.get("identity_id")
    if isinstance(identity_id, int):
        identity = await session.get(Identity, identity_id)
        if identity is not None and identity.member_id is not None:
            return member_subject(identity.member_id)
        return identity_actor(identity_id)
    entry_id = details.get("entry_id")
    if isinstance(entry_id, int):
        entry = await session.get(Entry, entry_id)
        if entry is not None and entry.reporter_id is not None:
            return member_subject(entry.reporter_id)
    return None


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
    """Revokes a role (for one unit, or every unit when none is given) from the person: on this
    account and on their other accounts (/link), since a role on one holds on all; returns
    how many grants went."""
    accounts = select(Identity.id).where(
        or_(Identity.id == identity.id, Identity.member_id == identity.member_id)
        if identity.member_id is not None
        else Identity.id == identity.id
    )
    statement = delete(RoleGrant).where(
        RoleGrant.identity_id.in_(accounts), RoleGrant.role == role
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


WAITING, APPROVED, REFUSED, WITHDRAWN = "waiting", "approved", "refused", "withdrawn"


async def correct_member(
    session: AsyncSession, member_id: int, *, actor: str, **values: object
) -> list[str]:
    """Sets the member's own details (name, birth year and whether a minor, phone); returns
    the names of those that changed. Audited by name only, without the values."""
    member = await session.get_one(Member, member_id)
    changed = [name for name, value in values.items() if getattr(member, name) != value]
    for name in changed:
        setattr(member, name, values[name])
    if changed:
        await audit(session, actor, "member.corrected", member_id=member_id, fields=changed)
    return changed


async def request_unit_change(
    session: AsyncSession, member_id: int, to_unit_id: int, *, actor: str
) -> UnitChange:
    """Asks to move the member to another unit; an earlier request still waiting is
    replaced. The new unit's secretaries (or those above, or the admins) decide."""
    member = await session.get_one(Member, member_id)
    await session.execute(
        update(UnitChange)
        .where(UnitChange.member_id == member_id, UnitChange.status == WAITING)
        .values(status=WITHDRAWN, decided_at=utcnow())
    )
    change = UnitChange(
        member_id=member_id, from_unit_id=member.unit_id, to_unit_id=to_unit_id, status=WAITING
    )
    session.add(change)
    await session.flush()
    await audit(
        session,
        actor,
        "member.unit_change_requested",
        member_id=member_id,
        change_id=change.id,
        to_unit_id=to_unit_id,
    )
    return change


async def next_unit_change(
    session: AsyncSession, scope: set[int] | None, decider_id: int | None, skipped: list[int]
) -> UnitChange | None:
    """The oldest request to move into a unit of this scope, not the decider's own."""
    statement = select(UnitChange).where(
        UnitChange.status == WAITING, UnitChange.id.not_in(skipped)
    )
    if scope is not None:
        statement = statement.where(UnitChange.to_unit_id.in_(scope))
    if decider_id is not None:
        statement = statement.where(UnitChange.member_id != decider_id)
    return await session.scalar(statement.order_by(UnitChange.id).limit(1))


async def decide_unit_change(
    session: AsyncSession,
    change_id: int,
    *,
    approve: bool,
    scope: set[int] | None,
    decider_id: int | None,
    actor: str,
) -> UnitChange | None:
    """Approves or refuses a waiting request whose new unit is in the decider's scope (None:
    any), never the decider's own; None when that is no longer possible. An approved move
    changes the member's unit; their past entries stay with the units they were sent in."""
    conditions = [UnitChange.id == change_id, UnitChange.status == WAITING]
    if scope is not None:
        conditions.append(UnitChange.to_unit_id.in_(scope))
    if decider_id is not None:
        conditions.append(UnitChange.member_id != decider_id)
    result = await session.execute(
        update(UnitChange)
        .where(*conditions)
        .values(status=APPROVED if approve else REFUSED, decided_at=utcnow(), decided_by=actor)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    change = await session.get_one(UnitChange, change_id, populate_existing=True)
    if approve:
        moved_from = await session.scalar(
            select(Member.unit_id).where(Member.id == change.member_id).with_for_update()
        )
        await session.execute(
            update(Member).where(Member.id == change.member_id).values(unit_id=change.to_unit_id)
        )
        await count_member(session, moved_from, -1)
        await count_member(session, change.to_unit_id, 1)
        await refile_reporter(session, change.member_id)
    await audit(
        session,
        actor,
        "member.unit_changed" if approve else "member.unit_change_refused",
        member_id=change.member_id,
        change_id=change.id,
        from_unit_id=change.from_unit_id,
        to_unit_id=change.to_unit_id,
    )
    return change


@dataclass(frozen=True)
class RoleHolder:
    """A role grant, with the account and the person it was granted to (if registered)."""

    role: str
    unit_code: str | None
    unit_name: str | None
    unit_kind: str | None
    channel: str
    user_id: str
    full_name: str | None
    has_written: bool  # the person has written to the bot from this account
    granted_at: dt.datetime


async def list_roles(session: AsyncSession, unit_ids: Iterable[int] | None) -> list[RoleHolder]:
    """Every role grant (admins, and secretaries of the units when given), by unit and role."""
    statement = (
        select(
            RoleGrant.role,
            Unit.code,
            Unit.name,
            Unit.kind,
            Identity.channel,
            Identity.user_id,
            Member.full_name,
            Identity.chat_id.is_not(None),
            RoleGrant.granted_at,
        )
        .join(Identity, Identity.id == RoleGrant.identity_id)
        .outerjoin(Unit, Unit.id == RoleGrant.unit_id)
        .outerjoin(Member, Member.id == Identity.member_id)
        .order_by(RoleGrant.role, Unit.search_name, Identity.channel, Identity.user_id)
    )
    if unit_ids is not None:
        statement = statement.where(RoleGrant.unit_id.in_(list(unit_ids)))
    return [RoleHolder(*row) for row in (await session.execute(statement)).all()]
