"""The Telegram adapter (python-telegram-bot's Bot for the API calls; the runtime does the rest).

Telegram has buttons, HTML, files up to 50 MB sent by a bot and 20 MB fetched by it
(https://core.telegram.org/bots/api#sending-files, #getfile), messages of 4,096 characters,
and deep links t.me/<bot>?start=<payload> (https://core.telegram.org/bots/features#deep-linking).
Updates come by getUpdates, confirmed by the next call's offset, or by webhook with the
secret in X-Telegram-Bot-Api-Secret-Token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

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
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.capabilities import MEGABYTE, Capabilities
from bot.channels.runtime import (
    Refused,
    SetupError,
    TooLarge,
    Unavailable,
    Webhook,
)
from bot.delivery import DeliveryError, RetryLater, Unreachable
from bot.events import Attachment, Choice, Document, Inbound, InboundKind, Reply
from bot.evidence import EvidenceStore
from bot.i18n import SUPPORTED
from bot.pacing import Pace
from bot.text import split_text

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["CHANNEL", "TelegramAdapter", "render", "to_inbound"]

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_UPLOAD = 50 * MEGABYTE  # what a bot may send
MAX_DOWNLOAD = 20 * MEGABYTE  # what getFile lets a bot fetch
SEND_TIMEOUT = 5.0  # seconds, as python-telegram-bot waits for each part of a call
# Connections for sending texts at once. Each costs processor time on every call of its pool
# (httpcore looks at each connection, every idle one with a system call, when a call starts
# and when it ends: BENCHMARKS.md, "Update throughput"), so replies, which follow people's
# messages, keep few; the outbox keeps Telegram's 30 messages a second while a call takes up
# to a second.
REPLY_CONNECTIONS = 8
OUTBOX_CONNECTIONS = 32
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


@dataclass(frozen=True)
class _Text:
    text: str
    markup: Any = None
    bulk: bool = False  # an outbox message (a broadcast, a notice), not a reply


@dataclass(frozen=True)
class _File:
    document: Document


@dataclass(frozen=True)
class _Photo:
    """An announcement's photo (in the evidence store), with its text as the caption."""

    path: str
    caption: str | None
    markup: Any = None


