"""The inbox: updates stored before they are acknowledged, and the replies they produced."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import InboxUpdate, utcnow

__all__ = [
    "finish_handling",
    "finish_update",
    "mark_replied",
    "prune_inbox",
    "store_updates",
    "unfinished_updates",
]


# The statements every update runs are built once and run over the table (Core): building a
# statement and the ORM's handling of it cost more than the index lookups themselves.
_inbox = cast(Table, InboxUpdate.__table__)
_KNOWN = select(_inbox.c.update_key).where(
    _inbox.c.channel == bindparam("channel"),
    _inbox.c.update_key.in_(bindparam("keys", expanding=True)),
)
_STORE = insert(_inbox)
_HANDLED = (
    update(_inbox)
    .where(
        _inbox.c.channel == bindparam("in_channel"),
        _inbox.c.update_key == bindparam("in_key"),
        _inbox.c.handled_at.is_(None),
    )
    .values(handled_at=bindparam("now"), payload=bindparam("chat"), replies=bindparam("items"))
)
_STORED = select(_inbox.c.id).where(
    _inbox.c.channel == bindparam("in_channel"), _inbox.c.update_key == bindparam("in_key")
)
_REPLIED = (
    update(_inbox)
    .where(
        _inbox.c.channel == bindparam("in_channel"),
        _inbox.c.update_key.in_(bindparam("keys", expanding=True)),
    )
    .values(replied_at=bindparam("now"), replies=None, payload={})
)


async def store_updates(
    session: AsyncSession, channel: str, updates: Sequence[tuple[str, dict[str, Any]]]
) -> list[str]:
    """Stores (key, payload) pairs not seen before; returns the keys that were new."""
    keys = [key for key, _ in updates]
    known = set((await session.scalars(_KNOWN, {"channel": channel, "keys": keys})).all())
    new: dict[str, dict[str, Any]] = {}
    for key, payload in updates:
        if key not in known:
            new.setdefault(key, payload)
    if new:
        await session.execute(
            _STORE,
            [{"channel": channel, "update_key": key, "payload": p} for key, p in new.items()],
        )
    return list(new)


async def finish_handling(
    session: AsyncSession, channel: str, key: str, chat_id: str, replies: list[dict[str, Any]]
) -> bool:
    """Marks an update handled, with the replies to send; False if it was handled before.

    What the user sent is not kept, only the chat to answer. An update that was never
    stored (the console, tests) is stored here, handled.
    """
    done = {
        "in_channel": channel,
        "in_key": key,
        "now": utcnow(),
        "chat": {"_chat_id": chat_id},
        "items": {"items": replies},
    }
    result = await session.execute(_HANDLED, done)
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    if await session.scalar(_STORED, done) is not None:
        return False
    await session.execute(
        _STORE,
        {
            "channel": channel,
            "update_key": key,
            "handled_at": done["now"],
            "payload": done["chat"],
            "replies": done["items"],
        },
    )
    return True


async def mark_replied(session: AsyncSession, channel: str, keys: Collection[str]) -> None:
    """Records that the replies went out, and forgets them: they may hold personal data."""
    await session.execute(_REPLIED, {"in_channel": channel, "keys": list(keys), "now": utcnow()})


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
