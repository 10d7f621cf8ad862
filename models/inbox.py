"""The inbox: updates stored before they are acknowledged, and the replies they produced."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import InboxUpdate, utcnow

__all__ = [
    "claim_update",
    "finish_update",
    "mark_replied",
    "prune_inbox",
    "store_updates",
    "unfinished_updates",
]


async def store_updates(
    session: AsyncSession, channel: str, updates: Sequence[tuple[str, dict[str, Any]]]
) -> list[str]:
    """Stores (key, payload) pairs not seen before; returns the keys that were new."""
    keys = [key for key, _ in updates]
    known = set(
        (
            await session.scalars(
                select(InboxUpdate.update_key).where(
                    InboxUpdate.channel == channel, InboxUpdate.update_key.in_(keys)
                )
            )
        ).all()
    )
    new: list[str] = []
    for key, payload in updates:
        if key in known or key in new:
            continue
        session.add(InboxUpdate(channel=channel, update_key=key, payload=payload))
        new.append(key)
    await session.flush()
    return new


async def claim_update(
    session: AsyncSession, channel: str, key: str, payload: dict[str, Any]
) -> InboxUpdate | None:
    """The inbox row to handle in this transaction, or None if it was handled already."""
    row = await session.scalar(
        select(InboxUpdate).where(InboxUpdate.channel == channel, InboxUpdate.update_key == key)
    )
    if row is None:
        row = InboxUpdate(channel=channel, update_key=key, payload=payload)
        session.add(row)
        await session.flush()
        return row
    return None if row.handled_at is not None else row


async def mark_replied(session: AsyncSession, channel: str, key: str) -> None:
    """Records that the replies went out, and forgets them: they may hold personal data."""
    await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.channel == channel, InboxUpdate.update_key == key)
        .values(replied_at=utcnow(), replies=None, payload={})
    )


async def prune_inbox(session: AsyncSession, before: dt.datetime) -> int:
    """Deletes updates answered before `before`; channels redeliver within a day at most."""
    result = await session.execute(delete(InboxUpdate).where(InboxUpdate.replied_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def finish_update(session: AsyncSession, channel: str, key: str) -> None:
    """Marks an update that needs no handling (not from a private chat) as done."""
    now = utcnow()
    await session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.channel == channel, InboxUpdate.update_key == key)
        .values(handled_at=now, replied_at=now, replies={"items": []})
    )


async def unfinished_updates(session: AsyncSession, channel: str) -> list[InboxUpdate]:
    """Updates stored but not handled, or handled with replies not yet sent, oldest first."""
    return list(
        (
            await session.scalars(
                select(InboxUpdate)
                .where(InboxUpdate.channel == channel, InboxUpdate.replied_at.is_(None))
                .order_by(InboxUpdate.id)
            )
        ).all()
    )
