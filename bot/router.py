"""Where feature modules register their commands, forms and menu entries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.events import Choice, Reply

if TYPE_CHECKING:
    from bot.context import Context
    from bot.dialogue import Form

__all__ = ["Command", "Handler", "MenuItem", "Router", "menu_reply"]

Handler = Callable[["Context"], Awaitable[list[Reply]]]
Visible = Callable[["Context"], bool]


def _always(_ctx: Context) -> bool:
    return True


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    description: str  # msgid, shown in /help and in the client's command list
    # Commands that may run in the middle of a form without abandoning it.
    keeps_dialogue: bool = False
    members_only: bool = False  # for registered members only


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
    ) -> None:
        if name in self.commands:
            raise ValueError(f"command /{name} registered twice")
        self.commands[name] = Command(name, handler, description, keeps_dialogue, members_only)

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
