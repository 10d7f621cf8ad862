"""Registration: consent first, then name, birth year, unit and an optional phone number."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, Stop
from bot.events import Reply
from bot.fields import Invalid
from bot.i18n import N_
from bot.router import Router, menu_reply
from bot.text import escape
from models.invites import count_invite_use
from models.people import load_person, register_member
from models.tables import Identity, Unit

__all__ = [
    "BIRTH_YEAR",
    "FULL_NAME",
    "INVITE",
    "PHONE",
    "REGISTRATION",
    "is_full_name",
    "register",
]

AGREE = "agree"
INVITE = "_invite"  # prefilled by /start CODE, with the invitation's unit

CONSENT_NOTICE = N_(
    "Before you register, please read how we handle your personal data "
    "(notice version {version}).\n"
    "• What we store: your full name, birth year, unit, phone number if you share it, your "
    "chat account, and what you report.\n"
    "• Why: to record and total the results of the emulation movement and to propose awards.\n"
    "• Who sees it: the youth union secretaries of your unit and the units above it, and the "
    "staff of the provincial Youth Union and the Department of Home Affairs who run the "
    "movement.\n"
    "• Your rights: you may see, correct and get a copy of your data, withdraw your consent "
    "and ask us to delete it at any time, through this bot.\n"
    "Do you agree?"
)


async def check_consent(ctx: Context, value: Any, _answers: dict[str, Any]) -> Stop | None:
    """Ends registration, storing nothing, when the user does not agree."""
    if value == AGREE:
        return None
    return Stop(
        [
            Reply(
                ctx._(
                    "Understood. Without your consent we store nothing about you. "
                    "Type /start whenever you change your mind."
                )
            )
        ]
    )


def is_full_name(value: str) -> bool:
    """Two words or more, each with a letter, of letters, their accents and punctuation
    ("Lò Thị Kim-Anh", "Nguyễn Văn An (Tí)"): no digits, emoji or other symbols, and nothing
    invisible."""
    words = value.split()
    return len(words) >= 2 and all(
        any(unicodedata.category(char).startswith("L") for char in word)
        and all(unicodedata.category(char)[0] in "LMP" for char in word)
        for word in words
    )


async def check_name(_ctx: Context, value: Any, _answers: dict[str, Any]) -> Stop | None:
    if not is_full_name(value):
        raise Invalid(N_("Please write your full name in letters, for example Hoàng Thị Mai."))
    return None


def under_age(ctx: Context, year: Any) -> bool:
    """A birth year that makes someone under 16 is often a slip (2015 for 2005): asked once
    more before registration ends."""
    return ctx.today().year - int(year) < ctx.config.min_age


def age_params(ctx: Context, _answers: dict[str, Any]) -> dict[str, Any]:
    return {"min": ctx.config.min_age}


async def check_age(ctx: Context, value: Any, _answers: dict[str, Any]) -> Stop | None:
    """Turns away anyone under 16 (a guardian must agree; confirmed first) and anyone over
    30."""
    age = ctx.today().year - int(value)
    if age < ctx.config.min_age:
        return Stop(
            [
                Reply(
                    ctx._(
                        "Thank you! Young people under {min} can take part only with the "
                        "consent of a parent or guardian, so I cannot register you here. "
                        "Please ask your youth union secretary or teacher for help. "
                        "Nothing about you has been stored."
                    ).format(min=ctx.config.min_age)
                )
            ]
        )
    if age > ctx.config.max_age:
        raise Invalid(
            N_(
                "The movement is for young people aged {min} to {max} this year. If you "
                "manage youth affairs, please ask the provincial Youth Union to add you."
            ),
            {"min": ctx.config.min_age, "max": ctx.config.max_age},
        )
    return None


def consent_params(ctx: Context, _answers: dict[str, Any]) -> dict[str, Any]:
    return {"version": ctx.config.consent_version}


async def invited_unit(ctx: Context, answers: dict[str, Any]) -> str | None:
    """The summary's line for a unit an invitation gave (then it is not asked)."""
    if INVITE not in answers:
        return None
    unit = await ctx.session.get(Unit, int(answers["unit"]))
    if unit is None:
        return None
    return ctx._("<b>Unit:</b> {name} (from the invitation)").format(name=escape(unit.name))


async def complete(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Saves the member with their consent record and opens the menu."""
    birth_year = int(answers["birth_year"])
    is_minor = ctx.today().year - birth_year < ctx.config.adult_age
    consent = answers["consent"]
    await register_member(
        ctx.session,
        ctx.person.identity_id,
        full_name=answers["full_name"],
        birth_year=birth_year,
        is_minor=is_minor,
        unit_id=int(answers["unit"]),
        phone=answers.get("phone"),
        notice_version=ctx.config.consent_version,
        consented_at=dt.datetime.fromisoformat(consent["at"]),
    )
    if INVITE in answers:
        await count_invite_use(ctx.session, answers[INVITE])
    identity = await ctx.session.get_one(Identity, ctx.person.identity_id)
    ctx.person = await load_person(ctx.session, identity)
    text = ctx._("<b>You are registered. Welcome, {name}!</b>\nUnit: {unit}").format(
        name=escape(answers["full_name"]), unit=escape(ctx.person.unit_name or "")
    )
    return [Reply(text), menu_reply(ctx)]


# The person's details, asked again when they correct their profile (handlers/profile.py).
FULL_NAME = Field(
    "full_name",
    FieldKind.TEXT,
    N_("What is your full name?"),
    hint=N_("Write it with diacritics, for example: Hoàng Thị Mai."),
    label=N_("Full name"),
    min_length=4,
    max_length=100,
    check=check_name,
)
BIRTH_YEAR = Field(
    "birth_year",
    FieldKind.YEAR,
    N_("In which year were you born?"),
    hint=N_("Four digits, for example 2004."),
    label=N_("Birth year"),
    minimum=1900,
    params=age_params,
    unusual=under_age,
    unusual_prompt=N_(
        "Under {min} (born in {value})? If you mistyped, please type your birth year again."
    ),
    check=check_age,
)
PHONE = Field(
    "phone",
    FieldKind.PHONE,
    N_("Your phone number (optional)"),
    hint=N_(
        "Tap the button to share it, type it, or skip. Your secretary uses it only "
        "to contact you about the movement."
    ),
    label=N_("Phone"),
    optional=True,
)

REGISTRATION = Form(
    name="registration",
    title=N_("Registration"),
    fields=(
        Field(
            "consent",
            FieldKind.CHOICE,
            CONSENT_NOTICE,
            options=(Option(AGREE, N_("✅ I agree")), Option("decline", N_("I do not agree"))),
            params=consent_params,
            check=check_consent,
            stamp=True,
            summarised=False,  # agreeing is not an answer to check or change afterwards
        ),
        FULL_NAME,
        BIRTH_YEAR,
        Field(
            "unit",
            FieldKind.UNIT,
            N_("Which commune, ward or body do you belong to?"),
            hint=N_(
                'Type part of its name, diacritics optional (for example "na sam"), or type '
                '"list" to choose from the list.'
            ),
            label=N_("Unit"),
            # An invitation gave the unit: not asked, and not forgotten by /back either.
            ask_if=lambda answers: INVITE not in answers,
        ),
        PHONE,
    ),
    complete=complete,
    cancelled=N_("Registration cancelled. Nothing was saved."),
    review=True,
    submit=N_("✅ Register"),
    note=invited_unit,
)


def register(router: Router) -> None:
    router.form(REGISTRATION)
