"""Dialogue state queries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Dialogue

__all__ = ["current_dialogue", "prune_dialogues"]


# Runs for every message: built once.
_CURRENT = select(Dialogue).where(
    Dialogue.channel == bindparam("channel"), Dialogue.chat_id == bindparam("chat_id")
)


async def current_dialogue(session: AsyncSession, channel: str, chat_id: str) -> Dialogue | None:
    return await session.scalar(_CURRENT, {"channel": channel, "chat_id": chat_id})


async def prune_dialogues(session: AsyncSession, before: dt.datetime) -> int:
    """Forgets forms abandoned since `before`, with the personal answers they hold."""
    result = await session.execute(delete(Dialogue).where(Dialogue.updated_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
