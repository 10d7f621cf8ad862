"""Deciding on nominations: whoever decides at a level of an award's ladder (the union level
above the proposing unit, Tỉnh Đoàn, Sở Nội vụ; see data/awards.toml) goes through the
nominations waiting for them one card at a time: pass it on to the next level, return it to
its unit with a reason, or at the last level record the decision (award form, decision number
and day, signer). The nominee and the proposing unit are told each step, on their own
channel, in their language; the next level is told it waits for them.

Who decides what: see models.nominations. Every decision button names the nomination and
its revision; a second tap, an older card, or a nomination changed since decides nothing
and says why.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.fields import Invalid
from bot.i18n import N_
from bot.recognition import nomination_card, nominee_name, period_name
from bot.router import Router, menu_reply
from bot.text import escape
from domain.units import union_name
from domain.vocabulary import Nomination as State
from domain.vocabulary import Role
from models.nominations import (
    PASSED,
    RESUBMITTED,
    Appraiser,
    Decision,
    appraiser_for,
    decidable_now,
    history,
    next_level,
    pass_on,
    record_decision,
    return_nomination,
    reviewers_at,
    waiting_count,
    waiting_for,
)
from models.outbox import enqueue_notice
from models.people import actor_name
from models.tables import Identity, Nomination, RoleGrant, Unit

__all__ = ["appraiser_of", "next_card", "refused", "register", "tell", "tell_reviewers", "unbind"]

# Decisions on a card, each bound to the nomination and its revision.
PASS, AWARD_IT, RETURN, SKIP = "pass", "award", "return", "skip"


def refused(ctx: Context) -> list[Reply]:
    return [
        Reply(
            ctx._(
                "Nominations for awards are for youth union secretaries, the provincial Youth "
                "Union and the appraisers of Sở Nội vụ."
            )
        )
    ]


async def appraiser_of(ctx: Context) -> Appraiser:
    """Who is deciding, checked on every step, not only when the card was shown."""
    return await appraiser_for(ctx.session, ctx.person.roles, ctx.person.member_id)


async def _params(ctx: Context, nomination: Nomination, **more: Any) -> dict[str, Any]:
    """What notices about a nomination say, the same in every language (names)."""
    ladder = ctx.config.ladder
    unit = await ctx.session.get_one(Unit, nomination.unit_id)
    return {
        "id": nomination.id,
        "award": ladder.awards[nomination.award].name,
        "nominee": await nominee_name(ctx.session, nomination),
        "unit": union_name(unit.name, unit.kind),
        "period": await period_name(ctx.session, ladder, nomination.period),
        "level": ladder.levels[nomination.level].name,
        **more,
    }


async def tell(ctx: Context, nomination: Nomination, template: str, **more: Any) -> None:
    """A notice to the nominee (a member, or a unit's secretaries) and to the proposer,
    each once, never to the person acting."""
    params = await _params(ctx, nomination, **more)
    members = {nomination.proposer_id, nomination.nominee_member_id} - {None}
    members.discard(ctx.person.member_id)
    for member_id in sorted(m for m in members if m is not None):
        await enqueue_notice(ctx.session, template, params, member_id=member_id)
    if nomination.nominee_unit_id is not None:
        secretaries = await ctx.session.scalars(
            select(RoleGrant.identity_id)
            .where(
                RoleGrant.role == Role.SECRETARY,
                RoleGrant.unit_id == nomination.nominee_unit_id,
                RoleGrant.identity_id != ctx.person.identity_id,
            )
            .distinct()
        )
        for identity_id in secretaries.all():
            if await _member_of(ctx, identity_id) not in {*members, ctx.person.member_id}:
                await enqueue_notice(ctx.session, template, params, identity_id=identity_id)


async def _member_of(ctx: Context, identity_id: int) -> int | None:
    return await ctx.session.scalar(select(Identity.member_id).where(Identity.id == identity_id))


async def tell_reviewers(ctx: Context, nomination: Nomination) -> bool:
    """Tells whoever decides at the level it now waits at; when nobody can, the admins.
    False when nobody can decide it there."""
    reviewers = await reviewers_at(ctx.session, ctx.config.ladder, nomination)
    params = await _params(ctx, nomination)
    for identity_id in reviewers:
        await enqueue_notice(ctx.session, "nomination_waiting", params, identity_id=identity_id)
    if reviewers:
        return True
    admins = await ctx.session.scalars(
        select(RoleGrant.identity_id).where(RoleGrant.role == Role.ADMIN).distinct()
    )
    for identity_id in admins.all():
        await enqueue_notice(ctx.session, "nomination_nobody", params, identity_id=identity_id)
    return False


# -- deciding --------------------------------------------------------------------------------


async def next_card(
    ctx: Context, who: Appraiser, skipped: list[int], notice: str | None = None
) -> list[Reply]:
    """The nomination that has waited longest for this person, or that none is left."""
    replies = [Reply(notice)] if notice else []
    if not who.appraises:
        return [*replies, *refused(ctx)]
    nomination = await waiting_for(ctx.session, who, ctx.config.ladder, skipped=skipped)
    if nomination is None:
        text = ctx._("No nomination is waiting for your decision. 🎉")
        if skipped:
            text = ctx._(
                "You have seen every waiting nomination. Open 📥 Waiting for your decision "
                "again to go through the skipped ones."
            )
        return [*replies, menu_reply(ctx, text)]
    return [*replies, *await _card(ctx, who, nomination, skipped)]


async def _card(
    ctx: Context, who: Appraiser, nomination: Nomination, skipped: list[int]
) -> list[Reply]:
    lines = await nomination_card(ctx.session, ctx.t, ctx.config.ladder, nomination)
    prefill = {
        "nomination": nomination.id,
        "version": nomination.version,
        "skipped": skipped,
        "waiting": await waiting_count(ctx.session, who, ctx.config.ladder),
        # Where it goes when approved: the next level, or None where the decision is recorded.
        "next": await next_level(ctx.session, ctx.config.ladder, nomination),
    }
    return [Reply("\n".join(lines)), *await start_form(ctx, "nomination_review", prefill)]


def decision_params(_ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {"waiting": answers.get("waiting", 0), "id": answers.get("nomination", 0)}


async def decision_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """Each decision names the nomination and the revision on the card."""
    bound = f":{answers['nomination']}:{answers['version']}"
    following = ctx.config.ladder.levels.get(str(answers.get("next")))
    if following is None:
        onward = Option(AWARD_IT + bound, N_("🏅 Record the award decision"))
    else:
        label = ctx._("✅ Approve and pass on to {level}").format(level=following.name)
        onward = Option(PASS + bound, label)
    return (
        onward,
        Option(RETURN + bound, N_("↩️ Return with a reason")),
        Option(SKIP + bound, N_("⏭ Skip for now")),
    )


def unbind(value: str) -> tuple[str, int, int] | None:
    """(decision, nomination id, revision) of a bound button; None when it is not one."""
    action, _, rest = value.partition(":")
    nomination_id, _, version = rest.partition(":")
    if not nomination_id.isdigit() or not version.isdigit():
        return None
    return action, int(nomination_id), int(version)


async def stale_decision(ctx: Context, value: str) -> str | None:
    """Why a decision button of another card, or of an earlier revision, decided nothing."""
    bound = unbind(value)
    if bound is None or bound[0] not in (PASS, AWARD_IT, RETURN, SKIP):
        return None
    if not (await appraiser_of(ctx)).appraises:
        return None  # nothing to tell someone who could never have seen that card
    return await _why_not(ctx, bound[1], bound[2])


async def _why_not(ctx: Context, nomination_id: int, version: int) -> str:
    """Why a decision on this nomination at this revision was not recorded."""
    nomination = await ctx.session.get(Nomination, nomination_id)
    if nomination is None:
        return ctx._("Nomination #{id} no longer exists.").format(id=nomination_id)
    if nomination.status == State.WITHDRAWN:
        return ctx._("Nomination #{id} was withdrawn by its unit.").format(id=nomination_id)
    steps = await history(ctx.session, nomination_id)
    last = steps[-1] if steps else None
    if nomination.version != version and last is not None:
        name = escape(await actor_name(ctx.session, last.acted_by) or ctx._("someone else"))
        when = ctx.t.datetime(last.at)
        level = escape(ctx.config.ladder.levels[last.level].name)
        if nomination.status == State.AWARDED:
            text = ctx._(
                "The decision on nomination #{id} was already recorded by {name} at {time}."
            )
        elif nomination.status == State.RETURNED:
            text = ctx._("Nomination #{id} was already returned by {name} at {time}.")
        elif last.action == PASSED:
            text = ctx._(
                "Nomination #{id} was already approved at {level} by {name} at {time}; "
                "nothing more was decided."
            )
        elif last.action == RESUBMITTED:
            text = ctx._(
                "Nomination #{id} was changed and sent again after you opened it; nothing "
                "was decided. Please look at it again."
            )
        else:
            text = ctx._("Nomination #{id} has changed since; nothing was decided.")
        return text.format(id=nomination_id, name=name, time=when, level=level)
    member_id = ctx.person.member_id
    own_units = {unit for role, unit in ctx.person.roles if role == Role.SECRETARY}
    if (
        member_id is not None
        and member_id in (nomination.proposer_id, nomination.nominee_member_id)
    ) or (own_units & {nomination.unit_id, nomination.nominee_unit_id}):
        return ctx._("Nomination #{id} is your own or your unit's: others decide it.").format(
            id=nomination_id
        )
    who = await appraiser_of(ctx)
    if not await decidable_now(ctx.session, who, ctx.config.ladder, nomination_id):
        return ctx._("Nomination #{id} no longer waits for your decision.").format(
            id=nomination_id
        )
    return ctx._(
        "That button belongs to nomination #{id}, not to the card shown now; nothing was decided."
    ).format(id=nomination_id)


async def decided(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Passes the nomination on, returns it with the reason, or records the decision — on
    the revision shown, unless that is no longer possible; tells the nominee, the proposing
    unit and the next level; shows the next card."""
    who = await appraiser_of(ctx)
    if not who.appraises:
        return refused(ctx)
    skipped = [int(i) for i in answers.get("skipped", [])]
    bound = unbind(str(answers["decision"]))
    if bound is None:
        return await next_card(ctx, who, skipped)
    action, nomination_id, version = bound
    if action == SKIP:
        return await next_card(ctx, who, [*skipped, nomination_id])
    ladder, actor = ctx.config.ladder, ctx.person.actor
    nomination: Nomination | None = None
    if action == PASS:
        passed = await pass_on(
            ctx.session, ladder, nomination_id, version=version, who=who, actor=actor
        )
        if passed is not None:
            nomination, level = passed
            following = ladder.levels[nomination.level].name
            await tell(
                ctx,
                nomination,
                "nomination_passed",
                level=ladder.levels[level].name,
                next=following,
            )
            await tell_reviewers(ctx, nomination)
            notice = ctx._("✅ Nomination #{id} passed on to {level}.").format(
                id=nomination_id, level=escape(following)
            )
    elif action == RETURN:
        nomination = await return_nomination(
            ctx.session,
            ladder,
            nomination_id,
            version=version,
            who=who,
            reason=str(answers.get("reason", "")),
            actor=actor,
        )
        if nomination is not None:
            await tell(ctx, nomination, "nomination_returned", reason=nomination.return_reason)
            notice = ctx._("↩️ Nomination #{id} returned to its unit.").format(id=nomination_id)
    elif action == AWARD_IT:
        decision = Decision(
            award=str(answers["decided_award"]),
            number=str(answers["number"]),
            day=dt.date.fromisoformat(str(answers["day"])),
            signer=str(answers["signer"]),
        )
        nomination = await record_decision(
            ctx.session,
            ladder,
            nomination_id,
            version=version,
            who=who,
            decision=decision,
            actor=actor,
        )
        if nomination is not None:
            await tell(
                ctx,
                nomination,
                "nomination_awarded",
                award=ladder.awards[decision.award].name,
                number=decision.number,
                date=decision.day.isoformat(),
                signer=decision.signer,
            )
            notice = ctx._("🏅 The decision on nomination #{id} is recorded.").format(
                id=nomination_id
            )
    if nomination is None:
        why = await _why_not(ctx, nomination_id, version)
        return await next_card(ctx, who, skipped, "⚠️ " + why)
    return await next_card(ctx, who, skipped, notice)


async def decided_award_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """The award form of the decision: the proposed one first, then the others."""
    nomination = await ctx.session.get(Nomination, int(answers["nomination"]))
    proposed = nomination.award if nomination else ""
    awards = sorted(ctx.config.ladder.awards.values(), key=lambda a: (a.code != proposed, a.rank))
    return tuple(Option(award.code, award.name) for award in awards)


async def check_decision_number(_ctx: Context, value: Any, _answers: dict[str, Any]) -> None:
    if not any(character.isdigit() for character in str(value)):
        raise Invalid(N_("A decision number has digits, for example 1234/QĐ-UBND."))


def _awarding(answers: dict[str, Any]) -> bool:
    return str(answers.get("decision", "")).startswith(AWARD_IT + ":")


REVIEW = Form(
    name="nomination_review",
    interruptible=True,  # one card at a time: another command loses nothing
    title=N_("Nominations"),
    steps=False,
    complete=decided,
    cancelled=N_("Closed. Type /nominations to continue later."),
    fields=(
        Field(
            "decision",
            FieldKind.CHOICE,
            N_("{waiting} waiting for your decision. Your decision on nomination #{id}?"),
            params=decision_params,
            options_for=decision_options,
            stale=stale_decision,
        ),
        Field(
            "reason",
            FieldKind.TEXT,
            N_("Why is it returned? The proposing unit and the nominee will read this."),
            hint=N_("Say politely what to add or fix, for example: please add the evidence."),
            min_length=5,
            max_length=500,
            ask_if=lambda answers: str(answers.get("decision", "")).startswith(RETURN + ":"),
        ),
        Field(
            "decided_award",
            FieldKind.CHOICE,
            N_("Which award form does the decision give?"),
            options_for=decided_award_options,
            ask_if=_awarding,
        ),
        Field(
            "number",
            FieldKind.TEXT,
            N_("The decision's number?"),
            hint=N_("As written on it, for example 1234/QĐ-UBND."),
            min_length=3,
            max_length=60,
            check=check_decision_number,
            ask_if=_awarding,
        ),
        Field(
            "day",
            FieldKind.DATE,
            N_("On which day was it signed?"),
            hint=N_("dd/mm/yyyy"),
            ask_if=_awarding,
        ),
        Field(
            "signer",
            FieldKind.TEXT,
            N_("Who signed it? Their title and name."),
            hint=N_("For example: Chủ tịch UBND tỉnh Hồ Tiến Thiệu."),
            min_length=5,
            max_length=200,
            ask_if=_awarding,
        ),
    ),
)


def register(router: Router) -> None:
    router.form(REVIEW)
