"""A fake Telegram Bot API server speaking real HTTP on 127.0.0.1, for end-to-end bot tests."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import html
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.netutil
import tornado.web

__all__ = ["FakeBotApi", "SentMessage", "UploadedFile"]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
MAX_CALLBACK_DATA_BYTES = 64

# Form values are JSON-encoded by PTB except plain strings, so these must never be json.loads'ed
# (a text of "123" or "true" has to stay a string).
_STRING_PARAMS = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "certificate",
        "description",
        "document",
        "emoji",
        "file_id",
        "first_name",
        "foursquare_id",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "phone_number",
        "photo",
        "question",
        "secret_token",
        "short_description",
        "sticker",
        "text",
        "thumbnail",
        "title",
        "url",
        "video",
        "voice",
    }
)

_ALLOWED_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    }
)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_HTML_SPECIAL_RE = re.compile(r"[<&]")
_BOT_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")

# Telegram leaves these out of getUpdates unless they are asked for explicitly.
_NOT_DELIVERED_BY_DEFAULT = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)

_MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVideo": "video",
    "sendAudio": "audio",
    "sendVoice": "voice",
    "sendAnimation": "animation",
    "sendSticker": "sticker",
}
_TRIVIAL_METHODS = (
    "close",
    "logOut",
    "pinChatMessage",
    "setChatMenuButton",
    "setMyDefaultAdministratorRights",
    "setMyDescription",
    "setMyName",
    "setMyShortDescription",
    "unpinChatMessage",
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup of "
    "the specified message are exactly the same as a current content and reply markup of the "
    "message"
)


@dataclass
class UploadedFile:
    """A file the bot uploaded with multipart/form-data."""

    filename: str | None
    content: bytes
    mime_type: str


@dataclass
class SentMessage:
    """Anything the bot sent or edited, as the fake server recorded it."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    params: dict[str, Any]
    reply_markup: dict[str, Any] | None
    message: dict[str, Any] = field(default_factory=dict)

    def buttons(self) -> list[tuple[str, str]]:
        """Return the inline keyboard as (text, callback_data or "") pairs, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]

    def keyboard(self) -> list[str]:
        """Return the reply keyboard's button texts, flattened."""
        rows = (self.reply_markup or {}).get("keyboard") or []
        return [b if isinstance(b, str) else b.get("text", "") for row in rows for b in row]

    def describe(self) -> str:
        """Return a one-line summary for failure messages."""
        text = (self.text or "").replace("\n", "\\n")
        if len(text) > 120:
            text = text[:117] + "..."
        extra = f" buttons={self.buttons()}" if self.buttons() else ""
        if self.keyboard():
            extra += f" keyboard={self.keyboard()}"
        return f"{self.method} chat={self.chat_id} id={self.message_id} text={text!r}{extra}"


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_size: int
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class _Stored:
    message: dict[str, Any]
    raw_text: str | None = None
    parse_mode: str | None = None


class _ApiError(Exception):
    """An error answer, shaped like Telegram's."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        """Return the JSON body Telegram would send."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


class _Signal:
    """Wakes all waiters on every state change; notify() is sync so plain methods can call it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everybody currently waiting."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until predicate() is true; raise TimeoutError after timeout seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._event.wait()


def render_html(text: str) -> str:
    """Parse Telegram-flavoured HTML like the Bot API; return the visible text or raise."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while (special := _HTML_SPECIAL_RE.search(text, pos)) is not None:
        start = special.start()
        out.append(text[pos:start])
        offset = len(text[:start].encode())
        if text[start] == "&":
            entity = _ENTITY_RE.match(text, start)
            if entity is None:
                snippet = text[start : start + 10].split(maxsplit=1)[0]
                raise _bad_request(
                    f'can\'t parse entities: Unsupported HTML entity "{snippet}" at byte offset '
                    f"{offset}; a literal & must be written as &amp;"
                )
            out.append(html.unescape(entity.group()))
            pos = entity.end()
            continue
        tag = _TAG_RE.match(text, start)
        if tag is None:
            snippet = text[start + 1 : start + 11].split(">", maxsplit=1)[0]
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "{snippet}" at byte offset '
                f"{offset}; a literal < must be written as &lt;"
            )
        closing, name, attrs = tag.group(1), tag.group(2).lower(), tag.group(3)
        if not closing:
            if name not in _ALLOWED_HTML_TAGS:
                raise _bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset '
                    f"{offset}"
                )
            if name == "span" and "tg-spoiler" not in attrs:
                raise _bad_request(
                    f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte '
                    f"offset {offset}"
                )
            stack.append(name)
        elif not stack:
            raise _bad_request(f"can't parse entities: Unexpected end tag at byte offset {offset}")
        elif (top := stack.pop()) != name:
            raise _bad_request(
                f"can't parse entities: Unmatched end tag at byte offset {offset}, expected "
                f'"</{top}>", found "</{name}>"'
            )
        pos = tag.end()
    out.append(text[pos:])
    if stack:
        raise _bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


