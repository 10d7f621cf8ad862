"""Roles and units from the chat: admins grant and revoke roles (/roles); secretaries add
branches, schools or enterprises under their unit (/units)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, Stop, start_form
from bot.events import Reply
from bot.fields import Invalid
from bot.i18n import N_
from bot.router import Audience, Router, menu_reply
from bot.text import escape, fold
from domain.vocabulary import Role, role_title
from models.entries import scope_unit_ids
from models.people import audit, grant_role, revoke_role
from models.tables import Identity, Member, RoleGrant, Unit

__all__ = ["register"]

MATCHES = 8


async def open_roles(ctx: Context) -> list[Reply]:
    if not ctx.person.is_admin:
        return [Reply(ctx._("Managing roles is for admins."))]
    return await start_form(ctx, "roles")


async def check_name(ctx: Context, value: Any, _answers: dict[str, Any]) -> Stop | None:
    if not await _members_named(ctx, value):
        raise Invalid(N_("Nobody registered matches that name. Try another part of it."))
    return None


async def _members_named(ctx: Context, typed: str) -> list[tuple[Member, str]]:
    """Registered members whose name holds every word typed (diacritics optional)."""
    words = fold(typed).split()
    rows = (
        await ctx.session.execute(
            select(Member, Unit.name).join(Unit, Unit.id == Member.unit_id).order_by(Member.id)
        )
    ).all()
    return [
        (member, unit_name)
        for member, unit_name in rows
        if all(word in fold(member.full_name) for word in words)
    ][:MATCHES]


async def member_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    return tuple(
        Option(str(member.id), f"{member.full_name} · {unit_name}")
        for member, unit_name in await _members_named(ctx, answers.get("name", ""))
    )


async def grant_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    """What to grant, or which of the person's roles to revoke; each names the person, so
    that a button of an earlier /roles about someone else changes nothing."""
    person = int(answers.get("member", 0))
    options = [
        Option(f"{person}|grant:secretary", N_("Make secretary of a unit")),
        Option(f"{person}|grant:admin", N_("Make admin")),
        Option(
            f"{person}|grant:appraiser", N_("Make appraiser of Sở Nội vụ (appraises nominations)")
        ),
    ]
    grants = (
        await ctx.session.execute(
            select(RoleGrant, Unit.name, Unit.kind)
            .join(Identity, Identity.id == RoleGrant.identity_id)
            .outerjoin(Unit, Unit.id == RoleGrant.unit_id)
            .where(Identity.member_id == person)
        )
    ).all()
    seen = set()
    for grant, unit_name, unit_kind in grants:
        change = f"{person}|revoke:{grant.role}:{grant.unit_id or ''}"
        if change in seen:  # the same role on two of the person's chat accounts
            continue
        seen.add(change)
        title = role_title(ctx._, grant.role, unit_name, unit_kind)
        options.append(Option(change, ctx._("Revoke: {role}").format(role=title)))
    return tuple(options)


async def apply_role(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Grants or revokes on every chat account of the member; checked as admin again now."""
    if not ctx.person.is_admin:
        return [Reply(ctx._("Managing roles is for admins."))]
    member = await ctx.session.get(Member, int(answers["member"]))
    if member is None:
        return [menu_reply(ctx, ctx._("That person is no longer registered."))]
    identities = (
        await ctx.session.scalars(select(Identity).where(Identity.member_id == member.id))
    ).all()
    actor = ctx.person.actor
    action, role, *rest = str(answers["change"]).partition("|")[2].split(":")
    if action == "grant":
        unit = (
            await ctx.session.get(Unit, int(answers["unit"])) if role == Role.SECRETARY else None
        )
        for identity in identities:
            await grant_role(ctx.session, identity, role, unit, granted_by=actor)
        message = N_("{name} is now {role}.")
    else:
        unit = await ctx.session.get(Unit, int(rest[0])) if rest and rest[0] else None
        for identity in identities:
            await revoke_role(ctx.session, identity, role, unit, revoked_by=actor)
        message = N_("{name} is no longer {role}.")
    title = role_title(ctx._, role, unit.name if unit else None, unit.kind if unit else None)
    text = ctx._(message).format(name=escape(member.full_name), role=escape(title))
    return [menu_reply(ctx, text)]


