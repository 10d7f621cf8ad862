"""Invites: a secretary (or admin) shares a link, a QR code or a short code; young people who
open it register straight into the unit. /invite lists a unit's codes and revokes one."""

from __future__ import annotations

import importlib.util
import io
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qrcode  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Document, Reply
from bot.i18n import N_
from bot.router import Audience, Router, menu_reply
from bot.text import escape
from domain.vocabulary import Role
from handlers.registration import INVITE
from models.entries import scope_unit_ids
from models.invites import (
    active_invites,
    can_join,
    create_invite,
    find_active_invite,
    revoke_invite,
    unit_with_code,
)
from models.tables import Invite, Unit

__all__ = ["already_registered_note", "invitation", "qr_png", "register"]

NEW = "new"
EXAMPLE_UNIT = "ls-x-na-sam"
CAPTION_SIZE = 18  # pixels: legible when the code is printed at a few centimetres
CAPTION_LINE = 24


def _font_file() -> Path:
    """DejaVu Sans, which has every Vietnamese letter and ships inside matplotlib (as for the
    charts); found without importing matplotlib, which would load NumPy for one font file."""
    spec = importlib.util.find_spec("matplotlib")
    folders = (spec.submodule_search_locations if spec else None) or []
    return Path(folders[0]) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"


async def start_invite(ctx: Context) -> list[Reply]:
    """/invite [UNIT_CODE]: the invitations of one of the caller's units, or a first one."""
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    if scope == set():
        return [Reply(ctx._("Inviting young people is for youth union secretaries and admins."))]
    typed = ctx.inbound.args.strip()
    if typed:
        unit = await unit_with_code(ctx.session, typed)
        if unit is None:
            return [
                Reply(
                    ctx._(
                        "No unit has the code {code}. Type /invite and the unit's code, "
                        "for example /invite {example}."
                    ).format(code=escape(typed[:64]), example=EXAMPLE_UNIT)
                )
            ]
        return await _open(ctx, unit)
    units = await _own_units(ctx)
    if not units:  # an admin, or a secretary of the province itself: the unit must be named
        return [
            Reply(
                ctx._(
                    "To which unit? Type /invite and the unit's code, for example "
                    "/invite {example}."
                ).format(example=EXAMPLE_UNIT)
            )
        ]
    if len(units) == 1:
        return await _open(ctx, units[0])
    return await start_form(ctx, "invite_unit")


async def _own_units(ctx: Context) -> list[Unit]:
    """The units the person is secretary of that young people can join, by name."""
    units = []
    for role, unit_id in ctx.person.roles:
        if role == Role.SECRETARY and unit_id is not None:
            unit = await ctx.session.get(Unit, unit_id)
            if unit is not None and can_join(unit):
                units.append(unit)
    return sorted(units, key=lambda unit: unit.name)


async def _in_scope(ctx: Context, unit: Unit) -> bool:
    """Checked each time something is created or revoked: a role may have gone since."""
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    return scope is None or unit.id in scope


def _refusal(ctx: Context) -> Reply:
    return Reply(
        ctx._("You can invite young people only to your own units and the units below them.")
    )


async def _open(ctx: Context, unit: Unit) -> list[Reply]:
    """A first invitation for the unit, or its active codes with a choice to revoke one."""
    if not await _in_scope(ctx, unit):
        return [_refusal(ctx)]
    if not can_join(unit):
        return [
            Reply(
                ctx._(
                    "Young people register in a commune, ward or body, not in {unit}. "
                    "Type /invite and the code of one of its units."
                ).format(unit=escape(unit.name))
            )
        ]
    invites = await active_invites(ctx.session, unit.id)
    if not invites:
        return await _created(ctx, unit)
    lines = [ctx._("<b>Active invitations to {unit}</b>").format(unit=escape(unit.name))]
    for invite in invites:
        uses = ctx.t.ngettext("used by {n} person", "used by {n} people", invite.uses)
        line = ctx._("• {code} — since {date}, {uses}").format(
            code=invite.code, date=_local_date(ctx, invite), uses=uses.format(n=invite.uses)
        )
        link = ctx.start_link(invite.code)
        lines.append(line + (f"\n  {escape(link)}" if link else ""))
    return [Reply("\n".join(lines)), *await start_form(ctx, "invite", {"unit": unit.id})]


