"""The Zalo Bot platform adapter (httpx for the API calls; the runtime does the rest).

Zalo's Bot API (https://bot.zaloplatforms.com/docs, docs.zaloplatforms.com/docs/BOT) is shaped
like Telegram's but smaller: getUpdates returns one update and has no offset (so an update may
come again: the inbox dedupes it by message id), an idle long poll ends with HTTP 408, there
are no buttons (choices are numbered lines) and no formatting (HTML is removed), messages hold
at most 2,000 characters, photos are sent by URL only, and files cannot be sent at all. An
image event carries its picture's address in `photo` (as the webhook documentation names it)
or `photo_url` (as bots in use receive it): both are read.

Its free plan (Basic, on bot.zapps.me: 50 users per bot, 3,000 messages a month) answers 429
once the month's messages are used up: the channel then stops sending (the runtime's
QuotaExhausted), tries one message an hour, and the admins are told once.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from tornado.web import RequestHandler

from bot.capabilities import Capabilities
from bot.channels.runtime import (
    Refused,
    SetupError,
    TooLarge,
    Unavailable,
    Webhook,
)
from bot.delivery import DeliveryError, QuotaExhausted, Unreachable
from bot.events import Attachment, Choice, Inbound, InboundKind, Reply
from bot.evidence import EvidenceRejected, EvidenceStore
from bot.i18n import N_
from bot.pacing import Pace
from bot.text import split_text, strip_html

if TYPE_CHECKING:
    from bot.app import App

__all__ = [
    "CHANNEL",
    "MediaLinks",
    "ZaloAdapter",
    "ZaloApiError",
    "allowed_host",
    "download",
    "render",
    "to_inbound",
]

CHANNEL = "zalo"
TEXT_LIMIT = 2000
QUOTA_RETRY = 3600.0  # seconds between tries once the month's messages are used up
log = logging.getLogger(__name__)


class ZaloApiError(Exception):
    def __init__(self, status: int, code: int | None, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description

    def means(self, status: int) -> bool:
        """Whether the answer says `status`, by HTTP status or by error code."""
        return status in (self.status, self.code)


def unwrap(payload: dict[str, Any]) -> dict[str, Any]:
    """The update itself, whether delivered bare or as {"ok": true, "result": {...}}."""
    result = payload.get("result")
    return result if isinstance(result, dict) and "event_name" not in payload else payload


def to_inbound(update: dict[str, Any]) -> Inbound | None:
    """The Inbound event of a private-chat update; None for anything else (groups, bots,
    updates without a message id)."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    chat = message.get("chat") or {}
    sender = message.get("from") or {}
    if chat.get("chat_type") != "PRIVATE" or sender.get("is_bot") or not message.get("message_id"):
        return None
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "update_key": str(message["message_id"])[:64],
        "user_id": str(sender.get("id", "")),
        "chat_id": str(chat.get("id", "")),
        "display_name": str(sender.get("display_name") or ""),
    }
    event = update.get("event_name")
    if event == "message.text.received" and isinstance(message.get("text"), str):
        text = message["text"]
        if text.startswith("/") and len(text) > 1:
            name, _, args = text[1:].partition(" ")
            return Inbound(
                **common,
                kind=InboundKind.COMMAND,
                text=text,
                command=name.lower(),
                args=args.strip(),
            )
        return Inbound(**common, kind=InboundKind.TEXT, text=text)
    photo = message.get("photo_url") or message.get("photo")
    if event == "message.image.received" and isinstance(photo, str):
        caption = message.get("caption")
        return Inbound(
            **common,
            kind=InboundKind.PHOTO,
            attachments=(Attachment(photo, "photo"),),
            text=caption if isinstance(caption, str) else "",
        )
    if event == "message.sticker.received":
        return Inbound(**common, kind=InboundKind.STICKER)
    if event != "message.unsupported.received":
        log.info("an update of unknown kind %r was treated as unsupported", event)
    return Inbound(**common, kind=InboundKind.OTHER)


