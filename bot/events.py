"""What channels hand the core (Inbound) and what the core hands back (Reply).

Nothing here knows a platform: every channel adapter, the console too, speaks these types.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Attachment", "Choice", "Document", "Inbound", "InboundKind", "Reply"]


class InboundKind(enum.StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    LOCATION = "location"
    PHOTO = "photo"
    DOCUMENT = "document"
    STICKER = "sticker"
    VOICE = "voice"
    OTHER = "other"


@dataclass(frozen=True)
class Attachment:
    """A file the user sent. When a form is waiting for evidence, the channel fetches and
    checks it before dispatch (see bot.evidence) and fills in where it is stored, or why not."""

    file_id: str
    kind: str  # "photo" or "document"
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    path: str | None = None  # in the evidence store
    problem: str | None = None  # msgid: why the file was refused
    problem_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inbound:
    """One thing a user did in a private chat."""

    channel: str
    update_key: str  # unique per channel: the dedupe key
    user_id: str
    chat_id: str
    kind: InboundKind
    text: str = ""
    command: str | None = None  # "start" for "/start abc"
    args: str = ""  # "abc" for "/start abc"
    button: str | None = None  # the pressed button's value
    phone: str | None = None  # a shared contact's number
    contact_is_own: bool = False
    latitude: float | None = None
    longitude: float | None = None
    attachments: tuple[Attachment, ...] = ()
    media_group: str | None = None  # photos sent as one album share this
    client_language: str | None = None
    display_name: str = ""


@dataclass(frozen=True)
class Choice:
    """An answer the user can pick: a button where there are buttons, a number otherwise.

    Navigation choices (back, cancel) are buttons only; in text they are commands.
    """

    label: str
    value: str
    nav: bool = False


@dataclass(frozen=True)
class Document:
    """A file sent with a reply: made for it (a copy of one's data), or a piece of evidence,
    read from the evidence store when sent so that replies stay small."""

    file_name: str
    content: bytes = b""
    mime_type: str = "application/octet-stream"
    evidence_path: str | None = None  # in the evidence store, instead of `content`


@dataclass(frozen=True)
class Reply:
    """A message to send back. `text` is HTML limited to <b> and <i>; user text is escaped."""

    text: str
    choices: tuple[Choice, ...] = ()
    columns: int = 1
    request_contact: str | None = None  # label of a "share my phone number" button
    chat_id: str | None = None  # another chat than the one that asked (notifications)
    document: Document | None = None  # sent after the text
    # For chats without buttons: how to answer the numbered choices ("Trả lời 1, 2 hoặc 3").
    choices_hint: str = ""

    def numbered(self) -> tuple[Choice, ...]:
        """The choices a typed number refers to, in order."""
        return tuple(choice for choice in self.choices if not choice.nav)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.document is not None:
            data["document"]["content"] = base64.b64encode(self.document.content).decode()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        choices = tuple(Choice(**choice) for choice in data.get("choices", ()))
        document = data.get("document")
        if document is not None:
            document = Document(**{**document, "content": base64.b64decode(document["content"])})
        return cls(**{**data, "choices": choices, "document": document})
