"""Review: a secretary (or admin) goes through the entries waiting for them, one card at a
time: approve with one tap, return with a reason, or skip. The reporter is told, on their own
channel.

Who decides what (domain invariants):
- an entry waits for the reviewers of its review unit (its own unit, or the level above when
  it is a secretary's own or collective work) and every unit above; admins decide anything;
- nobody decides their own entry, nor a collective entry they filed;
- a decision names the entry and the revision on the card: a tap on an older card, a second
  tap, or a card of an entry changed since, decides nothing and says why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.i18n import N_
from bot.router import Audience, Router, menu_reply
from bot.text import escape
from domain.kinds import KINDS
from domain.vocabulary import OPEN, Status
from handlers.my_entries import entry_card
from handlers.reporting import entry_form
from models.entries import (
    Reviewer,
    decidable,
    decide,
    likely_duplicates,
    next_to_review,
    reviewer,
    waiting_by_unit,
    waiting_count,
)
from models.outbox import enqueue_notice
from models.people import WAITING, actor_name, decide_unit_change, next_unit_change
from models.tables import Entry, EntryRevision, Member, Unit, UnitChange

__all__ = ["register"]

APPROVE, REJECT, SKIP = "approve", "reject", "skip"


async def _reviewer(ctx: Context) -> Reviewer:
    """Who is reviewing, checked on every step, not only when the card was shown."""
    return await reviewer(ctx.session, ctx.person.roles, ctx.person.member_id)


def _refused(ctx: Context) -> list[Reply]:
    return [Reply(ctx._("Reviewing entries is for youth union secretaries and admins."))]


async def start_review(ctx: Context) -> list[Reply]:
    """Shows the oldest entry waiting for this reviewer."""
    who = await _reviewer(ctx)
    if not who.reviews:
        return _refused(ctx)
    counts = await waiting_by_unit(ctx.session, who)
    if len(counts) < 2:
        return await _next(ctx, who, [])
    lines = [ctx._("<b>Waiting for your review, by unit</b>")]
    lines += [f"{escape(name)}: {ctx.t.number(count)}" for name, count in counts[:20]]
    return await _next(ctx, who, [], "\n".join(lines))


async def _next(
    ctx: Context,
    who: Reviewer,
    skipped: list[int],
    notice: str | None = None,
    skipped_moves: list[int] | None = None,
) -> list[Reply]:
    """The next card: first a member asking to move into the reviewer's units, then the
    oldest entry waiting for them."""
    replies = [Reply(notice)] if notice else []
    move = await next_unit_change(ctx.session, who.scope, who.member_id, skipped_moves or [])
    if move is not None:
        return [*replies, *await _move_card(ctx, move, skipped, skipped_moves or [])]
    entry = await next_to_review(ctx.session, who, skipped=skipped)
    if entry is None:
        text = ctx._("Nothing else is waiting for your review. 🎉")
        if skipped:
            text = ctx._(
                "You have seen every waiting entry. Type /review to go through the "
                "skipped ones again."
            )
        return [*replies, menu_reply(ctx, text)]
    return [*replies, *await _card(ctx, who, entry, skipped)]


async def _card(ctx: Context, who: Reviewer, entry: Entry, skipped: list[int]) -> list[Reply]:
    """The entry as the reviewer decides on it, then the decision at its revision."""
    reporter = await ctx.session.get(Member, entry.reporter_id) if entry.reporter_id else None
    lines = await entry_card(ctx, entry, reporter.full_name if reporter else "—")
    lines[1:1] = await _review_notes(ctx, entry)
    prefill = {
        "entry": entry.id,
        "version": entry.version,
        "skipped": skipped,
        "waiting": await waiting_count(ctx.session, who),
    }
    return [Reply("\n".join(lines)), *await start_form(ctx, "review", prefill)]


async def _review_notes(ctx: Context, entry: Entry) -> list[str]:
    """What a reviewer should know first: on whose behalf, why it reached their level,
    what changed since they may have seen it, and entries it may repeat."""
    notes: list[str] = []
    unit = await ctx.session.get(Unit, entry.unit_id)
    if entry.collective and unit is not None:
        notes.append(
            ctx._("🏷 Reported on behalf of {unit}: it comes to the level above.").format(
                unit=escape(unit.name)
            )
        )
    elif entry.review_unit_id != entry.unit_id:
        notes.append(
            ctx._("🏷 The reporter is a secretary of this unit: it comes to the level above.")
        )
    if entry.version > 1:
        changed = await _changed_fields(ctx, entry)
        if changed:
            notes.append(
                ctx._("✏️ Changed by the reporter: {fields}").format(fields=", ".join(changed))
            )
    for other, why in await likely_duplicates(ctx.session, entry):
        reason = ctx._("the same photo") if why == "photo" else ctx._("same day, similar title")
        notes.append(
            ctx._("⚠️ May repeat entry #{id} «{title}» ({reason})").format(
                id=other.id, title=escape(other.title), reason=reason
            )
        )
    return notes


async def _changed_fields(ctx: Context, entry: Entry) -> list[str]:
    """The labels of the answers that differ from the revision before the latest one."""
    earlier = await ctx.session.scalar(
        select(EntryRevision.answers)
        .where(EntryRevision.entry_id == entry.id, EntryRevision.version == entry.version - 1)
        .order_by(EntryRevision.id.desc())
        .limit(1)
    )
    if earlier is None:
        return []
    form = entry_form(KINDS[entry.kind])
    return [
        ctx._(field.label or field.prompt)
        for field in form.fields
        if earlier.get(field.name) != entry.answers.get(field.name)
    ]


async def _move_card(
    ctx: Context, move: UnitChange, skipped: list[int], skipped_moves: list[int]
) -> list[Reply]:
    member = await ctx.session.get_one(Member, move.member_id)
    units = {u.id: u.name for u in await _units(ctx, move.from_unit_id, move.to_unit_id)}
    text = ctx._(
        "🔁 <b>{name}</b> (born {year}) asks to move from {old} to {new}. Their entries so "
        "far stay with {old}."
    ).format(
        name=escape(member.full_name),
        year=member.birth_year,
        old=escape(units.get(move.from_unit_id, "—")),
        new=escape(units.get(move.to_unit_id, "—")),
    )
    prefill = {"move": move.id, "skipped": skipped, "skipped_moves": skipped_moves}
    return [Reply(text), *await start_form(ctx, "unit_change", prefill)]


async def _units(ctx: Context, *ids: int) -> list[Unit]:
    return list((await ctx.session.scalars(select(Unit).where(Unit.id.in_(ids)))).all())


async def move_options(_ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """Each decision names the request on the card."""
    bound = f":{answers['move']}"
    return (
        Option(APPROVE + bound, N_("✅ Accept the move")),
        Option(REJECT + bound, N_("✖️ Refuse")),
        Option(SKIP + bound, N_("⏭ Skip for now")),
    )


async def stale_move(ctx: Context, value: str) -> str | None:
    _, _, change_id = value.partition(":")
    if not change_id.isdigit():
        return None
    move = await ctx.session.get(UnitChange, int(change_id))
    who = await _reviewer(ctx)
    if move is None or not who.reviews or not _within(who, move.to_unit_id):
        return None
    if move.status == WAITING:
        return ctx._("That button belongs to an earlier card; nothing was decided.")
    return ctx._("That request was already decided; nothing was changed.")


async def moved(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Accepts or refuses the move on the card, tells the member, shows the next card."""
    who = await _reviewer(ctx)
    if not who.reviews:
        return _refused(ctx)
    decision, _, change_id = str(answers["decision"]).partition(":")
    skipped = [int(i) for i in answers.get("skipped", [])]
    skipped_moves = [int(i) for i in answers.get("skipped_moves", [])]
    if decision == SKIP or not change_id.isdigit():
        return await _next(ctx, who, skipped, None, [*skipped_moves, int(change_id or 0)])
    move = await decide_unit_change(
        ctx.session,
        int(change_id),
        approve=decision == APPROVE,
        scope=who.scope,
        decider_id=who.member_id,
        actor=ctx.person.actor,
    )
    if move is None:
        why = ctx._("That request can no longer be decided by you; nothing was changed.")
        return await _next(ctx, who, skipped, "⚠️ " + why, skipped_moves)
    unit = await ctx.session.get_one(Unit, move.to_unit_id)
    await enqueue_notice(
        ctx.session,
        "unit_change_approved" if move.status == "approved" else "unit_change_refused",
        {"unit": unit.name},
        member_id=move.member_id,
    )
    notice = (
        ctx._("✅ The move to {unit} is accepted.")
        if move.status == "approved"
        else ctx._("✖️ The move to {unit} is refused.")
    ).format(unit=escape(unit.name))
    return await _next(ctx, who, skipped, notice, skipped_moves)


