"""/start, /menu, /help, /cancel and /back: the way into the bot and back to the menu."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from bot.context import Context
from bot.dialogue import start_form
from bot.events import Reply
from bot.i18n import N_
from bot.router import HEADINGS, Audience, Router, menu_reply
from bot.text import escape
from handlers.invites import already_registered_note, invitation
from models.tables import Member

__all__ = ["register"]


async def start(ctx: Context) -> list[Reply]:
    """Welcomes the user, then opens registration or, once registered, the menu; /start CODE
    (an invitation) registers into the invitation's unit."""
    if ctx.person.registered:
        greeting = ctx._("Welcome back, {name}!").format(name=_first_name(ctx))
        if ctx.inbound.args:
            greeting += "\n" + already_registered_note(ctx)
        opted_in = await ctx.session.execute(
            update(Member)
            .where(Member.id == ctx.person.member_id, Member.broadcasts_off.is_(True))
            .values(broadcasts_off=False)
        )
        if opted_in.rowcount:  # type: ignore[attr-defined]
            greeting += "\n" + ctx._("You will receive announcements again.")
        return [
            menu_reply(ctx, greeting + "\n\n" + ctx._("<b>Menu</b> — what would you like to do?"))
        ]
    welcome = ctx._(
        "<b>Welcome to the Lạng Sơn youth emulation movement!</b>\n"
        "Young people and youth union branches report their initiatives, volunteer work "
        "and economic models here, for the Youth Development Programme 2021–2030.\n\n"
        "Registration takes about a minute. English? Type /language en."
    )
    prefill: dict[str, Any] = {}
    if ctx.inbound.args:
        note, prefill = await invitation(ctx, ctx.inbound.args)
        welcome += "\n\n" + note
    return [Reply(welcome), *await start_form(ctx, "registration", prefill)]


async def join(ctx: Context) -> list[Reply]:
    """/join CODE: an invitation typed in a chat app where links cannot open the bot."""
    if not ctx.inbound.args:
        return [
            Reply(ctx._("Please type the invitation code after /join, for example /join ABC123."))
        ]
    return await start(ctx)


def _first_name(ctx: Context) -> str:
    # Vietnamese names end with the given name: "Hoàng Thị Mai" is greeted as "Mai".
    return escape((ctx.person.full_name or "").split(" ")[-1])


async def show_menu(ctx: Context) -> list[Reply]:
    """Shows the main menu."""
    if not ctx.person.registered:
        return [menu_reply(ctx, ctx._("You have not registered yet. Type /start to begin."))]
    return [menu_reply(ctx)]


async def show_help(ctx: Context) -> list[Reply]:
    """Lists the person's commands (everyone's first, then a secretary's and an admin's, to
    those who hold the role) and how forms work."""
    lines = [ctx._("<b>How to use this bot</b>")]
    for audience in Audience:
        commands = [
            c for c in ctx.router.commands.values() if c.audience is audience and c.shown(ctx)
        ]
        if not commands:
            continue
        lines.append("")
        if audience in HEADINGS:
            lines.append(ctx._(HEADINGS[audience]))
        lines += [f"/{command.name} — {ctx._(command.description)}" for command in commands]
    lines += [
        "",
        ctx._(
            "When I ask a question, answer by tapping a button or typing the number of an "
            "option. Type /back to change your previous answer and /cancel to stop."
        ),
    ]
    return [Reply("\n".join(lines))]


async def nothing_to_cancel(ctx: Context) -> list[Reply]:
    """/cancel outside a form: nothing to stop."""
    return [menu_reply(ctx, ctx._("There is nothing to cancel. Here is the menu:"))]


async def nothing_to_go_back_to(ctx: Context) -> list[Reply]:
    """/back outside a form."""
    return [menu_reply(ctx, ctx._("There is no previous step. Here is the menu:"))]


async def register_from_menu(ctx: Context) -> list[Reply]:
    """The menu's "Register" entry."""
    return await start(ctx)


def register(router: Router) -> None:
    router.command("start", start, N_("start, or come back to the menu"))
    router.command("join", join, N_("register with an invitation code: /join CODE"))
    router.command("menu", show_menu, N_("show the main menu"))
    router.command("help", show_help, N_("show this help"), keeps_dialogue=True)
    router.command("cancel", nothing_to_cancel, N_("stop the current form"))
    router.command("back", nothing_to_go_back_to, N_("go back one step in a form"))
    router.menu_item(
        "register",
        N_("📝 Register"),
        register_from_menu,
        visible=lambda ctx: not ctx.person.registered,
    )