ROLES = Form(
    name="roles",
    title=N_("Roles"),
    complete=apply_role,
    fields=(
        Field(
            "name",
            FieldKind.TEXT,
            N_("Whose role? Type part of their name."),
            min_length=2,
            max_length=100,
            check=check_name,
        ),
        Field("member", FieldKind.CHOICE, N_("Which person?"), options_for=member_options),
        Field("change", FieldKind.CHOICE, N_("What should change?"), options_for=grant_options),
        Field(
            "unit",
            FieldKind.UNIT,
            N_("Secretary of which unit?"),
            hint=N_('Type part of its name, or "list".'),
            ask_if=lambda answers: str(answers.get("change", "")).endswith("|grant:secretary"),
        ),
    ),
)


async def open_units(ctx: Context) -> list[Reply]:
    if await scope_unit_ids(ctx.session, ctx.person.roles) == set():
        return [Reply(ctx._("Adding units is for youth union secretaries and admins."))]
    return await start_form(ctx, "subunit", {"_admin": ctx.person.is_admin})


async def parent_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    """The units the person is secretary of (admins: any, by the same list plus search)."""
    options = []
    for role, unit_id in ctx.person.roles:
        if role == Role.SECRETARY and unit_id is not None:
            unit = await ctx.session.get(Unit, unit_id)
            if unit is not None:
                options.append(Option(str(unit.id), unit.name))
    return tuple(options)


UNIT_KINDS = (
    Option("branch", N_("Youth union branch (chi đoàn)")),
    Option("school", N_("School")),
    Option("enterprise", N_("Enterprise")),
    Option("other", N_("Other")),
)


async def create_unit(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Adds the unit under its parent, if the parent is still in the person's scope."""
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)
    parent_id = int(answers.get("parent") or answers.get("parent_search") or 0)
    parent = await ctx.session.get(Unit, parent_id)
    if parent is None or (scope is not None and parent.id not in scope):
        return [menu_reply(ctx, ctx._("You can add units only under your own units."))]
    code = await _free_code(ctx, f"{parent.code}-{_slug(answers['name'])}")
    unit = Unit(
        code=code,
        name=answers["name"],
        search_name=fold(answers["name"]),
        kind=answers["kind"],
        parent_id=parent.id,
    )
    ctx.session.add(unit)
    await ctx.session.flush()
    await audit(ctx.session, ctx.person.actor, "unit.created", unit_id=unit.id)
    text = ctx._("{name} was added under {parent} (code {code}).").format(
        name=escape(unit.name), parent=escape(parent.name), code=code
    )
    return [menu_reply(ctx, text)]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")[:40] or "unit"


async def _free_code(ctx: Context, base: str) -> str:
    code, n = base[:60], 2
    while await ctx.session.scalar(select(Unit.id).where(Unit.code == code)) is not None:
        code, n = f"{base[:56]}-{n}", n + 1
    return code


SUBUNIT = Form(
    name="subunit",
    title=N_("New unit"),
    review=True,
    complete=create_unit,
    fields=(
        Field(
            "parent",
            FieldKind.CHOICE,
            N_("Under which of your units?"),
            label=N_("Under"),
            options_for=parent_options,
            ask_if=lambda answers: not answers.get("_admin"),
        ),
        Field(
            "parent_search",
            FieldKind.UNIT,
            N_("Under which unit?"),
            hint=N_('Type part of its name, or "list".'),
            label=N_("Under"),
            ask_if=lambda answers: bool(answers.get("_admin")),
        ),
        Field(
            "name",
            FieldKind.TEXT,
            N_("Its name?"),
            label=N_("Unit name"),
            min_length=3,
            max_length=150,
        ),
        Field(
            "kind",
            FieldKind.CHOICE,
            N_("What kind of unit is it?"),
            label=N_("Kind of unit"),
            options=UNIT_KINDS,
        ),
    ),
)


def register(router: Router) -> None:
    router.form(ROLES)
    router.form(SUBUNIT)
    router.command(
        "units",
        open_units,
        N_("add a branch, school or enterprise under your unit"),
        audience=Audience.SECRETARIES,
    )
    router.command("roles", open_roles, N_("grant or revoke roles"), audience=Audience.ADMINS)
