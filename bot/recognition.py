"""Recognition as people read it, shared by the chat (/nominations, /highlights) and the
command line (`awards list`, `nominations list|show`): the ladder, periods, a nomination's
card and the people and units it names."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import N_, Translator
from bot.text import escape
from domain.awards import Ladder
from domain.kinds import KINDS
from domain.units import UNIT_KINDS, union_name
from domain.vocabulary import NOMINATION_STATUS_LABELS, ROLE_LABELS
from domain.vocabulary import Nomination as State
from models.nominations import (
    AWARDED,
    PASSED,
    RETURNED,
    Scored,
    history,
    levels_for,
    nomination_entries,
)
from models.people import actor_name
from models.tables import Campaign, Member, Nomination, Unit

__all__ = [
    "entry_line",
    "ladder_lines",
    "nomination_card",
    "nomination_line",
    "nominee_name",
    "period_choices",
    "period_label",
    "period_name",
]

STEP_LABELS = {
    "submitted": N_("sent by {unit}"),
    "resubmitted": N_("fixed and sent again by {unit}"),
    PASSED: N_("approved by {level} and passed on"),
    RETURNED: N_("returned by {level}: {note}"),
    AWARDED: N_("decision recorded by {level}: No. {note}"),
    "withdrawn": N_("withdrawn by {unit}"),
}
# What an entry scores per unit of (data/awards.toml, `per`), as people name it.
PER_FIGURE = {
    "entries": N_("per entry"),
    "participants": N_("per participant"),
    "volunteer_hours": N_("per volunteer hour"),
    "beneficiaries": N_("per person who benefited"),
    "jobs": N_("per job created"),
    "revenue": N_("per đồng of revenue"),
    "budget": N_("per đồng of budget allocated"),
    "mobilised": N_("per đồng mobilised"),
    "models_replicated": N_("per model replicated"),
}
REVIEWERS = {
    "secretary": N_("secretaries of the union level above the proposing unit"),
    "admin": N_("admins (the provincial Youth Union)"),
    "appraiser": ROLE_LABELS["appraiser"],
}


async def period_name(session: AsyncSession, ladder: Ladder, code: str) -> str:
    """A period by its own name, the same in every language: the year, a campaign's title,
    a review of the plan ("Sơ kết …")."""
    kind, _, value = code.partition(":")
    if kind == "year":
        return value
    if kind == "campaign" and value.isdigit():
        campaign = await session.get(Campaign, int(value))
        return campaign.title if campaign else code
    named = ladder.periods.get(code)
    return named.name if named else code


async def period_label(session: AsyncSession, t: Translator, ladder: Ladder, code: str) -> str:
    """A period as people read it: "Năm 2026", a campaign's title, "Sơ kết …"."""
    if code.startswith("year:"):
        return t.gettext("Year {year}").format(year=code.removeprefix("year:"))
    return await period_name(session, ladder, code)


async def period_choices(
    session: AsyncSession, t: Translator, ladder: Ladder, today: dt.date
) -> list[tuple[str, str]]:
    """(code, label) of the periods to choose from: this year and the last, the running and
    recent campaigns, and the reviews of the plan (sơ kết, tổng kết)."""
    choices = [(f"year:{year}", "") for year in (today.year, today.year - 1)]
    recent = await session.scalars(
        select(Campaign)
        .where(Campaign.is_default.is_(False), Campaign.starts_on <= today)
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
        .limit(3)
    )
    choices += [(f"campaign:{campaign.id}", "") for campaign in recent.all()]
    choices += [(code, "") for code in ladder.periods]
    return [(code, await period_label(session, t, ladder, code)) for code, _ in choices]


async def nominee_name(session: AsyncSession, nomination: Nomination) -> str:
    """Whom the nomination proposes: the member's full name, or the unit's name."""
    if nomination.nominee_member_id is not None:
        member = await session.get(Member, nomination.nominee_member_id)
        return member.full_name if member else "—"
    unit = await session.get(Unit, nomination.nominee_unit_id or 0)
    return unit.name if unit else "—"


def _status(t: Translator, ladder: Ladder, nomination: Nomination) -> str:
    level = ladder.levels.get(nomination.level)
    return t.gettext(NOMINATION_STATUS_LABELS[nomination.status]).format(
        level=level.name if level else nomination.level
    )


def _award_name(ladder: Ladder, code: str | None) -> str:
    award = ladder.awards.get(code or "")
    return award.name if award else (code or "—")


async def nomination_line(
    session: AsyncSession, t: Translator, ladder: Ladder, nomination: Nomination
) -> str:
    """One line of a list: number, nominee, award, status (plain text)."""
    nominee = await nominee_name(session, nomination)
    award = _award_name(ladder, nomination.award)
    return f"#{nomination.id} · {nominee} · {award} · {_status(t, ladder, nomination)}"