def decision_params(_ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {"waiting": answers.get("waiting", 0), "id": answers.get("entry", 0)}


async def decision_options(_ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """Each decision names the entry and the revision on the card."""
    bound = f":{answers['entry']}:{answers['version']}"
    return (
        Option(APPROVE + bound, N_("✅ Approve")),
        Option(REJECT + bound, N_("↩️ Return with a reason")),
        Option(SKIP + bound, N_("⏭ Skip for now")),
    )


def _unbind(value: str) -> tuple[str, int, int] | None:
    """(decision, entry id, revision) of a decision button; None when it is not one."""
    decision, _, rest = value.partition(":")
    entry_id, _, version = rest.partition(":")
    if decision not in (APPROVE, REJECT, SKIP) or not entry_id.isdigit() or not version.isdigit():
        return None
    return decision, int(entry_id), int(version)


async def stale_decision(ctx: Context, value: str) -> str | None:
    """Why a decision button of another card, or of an earlier revision, decided nothing."""
    bound = _unbind(value)
    if bound is None:
        return None
    _, entry_id, version = bound
    entry = await ctx.session.get(Entry, entry_id)
    who = await _reviewer(ctx)
    if entry is None or not who.reviews or not _within(who, entry.review_unit_id):
        return None  # nothing to tell someone who could never have seen that card
    return await _why_not(ctx, entry_id, version)


def _within(who: Reviewer, unit_id: int | None) -> bool:
    return who.scope is None or unit_id in who.scope


async def _why_not(ctx: Context, entry_id: int, version: int) -> str:
    """Why a decision on this entry at this revision was not recorded."""
    entry = await ctx.session.get(Entry, entry_id)
    if entry is None:
        return ctx._("Entry #{id} no longer exists.").format(id=entry_id)
    if entry.status == Status.WITHDRAWN:
        return ctx._("Entry #{id} was withdrawn by its reporter.").format(id=entry_id)
    if entry.status in (Status.APPROVED, Status.REJECTED):
        name = await actor_name(ctx.session, entry.decided_by) or ctx._("another reviewer")
        text = (
            ctx._("Entry #{id} was already approved by {name} at {time}.")
            if entry.status == Status.APPROVED
            else ctx._("Entry #{id} was already returned by {name} at {time}.")
        )
        when = ctx.t.datetime(entry.decided_at) if entry.decided_at else "—"
        return text.format(id=entry_id, name=escape(name), time=when)
    if entry.reporter_id is not None and entry.reporter_id == ctx.person.member_id:
        return ctx._("Entry #{id} is your own: the reviewers above you decide it.").format(
            id=entry_id
        )
    if entry.version != version:
        return ctx._(
            "Entry #{id} was changed by its reporter after you opened it; nothing was "
            "decided. Please look at it again."
        ).format(id=entry_id)
    who = await _reviewer(ctx)
    if not who.reviews:
        return ctx._("Reviewing entries is for youth union secretaries and admins.")
    if not await decidable(ctx.session, who, entry_id):
        return ctx._("Entry #{id} is no longer in the units you review.").format(id=entry_id)
    return ctx._(
        "That button belongs to entry #{id}, not to the card shown now; nothing was decided."
    ).format(id=entry_id)


async def decided(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Records the decision on the entry at the revision shown, unless that is no longer
    possible; tells the reporter; shows the next card."""
    who = await _reviewer(ctx)
    if not who.reviews:
        return _refused(ctx)
    skipped = [int(i) for i in answers.get("skipped", [])]
    bound = _unbind(str(answers["decision"]))
    if bound is None:
        return await _next(ctx, who, skipped)
    decision, entry_id, version = bound
    if decision == SKIP:
        return await _next(ctx, who, [*skipped, entry_id])
    approve = decision == APPROVE
    entry = await decide(
        ctx.session,
        entry_id,
        version=version,
        who=who,
        approve=approve,
        reason=answers.get("reason"),
        actor=ctx.person.actor,
        tz=ctx.config.tz,
    )
    if entry is None:
        why = await _why_not(ctx, entry_id, version)
        changed = await ctx.session.get(Entry, entry_id)
        if changed is not None and changed.status in OPEN and changed.version != version:
            # Changed since it was shown: the same entry again, at its new revision.
            return [Reply("⚠️ " + why), *await _card(ctx, who, changed, skipped)]
        return await _next(ctx, who, skipped, "⚠️ " + why)
    if entry.reporter_id is not None:
        await enqueue_notice(
            ctx.session,
            "entry_approved" if approve else "entry_rejected",
            {"id": entry.id, "title": entry.title, "reason": entry.reject_reason or ""},
            member_id=entry.reporter_id,
        )
    notice = (
        ctx._("✅ Entry #{id} approved.") if approve else ctx._("↩️ Entry #{id} returned.")
    ).format(id=entry_id)
    return await _next(ctx, who, skipped, notice)


REVIEW = Form(
    name="review",
    interruptible=True,  # one card at a time: another command (/review again) loses nothing
    title=N_("Review"),
    steps=False,
    complete=decided,
    cancelled=N_("Review closed. Type /review to continue later."),
    fields=(
        Field(
            "decision",
            FieldKind.CHOICE,
            N_("{waiting} waiting for your review. Your decision on #{id}?"),
            params=decision_params,
            options_for=decision_options,
            stale=stale_decision,
        ),
        Field(
            "reason",
            FieldKind.TEXT,
            N_("Why is it returned? The reporter will read this."),
            hint=N_("Say politely what to fix, for example: please add a photo of the activity."),
            min_length=5,
            max_length=500,
            ask_if=lambda answers: str(answers.get("decision", "")).startswith(REJECT),
        ),
    ),
)


UNIT_CHANGE = Form(
    name="unit_change",
    interruptible=True,
    title=N_("Review"),
    steps=False,
    complete=moved,
    cancelled=N_("Review closed. Type /review to continue later."),
    fields=(
        Field(
            "decision",
            FieldKind.CHOICE,
            N_("Do you accept this member into your unit?"),
            options_for=move_options,
            stale=stale_move,
        ),
    ),
)


def register(router: Router) -> None:
    router.form(REVIEW)
    router.form(UNIT_CHANGE)
    router.command(
        "review",
        start_review,
        N_("review the entries of your units"),
        audience=Audience.SECRETARIES,
    )
    router.menu_item(
        "review",
        N_("🗂 Review entries"),
        start_review,
        visible=lambda ctx: ctx.person.leads,
    )
