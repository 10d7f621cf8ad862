"""Nominations for awards: a unit proposes an award for a member or a unit, resting on approved
entries; each level of the award's ladder passes it on or returns it with a reason; the last
level records the decision. And the candidates that approved entries suggest.

Who decides what (domain invariants):
- a nomination waits at one level at a time: the secretaries of a unit above the proposing
  unit (below the province), the admins (Tỉnh Đoàn) or the appraisers (Sở Nội vụ), as the
  ladder says;
- nobody decides on their own nomination: not the secretary who proposed it, not the member
  it proposes, not a secretary of the proposing unit or of the unit it proposes;
- a decision names the revision it was taken on; each step makes a new revision, so a second
  tap, an older card or a card of a nomination changed since decides nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.awards import Ladder
from domain.vocabulary import Nomination as State
from domain.vocabulary import Role, Status
from models.people import audit
from models.tables import (
    Campaign,
    Entry,
    Identity,
    Member,
    Nomination,
    NominationEntry,
    NominationStep,
    RoleGrant,
    Unit,
    utcnow,
)
from models.units import unit_path

__all__ = [
    "AWARDED",
    "PASSED",
    "RETURNED",
    "Appraiser",
    "Candidate",
    "Decision",
    "Proposal",
    "Scored",
    "appraiser_for",
    "candidates",
    "decidable_now",
    "history",
    "levels_for",
    "next_level",
    "nomination_entries",
    "pass_on",
    "period_span",
    "propose",
    "record_decision",
    "resend",
    "return_nomination",
    "reviewers_at",
    "supporting_entries",
    "unit_nominations",
    "waiting_count",
    "waiting_for",
    "withdraw",
]

# What happened at a step (nomination_steps.action).
SUBMITTED, RESUBMITTED, PASSED, RETURNED = "submitted", "resubmitted", "passed", "returned"
AWARDED, WITHDRAWN = "awarded", "withdrawn"
PROGRAMME_END = dt.date(2030, 12, 31)
# Approved entries read at most to suggest candidates (the newest first).
MOST_READ = 50_000


# -- periods -------------------------------------------------------------------------------


async def period_span(
    session: AsyncSession, ladder: Ladder, code: str
) -> tuple[dt.date, dt.date] | None:
    """The first and last day of a period: "year:2026", "campaign:3", or a named period of
    the ladder ("so-ket"); None when there is no such period."""
    kind, _, value = code.partition(":")
    if kind == "year" and value.isdigit() and 2000 <= int(value) <= 2100:
        return dt.date(int(value), 1, 1), dt.date(int(value), 12, 31)
    if kind == "campaign" and value.isdigit():
        campaign = await session.get(Campaign, int(value))
        if campaign is None:
            return None
        return campaign.starts_on, campaign.ends_on or PROGRAMME_END
    named = ladder.periods.get(code)
    return (named.first, named.last) if named else None


# -- who decides -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Appraiser:
    """Who decides on nominations: an admin (Tỉnh Đoàn), an appraiser (Sở Nội vụ), and the
    units strictly below the units they lead (not the province), whose nominations pass them
    as the union level above; never on what is their own or their own unit's."""

    member_id: int | None
    admin: bool = False
    appraiser: bool = False
    led: frozenset[int] = field(default_factory=frozenset)
    below: frozenset[int] = field(default_factory=frozenset)

    @property
    def appraises(self) -> bool:
        return self.admin or self.appraiser or bool(self.below)


async def appraiser_for(
    session: AsyncSession, roles: Sequence[tuple[str, int | None]], member_id: int | None
) -> Appraiser:
    led = frozenset(unit for role, unit in roles if role == Role.SECRETARY and unit is not None)
    parents = dict((await session.execute(select(Unit.id, Unit.parent_id))).all())
    children: dict[int, list[int]] = {}
    for unit, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(unit)
    below: set[int] = set()
    # The province (the root) is not a union level above: Tỉnh Đoàn decides there.
    stack = [
        child for unit in led if parents.get(unit) is not None for child in children.get(unit, ())
    ]
    while stack:
        unit = stack.pop()
        if unit not in below:
            below.add(unit)
            stack.extend(children.get(unit, ()))
    return Appraiser(
        member_id=member_id,
        admin=any(role == Role.ADMIN for role, _ in roles),
        appraiser=any(role == Role.APPRAISER for role, _ in roles),
        led=led,
        below=frozenset(below - led),
    )


