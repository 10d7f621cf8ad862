"""The Zalo Official Account adapter (Open API v3, httpx; the runtime does the rest).

What Zalo's documentation and code that runs against it say (sources below; the unsettled
points are settings):
- Events come only by webhook, as JSON: user_send_text, user_send_image, user_send_file,
  user_send_sticker, follow, unfollow, user_submit_info, user_received_message, ... with
  sender.id, recipient.id, message.msg_id, message.text, message.attachments[], timestamp and
  app_id. Zalo wants a 200 within 2 seconds and otherwise posts the event again (after 30 s,
  5 min, 15 min, 30 min, 1 h), so an event is stored, answered 200, and handled after; its
  msg_id dedupes it. Where the webhook is, is set in the app's settings on developers.zalo.me,
  not by the API.
- Each event is signed in the header X-ZEvent-Signature: "mac=" + the hex SHA-256 of app_id,
  the raw body, the event's timestamp and the OA secret key, joined (a plain hash, not an
  HMAC). Some sources put the OA id first, and name the app's secret key or the OA's secret
  key: the parts and their order are zalo_oa.signature, the key ZALO_OA_WEBHOOK_SECRET (else
  ZALO_OA_SECRET_KEY). Compared in constant time, once the capped body is read; a post
  without the header is refused before its body is read.
- Calls carry the header `access_token: <token>` (not Bearer). The access token lives 25
  hours; the refresh token 3 months and works once: each refresh (POST oauth.zaloapp.com
  /v4/oa/access_token, form app_id, grant_type=refresh_token, refresh_token; header
  secret_key) returns a new pair, stored here at once (models.credentials), by one process at
  a time. An operator seeds the first refresh token: `python -m bot zalo-oa token`.
- Replies: POST openapi.zalo.me/v3.0/oa/message/cs, {"recipient": {"user_id"}, "message":
  {"text"}}, at most 2,000 characters; free within 48 hours of the person's last message,
  paid up to 7 days, refused after (-230). Buttons of type oa.query.show send their payload
  back as the person's own text (user_send_text): here the payload is the choice's number,
  which the numbered-choices path already understands. Pictures are uploaded
  (/v2.0/oa/upload/image, jpg or png up to 1 MB) for an attachment_id.
- What the bot writes first (announcements, notices) outside the free window needs an
  approved template message (ZBS; about 200 đ each): POST business.openapi.zalo.me
  /message/template with user_id, template_id, template_data. Only one is configured
  (zalo_oa.templates.announcement); without it such people are skipped, and reached again
  once they write.
- Errors come back as HTTP 200 with `error` != 0: -216/-220 the token (refreshed once, then
  the admins are told and sending waits), -32 too many requests (back off), -213 not
  following (unreachable until they write again), -230/-232 outside the window, -211/-224/
  -320/-321 quota, package or money used up (the admins are told, sending waits an hour).

Sources: developers.zalo.me/docs/official-account (webhook, tin-tu-van, xac-thuc) as quoted
in hoangnd25/monorepo wip/zalo-platform-integration.md; zaloplatform/zalo-java-sdk
src/test/java/v3/SendTextCSMessage.java (header access_token, /v3.0/oa/message/cs); the
button payload shape {"text", "attachment": {"type": "template", "payload": {"buttons"}}} as
bots in use send it (e.g. letrungtin123/zalo-chatbot); the issue's own notes (#15).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import mimetypes
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select

from bot.capabilities import MEGABYTE, Capabilities
from bot.channels.runtime import Refused, SetupError, Unavailable, Webhook
from bot.channels.zalo import download, render
from bot.delivery import DeliveryError, OutsideWindow, QuotaExhausted, RetryLater, Unreachable
from bot.events import Attachment, Choice, Inbound, InboundKind, Reply
from bot.evidence import EvidenceStore
from bot.i18n import N_
from bot.pacing import Pace
from bot.text import split_text, strip_html
from models.credentials import finish_refresh, give_up_refresh, read_tokens, take_refresh
from models.tables import Identity, utcnow

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import ZaloOAConfig

__all__ = ["CHANNEL", "SIGNATURE_HEADER", "TokenKeeper", "TokenRefused", "ZaloOAAdapter"]

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
SIGNATURE_HEADER = "X-ZEvent-Signature"
TEXT_LIMIT = 2000
MAX_BUTTONS = 5  # no limit found documented; bots in use send three to five
BUTTON_TITLE_LIMIT = 100
IMAGE_LIMIT = MEGABYTE
TOKEN_LEASE = dt.timedelta(seconds=30)  # a refresh takes one HTTP call of at most 10 s
TOKEN_EARLY = dt.timedelta(minutes=5)  # refreshed this long before it would expire
TOKEN_RETRY = 600.0  # seconds between tries once the token is refused
QUOTA_RETRY = 3600.0
RATE_LIMIT_WAIT = 60.0  # when the answer does not say how long
TOKEN_ERRORS = frozenset({-216, -220})
NOT_FOLLOWING = frozenset({-213, -217, -227, -244})
WINDOW_CLOSED = frozenset({-230, -232})
QUOTA_ERRORS = frozenset({-211, -224, -320, -321})
RATE_LIMITED = -32
SLOW_BROADCAST = N_(
    "💡 For news to every follower, an article posted on the Official Account reaches them "
    "all at once, at no cost per message."
)


class TokenRefused(Exception):
    """No valid access token: none was seeded, or Zalo refused the refresh token."""


class OAError(Exception):
    def __init__(self, code: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.headers = headers


@dataclass(frozen=True)
class _Text:
    text: str
    buttons: tuple[str, ...] = ()  # labels; each sends its number back


@dataclass(frozen=True)
class _Picture:
    mime_type: str
    content: bytes = b""
    evidence_path: str | None = None


@dataclass(frozen=True)
class _FirstWrite:
    """An outbox message: free inside the window, a template outside it, else skipped."""

    text: str
    photo: str | None


class TokenKeeper:
    """The OA's access token, refreshed when it is about to expire or Zalo refuses it; the
    pair lives in the database (models.credentials), so every process and restart shares
    it, and only the process holding the lease spends the refresh token."""

    def __init__(self, app: App, settings: ZaloOAConfig, http: httpx.AsyncClient) -> None:
        self.app = app
        self.settings = settings
        self.http = http
        self._access = ""
        self._expires = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._lock = asyncio.Lock()  # one refresh at a time in this process, too

    async def token(self) -> str:
        """A valid access token."""
        if self._access and utcnow() < self._expires - TOKEN_EARLY:
            return self._access
        return await self.refresh(stale="")

    async def refresh(self, *, stale: str) -> str:
        """A token other than `stale` (one Zalo refused), from the database if another
        process refreshed already, else by refreshing; TokenRefused when none can be had,
        Unavailable when Zalo cannot be reached."""
        async with self._lock:
            deadline = time.monotonic() + TOKEN_LEASE.total_seconds() + 5
            while True:
                async with self.app.db.read() as session:
                    row = await read_tokens(session, CHANNEL)
                    found = (row.access_token, row.access_expires_at, row.version) if row else None
                if found is None:
                    raise TokenRefused("no refresh token was given yet")
                access, expires, version = found
                now = utcnow()
                if access and access != stale and expires and now < expires - TOKEN_EARLY:
                    self._access, self._expires = access, expires
                    return access
                async with self.app.db.write() as session:
                    leased = await take_refresh(session, CHANNEL, version, now, TOKEN_LEASE)
                if leased:
                    return await self._exchange(version + 1)
                if time.monotonic() > deadline:
                    raise Unavailable("another process holds the token refresh")
                await asyncio.sleep(0.2)  # another process is refreshing: read its result

    async def _exchange(self, version: int) -> str:
        """Spends the refresh token for a new pair and stores both (holding the lease)."""
        async with self.app.db.read() as session:
            row = await read_tokens(session, CHANNEL)
            refresh_token = row.refresh_token if row else ""
        try:
            response = await self.http.post(
                f"{self.settings.oauth_base_url}/v4/oa/access_token",
                data={
                    "app_id": self.settings.app_id or "",
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                },
                headers={"secret_key": self.settings.secret_key or ""},
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            await self._give_up(version)
            raise Unavailable(type(error).__name__) from None
        if response.status_code >= 500:
            await self._give_up(version)
            raise Unavailable(f"HTTP {response.status_code}")
        if not isinstance(body, dict) or not body.get("access_token"):
            await self._give_up(version)
            reason = body.get("error_description") or body.get("error") if body else None
            raise TokenRefused(f"Zalo refused the refresh token: {reason}")
        now = utcnow()
        expires = now + dt.timedelta(seconds=int(body.get("expires_in") or 90_000))
        async with self.app.db.write() as session:
            stored = await finish_refresh(
                session,
                CHANNEL,
                version,
                access_token=str(body["access_token"]),
                refresh_token=str(body.get("refresh_token") or refresh_token),
                expires_at=expires,
                now=now,
            )
        if not stored:
            # An operator seeded a new token meanwhile: theirs stays.
            log.warning("zalo_oa: tokens changed while refreshing; the new ones were not kept")
        self._access, self._expires = str(body["access_token"]), expires
        log.info("zalo_oa: access token refreshed, valid until %s", expires.isoformat())
        return self._access

    async def _give_up(self, version: int) -> None:
        async with self.app.db.write() as session:
            await give_up_refresh(session, CHANNEL, version)


class ZaloOAAdapter:
    """A Zalo Official Account for the channel runtime (bot.channels.runtime.Adapter)."""

    name = CHANNEL
    title = "Zalo OA"
    interactive = False

    def __init__(self, app: App) -> None:
        settings = app.config.zalo_oa
        if not settings.enabled or not settings.webhook_url:
            raise ValueError("the Zalo OA channel needs its app, secret key, OA id and webhook")
        self.app = app
        self.settings = settings
        template = settings.announcement
        self.capabilities = Capabilities(
            buttons=False,
            files=False,
            pictures=True,
            max_file_bytes=IMAGE_LIMIT,
            max_text=TEXT_LIMIT,
            free_window=dt.timedelta(hours=settings.free_window_hours),
            paid_message_cost=template.cost if template else None,
            slow_broadcast_hint=SLOW_BROADCAST,
        )
        self.pace = Pace(
            settings.per_minute, window=60.0, reserve=max(1, settings.per_minute // 5)
        )
        self.webhook: Webhook | None = Webhook(
            url=settings.webhook_url,
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            header=SIGNATURE_HEADER,
            verify=self.verify,
        )
        self.evidence = EvidenceStore(app.config.data_dir / "files")
        self.http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        self.tokens = TokenKeeper(app, settings, self.http)
        self._uploaded: dict[str, str] = {}  # evidence path -> attachment_id, this run
        self._progress_shown: set[int] = set()

    # -- the API -------------------------------------------------------------------------

    async def call(self, method: str, url: str, **request: Any) -> dict[str, Any]:
        """One API call with the access token; a refused token is refreshed once. OAError
        for an answer with error != 0; TokenRefused; httpx errors."""
        for attempt in range(2):
            token = await self.tokens.token()
            response = await self.http.request(
                method, url, headers={"access_token": token}, **request
            )
            if response.status_code >= 500:
                raise DeliveryError(f"HTTP {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise DeliveryError(f"HTTP {response.status_code}: not JSON")
            code = int(body.get("error") or 0)
            if code in TOKEN_ERRORS and attempt == 0:
                await self.tokens.refresh(stale=token)
                continue
            if code:
                raise OAError(code, str(body.get("message") or "")[:200], response.headers)
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def _api(self, path: str) -> str:
        return f"{self.settings.api_base_url}{path}"

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        try:
            await self.call("GET", self._api("/v2.0/oa/getoa"))
        except TokenRefused as error:
            raise SetupError(
                f"ZALO_OA: {error}; give one with "
                "`python -m bot zalo-oa token --refresh-token T` (see README)"
            ) from None
        except (httpx.HTTPError, DeliveryError) as error:
            raise Unavailable(str(error) or type(error).__name__) from None
        except OAError as error:
            if error.code in TOKEN_ERRORS:
                raise SetupError(f"ZALO_OA: Zalo refuses the access token ({error})") from None
            raise SetupError(f"ZALO_OA_ID: Zalo refused the Official Account: {error}") from None

    async def listen(self, webhook: Webhook | None) -> None:
        """Zalo posts to the address set in the app's settings on developers.zalo.me."""
        log.info(
            "zalo_oa: events are expected at %s (set it in the Zalo app)",
            self.settings.webhook_url,
        )

    async def close(self) -> None:
        await self.http.aclose()

    # -- receiving -----------------------------------------------------------------------

    async def poll(self) -> list[dict[str, Any]]:
        await asyncio.sleep(3600)  # never called: an Official Account has only a webhook
        return []

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the event is signed as zalo_oa.signature says, by this app."""
        given = headers.get(SIGNATURE_HEADER, "").strip()
        mac = given.removeprefix("mac=").strip().lower().encode("utf-8", "replace")
        try:
            event = json.loads(body)
        except ValueError:
            return False
        if not isinstance(event, dict) or str(event.get("app_id", "")) != self.settings.app_id:
            return False
        parts = {
            "app_id": (self.settings.app_id or "").encode(),
            "oa_id": (self.settings.oa_id or "").encode(),
            "body": body,
            "timestamp": str(event.get("timestamp", "")).encode(),
            "secret": self.settings.signing_key.encode(),
        }
        expected = hashlib.sha256(b"".join(parts[part] for part in self.settings.signature))
        return hmac.compare_digest(mac, expected.hexdigest().encode())

    def from_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def identify(self, update: dict[str, Any]) -> tuple[str, str] | None:
        event = update.get("event_name")
        if not isinstance(event, str):
            return None
        person = _person(update)
        message = update.get("message")
        msg_id = message.get("msg_id") if isinstance(message, dict) else None
        if msg_id:
            return str(msg_id)[:64], person
        # follow, unfollow, user_submit_info carry no msg_id: the event itself is the key.
        return f"{event}:{person}:{update.get('timestamp', '')}"[:64], person

    def to_inbound(self, key: str, update: dict[str, Any]) -> Inbound | None:
        event = str(update.get("event_name"))
        person = _person(update)
        if not person or event in ("unfollow", "user_received_message", "user_seen_message"):
            return None  # not something a person said (-213 marks an unfollower)
        if event.startswith(("oa_send_", "oa_")):
            return None  # the OA's own messages, echoed
        common: dict[str, Any] = {
            "channel": CHANNEL,
            "update_key": key,
            "user_id": person,
            "chat_id": person,
        }
        message = _dict(update.get("message"))
        text = message.get("text")
        text = text if isinstance(text, str) else ""
        if event == "follow":
            return Inbound(**common, kind=InboundKind.COMMAND, text="/start", command="start")
        if event == "user_send_text":
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
        if event in ("user_send_image", "user_send_file"):
            attachments = tuple(_attachments(message))
            if attachments:
                kind = InboundKind.PHOTO if event == "user_send_image" else InboundKind.DOCUMENT
                return Inbound(**common, kind=kind, attachments=attachments, text=text)
        if event == "user_send_sticker":
            return Inbound(**common, kind=InboundKind.STICKER)
        if event == "user_submit_info":
            phone = str(_dict(update.get("info")).get("phone") or "")
            if phone:
                return Inbound(
                    **common, kind=InboundKind.CONTACT, phone=phone, contact_is_own=True
                )
        return Inbound(**common, kind=InboundKind.OTHER)

    async def received(self, update: dict[str, Any], inbound: Inbound | None) -> None:
        return None

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        return await download(self.http, attachment.file_id, limit, self.settings.media_hosts)

    # -- sending -------------------------------------------------------------------------

    def render(self, chat_id: str, reply: Reply) -> Sequence[Any]:
        """Plain text with numbered choices (the last part with a button per choice, when
        there are few), then a picture."""
        parts = render(reply)
        numbered = reply.numbered()
        messages: list[Any] = [_Text(part) for part in parts]
        if messages and 0 < len(numbered) <= MAX_BUTTONS:
            labels = tuple(strip_html(c.label)[:BUTTON_TITLE_LIMIT] for c in numbered)
            messages[-1] = _Text(parts[-1], labels)
        document = reply.document
        if document is not None:
            messages.append(_Picture(document.mime_type, document.content, document.evidence_path))
        return messages

    def announcement(
        self, text: str, photo: str | None, choices: tuple[Choice, ...]
    ) -> Sequence[Any]:
        """One message that decides when sent: free text (and its photo) inside the window,
        the template outside it. No buttons: the text says what to type."""
        return [_FirstWrite(strip_html(text), photo)]

    async def send(self, chat_id: str, message: Any) -> None:
        try:
            if isinstance(message, _FirstWrite):
                await self._first_write(chat_id, message)
            elif isinstance(message, _Picture):
                await self._send_picture(chat_id, message)
            else:
                await self._send_text(chat_id, message)
        except OAError as error:
            raise _mapped(error) from None
        except TokenRefused as error:
            log.error("zalo_oa: %s", error)
            raise QuotaExhausted(TOKEN_RETRY, "token_refused") from None
        except Unavailable as error:
            raise DeliveryError(str(error)) from None
        except httpx.HTTPError as error:
            raise DeliveryError(type(error).__name__) from None

    async def _cs(self, chat_id: str, message: dict[str, Any]) -> None:
        await self.call(
            "POST",
            self._api("/v3.0/oa/message/cs"),
            json={"recipient": {"user_id": chat_id}, "message": message},
        )

    async def _send_text(self, chat_id: str, text: _Text) -> None:
        message: dict[str, Any] = {"text": text.text}
        if text.buttons:
            message["attachment"] = {
                "type": "template",
                "payload": {
                    "buttons": [
                        {"title": label, "type": "oa.query.show", "payload": str(number)}
                        for number, label in enumerate(text.buttons, 1)
                    ]
                },
            }
        await self._cs(chat_id, message)

    async def _send_picture(self, chat_id: str, picture: _Picture) -> None:
        attachment_id = await self._upload(picture)
        element = {"media_type": "image", "attachment_id": attachment_id}
        await self._cs(
            chat_id,
            {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "media", "elements": [element]},
                }
            },
        )

    async def _upload(self, picture: _Picture) -> str:
        """The picture's attachment_id (uploaded once per run for a stored photo)."""
        path = picture.evidence_path
        if path is not None and path in self._uploaded:
            return self._uploaded[path]
        content = picture.content
        if path is not None:
            content = await asyncio.to_thread(self.evidence.path(path).read_bytes)
        if picture.mime_type not in ("image/jpeg", "image/png") or len(content) > IMAGE_LIMIT:
            raise Refused("Zalo takes only JPEG or PNG pictures up to 1 MB")
        extension = mimetypes.guess_extension(picture.mime_type) or ".jpg"
        data = await self.call(
            "POST",
            self._api("/v2.0/oa/upload/image"),
            files={"file": (f"picture{extension}", content, picture.mime_type)},
        )
        attachment_id = str(data.get("attachment_id") or "")
        if not attachment_id:
            raise DeliveryError("the upload gave no attachment_id")
        if path is not None:
            self._uploaded[path] = attachment_id
        return attachment_id

    async def _first_write(self, chat_id: str, message: _FirstWrite) -> None:
        if await self._in_window(chat_id):
            try:
                for part in split_text(message.text, TEXT_LIMIT):
                    if part.strip():
                        await self._send_text(chat_id, _Text(part))
                if message.photo is not None:
                    mime_type = mimetypes.guess_type(message.photo)[0] or "image/jpeg"
                    await self._send_picture(
                        chat_id, _Picture(mime_type, evidence_path=message.photo)
                    )
                return
            except OAError as error:
                if error.code not in WINDOW_CLOSED:
                    raise
                # Our record of their last message was wrong: as outside the window.
        await self._template(chat_id, message.text)

    async def _in_window(self, chat_id: str) -> bool:
        async with self.app.db.read() as session:
            wrote = await session.scalar(
                select(Identity.last_message_at).where(
                    Identity.channel == CHANNEL, Identity.user_id == chat_id
                )
            )
        window = dt.timedelta(hours=self.settings.free_window_hours)
        return wrote is not None and utcnow() - wrote < window

    async def _template(self, chat_id: str, text: str) -> None:
        """The approved template, filled; OutsideWindow where none is set up."""
        template = self.settings.announcement
        if template is None:
            raise OutsideWindow
        plain = text if len(text) <= template.max_chars else text[: template.max_chars - 1] + "…"
        today = dt.datetime.now(self.app.config.tz).strftime("%d/%m/%Y")
        await self.call(
            "POST",
            f"{self.settings.business_base_url}/message/template",
            json={
                "user_id": chat_id,
                "template_id": template.id,
                "template_data": {
                    name: value.format(text=plain, date=today) for name, value in template.params
                },
                "tracking_id": secrets.token_hex(8),
            },
        )

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool
    ) -> None:
        """Zalo cannot edit a message: the sender hears at the start and at the end."""
        if broadcast_id in self._progress_shown and not final:
            return
        self._progress_shown.add(broadcast_id)
        try:
            await self.send(chat_id, _Text(strip_html(text)))
        except (DeliveryError, QuotaExhausted, RetryLater, Unreachable) as error:
            log.warning("zalo_oa: could not show broadcast progress: %r", error)

    def routes(self, path: str) -> list[Any]:
        return []


