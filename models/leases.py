"""Leases, the shared send pace and notifications: how processes sharing one PostgreSQL
database divide the work. PostgreSQL's own clock decides what has expired and when the next
message may go, so the machines' clocks need not agree. (SQLite serves one process: nothing
here runs on it.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import (
    Float,
    Interval,
    String,
    Table,
    delete,
    exists,
    extract,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from models.tables import InboxUpdate, Lease, SendPace

__all__ = [
    "NOTIFY_CHANNEL",
    "chat_lease",
    "claim_chats",
    "notify",
    "open_updates",
    "pause_sending",
    "release_leases",
    "renew_leases",
    "start_pace",
    "take_lease",
    "take_send_slot",
]


def chat_lease(channel: str, chat_id: str) -> str:
    return f"chat:{channel}:{chat_id}"


def _chat_of_update() -> Any:
    return InboxUpdate.payload["_chat_id"].as_string()


def _taken(holder: str, rows: Any) -> Any:
    """INSERT the (name) rows as leases of `holder`, taking over those that expired;
    RETURNING the names now held."""
    statement = insert(Lease).from_select(["name", "holder", "expires_at"], rows)
    return statement.on_conflict_do_update(
        index_elements=[Lease.name],
        set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
        where=or_(Lease.holder == holder, Lease.expires_at < func.now()),
    ).returning(Lease.name)


def _until(ttl: dt.timedelta) -> Any:
    return func.now() + literal(ttl, Interval())


async def take_lease(session: AsyncSession, name: str, holder: str, ttl: dt.timedelta) -> bool:
    """Takes (or renews) the lease `name` unless another holder's is still running."""
    row = select(literal(name, String()), literal(holder, String()), _until(ttl))
    return (await session.scalar(_taken(holder, row))) is not None


async def renew_leases(session: AsyncSession, holder: str, ttl: dt.timedelta) -> set[str]:
    """Renews every lease the holder still has; returns their names."""
    result = await session.scalars(
        update(Lease)
        .where(Lease.holder == holder, Lease.expires_at >= func.now())
        .values(expires_at=_until(ttl))
        .returning(Lease.name)
    )
    return set(result.all())


async def release_leases(
    session: AsyncSession, holder: str, names: Collection[str] | None = None
) -> None:
    """Lets the holder's leases go (all of them when `names` is None)."""
    statement = delete(Lease).where(Lease.holder == holder)
    if names is not None:
        statement = statement.where(Lease.name.in_(list(names)))
    await session.execute(statement)


async def claim_chats(
    session: AsyncSession, channel: str, holder: str, ttl: dt.timedelta, *, limit: int
) -> list[str]:
    """Leases up to `limit` chats of the channel with updates to handle or answer that no
    other process is working on, the chats with the oldest such update first; returns
    their chat ids."""
    chat = _chat_of_update()
    prefix = f"chat:{channel}:"
    name = literal(prefix, String()) + chat
    oldest = (
        select(name.label("name"))
        .where(
            InboxUpdate.channel == channel,
            InboxUpdate.replied_at.is_(None),
            ~exists().where(Lease.name == name, Lease.expires_at >= func.now()),
        )
        .group_by(chat)
        .order_by(func.min(InboxUpdate.id))
        .limit(limit)
        .subquery()
    )
    # Taken in the order of their names, as every process does: two processes claiming
    # the same chats at once never wait for each other in a circle.
    rows = select(oldest.c.name, literal(holder, String()), _until(ttl)).order_by(oldest.c.name)
    names = (await session.scalars(_taken(holder, rows))).all()
    return [found.removeprefix(prefix) for found in names]


async def open_updates(
    session: AsyncSession, channel: str, chats: Collection[str]
) -> list[InboxUpdate]:
    """The chats' updates still to handle or answer, oldest first."""
    return list(
        (
            await session.scalars(
                select(InboxUpdate)
                .where(
                    InboxUpdate.channel == channel,
                    InboxUpdate.replied_at.is_(None),
                    _chat_of_update().in_(list(chats)),
                )
                .order_by(InboxUpdate.id)
            )
        ).all()
    )


async def notify(session: AsyncSession, topic: str) -> None:
    """Tells every process listening (bot.cluster) that there is work: sent on commit."""
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, topic)))


NOTIFY_CHANNEL = "youthbot"

_pace = cast(Table, SendPace.__table__)


async def start_pace(connection: AsyncConnection, channel: str) -> None:
    """The channel's shared sending clock, created the first time any process sends."""
    await connection.execute(
        insert(_pace)
        .values(channel=channel, next_at=func.clock_timestamp())
        .on_conflict_do_nothing(index_elements=[_pace.c.channel])
    )


async def take_send_slot(
    connection: AsyncConnection, channel: str, spacing: float, *, within: float | None = None
) -> float | None:
    """Takes the channel's next sending slot and moves the shared clock on by `spacing`
    seconds; returns how long to wait for the slot. With `within`, only a slot that comes
    within that many seconds (else None: try again later): bulk sends never queue up ahead
    of replies."""
    now = func.clock_timestamp()
    step = literal(dt.timedelta(seconds=spacing), Interval())
    statement = (
        update(_pace)
        .where(_pace.c.channel == channel)
        .values(next_at=func.greatest(_pace.c.next_at, now) + step)
        .returning(extract("epoch", _pace.c.next_at - step - now).cast(Float))
    )
    if within is not None:
        ahead = literal(dt.timedelta(seconds=within), Interval())
        statement = statement.where(_pace.c.next_at <= now + ahead)
    wait = (await connection.execute(statement)).scalar()
    return None if wait is None else max(0.0, float(wait))


async def pause_sending(connection: AsyncConnection, channel: str, seconds: float) -> None:
    """The platform said "retry after": no process sends on the channel until then."""
    until = func.clock_timestamp() + literal(dt.timedelta(seconds=seconds), Interval())
    await connection.execute(
        update(_pace)
        .where(_pace.c.channel == channel)
        .values(next_at=func.greatest(_pace.c.next_at, until))
    )
