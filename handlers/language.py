"""/language: choose Vietnamese or English."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Reply
from bot.i18n import N_, SUPPORTED
from bot.router import Router, menu_reply
from models.dialogues import current_dialogue
from models.tables import Identity

__all__ = ["register"]


async def choose_language(ctx: Context) -> list[Reply]:
    """`/language en` switches at once (even mid-form); bare /language asks which."""
    wanted = ctx.inbound.args.strip().lower()[:2]
    if wanted in SUPPORTED:
        await _switch(ctx, wanted)
        return [Reply(ctx._("I will speak English with you from now on."))]
    in_a_form = await current_dialogue(ctx.session, ctx.inbound.channel, ctx.inbound.chat_id)
    if ctx.inbound.args or in_a_form:
        # A picker would replace the open form and lose its answers: the typed way instead.
        return [Reply(ctx._("Type /language vi for Vietnamese or /language en for English."))]
    return await start_form(ctx, "language")


async def _switch(ctx: Context, locale: str) -> None:
    await ctx.session.execute(
        update(Identity).where(Identity.id == ctx.person.identity_id).values(locale=locale)
    )
    ctx.use_locale(locale)


async def complete(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Saves the choice and answers in the new language."""
    await _switch(ctx, answers["language"])
    text = ctx._("I will speak English with you from now on.")
    if not ctx.person.registered:
        return [Reply(text + "\n" + ctx._("Type /start to register."))]
    return [menu_reply(ctx, text)]


LANGUAGE = Form(
    name="language",
    title=N_("Language"),
    fields=(
        Field(
            "language",
            FieldKind.CHOICE,
            N_("Which language would you like?"),
            options=(Option("vi", N_("🇻🇳 Tiếng Việt")), Option("en", N_("🇬🇧 English"))),
        ),
    ),
    complete=complete,
    cancelled=N_("The language stays as it was."),
)


async def open_from_menu(ctx: Context) -> list[Reply]:
    return await start_form(ctx, "language")


def register(router: Router) -> None:
    router.form(LANGUAGE)
    router.command(
        "language", choose_language, N_("choose Vietnamese or English"), keeps_dialogue=True
    )
    router.menu_item("language", N_("🌐 Language"), open_from_menu)
