"""The outbox: one row per recipient of a broadcast, drained by the delivery worker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.vocabulary import Role
from models.tables import (
    Broadcast,
    Entry,
    Identity,
    Member,
    OutboxMessage,
    RoleGrant,
    utcnow,
)

__all__ = [
    "admins_audience",
    "audience",
    "audience_reach",
    "broadcast_counts",
    "cancel_broadcast",
    "count_audience",
    "due_messages",
    "enqueue_broadcast",
    "enqueue_notice",
    "enqueue_notices",
    "finish_done_broadcasts",
    "leaders_audience",
    "mark",
    "running_broadcasts",
]


def _latest_account() -> Any:
    """The account a member is reached on: the one they wrote from last if it is reachable,
    else the newest of their reachable ones."""

    def reachable(account: Any) -> Any:
        return select(account.id).where(
            account.member_id == Member.id,
            account.chat_id.is_not(None),
            account.unreachable_at.is_(None),
        )

    last, newest = aliased(Identity), aliased(Identity)
    return func.coalesce(
        reachable(last).where(last.id == Member.account_id).correlate(Member).scalar_subquery(),
        reachable(newest)
        .with_only_columns(func.max(newest.id))
        .correlate(Member)
        .scalar_subquery(),
    )


def audience(unit_ids: set[int] | None, *, not_reported_since: dt.datetime | None = None) -> Any:
    """(member, identity, chat, channel, locale) of every member to reach: in the units (all
    when None), not opted out, reachable; one account per member, the latest they used."""
    latest = _latest_account()
    conditions: list[ColumnElement[bool]] = [Member.broadcasts_off.is_(False)]
    if unit_ids is not None:
        conditions.append(Member.unit_id.in_(unit_ids))
    if not_reported_since is not None:
        conditions.append(
            ~exists().where(
                Entry.reporter_id == Member.id, Entry.submitted_at >= not_reported_since
            )
        )
    return (
        select(
            Member.id,
            Identity.id,
            Identity.chat_id,
            Identity.channel,
            # The language as chosen, else as the app reports it; resolved when sending.
            func.coalesce(Identity.locale, Identity.client_language, literal("")),
        )
        .join(Identity, and_(Identity.id == latest))
        .where(*conditions)
    )


def leaders_audience(unit_ids: set[int] | None) -> Any:
    """The same columns as `audience` for secretaries of the units (all when None), on the
    account their role was granted to."""
    conditions: list[ColumnElement[bool]] = [RoleGrant.role == Role.SECRETARY]
    if unit_ids is not None:
        conditions.append(RoleGrant.unit_id.in_(unit_ids))
    return _role_accounts(*conditions)


def admins_audience(*, off_channel: str) -> Any:
    """The same columns as `audience` for the admins, on the accounts their role was granted
    to, except accounts on `off_channel` (which cannot carry the message)."""
    return _role_accounts(RoleGrant.role == Role.ADMIN, Identity.channel != off_channel)


def _role_accounts(*conditions: ColumnElement[bool]) -> Any:
    """The same columns as `audience` for the reachable accounts holding a role."""
    return (
        select(
            Identity.member_id,
            Identity.id,
            Identity.chat_id,
            Identity.channel,
            func.coalesce(Identity.locale, Identity.client_language, literal("")),
        )
        .join(RoleGrant, RoleGrant.identity_id == Identity.id)
        .where(Identity.chat_id.is_not(None), Identity.unreachable_at.is_(None), *conditions)
        .distinct()
    )


async def audience_reach(
    session: AsyncSession, query: Any, since: dict[str, dt.datetime]
) -> dict[str, tuple[int, int]]:
    """For each channel of an audience query (columns of `audience`): how many it reaches,
    and how many of them last wrote at or after that channel's time in `since` (all of
    them, for a channel not in it)."""
    rows = query.subquery()
    channel, account = rows.c[3], rows.c[1]
    counts = {
        name: (int(total), int(total))
        for name, total in (
            await session.execute(select(channel, func.count()).group_by(channel))
        ).all()
    }
    for name, cutoff in since.items():
        if name not in counts:
            continue
        inside = await session.scalar(
            select(func.count())
            .select_from(rows)
            .join(Identity, Identity.id == account)
            .where(channel == name, Identity.last_message_at >= cutoff)
        )
        counts[name] = (counts[name][0], int(inside or 0))
    return counts


async def count_audience(session: AsyncSession, query: Any) -> int:
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0


async def enqueue_broadcast(
    session: AsyncSession, broadcast: Broadcast, query: Any, *, due_at: dt.datetime | None = None
) -> int:
    """One pending outbox row per recipient, in one statement however many there are; sent
    from `due_at` on (now when None)."""
    rows = query.subquery()
    columns = rows.c
    result = await session.execute(
        insert(OutboxMessage).from_select(
            [
                "broadcast_id",
                "identity_id",
                "chat_id",
                "channel",
                "locale",
                "status",
                "attempts",
                "due_at",
            ],
            select(
                literal(broadcast.id),
                columns[1],
                columns[2],
                columns[3],
                func.substr(columns[4], 1, 8),
                literal("pending"),
                literal(0),
                literal(due_at or utcnow()),
            ),
        )
    )
    broadcast.total = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return broadcast.total


async def enqueue_notice(
    session: AsyncSession,
    template: str,
    params: dict[str, Any],
    *,
    member_id: int | None = None,
    identity_id: int | None = None,
    due_at: dt.datetime | None = None,
) -> bool:
    """A notice to one person, on the account they are reached on, whatever its channel:
    a member's latest reachable account, or (for an admin who never registered) the account
    itself. Rendered in their language when sent. False when they cannot be reached."""
    if member_id is None and identity_id is not None:
        member_id = await session.scalar(
            select(Identity.member_id).where(Identity.id == identity_id)
        )
    where = Identity.id == (_latest_account() if member_id is not None else identity_id)
    statement = select(
        Identity.id,
        Identity.chat_id,
        Identity.channel,
        func.coalesce(Identity.locale, Identity.client_language, literal("")),
    ).where(where, Identity.chat_id.is_not(None), Identity.unreachable_at.is_(None))
    if member_id is not None:
        statement = statement.join(Member, Member.id == member_id)
    found = (await session.execute(statement)).first()
    if found is None:
        return False
    session.add(_notice(tuple(found), template, params, due_at))
    return True


async def enqueue_notices(
    session: AsyncSession, template: str, params: dict[str, Any], accounts: Any
) -> int:
    """The same notice to each account of a query with the columns of `audience` (rather
    than to each person's latest account, as enqueue_notice does): a few people, such as
    the admins; how many."""
    rows = (await session.execute(accounts)).all()
    for row in rows:
        session.add(_notice(tuple(row[1:]), template, params))
    return len(rows)


def _notice(
    to: tuple[Any, ...], template: str, params: dict[str, Any], due_at: dt.datetime | None = None
) -> OutboxMessage:
    """An outbox row of a notice `to` (account, chat, channel, locale)."""
    account, chat_id, channel, locale = to
    return OutboxMessage(
        channel=channel,
        chat_id=chat_id,
        identity_id=account,
        locale=locale[:8],
        status="pending",
        attempts=0,
        due_at=due_at or utcnow(),
        template=template,
        params=params,
    )


async def due_messages(
    session: AsyncSession, channel: str, now: dt.datetime, *, limit: int
) -> list[OutboxMessage]:
    """The next pending messages, notices to one person before the parts of broadcasts; on
    PostgreSQL rows another worker holds are skipped."""
    found: list[OutboxMessage] = []
    for part in (OutboxMessage.broadcast_id.is_(None), OutboxMessage.broadcast_id.is_not(None)):
        statement = (
            select(OutboxMessage)
            .where(
                part,
                OutboxMessage.channel == channel,
                OutboxMessage.status == "pending",
                OutboxMessage.due_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(limit - len(found))
            .with_for_update(skip_locked=True)
        )
        found += (await session.scalars(statement)).all()
        if len(found) >= limit:
            break
    return found


async def mark(
    session: AsyncSession,
    message_id: int,
    status: str,
    *,
    error: str | None = None,
    due_at: dt.datetime | None = None,
    attempts: int | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "error": error}
    if status == "sent":
        values["sent_at"] = utcnow()
    if due_at is not None:
        values["due_at"] = due_at
    if attempts is not None:
        values["attempts"] = attempts
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
    )


async def broadcast_counts(session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.broadcast_id == broadcast_id)
        .group_by(OutboxMessage.status)
    )
    return {status: count for status, count in rows.all()}


async def cancel_broadcast(session: AsyncSession, broadcast_id: int) -> int:
    """Stops a running broadcast: what is still pending is not sent."""
    await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == "running")
        .values(status="cancelled", finished_at=utcnow())
    )
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == "pending")
        .values(status="cancelled")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def running_broadcasts(session: AsyncSession) -> Sequence[Broadcast]:
    return (await session.scalars(select(Broadcast).where(Broadcast.status == "running"))).all()


async def finish_done_broadcasts(session: AsyncSession) -> list[Broadcast]:
    """Running broadcasts with nothing left pending become done; returns them."""
    finished = []
    for broadcast in await running_broadcasts(session):
        pending = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.broadcast_id == broadcast.id, OutboxMessage.status == "pending")
        )
        if not pending:
            broadcast.status, broadcast.finished_at = "done", utcnow()
            finished.append(broadcast)
    return finished