def _person(update: dict[str, Any]) -> str:
    """The person an event is about: its sender, or the follower."""
    for field in ("sender", "follower", "user"):
        value = update.get(field)
        if isinstance(value, dict) and value.get("id"):
            return str(value["id"])[:64]
    return str(update.get("user_id_by_app") or "")[:64]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _attachments(message: dict[str, Any]) -> list[Attachment]:
    found = []
    items = message.get("attachments")
    for item in items if isinstance(items, list) else []:
        payload = _dict(_dict(item).get("payload"))
        url = payload.get("url")
        if not isinstance(url, str):
            continue
        if _dict(item).get("type") == "image":
            found.append(Attachment(url, "photo"))
        else:
            size = str(payload.get("size") or "")
            found.append(
                Attachment(
                    url,
                    "document",
                    file_name=str(payload.get("name") or "") or None,
                    size=int(size) if size.isdecimal() else None,
                )
            )
    return found


def _mapped(error: OAError) -> Exception:
    """What the runtime and the outbox understand of a Zalo error."""
    if error.code == RATE_LIMITED:
        # Seconds to wait, or (a large number) the time the window resets: not settled.
        reset = error.headers.get("X-RateLimit-Reset", "")
        try:
            seconds = float(reset) if reset else RATE_LIMIT_WAIT
        except ValueError:
            seconds = RATE_LIMIT_WAIT
        if seconds > 1e9:
            seconds -= time.time()
        return RetryLater(min(max(1.0, seconds), 3600.0))
    if error.code in NOT_FOLLOWING:
        return Unreachable()
    if error.code in WINDOW_CLOSED:
        return OutsideWindow()
    if error.code in QUOTA_ERRORS:
        log.error("zalo_oa: %s", error)
        return QuotaExhausted(QUOTA_RETRY)
    if error.code in TOKEN_ERRORS:
        log.error("zalo_oa: the access token is refused even after a refresh: %s", error)
        return QuotaExhausted(TOKEN_RETRY, "token_refused")
    return Refused(str(error))
