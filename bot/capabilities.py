"""What a channel can show and carry, as each channel adapter declares it; the core adapts
its replies to these declarations and never to a platform's name."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from bot.events import Reply
from bot.evidence import MAX_BYTES
from bot.i18n import Translator

__all__ = ["MEGABYTE", "Capabilities", "fit"]

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class Capabilities:
    """A channel's declaration. The defaults are a chat that can do everything (the console
    and tests); an adapter states what its platform cannot."""

    buttons: bool = True  # choices as buttons; else numbered lines and how to answer them
    files: bool = True  # sends files (an export, a copy of one's data)
    pictures: bool = True  # sends pictures (a chart, a QR code), even where files cannot go
    max_file_bytes: int | None = None  # the largest file it may send; None: no limit
    # The largest file the bot can fetch from a person (evidence); never above the store's cap.
    max_download_bytes: int = MAX_BYTES
    max_text: int = 4096  # characters in one message; longer replies are split
    # A link that opens the chat with the bot and sends "/start <payload>": the prefix the
    # payload is appended to; None where the platform has no such link.
    start_link: str | None = None
    # How a person sends a file here, where it is not the obvious way (msgid), shown when a
    # form asks for evidence.
    how_to_send_files: str | None = None
    # Where the platform lets the bot write first (an announcement, a notice) free only for
    # a while after the person last wrote: that while. None: any time.
    free_window: dt.timedelta | None = None
    # What one message sent first outside that window costs, in đồng (a paid template
    # message); None where none is set up, so that such people cannot be reached.
    paid_message_cost: int | None = None
    # Messages a minute a broadcast goes out at here (the runtime fills it in from the
    # channel's pace); None: not limited in any way worth telling.
    bulk_per_minute: float | None = None
    # What to suggest instead of a broadcast that would take hours here (msgid).
    slow_broadcast_hint: str | None = None

    @property
    def max_file_mb(self) -> int:
        return (self.max_file_bytes or 0) // MEGABYTE

    @property
    def max_download_mb(self) -> int:
        return min(self.max_download_bytes, MAX_BYTES) // MEGABYTE

    def carries(self, mime_type: str) -> bool:
        """Whether a file of this type can be sent here."""
        return self.files or (self.pictures and mime_type.startswith("image/"))

    def link(self, payload: str) -> str | None:
        return f"{self.start_link}{payload}" if self.start_link else None


def fit(t: Translator, reply: Reply, capabilities: Capabilities) -> Reply:
    """The reply as this channel can show it: without buttons, how to answer the numbered
    choices; instead of a file it cannot carry, where to get it."""
    if not capabilities.buttons:
        if reply.chat_id is not None:
            # A notice to another chat: a number typed there answers that chat's own question.
            reply = dataclasses.replace(reply, choices=())
        count = len(reply.numbered())
        reply = dataclasses.replace(reply, choices_hint=_choices_hint(t, count) if count else "")
    document = reply.document
    if document is None or capabilities.carries(document.mime_type):
        return reply
    note = t.gettext(
        "📎 This chat cannot receive files. If you use the bot in another app too "
        "(/link), it can be received there; or ask your youth union secretary."
    )
    return dataclasses.replace(reply, text=f"{reply.text}\n\n{note}".strip(), document=None)


def _choices_hint(t: Translator, count: int) -> str:
    if count == 1:
        return t.gettext("Reply 1.")
    if count <= 4:
        numbers = ", ".join(str(n) for n in range(1, count))
        return t.gettext("Reply {numbers} or {last}.").format(numbers=numbers, last=count)
    return t.gettext("Reply with a number from 1 to {last}.").format(last=count)