def _local_date(ctx: Context, invite: Invite) -> str:
    return ctx.t.date(invite.created_at.astimezone(ctx.config.tz).date())


async def _created(ctx: Context, unit: Unit) -> list[Reply]:
    """Creates a code for the unit and sends it with its link and QR code."""
    actor = ctx.person.actor
    invite = await create_invite(ctx.session, unit.id, actor=actor)
    return [invitation_reply(ctx, unit, invite), menu_reply(ctx)]


def qr_png(data: str, caption: Sequence[str] = ()) -> bytes:
    """The QR code of `data` as a PNG image, with the caption's lines written under it (the
    unit and what to type), so that a printed or forwarded code still says what it is for."""
    code = qrcode.make(data, box_size=10, border=4).get_image().convert("L")
    font = ImageFont.truetype(str(_font_file()), CAPTION_SIZE)
    margin = code.width // 12
    lines = [
        line
        for text in caption
        for line in _wrapped(unicodedata.normalize("NFC", text), font, code.width - 2 * margin)
    ]
    height = code.height + (len(lines) * CAPTION_LINE + margin if lines else 0)
    image = Image.new("L", (code.width, height), 255)
    image.paste(code, (0, 0))
    draw = ImageDraw.Draw(image)
    top = code.height  # below the quiet zone the code needs around it
    for number, line in enumerate(lines):
        width = draw.textlength(line, font=font)
        draw.text(((code.width - width) / 2, top + number * CAPTION_LINE), line, 0, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _wrapped(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """The text in lines that fit `width` pixels, broken between words."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def invitation_reply(ctx: Context, unit: Unit, invite: Invite) -> Reply:
    """The new code, its link where there is one, how to use it, and its QR code attached."""
    link = ctx.start_link(invite.code)
    lines = [
        ctx._("✅ <b>New invitation to {unit}</b>").format(unit=escape(unit.name)),
        ctx._("Code: <b>{code}</b>").format(code=invite.code),
    ]
    if link:
        lines += [
            ctx._("Link: {link}").format(link=escape(link)),
            ctx._(
                "Share the link or the QR code below: young people who open it register "
                "straight into this unit. In a chat app without such links, they type "
                "/join {code}."
            ).format(code=invite.code),
        ]
    else:
        lines.append(
            ctx._(
                "Share the code or the QR code below: young people who type /join {code} "
                "in the chat with the bot register straight into this unit."
            ).format(code=invite.code)
        )
    lines += ["", ctx._("Type /invite to see this unit's invitations or to revoke one.")]
    # Without a link the QR code holds the instruction, which a phone camera shows as text;
    # under it, the unit and what to type where a camera or a link is no help.
    join = f"/join {invite.code}"
    document = Document(
        file_name=f"invite-{invite.code}.png",
        content=qr_png(link or join, (unit.name, join)),
        mime_type="image/png",
    )
    return Reply("\n".join(lines), document=document)


async def own_unit_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    return tuple(Option(str(unit.id), unit.name) for unit in await _own_units(ctx))


async def unit_chosen(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Opens the invitations of the chosen unit."""
    unit = await ctx.session.get(Unit, int(answers["unit"]))
    if unit is None:
        return [_refusal(ctx)]
    return await _open(ctx, unit)


async def action_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """A new code, or one of the unit's active codes to revoke."""
    options = [Option(NEW, N_("➕ Create a new invitation"))]
    for invite in await active_invites(ctx.session, int(answers["unit"])):
        options.append(Option(str(invite.id), ctx._("❌ Revoke {code}").format(code=invite.code)))
    return tuple(options)


async def stale_invite(ctx: Context, value: str) -> str | None:
    """Why the button of an invitation no longer listed revokes nothing."""
    invite = await ctx.session.get(Invite, int(value)) if value.isdigit() else None
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    if invite is None or invite.revoked_at is None or scope == set():
        return None
    if scope is not None and invite.unit_id not in scope:
        return None
    return ctx._("Invitation {code} was already revoked; nothing was changed.").format(
        code=invite.code
    )


async def action_chosen(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Creates a new code, or revokes the chosen one, if the unit is still the caller's."""
    unit = await ctx.session.get(Unit, int(answers["unit"]))
    if unit is None or not await _in_scope(ctx, unit):
        return [_refusal(ctx)]
    if answers["action"] == NEW:
        return await _created(ctx, unit)
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    actor = ctx.person.actor
    invite = await revoke_invite(ctx.session, int(answers["action"]), scope, actor=actor)
    if invite is None:
        text = ctx._("That invitation had already been revoked.")
    else:
        text = ctx._(
            "Invitation {code} revoked: its link and QR code no longer work. Those who joined "
            "with it stay in {unit}."
        ).format(code=invite.code, unit=escape(unit.name))
    return [Reply(text), menu_reply(ctx)]


def invite_params(_ctx: Context, _answers: dict[str, Any]) -> dict[str, Any]:
    return {"example": EXAMPLE_UNIT}


CHOOSE_UNIT = Form(
    name="invite_unit",
    title=N_("Invitations"),
    steps=False,
    complete=unit_chosen,
    cancelled=N_("Nothing was changed. Type /invite to come back to your invitations."),
    fields=(
        Field(
            "unit",
            FieldKind.CHOICE,
            N_("Invite young people to which unit?"),
            hint=N_(
                "For a unit below yours, type /invite and its code, for example /invite {example}."
            ),
            params=invite_params,
            options_for=own_unit_options,
        ),
    ),
)

MANAGE = Form(
    name="invite",
    title=N_("Invitations"),
    steps=False,
    complete=action_chosen,
    cancelled=N_("Nothing was changed. Type /invite to come back to your invitations."),
    fields=(
        Field(
            "action",
            FieldKind.CHOICE,
            N_("Create a new invitation, or choose one to revoke it?"),
            hint=N_("Those who already joined with a revoked code stay in the unit."),
            options_for=action_options,
            stale=stale_invite,
        ),
    ),
)


async def invitation(ctx: Context, typed: str) -> tuple[str, dict[str, Any]]:
    """/start CODE before registering: a line for the welcome, and the answers it prefills."""
    invite = await find_active_invite(ctx.session, typed)
    unit = await ctx.session.get(Unit, invite.unit_id) if invite is not None else None
    if invite is None or unit is None or not can_join(unit):
        note = ctx._(
            "This invitation code does not work: it may have been revoked. You can still "
            "register: I will ask which unit you belong to."
        )
        return note, {}
    note = ctx._("🎟 You were invited to join <b>{unit}</b>, so I will not ask for your unit.")
    return note.format(unit=escape(unit.name)), {"unit": unit.id, INVITE: invite.code}


def already_registered_note(ctx: Context) -> str:
    """/start CODE from a member: the invitation is for newcomers."""
    return ctx._(
        "You are already registered, in {unit}; the invitation is only needed by new members."
    ).format(unit=escape(ctx.person.unit_name or ""))


def register(router: Router) -> None:
    router.form(CHOOSE_UNIT)
    router.form(MANAGE)
    router.command(
        "invite",
        start_invite,
        N_("invite young people to your unit with a link or QR code"),
        audience=Audience.SECRETARIES,
    )
    router.menu_item(
        "invite", N_("🎟 Invite young people"), start_invite, visible=lambda ctx: ctx.person.leads
    )
