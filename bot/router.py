"""Where feature modules register their commands, forms and menu entries."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.events import Choice, Reply
from domain.vocabulary import N_

if TYPE_CHECKING:
    from bot.context import Context
    from bot.dialogue import Form
    from bot.i18n import Translator

__all__ = ["HEADINGS", "Audience", "Command", "Handler", "MenuItem", "Router", "menu_reply"]

Handler = Callable[["Context"], Awaitable[list[Reply]]]
Visible = Callable[["Context"], bool]


def _always(_ctx: Context) -> bool:
    return True


class Audience(enum.StrEnum):
    """Whose command it is: /help shows each person theirs, in this order."""

    EVERYONE = "everyone"
    SECRETARIES = "secretaries"  # youth union secretaries, and admins
    ADMINS = "admins"

    def includes(self, ctx: Context) -> bool:
        if self is Audience.SECRETARIES:
            return ctx.person.leads
        if self is Audience.ADMINS:
            return ctx.person.is_admin
        return True


# How a command's role is written after its description where all commands are listed
# together (the client's command menu); /help gives each its own part instead.
_FOR = {
    Audience.SECRETARIES: N_("{what} (for secretaries)"),
    Audience.ADMINS: N_("{what} (for admins)"),
}
HEADINGS = {
    Audience.SECRETARIES: N_("<b>For secretaries</b>"),
    Audience.ADMINS: N_("<b>For admins</b>"),
}


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    description: str  # msgid, shown in /help and in the client's command list
    # Commands that may run in the middle of a form without abandoning it.
    keeps_dialogue: bool = False
    members_only: bool = False  # for registered members only
    audience: Audience = Audience.EVERYONE
    # Who finds it in /help, where that is not the whole audience (appraisers, who are no
    # secretaries, use /nominations): by default, those the audience includes.
    visible: Visible | None = None

    def shown(self, ctx: Context) -> bool:
        return self.visible(ctx) if self.visible else self.audience.includes(ctx)

    def listed(self, t: Translator) -> str:
        """The description with whom the command is for, as the client's menu lists it."""
        what = t.gettext(self.description)
        return t.gettext(_FOR[self.audience]).format(what=what) if self.audience in _FOR else what


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: str  # msgid
    handler: Handler
    visible: Visible = _always


class Router:
    """The registry the dispatcher routes by. Handlers register here, never at import time."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self.forms: dict[str, Form] = {}
        self.menu: list[MenuItem] = []

    def command(
        self,
        name: str,
        handler: Handler,
        description: str,
        *,
        keeps_dialogue: bool = False,
        members_only: bool = False,
        audience: Audience = Audience.EVERYONE,
        visible: Visible | None = None,
    ) -> None:
        if name in self.commands:
            raise ValueError(f"command /{name} registered twice")
        self.commands[name] = Command(
            name, handler, description, keeps_dialogue, members_only, audience, visible
        )

    def form(self, form: Form) -> None:
        if form.name in self.forms:
            raise ValueError(f"form {form.name} registered twice")
        self.forms[form.name] = form

    def menu_item(
        self, key: str, label: str, handler: Handler, visible: Visible = _always
    ) -> None:
        self.menu.append(MenuItem(key, label, handler, visible))

    def menu_for(self, ctx: Context) -> list[MenuItem]:
        return [item for item in self.menu if item.visible(ctx)]


def menu_reply(ctx: Context, text: str | None = None) -> Reply:
    """The main menu: every entry a button, or a number to type."""
    items = ctx.router.menu_for(ctx)
    choices = tuple(Choice(ctx._(item.label), "m:" + item.key) for item in items)
    return Reply(text or ctx._("<b>Menu</b> — what would you like to do?"), choices, columns=2)
