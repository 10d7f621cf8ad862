"""The documents of nominations, written by bot.documents from what the bot records: one
nomination's "Báo cáo tóm tắt thành tích" (DOCX) and a level's "Danh sách đề nghị khen
thưởng" (XLSX); and the nominations and awards of a period report. Shared by /nominations,
the command line and the period report. They name people: whoever takes one is audited by
the caller."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.certificates import AwardDecision
from bot.documents import (
    AwardFile,
    AwardLine,
    Letterhead,
    NominationList,
    NominationRow,
    Nominee,
    achievement_of,
    award_file_docx,
    nomination_list_xlsx,
)
from bot.i18n import Translator
from bot.recognition import period_label
from domain.awards import Ladder
from domain.figures import Figures, figures_of
from domain.units import union_name
from domain.vocabulary import NOMINATION_STATUS_LABELS
from domain.vocabulary import Nomination as State
from models.entries import entry_files
from models.nominations import nomination_entries
from models.tables import Member, Nomination, Unit
from models.units import DEFAULT_CAMPAIGN_TITLE, place_name

__all__ = [
    "award_decision",
    "award_file",
    "award_lines",
    "level_list",
    "nomination_rows",
    "period_nominations",
]


async def _nominee(session: AsyncSession, nomination: Nomination) -> Nominee:
    """Who is proposed, as the documents name them: a person with their unit and year of
    birth, or a collective with the unit it belongs to."""
    if nomination.nominee_member_id is not None:
        member = await session.get_one(Member, nomination.nominee_member_id)
        unit = await session.get_one(Unit, member.unit_id)
        return Nominee(member.full_name, False, unit.name, birth_year=member.birth_year)
    unit = await session.get_one(Unit, nomination.nominee_unit_id or 0)
    parent = await session.get(Unit, unit.parent_id or 0)
    return Nominee(union_name(unit.name, unit.kind), True, parent.name if parent else "")


async def _letterhead(session: AsyncSession, unit: Unit, day: dt.date) -> Letterhead:
    parent = await session.get(Unit, unit.parent_id or 0)
    return Letterhead(
        issuer=union_name(unit.name, unit.kind),
        superior=union_name(parent.name, parent.kind) if parent and parent.parent_id else None,
        place=await place_name(session),
        day=day,
    )


def _award(ladder: Ladder, code: str | None) -> str:
    award = ladder.awards.get(code or "")
    return award.name if award else (code or "")


async def award_decision(
    session: AsyncSession, t: Translator, ladder: Ladder, nomination: Nomination
) -> AwardDecision:
    """The decision recorded on an awarded nomination, as its certificate states it."""
    nominee = await _nominee(session, nomination)
    period = await period_label(session, t, ladder, nomination.period)
    return AwardDecision(
        holder=nominee.name,
        unit_name=nominee.unit,
        award=_award(ladder, nomination.decided_award or nomination.award),
        decision=nomination.decision_number or "",
        decided_on=nomination.decision_date or dt.date.min,
        signer=nomination.signer or "",
        member_id=nomination.nominee_member_id,
        achievement=t.gettext("in the {movement}, {period}").format(
            movement=DEFAULT_CAMPAIGN_TITLE, period=period[:1].lower() + period[1:]
        ),
    )


async def award_file(
    session: AsyncSession, t: Translator, ladder: Ladder, nomination: Nomination, today: dt.date
) -> bytes:
    """ "Báo cáo tóm tắt thành tích" of a nomination: the proposing unit's letterhead, the
    award, the period, the nominee, the summary, what the supporting entries add up to, each
    of them with its figures and evidence."""
    unit = await session.get_one(Unit, nomination.unit_id)
    scored = await nomination_entries(session, ladder, nomination.id)
    total = Figures(entries=0)
    achievements = []
    for item in scored:
        entry = item.entry
        total.add(figures_of(entry.kind, entry.answers, collective=entry.collective))
        reporter = await session.get(Member, entry.reporter_id or 0)
        files = await entry_files(session, entry.id)
        achievements.append(
            achievement_of(
                t,
                kind=entry.kind,
                title=entry.title,
                answers=entry.answers,
                collective=entry.collective,
                happened_on=entry.happened_on,
                evidence=[file.original_name or file.sha256[:12] for file in files],
                by=reporter.full_name if reporter and not entry.collective else "",
            )
        )
    period = await period_label(session, t, ladder, nomination.period)
    document = AwardFile(
        letterhead=await _letterhead(session, unit, today),
        award=_award(ladder, nomination.award),
        movement=DEFAULT_CAMPAIGN_TITLE,
        period=period[:1].lower() + period[1:],
        nominee=await _nominee(session, nomination),
        summary=nomination.summary,
        achievements=tuple(achievements),
        figures=total,
    )
    return award_file_docx(t, document)


async def nomination_rows(
    session: AsyncSession, t: Translator, ladder: Ladder, nominations: Iterable[Nomination]
) -> tuple[NominationRow, ...]:
    """The nominations as rows of a list: who, their unit, the summary, the award proposed,
    and where each is now."""
    rows = []
    for nomination in nominations:
        nominee = await _nominee(session, nomination)
        level = ladder.levels.get(nomination.level)
        status = t.gettext(NOMINATION_STATUS_LABELS[nomination.status]).format(
            level=level.name if level else nomination.level
        )
        rows.append(
            NominationRow(
                name=nominee.name,
                collective=nominee.collective,
                unit=nominee.unit,
                summary=nomination.summary,
                award=_award(ladder, nomination.award),
                birth_year=nominee.birth_year,
                note=f"#{nomination.id} · {status}",
            )
        )
    return tuple(rows)


async def level_list(
    session: AsyncSession, t: Translator, ladder: Ladder, level: str, today: dt.date
) -> tuple[bytes, int]:
    """ "Danh sách đề nghị khen thưởng" of the nominations waiting at a level of the ladder
    (the batch it sends on), oldest first; and how many it holds."""
    found = (
        await session.scalars(
            select(Nomination)
            .where(Nomination.status == State.WAITING, Nomination.level == level)
            .order_by(Nomination.submitted_at, Nomination.id)
        )
    ).all()
    batch = NominationList(
        letterhead=Letterhead(
            issuer=ladder.levels[level].name,
            superior=None,
            place=await place_name(session),
            day=today,
        ),
        subject=t.gettext("in the {movement}").format(movement=DEFAULT_CAMPAIGN_TITLE),
        rows=await nomination_rows(session, t, ladder, found),
    )
    return nomination_list_xlsx(t, batch), len(found)


async def award_lines(
    session: AsyncSession,
    t: Translator,
    ladder: Ladder,
    scope: set[int] | None,
    *,
    first: dt.date,
    last: dt.date,
) -> tuple[AwardLine, ...]:
    """The awards decided between the days for nominations of the units in scope."""
    statement = select(Nomination).where(
        Nomination.status == State.AWARDED, Nomination.decision_date.between(first, last)
    )
    if scope is not None:
        statement = statement.where(Nomination.unit_id.in_(scope))
    lines = []
    for nomination in (await session.scalars(statement.order_by(Nomination.decision_date))).all():
        nominee = await _nominee(session, nomination)
        decision = t.gettext("Decision No. {number} of {date}").format(
            number=nomination.decision_number or "",
            date=t.date(nomination.decision_date or first),
        )
        award = _award(ladder, nomination.decided_award or nomination.award)
        lines.append(AwardLine(nominee.name, nominee.unit, award, decision))
    return tuple(lines)


async def period_nominations(
    session: AsyncSession,
    t: Translator,
    ladder: Ladder,
    scope: set[int] | None,
    *,
    first: dt.date,
    last: dt.date,
) -> tuple[NominationRow, ...]:
    """The nominations the units in scope sent between the days (local), wherever they are
    now, but not those withdrawn."""
    start = dt.datetime.combine(first, dt.time(), t.timezone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), t.timezone)
    statement = select(Nomination).where(
        Nomination.submitted_at >= start,
        Nomination.submitted_at < end,
        Nomination.status != State.WITHDRAWN,
    )
    if scope is not None:
        statement = statement.where(Nomination.unit_id.in_(scope))
    found: Sequence[Nomination] = (
        await session.scalars(statement.order_by(Nomination.submitted_at, Nomination.id))
    ).all()
    return await nomination_rows(session, t, ladder, found)