def allowed_host(url: str, hosts: Sequence[str]) -> bool:
    """Whether a file's address is on one of these hosts or their subdomains (any odd
    address: no)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and any(
        host == allowed or host.endswith("." + allowed) for allowed in hosts
    )


async def download(http: httpx.AsyncClient, url: str, limit: int, hosts: Sequence[str]) -> bytes:
    """The file behind a Zalo address (a photo a person sent), read up to `limit` bytes;
    only from the allowed hosts."""
    failed = EvidenceRejected(N_("That file could not be received. Please send it again."))
    if not allowed_host(url, hosts):
        log.warning("a file from a host not on the media hosts was refused")
        raise failed
    data = bytearray()
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise failed
            if int(response.headers.get("content-length") or 0) > limit:
                raise TooLarge
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    raise TooLarge
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
        log.warning("could not fetch a file: %s", type(error).__name__)
        raise failed from None
    return bytes(data)


def render(reply: Reply) -> list[str]:
    """Plain-text messages of at most 2,000 characters: the text, then the numbered choices
    and how to answer them."""
    lines = [strip_html(reply.text)]
    numbered = reply.numbered()
    if numbered:
        lines.append("")
        lines += [f"{n}. {strip_html(choice.label)}" for n, choice in enumerate(numbered, 1)]
        if reply.choices_hint:
            lines += ["", reply.choices_hint]
    text = "\n".join(lines).strip()
    return [part for part in split_text(text, TEXT_LIMIT) if part.strip()]


@dataclass(frozen=True)
class _Picture:
    """A picture: made for a reply, or in the evidence store (sent by a short-lived link)."""

    mime_type: str
    content: bytes = b""
    evidence_path: str | None = None


class ZaloAdapter:
    """The Zalo Bot platform for the channel runtime (bot.channels.runtime.Adapter)."""

    name = CHANNEL
    title = "Zalo"
    interactive = False

    def __init__(self, app: App) -> None:
        settings = app.config.zalo
        if not settings.token:
            raise ValueError("the Zalo channel needs ZALO_BOT_TOKEN")
        self.settings = settings
        # With a public address, pictures can be sent by a short-lived link the bot serves.
        self.media = MediaLinks(
            f"{settings.webhook_url.rstrip('/')}/media" if settings.webhook_url else None
        )
        self.capabilities = Capabilities(
            buttons=False,
            files=False,
            pictures=self.media.enabled,
            max_text=TEXT_LIMIT,
        )
        self.pace = Pace(settings.rate_per_second)
        self.webhook = Webhook.configured(settings, "X-Bot-Api-Secret-Token")
        self.evidence = EvidenceStore(app.config.data_dir / "files")
        self._http: httpx.AsyncClient | None = None
        self._progress_shown: set[int] = set()

    # -- the API -------------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(10.0, read=self.settings.poll_timeout + 10.0),
                follow_redirects=False,
            )
        return self._http

    async def call(self, method: str, **params: Any) -> Any:
        """One API call; ZaloApiError when it answers ok: false or an HTTP error."""
        response = await self.http.post(f"{self.settings.bot_url}/{method}", json=params)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code != 200 or not body.get("ok"):
            code = body.get("error_code")
            raise ZaloApiError(
                response.status_code,
                code if isinstance(code, int) else None,
                str(body.get("description") or response.reason_phrase)[:200],
            )
        return body.get("result")

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        try:
            await self.call("getMe")
        except httpx.HTTPError as error:
            raise Unavailable(type(error).__name__) from None
        except ZaloApiError as error:
            if error.status >= 500 or error.means(408):
                raise Unavailable(str(error)) from None
            raise SetupError("ZALO_BOT_TOKEN: the Zalo Bot API rejected this token") from None

    async def listen(self, webhook: Webhook | None) -> None:
        try:
            if webhook is None:
                await self.call("deleteWebhook")
            else:
                await self.call("setWebhook", url=webhook.url, secret_token=webhook.secret)
        except httpx.HTTPError as error:
            raise Unavailable(type(error).__name__) from None
        except ZaloApiError as error:
            if error.status >= 500:
                raise Unavailable(str(error)) from None
            raise SetupError(f"ZALO_WEBHOOK_URL: Zalo refused the webhook: {error}") from None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    # -- receiving -----------------------------------------------------------------------

    async def poll(self) -> list[dict[str, Any]]:
        try:
            update = await self.call("getUpdates", timeout=self.settings.poll_timeout)
        except ZaloApiError as error:
            if error.means(408):
                return []  # an idle long poll: normal
            raise
        return [unwrap(update)] if isinstance(update, dict) and update else []

    def from_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return unwrap(body)

    def identify(self, update: dict[str, Any]) -> tuple[str, str] | None:
        message = update.get("message")
        if not isinstance(message, dict) or not message.get("message_id"):
            return None
        chat = message.get("chat")
        return str(message["message_id"])[:64], str((chat or {}).get("id", ""))

    def to_inbound(self, key: str, update: dict[str, Any]) -> Inbound | None:
        return to_inbound(update)

    async def received(self, update: dict[str, Any], inbound: Inbound | None) -> None:
        return None

    def allowed_host(self, url: str) -> bool:
        return allowed_host(url, self.settings.media_hosts)

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        return await download(self.http, attachment.file_id, limit, self.settings.media_hosts)

    # -- sending -------------------------------------------------------------------------

    def render(self, chat_id: str, reply: Reply) -> Sequence[Any]:
        """The plain text with numbered choices, then a picture (the dispatcher left only
        what this chat can carry)."""
        messages: list[Any] = list(render(reply))
        document = reply.document
        if document is not None and self.media.enabled:
            messages.append(_Picture(document.mime_type, document.content, document.evidence_path))
        return messages

    def announcement(
        self, text: str, photo: str | None, choices: tuple[Choice, ...]
    ) -> Sequence[Any]:
        """Plain text, and its photo by a short-lived link when the bot has a public address
        (without one, only the text goes). No buttons: the text says what to type."""
        messages: list[Any] = [
            part for part in split_text(strip_html(text), TEXT_LIMIT) if part.strip()
        ]
        if photo is not None and self.media.enabled:
            mime_type = mimetypes.guess_type(photo)[0] or "image/jpeg"
            messages.append(_Picture(mime_type, evidence_path=photo))
        return messages

    async def _link(self, picture: _Picture) -> str:
        if picture.evidence_path is None:
            return self.media.publish(picture.content, picture.mime_type)
        path = picture.evidence_path
        # One link for every recipient of an announcement while it lives.
        link = self.media.link_for(path)
        if link is None:
            content = await asyncio.to_thread(self.evidence.path(path).read_bytes)
            link = self.media.publish(content, picture.mime_type, key=path)
        return link

    async def send(self, chat_id: str, message: Any) -> None:
        try:
            if isinstance(message, _Picture):
                await self.call("sendPhoto", chat_id=chat_id, photo=await self._link(message))
            else:
                await self.call("sendMessage", chat_id=chat_id, text=message)
        except ZaloApiError as error:
            if error.means(429):
                raise QuotaExhausted(QUOTA_RETRY) from None
            if error.means(403) or error.means(404):
                raise Unreachable from None
            if error.status < 500 and not error.means(408):
                raise Refused(str(error)) from None
            raise DeliveryError(str(error)) from None
        except httpx.HTTPError as error:
            raise DeliveryError(type(error).__name__) from None

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool
    ) -> None:
        """Zalo cannot edit a message: the sender hears at the start and at the end."""
        if broadcast_id in self._progress_shown and not final:
            return
        self._progress_shown.add(broadcast_id)
        try:
            await self.send(chat_id, strip_html(text))
        except DeliveryError as error:
            log.warning("could not show broadcast progress: %s", error)

    def routes(self, path: str) -> list[Any]:
        media = f"{path.rstrip('/')}/media/([A-Za-z0-9_-]+)"
        return [(media, _MediaHandler, {"links": self.media})]


class MediaLinks:
    """Pictures served at unguessable links that expire after a few minutes: Zalo sends a
    photo only by URL, and fetches it at once."""

    LIFETIME = 600.0  # seconds

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self._files: dict[str, tuple[bytes, str, float]] = {}
        self._keys: dict[str, str] = {}  # a published file's key -> its token

    @property
    def enabled(self) -> bool:
        return self.base_url is not None

    def publish(self, content: bytes, mime_type: str, *, key: str | None = None) -> str:
        """A new link to the content; with a key, link_for(key) finds it while it lives."""
        now = time.monotonic()
        self._files = {k: v for k, v in self._files.items() if v[2] > now}
        self._keys = {k: v for k, v in self._keys.items() if v in self._files}
        token = secrets.token_urlsafe(24)
        self._files[token] = (content, mime_type, now + self.LIFETIME)
        if key is not None:
            self._keys[key] = token
        return f"{self.base_url}/{token}"

    def link_for(self, key: str) -> str | None:
        """The link published under `key`, if it has a few minutes left."""
        token = self._keys.get(key)
        found = self._files.get(token or "")
        if token is None or found is None or found[2] - time.monotonic() < self.LIFETIME / 2:
            return None
        return f"{self.base_url}/{token}"

    def get(self, token: str) -> tuple[bytes, str] | None:
        found = self._files.get(token)
        if found is None or found[2] <= time.monotonic():
            return None
        return found[0], found[1]


class _MediaHandler(RequestHandler):
    def initialize(self, links: MediaLinks) -> None:
        self.links = links

    def get(self, token: str) -> None:
        found = self.links.get(token)
        if found is None:
            self.set_status(404)
            return
        content, mime_type = found
        self.set_header("Content-Type", mime_type)
        self.set_header("Cache-Control", "no-store")
        self.write(content)
