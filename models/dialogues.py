"""Dialogue state queries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Dialogue

__all__ = ["current_dialogue", "prune_dialogues"]


async def current_dialogue(session: AsyncSession, channel: str, chat_id: str) -> Dialogue | None:
    return await session.scalar(
        select(Dialogue).where(Dialogue.channel == channel, Dialogue.chat_id == chat_id)
    )


async def prune_dialogues(session: AsyncSession, before: dt.datetime) -> int:
    """Forgets forms abandoned since `before`, with the personal answers they hold."""
    result = await session.execute(delete(Dialogue).where(Dialogue.updated_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