def _levels(ladder: Ladder, reviewers: Role) -> list[str]:
    return [code for code, level in ladder.levels.items() if level.reviewers == reviewers]


def _decidable(who: Appraiser, ladder: Ladder) -> list[ColumnElement[bool]]:
    """Nominations waiting at a level this person decides, that are not their own."""
    at: list[ColumnElement[bool]] = []
    if who.admin:
        at.append(Nomination.level.in_(_levels(ladder, Role.ADMIN)))
    if who.appraiser:
        at.append(Nomination.level.in_(_levels(ladder, Role.APPRAISER)))
    if who.below:
        at.append(
            and_(
                Nomination.level.in_(_levels(ladder, Role.SECRETARY)),
                Nomination.unit_id.in_(who.below),
            )
        )
    conditions: list[ColumnElement[bool]] = [
        Nomination.status == State.WAITING,
        or_(*at) if at else false(),
    ]
    if who.member_id is not None:
        for column in (Nomination.proposer_id, Nomination.nominee_member_id):
            conditions.append(or_(column.is_(None), column != who.member_id))
    if who.led:
        conditions.append(Nomination.unit_id.not_in(who.led))
        conditions.append(
            or_(Nomination.nominee_unit_id.is_(None), Nomination.nominee_unit_id.not_in(who.led))
        )
    return conditions


async def waiting_for(
    session: AsyncSession, who: Appraiser, ladder: Ladder, *, skipped: Sequence[int] = ()
) -> Nomination | None:
    """The nomination that has waited longest for this person, leaving out skipped ones."""
    statement = (
        select(Nomination)
        .where(*_decidable(who, ladder), Nomination.id.not_in(skipped))
        .order_by(Nomination.updated_at, Nomination.id)
        .limit(1)
    )
    return await session.scalar(statement)


async def waiting_count(session: AsyncSession, who: Appraiser, ladder: Ladder) -> int:
    statement = select(func.count()).select_from(Nomination).where(*_decidable(who, ladder))
    return await session.scalar(statement) or 0


async def decidable_now(
    session: AsyncSession, who: Appraiser, ladder: Ladder, nomination_id: int
) -> bool:
    statement = select(Nomination.id).where(
        Nomination.id == nomination_id, *_decidable(who, ladder)
    )
    return await session.scalar(statement) is not None


async def reviewers_at(session: AsyncSession, ladder: Ladder, nomination: Nomination) -> list[int]:
    """The accounts that may decide the nomination where it waits now."""
    reviewers = ladder.levels[nomination.level].reviewers
    grants = select(RoleGrant.identity_id).where(RoleGrant.role == reviewers)
    if reviewers == Role.SECRETARY:
        above = [unit.id for unit in (await unit_path(session, nomination.unit_id))[1:-1]]
        grants = grants.where(RoleGrant.unit_id.in_(above))
    found = []
    for identity_id in (await session.scalars(grants.distinct())).all():
        identity = await session.get_one(Identity, identity_id)
        roles = (
            await session.execute(
                select(RoleGrant.role, RoleGrant.unit_id).where(
                    RoleGrant.identity_id == identity_id
                )
            )
        ).all()
        who = await appraiser_for(session, [(r, u) for r, u in roles], identity.member_id)
        if await decidable_now(session, who, ladder, nomination.id):
            found.append(identity_id)
    return found


# -- the ladder of one nomination --------------------------------------------------------------


async def levels_for(session: AsyncSession, ladder: Ladder, award: str, unit_id: int) -> list[str]:
    """The levels a nomination of this award from this unit passes: the award's, without
    the union level above when the unit is right below the province."""
    path = await unit_path(session, unit_id)
    has_level_above = len(path) > 2  # the unit, a unit above it, the province
    return [
        code
        for code in ladder.awards[award].levels
        if ladder.levels[code].reviewers != Role.SECRETARY or has_level_above
    ]