class TelegramAdapter:
    """Telegram for the channel runtime (bot.channels.runtime.Adapter)."""

    name = CHANNEL
    title = "Telegram"
    interactive = False

    def __init__(self, app: App) -> None:
        settings = app.config.telegram
        if not settings.token:
            raise ValueError("the Telegram channel needs TELEGRAM_BOT_TOKEN")
        self.app = app
        self.settings = settings
        username = (settings.bot_username or "").lstrip("@")
        self.capabilities = Capabilities(
            max_file_bytes=MAX_UPLOAD,
            max_download_bytes=MAX_DOWNLOAD,
            max_text=MessageLimit.MAX_TEXT_LENGTH,
            start_link=f"https://t.me/{username}?start=" if username else None,
        )
        self.pace = Pace(settings.rate_per_second)
        self.webhook = Webhook.configured(settings, "X-Telegram-Bot-Api-Secret-Token")
        self.bot = Bot(settings.token, base_url=settings.bot_url, base_file_url=settings.file_url)
        # getUpdates is read as plain JSON, update by update: python-telegram-bot parses a
        # polled batch as a whole, and one update it cannot parse would stop every later one.
        self._polling: httpx.AsyncClient | None = None
        # Texts go out as plain JSON too: the sent message Telegram returns is not needed,
        # and reading it into python-telegram-bot's objects costs more than the call's own
        # HTTP (BENCHMARKS.md, "Update throughput"). Files and photos go through `self.bot`.
        # Replies and the outbox each have connections of their own (see REPLY_CONNECTIONS).
        self._replying = _client(REPLY_CONNECTIONS)
        self._announcing = _client(OUTBOX_CONNECTIONS)
        self.evidence = EvidenceStore(app.config.data_dir / "files")
        self._offset: int | None = None
        self._contact_keyboards: set[str] = set()
        self._progress: dict[int, int] = {}  # broadcast id -> the progress message id
        self._uploaded: dict[str, str] = {}  # evidence path -> Telegram file id

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        try:
            await self.bot.initialize()  # getMe
        except InvalidToken:
            raise SetupError(
                "TELEGRAM_BOT_TOKEN: the Bot API server rejected this token"
            ) from None
        except TelegramError as error:
            raise Unavailable(str(error)) from None
        await self._publish_commands()

    async def _publish_commands(self) -> None:
        """The client's command menu, in each language."""
        for language in SUPPORTED:
            t = self.app.catalogs.translator(language, self.app.config.tz)
            commands = [
                BotCommand(command.name, command.listed(t)[:256])
                for command in self.app.router.commands.values()
            ]
            try:
                await self.bot.set_my_commands(
                    commands, language_code=None if language == "vi" else language
                )
            except TelegramError as error:
                log.warning("could not publish the command list: %s", error)

    async def listen(self, webhook: Webhook | None) -> None:
        try:
            if webhook is None:
                await self.bot.delete_webhook()
                return
            await self.bot.set_webhook(
                url=webhook.url, secret_token=webhook.secret, allowed_updates=ALLOWED_UPDATES
            )
        except BadRequest as error:  # a subclass of NetworkError
            raise SetupError(
                f"TELEGRAM_WEBHOOK_URL: Telegram refused the webhook: {error}"
            ) from None
        except (NetworkError, RetryAfter) as error:
            raise Unavailable(str(error)) from None

    async def close(self) -> None:
        await self.bot.shutdown()
        await self._replying.aclose()
        await self._announcing.aclose()
        if self._polling is not None:
            await self._polling.aclose()

    # -- receiving -----------------------------------------------------------------------

    async def poll(self) -> list[dict[str, Any]]:
        if self._polling is None:
            self._polling = httpx.AsyncClient(
                timeout=httpx.Timeout(10.0, read=self.settings.poll_timeout + 10.0)
            )
        parameters = {"timeout": self.settings.poll_timeout, "allowed_updates": ALLOWED_UPDATES}
        if self._offset is not None:
            parameters["offset"] = self._offset
        try:
            response = await self._polling.post(f"{self.bot.base_url}/getUpdates", json=parameters)
            body = response.json()
        except httpx.HTTPError as error:
            raise Unavailable(type(error).__name__) from None  # the URL holds the token
        except ValueError:
            raise Unavailable(f"HTTP {response.status_code}, not JSON") from None
        if not isinstance(body, dict) or not body.get("ok"):
            body = body if isinstance(body, dict) else {}
            retry_after = (body.get("parameters") or {}).get("retry_after")
            if isinstance(retry_after, int | float):
                raise RetryLater(float(retry_after))
            raise Unavailable(f"{body.get('error_code')}: {str(body.get('description'))[:200]}")
        result = body.get("result")
        updates = [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []
        ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
        if ids:
            self._offset = max(ids) + 1  # confirmed by the next call, once they are stored
        return updates

    def from_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def identify(self, update: dict[str, Any]) -> tuple[str, str] | None:
        update_id = update.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int | str):
            return None
        try:
            key = str(int(update_id))
        except ValueError:
            return None
        message = update.get("message") or (update.get("callback_query") or {}).get("message")
        chat = message.get("chat") if isinstance(message, dict) else None
        return key, str(chat.get("id", "")) if isinstance(chat, dict) else ""

    def to_inbound(self, key: str, update: dict[str, Any]) -> Inbound | None:
        return to_inbound(Update.de_json(update, self.bot))

    async def received(self, update: dict[str, Any], inbound: Inbound | None) -> None:
        """A pressed button is answered, and its buttons removed: the answer comes as a new
        message, and the old buttons would only be stale."""
        query = update.get("callback_query")
        if not isinstance(query, dict) or not query.get("id"):
            return
        with contextlib.suppress(TelegramError):
            await self.bot.answer_callback_query(str(query["id"]))
        message_id = (query.get("message") or {}).get("message_id")
        if inbound is not None and isinstance(message_id, int):
            with contextlib.suppress(TelegramError):
                await self.bot.edit_message_reply_markup(
                    chat_id=int(inbound.chat_id), message_id=message_id
                )

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        try:
            file = await self.bot.get_file(attachment.file_id)
            if file.file_size is not None and file.file_size > limit:
                raise TooLarge
            return bytes(await file.download_as_bytearray())
        except BadRequest as error:
            if "too big" in str(error).lower():
                raise TooLarge from None
            raise

    # -- sending -------------------------------------------------------------------------

    def render(self, chat_id: str, reply: Reply) -> Sequence[Any]:
        """The text in parts of at most 4,096 characters, its buttons on the last; then the
        file. A keyboard asking for the phone number is removed by the next reply."""
        markup = render(reply)["reply_markup"]
        if reply.request_contact:
            self._contact_keyboards.add(chat_id)
        elif markup is None and chat_id in self._contact_keyboards:
            markup = ReplyKeyboardRemove()
            self._contact_keyboards.discard(chat_id)
        parts = [part for part in split_text(reply.text, MessageLimit.MAX_TEXT_LENGTH) if part]
        messages: list[Any] = [
            _Text(part, markup if index == len(parts) - 1 else None)
            for index, part in enumerate(parts)
        ]
        if reply.document is not None:
            messages.append(_File(reply.document))
        return messages

    def announcement(
        self, text: str, photo: str | None, choices: tuple[Choice, ...]
    ) -> Sequence[Any]:
        """The photo with the text as its caption, or before a text too long for one; the
        buttons under the last message."""
        markup = render(Reply(text, choices))["reply_markup"]
        parts = split_text(text, MessageLimit.MAX_TEXT_LENGTH)
        texts = [
            _Text(part, markup if n == len(parts) - 1 else None, bulk=True)
            for n, part in enumerate(parts)
        ]
        if photo is None:
            return texts
        if len(text) <= MessageLimit.CAPTION_LENGTH:
            return [_Photo(photo, text, markup)]
        return [_Photo(photo, None), *texts]

    async def send(self, chat_id: str, message: Any) -> None:
        if isinstance(message, _Text):
            await self._send_text(int(chat_id), message)
            return
        try:
            if isinstance(message, _File):
                await self._send_file(int(chat_id), message.document)
            else:
                await self._send_photo(int(chat_id), message)
        except RetryAfter as error:
            raise RetryLater(_seconds(error.retry_after)) from None
        except Forbidden:
            raise Unreachable from None
        except BadRequest as error:  # a subclass of NetworkError: never worth a retry
            if "chat not found" in str(error).lower():
                raise Unreachable from None
            raise Refused(str(error)) from None
        except TelegramError as error:
            raise DeliveryError(str(error)) from None

    async def _send_text(self, chat_id: int, message: _Text) -> None:
        """sendMessage, with Telegram's errors read as python-telegram-bot reads them
        (telegram.request.BaseRequest): `retry_after` asks to wait, 403 means blocked, 400
        a bad request (a chat that does not exist: unreachable too)."""
        body: dict[str, Any] = {"chat_id": chat_id, "text": message.text, "parse_mode": "HTML"}
        if message.markup is not None:
            body["reply_markup"] = message.markup.to_dict()
        try:
            client = self._announcing if message.bulk else self._replying
            response = await client.post(f"{self.bot.base_url}/sendMessage", json=body)
            answer = response.json()
        except httpx.HTTPError as error:
            raise DeliveryError(type(error).__name__) from None  # the URL holds the token
        except ValueError:
            raise DeliveryError(f"HTTP {response.status_code}, not JSON") from None
        if not isinstance(answer, dict):
            raise DeliveryError(f"HTTP {response.status_code}, not a Bot API answer")
        if answer.get("ok"):
            return
        code, description = answer.get("error_code"), str(answer.get("description"))[:200]
        retry_after = (answer.get("parameters") or {}).get("retry_after")
        if isinstance(retry_after, int | float):
            raise RetryLater(float(retry_after))
        if code == 403:
            raise Unreachable
        if code == 400 and "chat not found" in description.lower():
            raise Unreachable
        if code == 400:
            raise Refused(description)
        raise DeliveryError(f"{code}: {description}")

    async def _send_file(self, chat_id: int, document: Document) -> None:
        content = document.content
        if document.evidence_path is not None:
            path = self.evidence.path(document.evidence_path)
            content = await asyncio.to_thread(path.read_bytes)
        upload = InputFile(content, filename=document.file_name)
        if document.mime_type.startswith("image/"):
            await self.bot.send_photo(chat_id=chat_id, photo=upload)
        else:
            await self.bot.send_document(chat_id=chat_id, document=upload)

    async def _send_photo(self, chat_id: int, photo: _Photo) -> None:
        """Uploaded once, then sent again by the file id Telegram gave it."""
        uploaded = self._uploaded.get(photo.path)
        content: InputFile | str = uploaded or InputFile(
            await asyncio.to_thread(self.evidence.path(photo.path).read_bytes),
            filename="photo.jpg",
        )
        sent = await self.bot.send_photo(
            chat_id=chat_id,
            photo=content,
            caption=photo.caption,
            parse_mode=ParseMode.HTML if photo.caption else None,
            reply_markup=photo.markup,
        )
        if uploaded is None and sent.photo:
            self._uploaded[photo.path] = sent.photo[-1].file_id

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool
    ) -> None:
        """Edits the sender's progress message (a new one after a restart)."""
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

    def routes(self, path: str) -> list[Any]:
        return []


def _client(connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(SEND_TIMEOUT),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def _seconds(value: int | float | Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