async def nomination_card(
    session: AsyncSession, t: Translator, ladder: Ladder, nomination: Nomination
) -> list[str]:
    """A nomination as its reviewers and its unit read it (HTML): award, period, nominee,
    proposing unit, status, the decision, the summary, the entries behind it with their
    scores, and what happened at each level."""
    unit = await session.get_one(Unit, nomination.unit_id)
    proposer = await session.get(Member, nomination.proposer_id or 0)
    participant = ladder.participants.get(nomination.participant)
    levels = await levels_for(session, ladder, nomination.award, nomination.unit_id)
    lines = [
        t.gettext("<b>Nomination #{id} · {award}</b>").format(
            id=nomination.id, award=escape(_award_name(ladder, nomination.award))
        ),
        t.gettext("Status: {status}").format(status=escape(_status(t, ladder, nomination))),
        t.gettext("Nominee: {name} ({participant})").format(
            name=escape(await nominee_name(session, nomination)),
            participant=escape(participant.name if participant else nomination.participant),
        ),
        t.gettext("Period: {period}").format(
            period=escape(await period_label(session, t, ladder, nomination.period))
        ),
        t.gettext("Proposed by: {unit}").format(unit=escape(union_name(unit.name, unit.kind)))
        + (f" · {escape(proposer.full_name)}" if proposer else ""),
        t.gettext("Ladder: {levels}").format(
            levels=" → ".join(escape(ladder.levels[code].name) for code in levels)
        ),
    ]
    if nomination.status == State.AWARDED and nomination.decision_date is not None:
        lines.append(
            t.gettext("🏅 Decision No. {number} of {date}: {award}, signed by {signer}").format(
                number=escape(nomination.decision_number or ""),
                date=t.date(nomination.decision_date),
                award=escape(_award_name(ladder, nomination.decided_award)),
                signer=escape(nomination.signer or ""),
            )
        )
    if nomination.status == State.RETURNED and nomination.return_reason:
        lines.append(
            t.gettext("Reason given: {reason}").format(reason=escape(nomination.return_reason))
        )
    lines += ["", t.gettext("<b>Summary of achievements</b>"), escape(nomination.summary), ""]
    scored = await nomination_entries(session, ladder, nomination.id)
    lines.append(
        t.gettext("<b>Approved entries behind it</b> ({points} points)").format(
            points=t.number(round(sum(s.points for s in scored), 1))
        )
    )
    for item in scored:
        lines.append("• " + entry_line(t, item))
    steps = await history(session, nomination.id)
    if steps:
        lines += ["", t.gettext("<b>History</b>")]
    for step in steps:
        level = ladder.levels.get(step.level)
        text = t.gettext(STEP_LABELS[step.action]).format(
            unit=escape(unit.name),
            level=escape(level.name if level else step.level),
            note=escape(step.note or ""),
        )
        who = await actor_name(session, step.acted_by)
        lines.append(f"{t.datetime(step.at)} · {text}" + (f" ({escape(who)})" if who else ""))
    return lines


def entry_line(t: Translator, item: Scored, *, html: bool = True) -> str:
    """An approved entry behind a nomination or a candidate, with its score (HTML, or plain
    text for a button)."""
    score = t.gettext("score {n}").format(n=t.number(item.points))
    kind = t.gettext(KINDS[item.entry.kind].title)
    day = t.date(item.entry.happened_on)
    title = escape(item.entry.title) if html else item.entry.title
    return f"#{item.entry.id} · {kind} · {title} · {day} · {score}"


def ladder_lines(t: Translator, ladder: Ladder) -> list[str]:
    """The award ladder as people read it (HTML): each award form, who proposes it, the
    levels it passes and who decides there; then the criteria per participant and how
    entries score."""
    lines = [t.gettext("<b>Award forms, lowest first</b>")]
    for award in ladder.awards.values():
        lines += [
            "",
            f"<b>{award.rank}. {escape(award.name)}</b>",
            t.gettext("Decided by: {who}").format(who=escape(award.decided_by)),
            t.gettext("Proposed by secretaries of: {kinds}").format(
                kinds=", ".join(
                    t.gettext(label)
                    for kind, label in UNIT_KINDS.items()
                    if kind in award.proposed_by
                )
            ),
            t.gettext("For: {participants}").format(
                participants="; ".join(
                    escape(ladder.participants[code].name) for code in sorted(award.participants)
                )
            ),
            t.gettext("Passes: {levels} → decision").format(
                levels=" → ".join(escape(ladder.levels[code].name) for code in award.levels)
            ),
        ]
    lines += ["", t.gettext("<b>Who decides at each level</b>")]
    for level in ladder.levels.values():
        lines.append(f"{escape(level.name)}: {t.gettext(REVIEWERS[level.reviewers])}")
    lines += ["", t.gettext("<b>Criteria of the plan</b>")]
    for participant in ladder.participants.values():
        lines.append(f"<b>{escape(participant.name)}</b> ({escape(participant.source)})")
        lines += [f"• {escape(criterion)}" for criterion in participant.criteria]
    lines += ["", t.gettext("<b>How an approved entry scores</b>")]
    for kind, rule in ladder.scores.items():
        parts = []
        if rule.by is not None and rule.by_points is not None:
            labels = {o.value: t.gettext(o.label) for o in KINDS[kind].field(rule.by).options}
            parts += [
                f"{labels.get(value, value)}: {t.number(points)}"
                for value, points in rule.by_points.items()
            ]
        else:
            parts.append(t.number(rule.points))
        parts += [
            f"+{t.number(each)} {t.gettext(PER_FIGURE[figure])}"
            for figure, each in (rule.per or {}).items()
        ]
        if rule.most is not None:
            parts.append(t.gettext("at most {points}").format(points=t.number(rule.most)))
        lines.append(f"{t.gettext(KINDS[kind].title)}: {'; '.join(parts)}")
    return lines
