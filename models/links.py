"""One person on several channels: a short-lived code given in one chat and typed in another
joins the second account to the first one's member (/link)."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass

from sqlalchemy import (
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    and_,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import identity_actor
from models.people import audit
from models.stats import count_member, refile_reporter
from models.tables import AuditRecord, Base, Identity, LinkCode, Member, utcnow

__all__ = [
    "CODE_LENGTH",
    "LINK_MINUTES",
    "Linked",
    "Refusal",
    "join_with_code",
    "new_link_code",
    "normalize_link_code",
]

# Letters and digits nobody mistakes for one another; 31^8 ≈ 8.5·10^11 codes, valid for
# minutes and tried at most MOST_TRIES times an hour from one account: a code cannot be
# guessed to take over someone's registration.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
LINK_MINUTES = 10
MOST_TRIES = 5


def normalize_link_code(typed: str) -> str | None:
    """The code as stored, from what was typed ("abcd-efgh", "ABCD EFGH"); None if it is
    not one."""
    code = "".join(typed.split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


async def new_link_code(session: AsyncSession, member_id: int, identity_id: int) -> LinkCode:
    """A new code for the member, replacing any code they were given before."""
    await session.execute(delete(LinkCode).where(LinkCode.member_id == member_id))
    code = LinkCode(
        code="".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)),
        member_id=member_id,
        identity_id=identity_id,
        expires_at=utcnow() + dt.timedelta(minutes=LINK_MINUTES),
    )
    session.add(code)
    await audit(session, identity_actor(identity_id), "member.link_code", member_id=member_id)
    return code


class Refusal(enum.StrEnum):
    """Why a typed code joined nothing."""

    UNKNOWN = "unknown"  # no such code, or it expired
    SAME_ACCOUNT = "same_account"  # typed in the chat it was given in
    ALREADY = "already"  # this account already belongs to that member
    TOO_MANY = "too_many"  # too many wrong codes from this account lately


@dataclass(frozen=True)
class Linked:
    """The accounts are one member's now: `kept` (the older registration), and `joined`, the
    newer registration merged into it, if the account had one."""

    kept: int
    joined: int | None


async def join_with_code(session: AsyncSession, identity_id: int, typed: str) -> Linked | Refusal:
    """Joins the account `identity_id` to the member whose code was typed. When the account
    has a registration of its own, the older of the two registrations is kept and the newer
    one's entries, participations, certificates, nominations and accounts move to it; roles
    stay on their accounts and so with the person. Audited; a wrong code is audited too, and
    counted against guessing."""
    actor = identity_actor(identity_id)
    since = utcnow() - dt.timedelta(hours=1)
    tries = await session.scalar(
        select(func.count())
        .select_from(AuditRecord)
        .where(
            AuditRecord.actor == actor,
            AuditRecord.action == "member.link_refused",
            AuditRecord.at >= since,
        )
    )
    if (tries or 0) >= MOST_TRIES:
        return Refusal.TOO_MANY
    code = normalize_link_code(typed)
    found = await session.get(LinkCode, code) if code else None
    if found is None or found.expires_at <= utcnow():
        await audit(session, actor, "member.link_refused", identity_id=identity_id)
        return Refusal.UNKNOWN
    if found.identity_id == identity_id:
        return Refusal.SAME_ACCOUNT
    # The code is used up here, once: of two accounts typing it at the same moment (two
    # transactions on PostgreSQL), the one whose DELETE finds it joins; the other is told.
    used = await session.execute(
        delete(LinkCode).where(LinkCode.code == found.code).returning(LinkCode.code)
    )
    if used.first() is None:
        await audit(session, actor, "member.link_refused", identity_id=identity_id)
        return Refusal.UNKNOWN
    identity = await session.get_one(Identity, identity_id)
    if identity.member_id == found.member_id:
        return Refusal.ALREADY
    if identity.member_id is None:
        identity.member_id = found.member_id
        kept, joined = found.member_id, None
    else:
        # Ids grow with registration: the smaller is the older.
        older, newer = sorted((found.member_id, identity.member_id))
        await _merge_members(session, keep=older, merge=newer)
        kept, joined = older, newer
    await session.execute(update(Member).where(Member.id == kept).values(account_id=identity_id))
    await audit(
        session, actor, "member.linked", member_id=kept, identity_id=identity_id, merged=joined
    )
    return Linked(kept=kept, joined=joined)


async def _merge_members(session: AsyncSession, *, keep: int, merge: int) -> None:
    """Moves every row that names member `merge` to member `keep`, then removes `merge`.
    Found from the schema (every column referring to members.id), so that a table added
    later is not forgotten; where a unique key would then hold twice (both took part in one
    activity, both reported in one month), the merged member's row goes."""
    members = Base.metadata.tables["members"]
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not any(key.column is members.c.id for key in column.foreign_keys):
                continue
            for unique in _unique_keys(table):
                if column.name not in unique:
                    continue
                twin = table.alias()
                same = [twin.c[name] == table.c[name] for name in unique - {column.name}]
                await session.execute(
                    delete(table).where(
                        column == merge, exists().where(and_(twin.c[column.name] == keep, *same))
                    )
                )
            await session.execute(update(table).where(column == merge).values({column.name: keep}))
    merged_from = await session.scalar(
        delete(Member).where(Member.id == merge).returning(Member.unit_id)
    )
    await count_member(session, merged_from, -1)
    await refile_reporter(session, keep)  # the merged member's months, under keep's unit


def _unique_keys(table: Table) -> list[set[str]]:
    """The column names of each unique constraint and of the primary key of a table."""
    return [
        {column.name for column in constraint.columns}
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint)
    ]