def _decode_form_value(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _resolve_attachments(value: Any, files: dict[str, UploadedFile]) -> Any:
    if isinstance(value, str) and value.startswith("attach://"):
        return files.get(value.removeprefix("attach://"), value)
    if isinstance(value, list):
        return [_resolve_attachments(v, files) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_attachments(v, files) for k, v in value.items()}
    return value


def _attach_refs(value: Any) -> set[str]:
    if isinstance(value, str) and value.startswith("attach://"):
        return {value.removeprefix("attach://")}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*(_attach_refs(v) for v in value))
    return set()


def _request_params(request: tornado.httputil.HTTPServerRequest) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for source in (request.query_arguments, request.body_arguments):
        for name, values in source.items():
            params[name] = _decode_form_value(name, values[-1].decode())
    if request.headers.get("Content-Type", "").startswith("application/json") and request.body:
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise _bad_request(f"can't parse JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise _bad_request("JSON body must be an object")
        params.update(body)
    uploads = {
        name: UploadedFile(f.filename or None, f.body, f.content_type)
        for name, files in request.files.items()
        for f in files[-1:]
    }
    referenced = _attach_refs(params)
    params = {name: _resolve_attachments(v, uploads) for name, v in params.items()}
    for name, upload in uploads.items():
        if name not in referenced:
            params.setdefault(name, upload)
    return params


def _check_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad_request("can't parse inline keyboard button: text is empty")
            if set(button) <= {"text"}:
                raise _bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
    return markup


def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    return markup if markup is not None and "inline_keyboard" in markup else None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _default_description(status: int, retry_after: int) -> str:
    match status:
        case 400:
            return "Bad Request"
        case 401:
            return "Unauthorized"
        case 403:
            return "Forbidden: bot was blocked by the user"
        case 404:
            return "Not Found"
        case 409:
            return (
                "Conflict: terminated by other getUpdates request; make sure that only one bot "
                "instance is running"
            )
        case 429:
            return f"Too Many Requests: retry after {retry_after}"
        case _ if status >= 500:
            return "Internal Server Error"
        case _:
            try:
                return HTTPStatus(status).phrase
            except ValueError:
                return f"Error {status}"


class _JsonHandler(tornado.web.RequestHandler):
    """Shared plumbing of the API and file handlers."""

    def initialize(self, api: FakeBotApi) -> None:
        """Keep a reference to the owning server."""
        self.api = api
        self.closed = False

    def on_connection_close(self) -> None:
        """Let a pending long poll notice that its client went away."""
        self.closed = True
        self.api._signal.notify()

    async def send_json(self, status: int, payload: Any) -> None:
        """Finish the request with a JSON body."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            await self.finish(json.dumps(payload))


class _ApiHandler(_JsonHandler):
    """Serves /bot<token>/<method>."""

    async def get(self, token: str, method: str) -> None:
        """Telegram accepts GET with a query string too."""
        await self._serve(token, method)

    async def post(self, token: str, method: str) -> None:
        """Handle a Bot API call."""
        await self._serve(token, method)

    async def _serve(self, token: str, method: str) -> None:
        # Counted until the answer is flushed, so stop() does not cut off a [] long-poll reply.
        self.api._in_flight += 1
        try:
            try:
                params = _request_params(self.request)
            except _ApiError as err:
                await self.send_json(err.status, err.payload())
                return
            status, payload = await self.api._handle_call(token, method, params, self)
            await self.send_json(status, payload)
        finally:
            self.api._in_flight -= 1
            self.api._signal.notify()


class _FileHandler(_JsonHandler):
    """Serves /file/bot<token>/<file_path>."""

    async def get(self, token: str, file_path: str) -> None:
        """Return a registered file's bytes."""
        entry = self.api._files_by_path.get(file_path) if token == self.api.token else None
        if entry is None:
            await self.send_json(404, _ApiError(404, "Not Found").payload())
            return
        self.set_header("Content-Type", entry.mime_type or "application/octet-stream")
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            await self.finish(entry.content)


_Method = Callable[[dict[str, Any], _JsonHandler], Awaitable[Any]]


class FakeBotApi:
    """An in-process fake of the Telegram Bot API that the real PTB Bot can talk to."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, *, bot_username: str = "youthbot_test_bot"
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        bot_id = _as_int(token.split(":", 1)[0])
        self.bot_user: dict[str, Any] = {
            "id": bot_id if bot_id is not None else 123456,
            "is_bot": True,
            "first_name": "Test Bot",
            "username": bot_username,
        }
        self.sent: list[SentMessage] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.confirmed_offset = 0
        self.webhook: dict[str, Any] | None = None
        self.my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._signal = _Signal()
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._in_flight = 0
        self._stopping = False
        self._message_ids: dict[int, int] = {}
        self._stored: dict[tuple[int, int], _Stored] = {}
        self._last_bot_message: dict[int, int] = {}
        self._profiles: dict[int, tuple[str, str | None]] = {}
        self._open_callbacks: set[str] = set()
        self._ids = itertools.count(1)
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._failures: dict[str, list[tuple[int, str, dict[str, Any] | None]]] = {}
        self.blocked: set[int] = set()  # chats whose user blocked the bot: sends answer 403
        self.rate_limit: int | None = None  # sends allowed in any one-second window
        self.rate_limited = 0  # sends answered 429 because of rate_limit
        self._send_times: collections.deque[float] = collections.deque()
        self._server: tornado.httpserver.HTTPServer | None = None
        self._port: int | None = None
        self._methods: dict[str, _Method] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
        }
        for method in _MEDIA_METHODS:
            self._methods[method] = self._media_sender(method)
        for method in _TRIVIAL_METHODS:
            self._methods[method] = self._ok
        # Telegram matches method names case-insensitively.
        self._canonical = {name.lower(): name for name in self._methods}

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a random free port of 127.0.0.1."""
        if self._server is not None:
            raise RuntimeError("FakeBotApi is already running")
        self._stopping = False
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([A-Za-z0-9_]+)/?", _ApiHandler, {"api": self}),
                (r"/file/bot([^/]+)/(.+)", _FileHandler, {"api": self}),
            ],
            log_function=lambda _handler: None,
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        self._port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Answer pending long polls with [] and shut the server down."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        self._signal.notify()
        server.stop()
        with contextlib.suppress(TimeoutError):
            await self._signal.wait_until(lambda: self._in_flight == 0, timeout=5)
        await server.close_all_connections()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        """Return "http://127.0.0.1:PORT"."""
        if self._port is None:
            raise RuntimeError("FakeBotApi has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """Return the value for Bot(base_url=...)."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the value for Bot(base_file_url=...)."""
        return f"{self.root_url}/file/bot"

    # --- what users do ---------------------------------------------------------------------

    def add_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update; assign update_id if missing; return the update_id."""
        update = copy.deepcopy(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._updates.append(update)
        self._updates.sort(key=lambda u: int(u["update_id"]))
        self._signal.notify()
        return update_id

    def user_message(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str | None = "vi",
        first_name: str = "Test",
        media_group_id: str | None = None,
        entities: bool = True,
    ) -> int:
        """Queue a private text message from user_id; a leading /command gets its entity."""
        self._profiles[user_id] = (first_name, language_code)
        content: dict[str, Any] = {"text": text}
        if entities and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._user_update(user_id, content)

    def user_callback(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        language_code: str | None = "vi",
    ) -> int:
        """Queue a button press on a bot message (default: the latest one sent to that chat)."""
        first_name = self._profiles.get(user_id, ("Test", None))[0]
        self._profiles[user_id] = (first_name, language_code)
        if message_id is None:
            message_id = self._last_bot_message.get(user_id)
        stored = self._stored.get((user_id, message_id)) if message_id is not None else None
        if stored is None:
            raise LookupError(
                f"no message {message_id} in chat {user_id} to press a button on; "
                f"recent messages:\n{self._dump()}"
            )
        query_id = str(4_000_000_000_000 + next(self._ids))
        self._open_callbacks.add(query_id)
        return self.add_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user_dict(user_id),
                    "message": copy.deepcopy(stored.message),
                    "chat_instance": str(-7_000_000_000 - user_id),
                    "data": data,
                }
            }
        )

    def user_contact(
        self, user_id: int, phone_number: str, *, contact_user_id: int | None = None
    ) -> int:
        """Queue a shared contact; contact.user_id defaults to the sender (their own number)."""
        first_name = self._profiles.get(user_id, ("Test", None))[0]
        contact = {
            "phone_number": phone_number,
            "first_name": first_name,
            "user_id": user_id if contact_user_id is None else contact_user_id,
        }
        return self._user_update(user_id, {"contact": contact})

    def user_photo(
        self,
        user_id: int,
        content: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
    ) -> int:
        """Queue a photo message whose one PhotoSize is downloadable via getFile."""
        entry = self._register_file(content, mime_type="image/jpeg", folder="photos", ext=".jpg")
        message: dict[str, Any] = {"photo": self._media_object("photo", entry)}
        if caption is not None:
            message["caption"] = caption
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        return self._user_update(user_id, message)

    def user_document(
        self, user_id: int, content: bytes, *, file_name: str, mime_type: str
    ) -> int:
        """Queue a document message downloadable via getFile."""
        entry = self._register_file(content, file_name=file_name, mime_type=mime_type)
        return self._user_update(user_id, {"document": self._media_object("document", entry)})

    def user_sticker(self, user_id: int) -> int:
        """Queue a sticker message."""
        entry = self._register_file(b"RIFF-webp", mime_type="image/webp", folder="stickers")
        sticker = self._media_object("sticker", entry)
        return self._user_update(user_id, {"sticker": sticker | {"emoji": "👍"}})

    def user_voice(self, user_id: int) -> int:
        """Queue a voice message."""
        entry = self._register_file(b"OggS-voice", mime_type="audio/ogg", folder="voice")
        return self._user_update(user_id, {"voice": self._media_object("voice", entry)})

    def user_location(self, user_id: int, latitude: float, longitude: float) -> int:
        """Queue a location message."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_update(user_id, {"location": location})

    def add_file(self, content: bytes, *, file_size: int | None = None) -> str:
        """Register downloadable bytes; return the file_id (file_size may claim a bigger file)."""
        return self._register_file(content, file_size=file_size).file_id

    # --- what tests observe ----------------------------------------------------------------

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Return the updates queued and not yet confirmed."""
        return list(self._updates)

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Return everything sent or edited in chat_id, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int | None = None) -> dict[str, Any]:
        """Return the current state of a message (default: the bot's latest in chat_id)."""
        if message_id is None:
            message_id = self._last_bot_message.get(chat_id)
        stored = self._stored.get((chat_id, message_id)) if message_id is not None else None
        if stored is None:
            raise LookupError(f"no message {message_id} in chat {chat_id}")
        return copy.deepcopy(stored.message)

    async def wait_for(
        self, predicate: Callable[[SentMessage], bool], *, after: int = 0, timeout: float = 10.0
    ) -> SentMessage:
        """Return the first message matching predicate whose index in self.sent is >= after."""
        return await self._wait_sent(predicate, after, timeout, "a message matching the predicate")

    async def wait_until(self, condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
        """Wait until condition() holds, checking it after every call the server answers."""
        await self._signal.wait_until(condition, timeout)

    async def wait_reply(
        self, chat_id: int, *, after: int = 0, timeout: float = 10.0
    ) -> SentMessage:
        """Return the first message to chat_id whose index in self.sent is >= after."""
        return await self._wait_sent(
            lambda m: m.chat_id == chat_id, after, timeout, f"a message to chat {chat_id}"
        )

    async def wait_quiet_confirmed(self, update_id: int, *, timeout: float = 10.0) -> None:
        """Wait until a getUpdates offset confirmed update_id."""
        try:
            await self._signal.wait_until(lambda: self.confirmed_offset > update_id, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"update {update_id} was not confirmed within {timeout}s "
                f"(confirmed_offset={self.confirmed_offset}, "
                f"calls={[m for m, _ in self.calls[-10:]]})"
            ) from None

    async def wait_call(
        self, method: str, *, after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Return the params of the first call of method whose index in self.calls >= after."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found.extend(p for m, p in self.calls[after:] if m == method)
            return bool(found)

        try:
            await self._signal.wait_until(seen, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no {method} call within {timeout}s; calls so far: "
                f"{[m for m, _ in self.calls[-20:]]}"
            ) from None
        return found[0]

    # --- failure injection -----------------------------------------------------------------

    def _check_chat_and_rate(self, params: dict[str, Any]) -> None:
        """Blocked chats answer 403; over `rate_limit` sends per second answer 429, as
        Telegram does for a bot that sends too fast."""
        chat_id = params.get("chat_id")
        if chat_id is not None and int(chat_id) in self.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if self.rate_limit is None:
            return
        now = time.monotonic()
        while self._send_times and now - self._send_times[0] >= 1.0:
            self._send_times.popleft()
        if len(self._send_times) >= self.rate_limit:
            self.rate_limited += 1
            raise _ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._send_times.append(now)

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next `times` calls of method fail with a Telegram-shaped error."""
        if status == 429 and retry_after is None:
            retry_after = 1
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        text = description or _default_description(status, retry_after or 0)
        method = self._canonical.get(method.lower(), method)
        self._failures.setdefault(method, []).extend([(status, text, parameters)] * times)

    # --- internals: dispatch ---------------------------------------------------------------

    async def _handle_call(
        self, token: str, method: str, params: dict[str, Any], handler: _JsonHandler
    ) -> tuple[int, Any]:
        if token != self.token:
            return 401, _ApiError(401, "Unauthorized").payload()
        name = self._canonical.get(method.lower(), method)
        self.calls.append((name, params))
        self._signal.notify()
        implementation = self._methods.get(name)
        try:
            if implementation is None:
                raise _ApiError(404, "Not Found")
            if failures := self._failures.get(name):
                raise _ApiError(*failures.pop(0))
            if name.startswith(("send", "edit")):
                self._check_chat_and_rate(params)
            result = await implementation(params, handler)
        except _ApiError as err:
            return err.status, err.payload()
        return 200, {"ok": True, "result": result}

    async def _ok(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        return True

    async def _get_me(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # --- internals: updates ----------------------------------------------------------------

    async def _get_updates(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        self._check_no_webhook()
        offset = _as_int(params.get("offset")) or 0
        limit = min(max(_as_int(params.get("limit")) or 100, 1), 100)
        try:
            timeout = float(params.get("timeout") or 0)
        except (TypeError, ValueError):
            raise _bad_request("timeout must be a number") from None
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or []) or None
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        if timeout > 0:

            def done() -> bool:
                return (
                    self._stopping
                    or handler.closed
                    or generation != self._poll_generation
                    or self.webhook is not None
                    or bool(self._deliverable())
                )

            with contextlib.suppress(TimeoutError):
                await self._signal.wait_until(done, timeout)
        if self._stopping or handler.closed:
            return []
        if generation != self._poll_generation:
            raise _ApiError(409, _default_description(409, 0))
        self._check_no_webhook()
        return copy.deepcopy(self._deliverable()[:limit])

    def _check_no_webhook(self) -> None:
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
            confirmed = offset
        elif offset < 0:
            self._updates = self._updates[offset:]
            confirmed = int(self._updates[0]["update_id"]) if self._updates else offset
        else:
            return
        if confirmed > self.confirmed_offset:
            self.confirmed_offset = confirmed
            self._signal.notify()

    def _deliverable(self) -> list[dict[str, Any]]:
        # Telegram never delivers update types the bot did not subscribe to: drop them.
        def wanted(update: dict[str, Any]) -> bool:
            kinds = set(update) - {"update_id"}
            if self._allowed_updates is None:
                return not kinds <= _NOT_DELIVERED_BY_DEFAULT
            return bool(kinds & set(self._allowed_updates))

        self._updates = [u for u in self._updates if wanted(u)]
        return self._updates

    def _drop_pending(self) -> None:
        self._updates.clear()
        self.confirmed_offset = max(self.confirmed_offset, self._next_update_id)
        self._signal.notify()

    async def _set_webhook(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        url = params.get("url")
        if not url:
            self.webhook = None
        elif not str(url).startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        else:
            self.webhook = dict(params)
        if params.get("drop_pending_updates"):
            self._drop_pending()
        self._signal.notify()
        return True

    async def _delete_webhook(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._drop_pending()
        self._signal.notify()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        info: dict[str, Any] = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            for key in ("max_connections", "ip_address", "allowed_updates"):
                if key in self.webhook:
                    info[key] = self.webhook[key]
        return info

    # --- internals: messages ---------------------------------------------------------------

    async def _send_message(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        chat_id = self._chat_id(params)
        raw = params.get("text")
        text = self._render(raw, params, MAX_TEXT_LENGTH, "message is too long")
        if not text.strip():
            raise _bad_request("message text is empty")
        markup = _check_markup(params.get("reply_markup"))
        message = self._new_bot_message(chat_id, {"text": text}, markup)
        self._store(message, raw, params)
        self._record("sendMessage", message, text, params, markup)
        return message

    def _media_sender(self, method: str) -> _Method:
        async def send(params: dict[str, Any], handler: _JsonHandler) -> Any:
            return self._send_media(method, params)

        return send

    def _send_media(self, method: str, params: dict[str, Any]) -> Any:
        kind = _MEDIA_METHODS[method]
        chat_id = self._chat_id(params)
        entry = self._resolve_file(params.get(kind), kind)
        content: dict[str, Any] = {kind: self._media_object(kind, entry)}
        caption = None
        raw = params.get("caption")
        if raw is not None:
            caption = self._render(raw, params, MAX_CAPTION_LENGTH, "message caption is too long")
            content["caption"] = caption
        markup = _check_markup(params.get("reply_markup"))
        message = self._new_bot_message(chat_id, content, markup)
        self._store(message, raw, params)
        self._record(method, message, caption, params, markup)
        return message

    async def _edit_message_text(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        return self._edit(params, "text")

    async def _edit_message_caption(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        return self._edit(params, "caption")

    def _edit(self, params: dict[str, Any], field_name: str) -> Any:
        method = "editMessageText" if field_name == "text" else "editMessageCaption"
        markup = _check_markup(params.get("reply_markup"))
        raw = params.get(field_name)
        limit = MAX_TEXT_LENGTH if field_name == "text" else MAX_CAPTION_LENGTH
        too_long = "message is too long" if field_name == "text" else "message caption is too long"
        if "inline_message_id" in params:
            text = self._render(raw, params, limit, too_long)
            self._record_inline(method, text, params, markup)
            return True
        stored = self._stored_for_edit(params)
        message = stored.message
        if field_name == "text" and "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        if field_name == "caption" and "text" in message:
            raise _bad_request("there is no caption in the message to edit")
        text = self._render(raw, params, limit, too_long)
        if field_name == "text" and not text.strip():
            raise _bad_request("message text is empty")
        parse_mode = self._parse_mode(params)
        new_inline = _inline_only(markup)
        if (
            raw == stored.raw_text
            and parse_mode == stored.parse_mode
            and new_inline == message.get("reply_markup")
        ):
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message[field_name] = text
        stored.raw_text, stored.parse_mode = raw, parse_mode
        self._set_markup(message, new_inline)
        message["edit_date"] = int(time.time())
        self._record(method, message, text, params, markup)
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(
        self, params: dict[str, Any], handler: _JsonHandler
    ) -> Any:
        markup = _check_markup(params.get("reply_markup"))
        if "inline_message_id" in params:
            self._record_inline("editMessageReplyMarkup", None, params, markup)
            return True
        stored = self._stored_for_edit(params)
        message = stored.message
        new_inline = _inline_only(markup)
        if new_inline == message.get("reply_markup"):
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        self._set_markup(message, new_inline)
        message["edit_date"] = int(time.time())
        text = message.get("text", message.get("caption"))
        self._record("editMessageReplyMarkup", message, text, params, markup)
        return copy.deepcopy(message)

    async def _delete_message(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        chat_id = self._chat_id(params)
        message_id = _as_int(params.get("message_id"))
        if message_id is None or self._stored.pop((chat_id, message_id), None) is None:
            raise _bad_request("message to delete not found")
        return True

    async def _send_chat_action(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        self._chat_id(params)
        if not params.get("action"):
            raise _bad_request("action is empty")
        return True

    async def _answer_callback_query(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        query_id = params.get("callback_query_id")
        if query_id not in self._open_callbacks:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._open_callbacks.discard(query_id)
        self.callback_answers.append(params)
        self._signal.notify()
        return True

    # --- internals: commands and files -----------------------------------------------------

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not _BOT_COMMAND_RE.match(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description must be 1-256 characters long")
        self.my_commands[self._commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        return self.my_commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        self.my_commands.pop(self._commands_key(params), None)
        return True

    async def _get_file(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        entry = self._files.get(str(params.get("file_id", "")))
        if entry is None:
            raise _bad_request("invalid file_id")
        if entry.file_size > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        return {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": entry.file_size,
            "file_path": entry.file_path,
        }

    def _register_file(
        self,
        content: bytes,
        *,
        file_size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        folder: str = "documents",
        ext: str = "",
    ) -> _File:
        n = next(self._ids)
        entry = _File(
            file_id=f"FAKEFILE{n:08d}",
            file_unique_id=f"FAKEUNIQ{n:08d}",
            file_path=f"{folder}/file_{n}{ext}",
            content=content,
            file_size=len(content) if file_size is None else file_size,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[entry.file_id] = entry
        self._files_by_path[entry.file_path] = entry
        return entry

    def _resolve_file(self, value: Any, kind: str) -> _File:
        if isinstance(value, UploadedFile):
            return self._register_file(
                value.content, file_name=value.filename, mime_type=value.mime_type, folder=kind
            )
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # Never fetched: tests must not reach the network.
            name = value.rstrip("/").rsplit("/", 1)[-1] or None
            return self._register_file(b"", file_name=name, folder=kind)
        if value is None:
            raise _bad_request(f"there is no {kind} in the request")
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _media_object(self, kind: str, entry: _File) -> Any:
        base: dict[str, Any] = {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": entry.file_size,
        }
        extra: dict[str, Any]
        match kind:
            case "photo":
                return [base | {"width": 320, "height": 240}]
            case "document":
                extra = {"file_name": entry.file_name, "mime_type": entry.mime_type}
            case "video" | "animation":
                extra = {"width": 320, "height": 240, "duration": 1, "mime_type": entry.mime_type}
            case "audio" | "voice":
                extra = {"duration": 1, "mime_type": entry.mime_type}
            case "sticker":
                extra = {
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            case _:
                extra = {}
        return base | {k: v for k, v in extra.items() if v is not None}

    # --- internals: helpers ----------------------------------------------------------------

    def _chat_id(self, params: dict[str, Any]) -> int:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad_request("chat_id is empty")
        chat_id = _as_int(raw)
        if chat_id is None:
            raise _bad_request("chat not found")
        return chat_id

    def _parse_mode(self, params: dict[str, Any]) -> str | None:
        mode = params.get("parse_mode")
        return str(mode).lower() if mode else None

    def _render(self, raw: Any, params: dict[str, Any], limit: int, too_long: str) -> str:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raw = json.dumps(raw)
        text = render_html(raw) if self._parse_mode(params) == "html" else raw
        if len(text) > limit:
            raise _bad_request(too_long)
        return text

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            first_name = self._profiles.get(chat_id, ("Test", None))[0]
            return {"id": chat_id, "type": "private", "first_name": first_name}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Test group"}

    def _user_dict(self, user_id: int) -> dict[str, Any]:
        first_name, language_code = self._profiles.get(user_id, ("Test", "vi"))
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return user

    def _user_update(self, user_id: int, content: dict[str, Any]) -> int:
        message = {
            "message_id": self._next_message_id(user_id),
            "from": self._user_dict(user_id),
            "chat": self._chat(user_id),
            "date": int(time.time()),
            **content,
        }
        self._stored[(user_id, message["message_id"])] = _Stored(copy.deepcopy(message))
        return self.add_update({"message": message})

    def _new_bot_message(
        self, chat_id: int, content: dict[str, Any], markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        self._set_markup(message, _inline_only(markup))
        return message

    def _set_markup(self, message: dict[str, Any], inline: dict[str, Any] | None) -> None:
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = copy.deepcopy(inline)

    def _store(self, message: dict[str, Any], raw: Any, params: dict[str, Any]) -> None:
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        raw_text = raw if isinstance(raw, str) else None
        self._stored[(chat_id, message_id)] = _Stored(
            copy.deepcopy(message), raw_text, self._parse_mode(params)
        )
        self._last_bot_message[chat_id] = message_id

    def _stored_for_edit(self, params: dict[str, Any]) -> _Stored:
        chat_id = self._chat_id(params)
        message_id = _as_int(params.get("message_id"))
        stored = self._stored.get((chat_id, message_id)) if message_id is not None else None
        if stored is None:
            raise _bad_request("message to edit not found")
        if stored.message.get("from", {}).get("id") != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        return stored

    def _record(
        self,
        method: str,
        message: dict[str, Any],
        text: str | None,
        params: dict[str, Any],
        markup: dict[str, Any] | None,
    ) -> None:
        self.sent.append(
            SentMessage(
                method=method,
                chat_id=message["chat"]["id"],
                message_id=message["message_id"],
                text=text,
                params=params,
                reply_markup=markup,
                message=copy.deepcopy(message),
            )
        )
        self._signal.notify()

    def _record_inline(
        self, method: str, text: str | None, params: dict[str, Any], markup: dict[str, Any] | None
    ) -> None:
        self.sent.append(SentMessage(method, 0, 0, text, params, markup))
        self._signal.notify()

    def _dump(self, limit: int = 15) -> str:
        start = max(len(self.sent) - limit, 0)
        lines = [f"  [{i}] {m.describe()}" for i, m in enumerate(self.sent[start:], start)]
        return "\n".join(lines) or "  (nothing sent yet)"

    async def _wait_sent(
        self, predicate: Callable[[SentMessage], bool], after: int, timeout: float, what: str
    ) -> SentMessage:
        found: list[SentMessage] = []
        scanned = after

        def seen() -> bool:
            nonlocal scanned
            while not found and scanned < len(self.sent):
                if predicate(self.sent[scanned]):
                    found.append(self.sent[scanned])
                scanned += 1
            return bool(found)

        try:
            await self._signal.wait_until(seen, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what} (from index {after}); "
                f"recent messages:\n{self._dump()}\n"
                f"recent calls: {[m for m, _ in self.calls[-15:]]}"
            ) from None
        return found[0]
