"""Channel tokens that rotate (see ChannelToken): read, seeded by an operator, and refreshed by
one process at a time. The lease is a conditional update at the version read, which SQLite and
PostgreSQL both apply to one row atomically: of two processes that read the same version, one
changes the row and the other finds it changed. Queries never commit; the caller does."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import ChannelToken

__all__ = ["finish_refresh", "give_up_refresh", "read_tokens", "seed_tokens", "take_refresh"]


async def read_tokens(session: AsyncSession, channel: str) -> ChannelToken | None:
    return await session.get(ChannelToken, channel, populate_existing=True)


async def seed_tokens(session: AsyncSession, channel: str, refresh_token: str) -> None:
    """Starts over from a refresh token an operator got: the access token is refreshed with it
    at the next call, and any lease is dropped."""
    row = await read_tokens(session, channel)
    if row is None:
        row = ChannelToken(channel=channel, refresh_token=refresh_token, version=0)
        session.add(row)
    row.refresh_token = refresh_token
    row.access_token = ""
    row.access_expires_at = None
    row.leased_until = None
    row.version = (row.version or 0) + 1


async def take_refresh(
    session: AsyncSession, channel: str, version: int, now: dt.datetime, lease: dt.timedelta
) -> bool:
    """Takes the right to refresh, if the row is still at `version` and nobody holds a lease
    that lasts; the new version is `version + 1`."""
    result = await session.execute(
        update(ChannelToken)
        .where(
            ChannelToken.channel == channel,
            ChannelToken.version == version,
            or_(ChannelToken.leased_until.is_(None), ChannelToken.leased_until < now),
        )
        .values(leased_until=now + lease, version=version + 1)
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def finish_refresh(
    session: AsyncSession,
    channel: str,
    version: int,
    *,
    access_token: str,
    refresh_token: str,
    expires_at: dt.datetime,
    now: dt.datetime,
) -> bool:
    """Stores the new pair, both at once, if the lease taken at `version` is still ours."""
    result = await session.execute(
        update(ChannelToken)
        .where(ChannelToken.channel == channel, ChannelToken.version == version)
        .values(
            access_token=access_token,
            refresh_token=refresh_token,
            access_expires_at=expires_at,
            refreshed_at=now,
            leased_until=None,
            version=version + 1,
        )
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def give_up_refresh(session: AsyncSession, channel: str, version: int) -> None:
    """Lets another try at once (the platform could not be reached, or refused the token)."""
    await session.execute(
        update(ChannelToken)
        .where(ChannelToken.channel == channel, ChannelToken.version == version)
        .values(leased_until=None)
    )
