"""Digests: secretaries and admins hear that work waits for them — entries to review, and
members asking to move into their units — in one message at most every
`review.digest_minutes`, never in quiet hours, through the outbox to their own channel and
in their language. A reviewer with nothing new hears nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from domain.vocabulary import OPEN
from models.entries import Reviewer, scope_unit_ids, waiting_count, waiting_since
from models.outbox import enqueue_notice
from models.people import WAITING
from models.schedules import outside_quiet_hours
from models.tables import Entry, Identity, ReviewDigest, RoleGrant, UnitChange

__all__ = ["send_review_digests"]


async def send_review_digests(session: AsyncSession, config: Config, now: dt.datetime) -> int:
    """Queues the digests due now; returns how many reviewers were told."""
    if outside_quiet_hours(now, config.schedules, config.tz) != now:
        return 0  # held until the morning: the next run after quiet hours sends them
    newest = max(
        [
            moment
            for moment in (
                await session.scalar(
                    select(func.max(Entry.updated_at)).where(Entry.status.in_(OPEN))
                ),
                await session.scalar(
                    select(func.max(UnitChange.requested_at)).where(UnitChange.status == WAITING)
                ),
            )
            if moment is not None
        ],
        default=None,
    )
    if newest is None:
        return 0
    roles: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    members: dict[int, int | None] = {}
    grants = await session.execute(
        select(RoleGrant.identity_id, RoleGrant.role, RoleGrant.unit_id, Identity.member_id).join(
            Identity, Identity.id == RoleGrant.identity_id
        )
    )
    for identity_id, role, unit_id, member_id in grants.all():
        roles[identity_id].append((role, unit_id))
        members[identity_id] = member_id
    digests = {
        digest.identity_id: digest
        for digest in (await session.scalars(select(ReviewDigest))).all()
    }
    told = 0
    for identity_id, held in roles.items():
        digest = digests.get(identity_id)
        if digest is not None and (
            digest.seen_until >= newest or now - digest.sent_at < config.review_digest_every
        ):
            continue
        who = Reviewer(await scope_unit_ids(session, held), members[identity_id])
        since = digest.seen_until if digest is not None else None
        entries, moves = await waiting_since(session, who, since)
        if entries:
            total = await waiting_count(session, who)
            await enqueue_notice(
                session, "review_digest", {"n": entries, "total": total}, identity_id=identity_id
            )
        if moves:
            await enqueue_notice(session, "join_digest", {"n": moves}, identity_id=identity_id)
        if entries or moves:
            told += 1
            if digest is None:
                session.add(ReviewDigest(identity_id=identity_id, sent_at=now, seen_until=now))
                continue
            digest.sent_at = now
        if digest is not None:
            digest.seen_until = now
    return told
