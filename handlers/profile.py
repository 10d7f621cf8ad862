"""The member's own profile: what is stored, and correcting it. Name, birth year and phone
change at once; a move to another unit waits for that unit's secretary (or an admin), and
the member's past entries stay with the unit they were sent in. Every correction is audited
(which fields, not their values) and shown in /mydata."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.fields import Invalid
from bot.i18n import N_
from bot.router import Router, menu_reply
from bot.text import escape, format_phone
from handlers.registration import BIRTH_YEAR, FULL_NAME, PHONE
from handlers.reporting import reviewer_label
from models.people import WAITING, correct_member, request_unit_change
from models.tables import Consent, Member, Unit, UnitChange

__all__ = ["register"]

NAME, YEAR, PHONE_NUMBER, UNIT = "full_name", "birth_year", "phone", "unit"


async def show_profile(ctx: Context) -> list[Reply]:
    """Shows what we store about the member, then what they may correct."""
    member = await ctx.session.get_one(Member, ctx.person.member_id)
    unit = await ctx.session.get(Unit, member.unit_id)
    consent = await ctx.session.scalar(
        select(Consent)
        .where(Consent.member_id == member.id)
        .order_by(Consent.accepted_at.desc())
        .limit(1)
    )
    lines = [
        ctx._("<b>Your profile</b>"),
        ctx._("Full name: {name}").format(name=escape(member.full_name)),
        ctx._("Birth year: {year}").format(year=member.birth_year),
        ctx._("Unit: {name}").format(name=escape(unit.name if unit else "")),
        ctx._("Phone: {phone}").format(
            phone=format_phone(member.phone) if member.phone else ctx._("not given")
        ),
        ctx._("Registered on: {date}").format(date=ctx.t.datetime(member.registered_at)),
        # What an operator needs to grant a role from the command line (README, roles grant).
        ctx._("Your {channel} account id: {id}").format(
            channel=ctx.person.channel.capitalize(), id=escape(ctx.person.user_id)
        ),
    ]
    if consent is not None:
        lines.append(
            ctx._("Consent: notice version {version}, given {date}").format(
                version=consent.notice_version, date=ctx.t.datetime(consent.accepted_at)
            )
        )
    move = await _waiting_move(ctx)
    if move is not None:
        to = await ctx.session.get_one(Unit, move.to_unit_id)
        lines.append(
            ctx._("⏳ Your move to {unit} waits for approval.").format(unit=escape(to.name))
        )
    return [Reply("\n".join(lines)), *await start_form(ctx, "profile", {})]


async def _waiting_move(ctx: Context) -> UnitChange | None:
    return await ctx.session.scalar(
        select(UnitChange).where(
            UnitChange.member_id == ctx.person.member_id, UnitChange.status == WAITING
        )
    )


async def change_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    return (
        Option(NAME, N_("✏️ Full name")),
        Option(YEAR, N_("✏️ Birth year")),
        Option(PHONE_NUMBER, N_("✏️ Phone number")),
        Option(UNIT, N_("🔁 Move to another unit")),
        Option("menu", N_("Back to the menu")),
    )


async def chosen(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    if answers["change"] not in (NAME, YEAR, PHONE_NUMBER, UNIT):
        return [menu_reply(ctx)]
    return await start_form(ctx, "profile_edit", {"what": answers["change"]})


async def check_corrected_age(ctx: Context, value: Any, _answers: dict[str, Any]) -> None:
    """A corrected birth year keeps the movement's ages (no one under the minimum)."""
    age = ctx.today().year - int(value)
    if not ctx.config.min_age <= age <= ctx.config.max_age:
        raise Invalid(
            N_(
                "The movement is for young people aged {min} to {max} this year. If the "
                "year you registered is wrong in another way, please ask your secretary."
            ),
            {"min": ctx.config.min_age, "max": ctx.config.max_age},
        )


async def corrected(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Applies the correction (a move is asked for, not made)."""
    member_id = ctx.person.member_id
    if member_id is None:
        return [Reply(ctx._("You have not registered yet. Type /start to begin."))]
    what = answers["what"]
    if what == UNIT:
        return await _ask_to_move(ctx, member_id, int(answers[UNIT]))
    values: dict[str, Any] = {what: answers.get(what)}
    if what == YEAR:
        year = int(answers[YEAR])
        values["is_minor"] = ctx.today().year - year < ctx.config.adult_age
    changed = await correct_member(ctx.session, member_id, actor=ctx.person.actor, **values)
    text = ctx._("✅ Your profile has been updated.") if changed else ctx._("Nothing changed.")
    return [menu_reply(ctx, text)]


async def _ask_to_move(ctx: Context, member_id: int, unit_id: int) -> list[Reply]:
    member = await ctx.session.get_one(Member, member_id)
    unit = await ctx.session.get_one(Unit, unit_id)
    if unit.id == member.unit_id:
        return [
            menu_reply(ctx, ctx._("You are already in {unit}.").format(unit=escape(unit.name)))
        ]
    await request_unit_change(ctx.session, member_id, unit.id, actor=ctx.person.actor)
    reviewer = await reviewer_label(ctx, unit.id, member_id)
    text = ctx._(
        "🔁 Your move to {unit} has been sent to {reviewer} for approval. Until then you stay "
        "in your unit; your entries so far stay with it."
    ).format(unit=escape(unit.name), reviewer=reviewer)
    return [menu_reply(ctx, text)]


def _asked(name: str) -> Any:
    return lambda answers: answers.get("what") == name


PROFILE = Form(
    name="profile",
    interruptible=True,
    title=N_("My profile"),
    steps=False,
    complete=chosen,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "change",
            FieldKind.CHOICE,
            N_("Is something wrong? Choose what to correct."),
            options_for=change_options,
        ),
    ),
)

PROFILE_EDIT = Form(
    name="profile_edit",
    title=N_("My profile"),
    steps=False,
    complete=corrected,
    cancelled=N_("Nothing was changed."),
    fields=(
        dataclasses.replace(FULL_NAME, ask_if=_asked(NAME)),
        dataclasses.replace(BIRTH_YEAR, check=check_corrected_age, ask_if=_asked(YEAR)),
        dataclasses.replace(
            PHONE,
            prompt=N_("Your phone number"),
            hint=N_('Type it, share it with the button, or type "skip" to remove it.'),
            ask_if=_asked(PHONE_NUMBER),
        ),
        Field(
            UNIT,
            FieldKind.UNIT,
            N_("Which unit are you moving to?"),
            hint=N_('Type part of its name, or "list".'),
            ask_if=_asked(UNIT),
        ),
    ),
)


def register(router: Router) -> None:
    router.form(PROFILE)
    router.form(PROFILE_EDIT)
    router.command("profile", show_profile, N_("see and correct your profile"), members_only=True)
    router.menu_item(
        "profile", N_("👤 My profile"), show_profile, visible=lambda ctx: ctx.person.registered
    )
