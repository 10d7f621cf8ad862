"""The Telegram channel on python-telegram-bot: polling or webhook, with a durable inbox.

python-telegram-bot's own Updater confirms a polled batch before its handlers run and answers a
webhook before handling, so a crash in between would lose updates. Here every update is stored
in the inbox first and only then acknowledged (the next getUpdates offset, or the webhook's
200); updates left unfinished by a crash are handled, or their replies resent, on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
from collections.abc import Coroutine, Iterable
from typing import Any
from urllib.parse import urlsplit

# Opt in to python-telegram-bot's future behaviour (durations as timedelta) and skip its
# deprecation warning; _seconds() below reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application as WebApplication
from tornado.web import RequestHandler

from bot.app import App
from bot.delivery import DeliveryError, DeliveryWorker, RetryLater, Unreachable
from bot.events import Attachment, Choice, Document, Inbound, InboundKind, Reply
from bot.evidence import (
    MAX_BYTES,
    EvidenceRejected,
    EvidenceStore,
    StoredFile,
    fetch_attachments,
)
from bot.i18n import N_, SUPPORTED
from bot.pacing import Pacer
from bot.text import split_text
from models.inbox import store_updates, unfinished_updates

__all__ = ["TelegramChannel", "to_inbound"]

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
SEND_ATTEMPTS = 4  # 5xx and timeouts: retried after 0.5, 1 and 2 s
# Telegram delivers an album as one message per photo; parts arriving within this many
# seconds of each other are handled together and answered once.
ALBUM_WAIT = 1.0
log = logging.getLogger(__name__)


def to_inbound(update: Update) -> Inbound | None:
    """The Inbound event of an update from a private chat; None for anything else."""
    query = update.callback_query
    message = update.message
    if query is not None:
        chat = query.message.chat if query.message else None
        if chat is None or chat.type != "private":
            return None
        return Inbound(
            channel=CHANNEL,
            update_key=str(update.update_id),
            user_id=str(query.from_user.id),
            chat_id=str(chat.id),
            kind=InboundKind.BUTTON,
            button=query.data or "",
            client_language=query.from_user.language_code,
            display_name=query.from_user.full_name,
        )
    if message is None or message.from_user is None or message.chat.type != "private":
        return None
    user = message.from_user
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "update_key": str(update.update_id),
        "user_id": str(user.id),
        "chat_id": str(message.chat.id),
        "client_language": user.language_code,
        "display_name": user.full_name,
        "media_group": message.media_group_id,
    }
    return Inbound(**common, **_content(message))


def _content(message: Message) -> dict[str, Any]:
    if message.text is not None:
        text = message.text
        if text.startswith("/") and len(text) > 1:
            name, _, args = text[1:].partition(" ")
            return {
                "kind": InboundKind.COMMAND,
                "text": text,
                "command": name.split("@")[0].lower(),
                "args": args.strip(),
            }
        return {"kind": InboundKind.TEXT, "text": text}
    if message.contact is not None:
        own = message.contact.user_id is not None and (
            message.from_user is not None and message.contact.user_id == message.from_user.id
        )
        return {
            "kind": InboundKind.CONTACT,
            "phone": message.contact.phone_number,
            "contact_is_own": own,
        }
    if message.location is not None:
        return {
            "kind": InboundKind.LOCATION,
            "latitude": message.location.latitude,
            "longitude": message.location.longitude,
        }
    if message.photo:
        largest = message.photo[-1]
        attachment = Attachment(largest.file_id, "photo", size=largest.file_size)
        return {
            "kind": InboundKind.PHOTO,
            "attachments": (attachment,),
            "text": message.caption or "",
        }
    if message.document is not None:
        document = message.document
        attachment = Attachment(
            document.file_id,
            "document",
            file_name=document.file_name,
            mime_type=document.mime_type,
            size=document.file_size,
        )
        return {
            "kind": InboundKind.DOCUMENT,
            "attachments": (attachment,),
            "text": message.caption or "",
        }
    if message.sticker is not None:
        return {"kind": InboundKind.STICKER}
    if message.voice is not None or message.audio is not None or message.video_note is not None:
        return {"kind": InboundKind.VOICE}
    return {"kind": InboundKind.OTHER}


def render(reply: Reply) -> dict[str, Any]:
    """sendMessage keyword arguments for a Reply (without text and chat)."""
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = None
    if reply.request_contact:
        rows = [[KeyboardButton(reply.request_contact, request_contact=True)]]
        rows += [[KeyboardButton(choice.label)] for choice in reply.choices]
        markup = ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    elif reply.choices:
        numbered = [
            InlineKeyboardButton(choice.label, callback_data=choice.value)
            for choice in reply.numbered()
        ]
        width = max(1, reply.columns)
        rows_inline = [numbered[i : i + width] for i in range(0, len(numbered), width)]
        nav = [
            InlineKeyboardButton(choice.label, callback_data=choice.value)
            for choice in reply.choices
            if choice.nav
        ]
        if nav:
            rows_inline.append(nav)
        markup = InlineKeyboardMarkup(rows_inline)
    return {"reply_markup": markup}


class TelegramChannel:
    """Receives updates (polling or webhook), hands them to the dispatcher, sends replies."""

    channel = CHANNEL

    def __init__(self, app: App, *, concurrency: int = 64) -> None:
        self.app = app
        settings = app.config.telegram
        if not settings.token:
            raise ValueError("the Telegram channel needs TELEGRAM_BOT_TOKEN")
        self.settings = settings
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(settings.token)
            .base_url(settings.bot_url)
            .base_file_url(settings.file_url)
            .updater(None)
            .build()
        )
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._queued: dict[str, int] = {}  # updates waiting per chat, to drop idle locks
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._contact_keyboards: set[str] = set()
        self._stopping = asyncio.Event()
        self._albums: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._album_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._quiet: set[int] = set()  # album parts whose answers are not sent
        self.evidence = EvidenceStore(app.config.data_dir / "files")
        # Our own pacing instead of AIORateLimiter: see bot/pacing.py.
        self.pacer = Pacer(settings.rate_per_second)
        self.worker = DeliveryWorker(app, self)
        self._worker_task: asyncio.Task[None] | None = None
        self._progress: dict[int, int] = {}  # broadcast id -> the progress message id
        self._uploaded: dict[str, str] = {}  # evidence path -> Telegram file id
        self._poller: asyncio.Task[None] | None = None
        self._server: HTTPServer | None = None
        self.webhook_port: int | None = None

    @property
    def bot(self) -> Bot:
        return self.application.bot

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.application.initialize()
        await self.application.start()
        await self._publish_commands()
        await self.recover()
        if self.settings.webhook_url:
            self._server = await self._start_webhook()
        else:
            await self.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
        self._worker_task = asyncio.create_task(self.worker.run_forever(), name="delivery")
        log.info(
            "telegram channel started (%s)", "webhook" if self.settings.webhook_url else "polling"
        )

    async def stop(self) -> None:
        self._stopping.set()
        if self._worker_task is not None:
            await self.worker.stop(self._worker_task)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._server is not None:
            self._server.stop()
        await self.drain()
        await self.application.stop()
        await self.application.shutdown()

    async def drain(self) -> None:
        """Waits until every update received so far has been handled and answered."""
        for key in list(self._album_timers):
            self._album_timers.pop(key).cancel()
            self._flush_album(key)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.app.dispatcher.settle()

    async def _publish_commands(self) -> None:
        """The client's command menu, in each language."""
        for language in SUPPORTED:
            t = self.app.catalogs.translator(language, self.app.config.tz)
            commands = [
                BotCommand(command.name, t.gettext(command.description)[:256])
                for command in self.app.router.commands.values()
            ]
            try:
                await self.bot.set_my_commands(
                    commands, language_code=None if language == "vi" else language
                )
            except TelegramError as error:
                log.warning("could not publish the command list: %s", error)

    async def recover(self) -> None:
        """Handles updates stored before a crash, and resends replies that were not sent."""
        async with self.app.db.read() as session:
            rows = await unfinished_updates(session, CHANNEL)
        for row in rows:
            if row.handled_at is not None and row.replies is not None:
                replies = [Reply.from_json(item) for item in row.replies["items"]]
                chat_id = str(row.payload.get("_chat_id", ""))
                await self._send_all(chat_id, replies)
                self.app.dispatcher.replied(CHANNEL, row.update_key)
            else:
                self._spawn(row.payload)
        if rows:
            log.info("recovered %d unfinished updates", len(rows))

    # -- receiving -----------------------------------------------------------------------

    async def _poll(self) -> None:
        offset: int | None = None
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=self.settings.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                )
                failures = 0
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error.retry_after))
                continue
            except (NetworkError, TelegramError) as error:
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("getUpdates failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            if not updates:
                continue
            payloads = [update.to_dict() for update in updates]
            new = await self.accept(payloads)
            # Only now may the next getUpdates confirm them.
            offset = updates[-1].update_id + 1
            for payload in payloads:
                if str(payload["update_id"]) in new:
                    self._spawn(payload)

    async def accept(self, payloads: list[dict[str, Any]]) -> set[str]:
        """Stores updates durably; returns the keys not seen before."""
        for payload in payloads:
            payload["_chat_id"] = _chat_of(payload)
        async with self.app.db.write() as session:
            new = await store_updates(
                session, CHANNEL, [(str(p["update_id"]), p) for p in payloads]
            )
        return set(new)

    def _spawn(self, payload: dict[str, Any]) -> None:
        album = (payload.get("message") or {}).get("media_group_id")
        if album is None:
            self._track(self._process(payload))
            return
        key = (str(payload.get("_chat_id", "")), str(album))
        self._albums.setdefault(key, []).append(payload)
        timer = self._album_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._album_timers[key] = loop.call_later(ALBUM_WAIT, self._flush_album, key)

    def _flush_album(self, key: tuple[str, str]) -> None:
        """Handles an album's parts in order; only the last part's answer is sent."""
        self._album_timers.pop(key, None)
        parts = sorted(self._albums.pop(key, []), key=lambda p: int(p["update_id"]))
        self._quiet.update(int(p["update_id"]) for p in parts[:-1])

        async def run() -> None:
            for part in parts:
                await self._process(part)

        self._track(run())

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, payload: dict[str, Any]) -> None:
        chat = str(payload.get("_chat_id", ""))
        lock = self._chat_locks.setdefault(chat, asyncio.Lock())
        self._queued[chat] = self._queued.get(chat, 0) + 1
        try:
            async with lock:  # one chat's updates in order; other chats run alongside
                update = Update.de_json(
                    {k: v for k, v in payload.items() if not k.startswith("_")}, self.bot
                )
                await self.application.process_update(update)
        except Exception:
            log.exception("processing update %s failed", payload.get("update_id"))
        finally:
            self._queued[chat] -= 1
            if not self._queued[chat]:
                del self._queued[chat], self._chat_locks[chat]

    async def _on_update(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        inbound = to_inbound(update)
        query = update.callback_query
        if query is not None:
            with contextlib.suppress(TelegramError):
                await query.answer()
            if query.message is not None and inbound is not None:
                # The answer comes as a new message; the old buttons would only be stale.
                with contextlib.suppress(TelegramError):
                    await self.bot.edit_message_reply_markup(
                        chat_id=int(inbound.chat_id), message_id=query.message.message_id
                    )
        if inbound is None:
            # Not for us (a group, an edit): record it as handled with nothing to say.
            await self.app.dispatcher.ignore(CHANNEL, str(update.update_id))
            return
        delay, notice = self.app.dispatcher.admit(inbound)
        if notice is not None:
            await self._send_all(inbound.chat_id, [notice])
        if delay:
            await asyncio.sleep(delay)  # pacing a flooding user; their chat alone waits
        async with self._slots:
            if inbound.attachments and await self.app.dispatcher.wants_files(inbound):
                inbound = await fetch_attachments(inbound, self._download)
            replies = await self.app.dispatcher.handle(inbound)
            if replies is None:
                return  # handled before: a redelivery changes nothing and sends nothing
            if update.update_id in self._quiet:
                self._quiet.discard(update.update_id)
            else:
                await self._send_all(inbound.chat_id, replies)
            self.app.dispatcher.replied(CHANNEL, inbound.update_key)

    async def _download(self, attachment: Attachment) -> StoredFile:
        too_big = EvidenceRejected(
            N_("That file is larger than {max_mb} MB. Please send a smaller one."),
            {"max_mb": MAX_BYTES // (1024 * 1024)},
        )
        if attachment.size is not None and attachment.size > MAX_BYTES:
            raise too_big
        try:
            file = await self.bot.get_file(attachment.file_id)
            if file.file_size is not None and file.file_size > MAX_BYTES:
                raise too_big
            data = bytes(await file.download_as_bytearray())
        except BadRequest as error:
            if "too big" in str(error).lower():
                raise too_big from None
            log.warning("could not fetch a file: %s", error)
            raise EvidenceRejected(
                N_("That file could not be received. Please send it again.")
            ) from None
        except NetworkError as error:
            log.warning("could not fetch a file: %s", error)
            raise EvidenceRejected(
                N_("That file could not be received. Please send it again.")
            ) from None
        return await asyncio.to_thread(
            self.evidence.save, data, original_name=attachment.file_name
        )

    # -- sending -------------------------------------------------------------------------

    async def _send_all(self, chat_id: str, replies: Iterable[Reply]) -> None:
        for reply in replies:
            await self.send(reply.chat_id or chat_id, reply)

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Sends one reply, split when longer than Telegram allows; a blocked chat is skipped."""
        options = render(reply)
        if reply.request_contact:
            self._contact_keyboards.add(chat_id)
        elif options["reply_markup"] is None and chat_id in self._contact_keyboards:
            options["reply_markup"] = ReplyKeyboardRemove()
            self._contact_keyboards.discard(chat_id)
        parts = split_text(reply.text, MessageLimit.MAX_TEXT_LENGTH)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            markup = options["reply_markup"] if last else None
            if not await self._send_part(int(chat_id), part, markup):
                return
        if reply.document is not None:
            await self._send_document(int(chat_id), reply.document)

    # -- outbox delivery (bot.delivery.Sender) ---------------------------------------------

    async def deliver(
        self, chat_id: str, text: str, photo: str | None, choices: tuple[Choice, ...] = ()
    ) -> None:
        """Sends one outbox message, telling the worker what went wrong in its terms."""
        try:
            if photo is not None:
                await self._deliver_photo(int(chat_id), text, photo)
            else:
                await self.bot.send_message(
                    chat_id=int(chat_id),
                    text=text,
                    parse_mode=ParseMode.HTML,
                    **render(Reply(text, choices)),
                )
        except RetryAfter as error:
            raise RetryLater(_seconds(error.retry_after)) from None
        except Forbidden:
            raise Unreachable from None
        except BadRequest as error:
            if "chat not found" in str(error).lower():
                raise Unreachable from None
            raise DeliveryError(str(error)) from None
        except NetworkError as error:
            raise DeliveryError(str(error)) from None

    async def _deliver_photo(self, chat_id: int, text: str, photo: str) -> None:
        """The photo with the text as its caption (or before a longer text); uploaded once,
        then sent again by the file id Telegram gave it."""
        uploaded = self._uploaded.get(photo)
        content: InputFile | str = uploaded or InputFile(
            await asyncio.to_thread(self.evidence.path(photo).read_bytes), filename="photo.jpg"
        )
        fits = len(text) <= MessageLimit.CAPTION_LENGTH
        message = await self.bot.send_photo(
            chat_id=chat_id,
            photo=content,
            caption=text if fits else None,
            parse_mode=ParseMode.HTML if fits else None,
        )
        if uploaded is None and message.photo:
            self._uploaded[photo] = message.photo[-1].file_id
        if not fits:
            await self.pacer.bulk()
            await self.bot.send_message(chat_id=chat_id, text=text, parse_mode=ParseMode.HTML)

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool = False
    ) -> None:
        """Edits the sender's progress message (a new one after a restart)."""
        await self.pacer.live()
        message_id = self._progress.get(broadcast_id)
        try:
            if message_id is not None:
                await self.bot.edit_message_text(text, chat_id=int(chat_id), message_id=message_id)
                return
            message = await self.bot.send_message(chat_id=int(chat_id), text=text)
            self._progress[broadcast_id] = message.message_id
        except TelegramError as error:
            if "not modified" not in str(error).lower():
                log.warning("could not show broadcast progress: %s", error)

    async def _send_document(self, chat_id: int, document: Document) -> None:
        content = document.content
        if document.evidence_path is not None:
            path = self.evidence.path(document.evidence_path)
            content = await asyncio.to_thread(path.read_bytes)
        upload = InputFile(content, filename=document.file_name)
        try:
            if document.mime_type.startswith("image/"):
                await self.bot.send_photo(chat_id=chat_id, photo=upload)
            else:
                await self.bot.send_document(chat_id=chat_id, document=upload)
        except (Forbidden, BadRequest) as error:
            log.warning("a file could not be sent: %s", error)

    async def _send_part(self, chat_id: int, text: str, markup: Any) -> bool:
        """Sends one message, retrying server errors and timeouts; False if it cannot go."""
        for attempt in range(SEND_ATTEMPTS):
            await self.pacer.live()
            try:
                await self.bot.send_message(
                    chat_id=chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=markup
                )
                return True
            except RetryAfter as error:
                self.pacer.pause(_seconds(error.retry_after))
                await asyncio.sleep(_seconds(error.retry_after))
            except Forbidden:
                log.info("a chat has blocked the bot; reply dropped")
                return False
            except BadRequest as error:  # a subclass of NetworkError: never worth a retry
                log.error("Telegram refused a reply: %s", error)
                return False
            except NetworkError as error:
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                delay = 0.5 * 2**attempt
                log.warning("sending failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
        return False

    # -- webhook -------------------------------------------------------------------------

    async def _start_webhook(self) -> HTTPServer:
        url = self.settings.webhook_url or ""
        path = urlsplit(url).path or "/"
        web = WebApplication([(path, _WebhookHandler, {"channel": self})])
        server = HTTPServer(web)
        sockets = bind_sockets(self.settings.webhook_port, self.settings.webhook_listen)
        server.add_sockets(sockets)
        self.webhook_port = sockets[0].getsockname()[1]  # the real one when configured as 0
        await self.bot.set_webhook(
            url=url,
            secret_token=self.settings.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
        )
        return server

    def secret_matches(self, header: str | None) -> bool:
        """Constant-time comparison of the webhook secret header."""
        expected = (self.settings.webhook_secret or "").encode()
        return bool(expected) and hmac.compare_digest((header or "").encode(), expected)


class _WebhookHandler(RequestHandler):
    """Stores a webhook update durably, then answers 200; anything unauthenticated gets 403."""

    def initialize(self, channel: TelegramChannel) -> None:
        self.channel = channel

    async def post(self) -> None:
        if not self.channel.secret_matches(
            self.request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        ):
            self.set_status(403)
            return
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            self.set_status(403)
            return
        try:
            payload = json.loads(self.request.body)
            update_id = int(payload["update_id"])
        except (ValueError, KeyError, TypeError):
            self.set_status(400)
            return
        payload["update_id"] = update_id
        new = await self.channel.accept([payload])
        if str(update_id) in new:
            self.channel._spawn(payload)
        self.set_status(200)


def _chat_of(payload: dict[str, Any]) -> str:
    message = payload.get("message") or (payload.get("callback_query") or {}).get("message") or {}
    return str((message.get("chat") or {}).get("id", ""))


def _seconds(value: int | float | Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
