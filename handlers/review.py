"""Review: a secretary (or admin) goes through the entries waiting in their units, one card at
a time: approve with one tap, return with a reason, or skip. The reporter is told."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Choice, Reply
from bot.i18n import N_, pick_locale
from bot.router import Router, menu_reply
from bot.text import escape
from domain.vocabulary import OPEN, Status
from handlers.my_entries import entry_card
from models.entries import (
    decide,
    next_to_review,
    scope_unit_ids,
    waiting_by_unit,
    waiting_count,
)
from models.people import actor_name
from models.tables import Entry, Identity, Member

__all__ = ["register"]


async def start_review(ctx: Context) -> list[Reply]:
    """Shows the oldest entry waiting in the reviewer's units."""
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    if scope == set():
        return [Reply(ctx._("Reviewing entries is for youth union secretaries and admins."))]
    counts = await waiting_by_unit(ctx.session, scope)
    if len(counts) < 2:
        return await _next(ctx, [])
    lines = [ctx._("<b>Waiting for review, by unit</b>")]
    lines += [f"{escape(name)}: {ctx.t.number(count)}" for name, count in counts[:20]]
    return await _next(ctx, [], "\n".join(lines))


async def _next(ctx: Context, skipped: list[int], notice: str | None = None) -> list[Reply]:
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    entry = await next_to_review(ctx.session, scope, skipped=skipped)
    replies = [Reply(notice)] if notice else []
    if entry is None:
        text = ctx._("Nothing else is waiting for review in your units. 🎉")
        if skipped:
            text = ctx._(
                "You have seen every waiting entry. Type /review to go through the "
                "skipped ones again."
            )
        return [*replies, menu_reply(ctx, text)]
    reporter = await ctx.session.get(Member, entry.reporter_id) if entry.reporter_id else None
    card = await entry_card(ctx, entry, reporter.full_name if reporter else "—")
    prefill = {
        "entry": entry.id,
        "skipped": skipped,
        "waiting": await waiting_count(ctx.session, scope),
    }
    return [*replies, Reply("\n".join(card)), *await start_form(ctx, "review", prefill)]


def decision_params(_ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {"waiting": answers.get("waiting", 0), "id": answers.get("entry", 0)}


async def decided(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Records the decision unless someone else was first, tells the reporter, shows the next."""
    entry_id = int(answers["entry"])
    skipped = [int(i) for i in answers.get("skipped", [])]
    if answers["decision"] == "skip":
        return await _next(ctx, [*skipped, entry_id])
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)  # checked now, not when shown
    if scope == set():
        return [Reply(ctx._("Reviewing entries is for youth union secretaries and admins."))]
    approve = answers["decision"] == "approve"
    actor = ctx.person.actor
    if not await decide(
        ctx.session,
        entry_id,
        scope,
        approve=approve,
        reason=answers.get("reason"),
        actor=actor,
        tz=ctx.config.tz,
    ):
        return await _next(ctx, skipped, await _not_decided(ctx, entry_id))
    notice = (
        ctx._("✅ Entry #{id} approved.") if approve else ctx._("↩️ Entry #{id} returned.")
    ).format(id=entry_id)
    return [*await _tell_reporter(ctx, entry_id), *await _next(ctx, skipped, notice)]


async def _not_decided(ctx: Context, entry_id: int) -> str:
    """Why a decision could not be recorded: it is no longer the reviewer's to make."""
    entry = await ctx.session.get(Entry, entry_id)
    if entry is None:
        return ctx._("Entry #{id} no longer exists.").format(id=entry_id)
    if entry.status == Status.WITHDRAWN:
        return ctx._("Entry #{id} was withdrawn by its reporter.").format(id=entry_id)
    if entry.status in OPEN:  # still waiting, but no longer in the reviewer's units
        return ctx._("Entry #{id} is no longer in the units you review.").format(id=entry_id)
    who = await _reviewer_name(ctx, entry.decided_by)
    return ctx._("Entry #{id} was already decided by {name}.").format(
        id=entry_id, name=escape(who)
    )


async def _reviewer_name(ctx: Context, decided_by: str | None) -> str:
    return await actor_name(ctx.session, decided_by) or ctx._("another reviewer")


async def _tell_reporter(ctx: Context, entry_id: int) -> list[Reply]:
    """The decision, in the reporter's own language, in each of their chats on this channel."""
    entry = await ctx.session.get_one(Entry, entry_id)
    if entry.reporter_id is None:
        return []
    identities = (
        await ctx.session.scalars(
            select(Identity).where(
                Identity.member_id == entry.reporter_id,
                Identity.channel == ctx.inbound.channel,
                Identity.chat_id.is_not(None),
            )
        )
    ).all()
    replies = []
    for identity in identities:
        locale = pick_locale(identity.locale, identity.client_language, ctx.config.default_locale)
        t = ctx.catalogs.translator(locale, ctx.config.tz)
        if entry.status == Status.APPROVED:
            text = t.gettext("✅ Your entry #{id} «{title}» has been approved. Thank you!")
        else:
            text = t.gettext(
                "↩️ Your entry #{id} «{title}» has been returned for changes.\nReason: {reason}\n"
                "Open it under 📂 My entries to fix it and send it again."
            )
        text = text.format(
            id=entry.id, title=escape(entry.title), reason=escape(entry.reject_reason or "")
        )
        button = Choice(t.gettext("📂 My entries"), "m:entries")
        replies.append(Reply(text, (button,), chat_id=identity.chat_id))
    return replies


REVIEW = Form(
    name="review",
    title=N_("Review"),
    steps=False,
    complete=decided,
    cancelled=N_("Review closed. Type /review to continue later."),
    fields=(
        Field(
            "decision",
            FieldKind.CHOICE,
            N_("{waiting} waiting in your units. Your decision on #{id}?"),
            params=decision_params,
            options=(
                Option("approve", N_("✅ Approve")),
                Option("reject", N_("↩️ Return with a reason")),
                Option("skip", N_("⏭ Skip for now")),
            ),
        ),
        Field(
            "reason",
            FieldKind.TEXT,
            N_("Why is it returned? The reporter will read this."),
            hint=N_("Say politely what to fix, for example: please add a photo of the activity."),
            min_length=5,
            max_length=500,
            ask_if=lambda answers: answers.get("decision") == "reject",
        ),
    ),
)


def register(router: Router) -> None:
    router.form(REVIEW)
    router.command("review", start_review, N_("review the entries of your units (secretaries)"))
    router.menu_item(
        "review",
        N_("🗂 Review entries"),
        start_review,
        visible=lambda ctx: ctx.person.leads,
    )
