"""What a handler receives: the event, the person, their language, and the open transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.capabilities import Capabilities
from bot.config import Config
from bot.events import Inbound, Reply
from bot.i18n import Catalogs, Translator
from models.db import Database
from models.people import Person

if TYPE_CHECKING:
    from bot.router import Router

__all__ = ["Context"]


@dataclass
class Context:
    inbound: Inbound
    person: Person
    t: Translator
    session: AsyncSession
    config: Config
    router: Router
    catalogs: Catalogs
    db: Database | None = None  # for work in `later`, which has its own transactions
    # Work that must wait until the transaction has committed (removing files from disk).
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Slow work that must not hold the transaction open (an export): it runs after the commit
    # and after the other replies were sent, and its own replies follow. A crash meanwhile
    # loses it; the user asks again.
    later: list[Callable[[], Awaitable[list[Reply]]]] = field(default_factory=list)
    # What each channel can show and carry, by channel name (see bot.capabilities).
    channels: Mapping[str, Capabilities] = field(default_factory=dict)

    @property
    def channel(self) -> Capabilities:
        """What the chat this update came from can show and carry."""
        return self.channels.get(self.inbound.channel) or Capabilities()

    def start_link(self, payload: str) -> str | None:
        """A link that opens a chat with the bot on the first channel that has such links,
        and sends "/start <payload>" there."""
        links = (capabilities.link(payload) for capabilities in self.channels.values())
        return next((link for link in links if link), None)

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def use_locale(self, locale: str) -> None:
        """Speaks another language from now on (after the user switched)."""
        self.t = self.catalogs.translator(locale, self.config.tz)

    def today(self) -> dt.date:
        return dt.datetime.now(self.config.tz).date()