async def next_level(session: AsyncSession, ladder: Ladder, nomination: Nomination) -> str | None:
    levels = await levels_for(session, ladder, nomination.award, nomination.unit_id)
    index = levels.index(nomination.level) if nomination.level in levels else len(levels)
    return levels[index + 1] if index + 1 < len(levels) else None


# -- what a nomination rests on ----------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    entry: Entry
    points: float


def _own_work(member_id: int | None, unit_id: int | None) -> ColumnElement[bool]:
    """A member's own approved entries, or a unit's collective ones."""
    if member_id is not None:
        return and_(Entry.reporter_id == member_id, Entry.collective.is_(False))
    return and_(Entry.unit_id == unit_id, Entry.collective.is_(True))


async def supporting_entries(
    session: AsyncSession,
    ladder: Ladder,
    *,
    member_id: int | None,
    unit_id: int | None,
    first: dt.date,
    last: dt.date,
    limit: int = 20,
) -> list[Scored]:
    """The approved entries of a member (their own) or a unit (its collective ones) that
    happened in the period, highest score first."""
    found = await session.scalars(
        select(Entry)
        .where(
            _own_work(member_id, unit_id),
            Entry.status == Status.APPROVED,
            Entry.happened_on.between(first, last),
        )
        .order_by(Entry.happened_on.desc(), Entry.id.desc())
        .limit(MOST_READ)
    )
    scored = [
        Scored(entry, ladder.score(entry.kind, entry.answers, collective=entry.collective))
        for entry in found.all()
    ]
    return sorted(scored, key=lambda s: (-s.points, -s.entry.id))[:limit]


async def nomination_entries(
    session: AsyncSession, ladder: Ladder, nomination_id: int
) -> list[Scored]:
    found = await session.scalars(
        select(Entry)
        .join(NominationEntry, NominationEntry.entry_id == Entry.id)
        .where(NominationEntry.nomination_id == nomination_id)
        .order_by(Entry.happened_on, Entry.id)
    )
    return [
        Scored(entry, ladder.score(entry.kind, entry.answers, collective=entry.collective))
        for entry in found.all()
    ]


@dataclass(frozen=True)
class Candidate:
    """A member or a unit that approved entries of a period suggest, with the entries behind
    the score (highest first)."""

    member_id: int | None
    unit_id: int | None
    name: str
    unit_name: str
    score: float
    entries: list[Scored]


async def candidates(
    session: AsyncSession,
    ladder: Ladder,
    scope: set[int],
    first: dt.date,
    last: dt.date,
    *,
    limit: int = 5,
) -> tuple[list[Candidate], list[Candidate], bool]:
    """Members (by their own approved entries) and units (by their collective ones) of the
    units in scope, ranked by score for the period; and whether only the newest MOST_READ
    entries could be read."""
    rows = (
        await session.execute(
            select(Entry, Member.full_name, Unit.name)
            .join(Unit, Unit.id == Entry.unit_id)
            .outerjoin(Member, Member.id == Entry.reporter_id)
            .where(
                Entry.unit_id.in_(scope),
                Entry.status == Status.APPROVED,
                Entry.happened_on.between(first, last),
                or_(Entry.collective.is_(True), Entry.reporter_id.is_not(None)),
            )
            .order_by(Entry.happened_on.desc(), Entry.id.desc())
            .limit(MOST_READ)
        )
    ).all()
    people: dict[int, tuple[str, str, list[Scored]]] = {}
    units: dict[int, tuple[str, list[Scored]]] = {}
    for entry, member_name, unit_name in rows:
        scored = Scored(
            entry, ladder.score(entry.kind, entry.answers, collective=entry.collective)
        )
        if entry.collective:
            units.setdefault(entry.unit_id, (unit_name, []))[1].append(scored)
        elif entry.reporter_id is not None:
            people.setdefault(entry.reporter_id, (member_name, unit_name, []))[2].append(scored)

    def ranked(found: list[Candidate]) -> list[Candidate]:
        return sorted(found, key=lambda c: (-c.score, c.name))[:limit]

    def best(entries: list[Scored]) -> list[Scored]:
        return sorted(entries, key=lambda s: (-s.points, -s.entry.id))

    members = [
        Candidate(mid, None, name, unit, round(sum(s.points for s in ent), 1), best(ent))
        for mid, (name, unit, ent) in people.items()
    ]
    collectives = [
        Candidate(None, uid, name, name, round(sum(s.points for s in ent), 1), best(ent))
        for uid, (name, ent) in units.items()
    ]
    return ranked(members), ranked(collectives), len(rows) >= MOST_READ


