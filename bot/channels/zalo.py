"""The Zalo channel on httpx: long polling or webhook, with the same durable inbox as Telegram.

Zalo's Bot API is shaped like Telegram's but smaller: getUpdates returns one update and has
no offset (so an update may come again: the inbox dedupes it by message id), an idle long poll
ends with HTTP 408, there are no buttons (choices are numbered lines) and no formatting (HTML
is removed), messages hold at most 2,000 characters, and photos are sent by URL only. The bot
cannot send files on Zalo; the dispatcher replaces them with a note (see Dispatcher._adapt).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import mimetypes
import secrets
import time
from collections.abc import Coroutine, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application as WebApplication
from tornado.web import RequestHandler

from bot.app import App
from bot.delivery import DeliveryError, DeliveryWorker, RetryLater, Unreachable
from bot.events import Attachment, Choice, Inbound, InboundKind, Reply
from bot.evidence import MAX_BYTES, EvidenceRejected, EvidenceStore, StoredFile, fetch_attachments
from bot.i18n import N_
from bot.pacing import Pacer
from bot.text import split_text, strip_html
from models.inbox import store_updates, unfinished_updates

__all__ = ["ZaloApiError", "ZaloChannel", "to_inbound"]

CHANNEL = "zalo"
TEXT_LIMIT = 2000
SEND_ATTEMPTS = 4
log = logging.getLogger(__name__)


class ZaloApiError(Exception):
    def __init__(self, status: int, code: int | None, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description


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
    if event == "message.image.received" and isinstance(message.get("photo_url"), str):
        attachment = Attachment(message["photo_url"], "photo")
        caption = message.get("caption")
        return Inbound(
            **common,
            kind=InboundKind.PHOTO,
            attachments=(attachment,),
            text=caption if isinstance(caption, str) else "",
        )
    if event == "message.sticker.received":
        return Inbound(**common, kind=InboundKind.STICKER)
    if event != "message.unsupported.received":
        log.info("an update of unknown kind %r was treated as unsupported", event)
    return Inbound(**common, kind=InboundKind.OTHER)


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


class ZaloChannel:
    """Receives updates (polling or webhook), hands them to the dispatcher, sends replies."""

    channel = CHANNEL

    def __init__(self, app: App, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        settings = app.config.zalo
        if not settings.token:
            raise ValueError("the Zalo channel needs ZALO_BOT_TOKEN")
        self.app = app
        self.settings = settings
        app.dispatcher.plain_channels.add(CHANNEL)
        if settings.webhook_url:
            # A public address: pictures can be sent by a short-lived link the bot serves.
            app.dispatcher.picture_channels.add(CHANNEL)
        self.media = MediaLinks(
            f"{settings.webhook_url.rstrip('/')}/media" if settings.webhook_url else None
        )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=settings.poll_timeout + 10.0),
            transport=transport,
            follow_redirects=False,
        )
        self.evidence = EvidenceStore(app.config.data_dir / "files")
        self.pacer = Pacer(settings.rate_per_second)
        self.worker = DeliveryWorker(app, self)
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._queued: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._server: HTTPServer | None = None
        self._progress_shown: set[int] = set()
        self.webhook_port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.call("getMe")
        await self.recover()
        if self.settings.webhook_url:
            self._server = await self._start_webhook()
        else:
            await self.call("deleteWebhook")
            self._poller = asyncio.create_task(self._poll(), name="zalo-poll")
        self._worker_task = asyncio.create_task(self.worker.run_forever(), name="zalo-delivery")
        log.info(
            "zalo channel started (%s)", "webhook" if self.settings.webhook_url else "polling"
        )

    async def stop(self) -> None:
        self._stopping.set()
        if self._worker_task is not None:
            await self.worker.stop(self._worker_task)
        if self._poller is not None:
            self._poller.cancel()  # a stored update being received is a task of its own
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._server is not None:
            self._server.stop()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.app.dispatcher.settle()
        await self.http.aclose()

    async def recover(self) -> None:
        """Handles updates stored before a crash, and resends replies that were not sent."""
        async with self.app.db.read() as session:
            rows = await unfinished_updates(session, CHANNEL)
        for row in rows:
            if row.handled_at is not None and row.replies is not None:
                replies = [Reply.from_json(item) for item in row.replies["items"]]
                await self._send_all(str(row.payload.get("_chat_id", "")), replies)
                self.app.dispatcher.replied(CHANNEL, row.update_key)
            else:
                self._track(self._process(row.update_key, row.payload))

    # -- the API -------------------------------------------------------------------------

    async def call(self, method: str, **params: Any) -> Any:
        """One API call; ZaloApiError when it answers ok: false or an HTTP error."""
        url = f"{self.settings.bot_url}/{method}"
        response = await self.http.post(url, json=params)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("ok"):
            raise ZaloApiError(
                response.status_code,
                body.get("error_code"),
                str(body.get("description") or response.reason_phrase)[:200],
            )
        return body.get("result")

    # -- receiving -----------------------------------------------------------------------

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                update = await self.call("getUpdates", timeout=self.settings.poll_timeout)
                failures = 0
            except ZaloApiError as error:
                if error.status == 408 or error.code == 408:
                    continue  # an idle long poll: normal
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("getUpdates failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            except httpx.HTTPError as error:
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("getUpdates failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            if isinstance(update, dict) and update:
                await self.receive(update)

    async def receive(self, payload: dict[str, Any]) -> None:
        """Stores the update, then handles it unless it came before (Zalo may resend). The
        storing is a task of its own, which stop() waits for: stopping the poll or the web
        server never cuts the inbox's transaction off."""
        storing = asyncio.create_task(self._store(payload))
        self._tasks.add(storing)
        storing.add_done_callback(self._tasks.discard)
        await asyncio.shield(storing)

    async def _store(self, payload: dict[str, Any]) -> None:
        update = unwrap(payload)
        message = update.get("message") if isinstance(update.get("message"), dict) else None
        if message is None or not message.get("message_id"):
            log.info(
                "an update without a message was ignored (event %r)", update.get("event_name")
            )
            return
        key = str(message["message_id"])[:64]
        update["_chat_id"] = str((message.get("chat") or {}).get("id", ""))
        async with self.app.db.write() as session:
            new = await store_updates(session, CHANNEL, [(key, update)])
        if new:
            self._track(self._process(key, update))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, key: str, update: dict[str, Any]) -> None:
        chat = str(update.get("_chat_id", ""))
        lock = self._chat_locks.setdefault(chat, asyncio.Lock())
        self._queued[chat] = self._queued.get(chat, 0) + 1
        try:
            async with lock:  # one chat's updates in order; other chats run alongside
                await self._handle(key, update)
        except Exception:
            log.exception("processing a zalo update failed")
        finally:
            self._queued[chat] -= 1
            if not self._queued[chat]:
                del self._queued[chat], self._chat_locks[chat]

    async def _handle(self, key: str, update: dict[str, Any]) -> None:
        inbound = to_inbound({k: v for k, v in update.items() if not k.startswith("_")})
        if inbound is None:
            await self.app.dispatcher.ignore(CHANNEL, key)
            return
        delay, notice = self.app.dispatcher.admit(inbound)
        if notice is not None:
            await self._send_all(inbound.chat_id, [notice])
        if delay:
            await asyncio.sleep(delay)  # pacing a flooding user; their chat alone waits
        if inbound.attachments and await self.app.dispatcher.wants_files(inbound):
            inbound = await fetch_attachments(inbound, self._download)
        replies = await self.app.dispatcher.handle(inbound)
        if replies is None:
            return
        await self._send_all(inbound.chat_id, replies)
        self.app.dispatcher.replied(CHANNEL, inbound.update_key)

    def allowed_host(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return parts.scheme in ("https", "http") and any(
            host == allowed or host.endswith("." + allowed)
            for allowed in self.settings.media_hosts
        )

    async def _download(self, attachment: Attachment) -> StoredFile:
        """The photo behind photo_url, read up to the size cap, checked and stored."""
        url = attachment.file_id
        failed = EvidenceRejected(N_("That file could not be received. Please send it again."))
        if not self.allowed_host(url):
            log.warning("a photo from a host not on zalo.media_hosts was refused")
            raise failed
        too_big = EvidenceRejected(
            N_("That file is larger than {max_mb} MB. Please send a smaller one."),
            {"max_mb": MAX_BYTES // (1024 * 1024)},
        )
        data = bytearray()
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise failed
                if int(response.headers.get("content-length") or 0) > MAX_BYTES:
                    raise too_big
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_BYTES:
                        raise too_big
        except httpx.HTTPError as error:
            log.warning("could not fetch a photo: %s", type(error).__name__)
            raise failed from None
        return await asyncio.to_thread(self.evidence.save, bytes(data), original_name=None)

    # -- sending -------------------------------------------------------------------------

    async def _send_all(self, chat_id: str, replies: Iterable[Reply]) -> None:
        for reply in replies:
            target = reply.chat_id or chat_id
            for part in render(reply):
                if not await self._send_text(target, part):
                    return
            document = reply.document
            if document is not None and self.media.enabled:
                content = document.content
                if document.evidence_path is not None:
                    path = self.evidence.path(document.evidence_path)
                    content = await asyncio.to_thread(path.read_bytes)
                await self._send_photo(target, self.media.publish(content, document.mime_type))

    async def _send_photo(self, chat_id: str, url: str, caption: str | None = None) -> None:
        await self.pacer.live()
        try:
            params = {"chat_id": chat_id, "photo": url}
            if caption:
                params["caption"] = caption
            await self.call("sendPhoto", **params)
        except (ZaloApiError, httpx.HTTPError) as error:
            log.warning("a picture could not be sent: %s", error)

    async def _send_text(self, chat_id: str, text: str) -> bool:
        """Sends one message, retrying server errors and timeouts; False if it cannot go."""
        for attempt in range(SEND_ATTEMPTS):
            await self.pacer.live()
            try:
                await self.call("sendMessage", chat_id=chat_id, text=text)
                return True
            except ZaloApiError as error:
                if error.status == 429 or error.code == 429:
                    self.pacer.pause(1.0)
                    await asyncio.sleep(1.0)
                    continue
                if error.status < 500:
                    log.warning("Zalo refused a reply: %s", error)
                    return False
                failure: Exception = error
            except httpx.HTTPError as error:
                failure = error
            if attempt == SEND_ATTEMPTS - 1:
                log.error("a reply could not be sent: %s", failure)
                return False
            await asyncio.sleep(0.5 * 2**attempt)
        return False

    # -- outbox delivery (bot.delivery.Sender) ---------------------------------------------

    async def deliver(
        self, chat_id: str, text: str, photo: str | None, choices: tuple[Choice, ...] = ()
    ) -> None:
        """Sends one outbox message as plain text, and its photo by a short-lived link when
        the bot has a public address (without one, only the text goes). No buttons: the text
        says what to type."""
        parts = split_text(strip_html(text), TEXT_LIMIT)
        try:
            for index, part in enumerate(parts):
                if index:
                    await self.pacer.bulk()
                await self.call("sendMessage", chat_id=chat_id, text=part)
            if photo is not None and self.media.enabled:
                content = await asyncio.to_thread(self.evidence.path(photo).read_bytes)
                await self.pacer.bulk()
                await self.call(
                    "sendPhoto",
                    chat_id=chat_id,
                    photo=self.media.publish(
                        content, mimetypes.guess_type(photo)[0] or "image/jpeg"
                    ),
                )
        except ZaloApiError as error:
            if error.status == 429 or error.code == 429:
                raise RetryLater(1.0) from None
            if error.status in (403, 404) or error.code in (403, 404):
                raise Unreachable from None
            raise DeliveryError(str(error)) from None
        except httpx.HTTPError as error:
            raise DeliveryError(type(error).__name__) from None

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool = False
    ) -> None:
        """Zalo cannot edit a message: the sender hears at the start and at the end."""
        if broadcast_id in self._progress_shown and not final:
            return
        self._progress_shown.add(broadcast_id)
        await self._send_text(chat_id, strip_html(text))

    # -- webhook -------------------------------------------------------------------------

    async def _start_webhook(self) -> HTTPServer:
        url = self.settings.webhook_url or ""
        path = urlsplit(url).path or "/"
        web = WebApplication(
            [
                (path, _WebhookHandler, {"channel": self}),
                (
                    f"{path.rstrip('/')}/media/([A-Za-z0-9_-]+)",
                    _MediaHandler,
                    {"links": self.media},
                ),
            ]
        )
        server = HTTPServer(web)
        sockets = bind_sockets(self.settings.webhook_port, self.settings.webhook_listen)
        server.add_sockets(sockets)
        self.webhook_port = sockets[0].getsockname()[1]
        await self.call("setWebhook", url=url, secret_token=self.settings.webhook_secret)
        return server

    def secret_matches(self, header: str | None) -> bool:
        expected = (self.settings.webhook_secret or "").encode()
        return bool(expected) and hmac.compare_digest((header or "").encode(), expected)


class MediaLinks:
    """Pictures served at unguessable links that expire after a few minutes: Zalo sends a
    photo only by URL, and fetches it at once."""

    LIFETIME = 600.0  # seconds

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self._files: dict[str, tuple[bytes, str, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.base_url is not None

    def publish(self, content: bytes, mime_type: str) -> str:
        now = time.monotonic()
        self._files = {k: v for k, v in self._files.items() if v[2] > now}
        token = secrets.token_urlsafe(24)
        self._files[token] = (content, mime_type, now + self.LIFETIME)
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


class _WebhookHandler(RequestHandler):
    """Stores a webhook update durably, then answers 200; anything unauthenticated gets 403."""

    def initialize(self, channel: ZaloChannel) -> None:
        self.channel = channel

    async def post(self) -> None:
        if not self.channel.secret_matches(self.request.headers.get("X-Bot-Api-Secret-Token")):
            self.set_status(403)
            return
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            self.set_status(403)
            return
        try:
            payload = json.loads(self.request.body)
        except ValueError:
            self.set_status(400)
            return
        if not isinstance(payload, dict):
            self.set_status(400)
            return
        await self.channel.receive(payload)
        self.set_status(200)