# -- proposing, passing on, returning, deciding ------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """What a unit proposes: an award form for a period, for a member or a unit (the kind of
    participant they are), with a summary and the approved entries behind it."""

    award: str
    period: str
    participant: str
    nominee_member_id: int | None
    nominee_unit_id: int | None
    summary: str
    entry_ids: Sequence[int]


def _step(
    session: AsyncSession,
    nomination: Nomination,
    action: str,
    actor: str,
    *,
    note: str | None = None,
    level: str | None = None,
) -> None:
    session.add(
        NominationStep(
            nomination_id=nomination.id,
            version=nomination.version,
            level=level or nomination.level,
            action=action,
            acted_by=actor,
            note=note,
        )
    )


def _link(session: AsyncSession, nomination_id: int, entry_ids: Sequence[int]) -> None:
    for entry_id in dict.fromkeys(entry_ids):
        session.add(NominationEntry(nomination_id=nomination_id, entry_id=entry_id))


async def _audit(
    session: AsyncSession, actor: str, action: str, nomination: Nomination, **details: Any
) -> None:
    """An audit row naming the nomination, and the member it proposes (whom it concerns)."""
    if nomination.nominee_member_id is not None:
        details["member_id"] = nomination.nominee_member_id
    await audit(session, actor, action, nomination_id=nomination.id, **details)


async def propose(
    session: AsyncSession,
    ladder: Ladder,
    proposal: Proposal,
    *,
    unit_id: int,
    proposer_id: int,
    actor: str,
) -> Nomination:
    """A new nomination, waiting at the first level of its award's ladder, with the entries
    it rests on, its first step and an audit row."""
    levels = await levels_for(session, ladder, proposal.award, unit_id)
    nomination = Nomination(
        award=proposal.award,
        period=proposal.period,
        unit_id=unit_id,
        proposer_id=proposer_id,
        participant=proposal.participant,
        nominee_member_id=proposal.nominee_member_id,
        nominee_unit_id=proposal.nominee_unit_id,
        summary=proposal.summary,
        status=State.WAITING,
        level=levels[0],
        version=1,
    )
    session.add(nomination)
    await session.flush()
    _link(session, nomination.id, proposal.entry_ids)
    _step(session, nomination, SUBMITTED, actor)
    await _audit(session, actor, "nomination.submitted", nomination, award=proposal.award)
    return nomination


async def resend(
    session: AsyncSession,
    ladder: Ladder,
    nomination: Nomination,
    proposal: Proposal,
    *,
    version: int,
    actor: str,
) -> bool:
    """Sends a returned nomination again, changed, at the revision its unit saw: it passes
    every level of its ladder again. False when it was not returned, or changed since."""
    levels = await levels_for(session, ladder, proposal.award, nomination.unit_id)
    result = await session.execute(
        update(Nomination)
        .where(
            Nomination.id == nomination.id,
            Nomination.status == State.RETURNED,
            Nomination.version == version,
        )
        .values(
            award=proposal.award,
            period=proposal.period,
            participant=proposal.participant,
            nominee_member_id=proposal.nominee_member_id,
            nominee_unit_id=proposal.nominee_unit_id,
            summary=proposal.summary,
            status=State.WAITING,
            level=levels[0],
            version=version + 1,
            return_reason=None,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(nomination)
    await session.execute(
        delete(NominationEntry).where(NominationEntry.nomination_id == nomination.id)
    )
    _link(session, nomination.id, proposal.entry_ids)
    _step(session, nomination, RESUBMITTED, actor)
    await _audit(session, actor, "nomination.resubmitted", nomination, version=nomination.version)
    return True


async def withdraw(
    session: AsyncSession, nomination: Nomination, *, version: int, actor: str
) -> bool:
    """Withdraws a waiting or returned nomination at the revision its unit saw."""
    result = await session.execute(
        update(Nomination)
        .where(
            Nomination.id == nomination.id,
            Nomination.status.in_((State.WAITING, State.RETURNED)),
            Nomination.version == version,
        )
        .values(status=State.WITHDRAWN, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(nomination)
    _step(session, nomination, WITHDRAWN, actor)
    await _audit(session, actor, "nomination.withdrawn", nomination)
    return True


async def _decide(
    session: AsyncSession,
    ladder: Ladder,
    nomination: Nomination,
    *,
    version: int,
    who: Appraiser,
    values: dict[str, Any],
) -> bool:
    """The conditional update behind every decision: on the revision shown, while it waits
    for this person and is not their own; False otherwise (decided first by someone else,
    changed or withdrawn, or no longer theirs to decide)."""
    result = await session.execute(
        update(Nomination)
        .where(
            Nomination.id == nomination.id,
            Nomination.version == version,
            *_decidable(who, ladder),
        )
        .values(**values, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(nomination)
    return True


async def pass_on(
    session: AsyncSession,
    ladder: Ladder,
    nomination_id: int,
    *,
    version: int,
    who: Appraiser,
    actor: str,
) -> tuple[Nomination, str] | None:
    """Passes the nomination on to the next level of its ladder; (it, the level it passed)
    or None when that is no longer possible, or it waits at its last level (where the
    decision is recorded instead)."""
    nomination = await session.get(Nomination, nomination_id)
    if nomination is None or nomination.version != version:
        return None
    passed, following = nomination.level, await next_level(session, ladder, nomination)
    if following is None or not await _decide(
        session, ladder, nomination, version=version, who=who, values={"level": following}
    ):
        return None
    _step(session, nomination, PASSED, actor, level=passed)
    await _audit(session, actor, "nomination.passed", nomination, level=passed)
    return nomination, passed


async def return_nomination(
    session: AsyncSession,
    ladder: Ladder,
    nomination_id: int,
    *,
    version: int,
    who: Appraiser,
    reason: str,
    actor: str,
) -> Nomination | None:
    """Returns the nomination to its unit with a reason, from the level where it waits."""
    nomination = await session.get(Nomination, nomination_id)
    values = {"status": State.RETURNED, "return_reason": reason}
    if nomination is None or not await _decide(
        session, ladder, nomination, version=version, who=who, values=values
    ):
        return None
    _step(session, nomination, RETURNED, actor, note=reason)
    await _audit(session, actor, "nomination.returned", nomination, level=nomination.level)
    return nomination


@dataclass(frozen=True)
class Decision:
    """The award decision as recorded at the last level."""

    award: str
    number: str
    day: dt.date
    signer: str


async def record_decision(
    session: AsyncSession,
    ladder: Ladder,
    nomination_id: int,
    *,
    version: int,
    who: Appraiser,
    decision: Decision,
    actor: str,
) -> Nomination | None:
    """Records the award decision on a nomination waiting at its last level."""
    nomination = await session.get(Nomination, nomination_id)
    if nomination is None or nomination.version != version:
        return None
    if await next_level(session, ladder, nomination) is not None:
        return None
    values = {
        "status": State.AWARDED,
        "decided_award": decision.award,
        "decision_number": decision.number,
        "decision_date": decision.day,
        "signer": decision.signer,
        "decided_at": utcnow(),
        "decided_by": actor,
    }
    if not await _decide(session, ladder, nomination, version=version, who=who, values=values):
        return None
    _step(session, nomination, AWARDED, actor, note=decision.number)
    await _audit(
        session,
        actor,
        "nomination.awarded",
        nomination,
        award=decision.award,
        level=nomination.level,
    )
    return nomination


# -- reading ---------------------------------------------------------------------------------


async def history(session: AsyncSession, nomination_id: int) -> list[NominationStep]:
    found = await session.scalars(
        select(NominationStep)
        .where(NominationStep.nomination_id == nomination_id)
        .order_by(NominationStep.id)
    )
    return list(found.all())


async def unit_nominations(
    session: AsyncSession, unit_ids: Sequence[int] | None, *, limit: int = 20
) -> list[Nomination]:
    """The nominations proposed by these units (all: None), newest first."""
    statement = select(Nomination).order_by(Nomination.id.desc()).limit(limit)
    if unit_ids is not None:
        statement = statement.where(Nomination.unit_id.in_(unit_ids))
    return list((await session.scalars(statement)).all())
