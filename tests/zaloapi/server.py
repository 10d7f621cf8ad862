"""A fake Zalo Bot API server speaking real HTTP on loopback, for end-to-end bot tests.

Zalo's Bot API is shaped like Telegram's but smaller, and its differences are what this fake is
for: getUpdates answers one update (an object, not a list) and has no offset, so an update can
come back again; an idle long poll ends with HTTP 408; a webhook may carry the bare update or
the {"ok": true, "result": ...} envelope; a text holds at most 2,000 characters; photos are sent
by URL only; there are no buttons. Error answers use the HTTP status as error_code:
400 bad request, 401 wrong token, 403 the user blocked the bot (the fake's choice: Zalo does
not document it), 404 unknown method, 405 not a POST, 408 idle long poll, 409 getUpdates while a
webhook is set, 429 over `rate_limit`, or once `quota` messages were sent: on the free plan a
429 means the month's 3,000 messages are used up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

__all__ = ["Delivery", "FakeZaloBotApi", "SentMessage"]

DEFAULT_TOKEN = "2718281828459045:zalo-test-secret"
MAX_TEXT_LENGTH = 2000
SECRET_HEADER = "X-Bot-Api-Secret-Token"
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})
BLOCKED = "Forbidden: the user has blocked the bot"
TEXT_RECEIVED = "message.text.received"
IMAGE_RECEIVED = "message.image.received"
STICKER_RECEIVED = "message.sticker.received"
UNSUPPORTED_RECEIVED = "message.unsupported.received"

# The fake never reaches the network: webhook posts go only to these hosts.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SEND_METHODS = ("sendMessage", "sendPhoto", "sendSticker", "sendChatAction")

_T = TypeVar("_T")


@dataclass
class SentMessage:
    """A message the bot sent (sendMessage, sendPhoto or sendSticker), as the fake recorded it."""

    method: str
    chat_id: str
    message_id: str
    date: int
    text: str | None = None
    photo: str | None = None
    caption: str | None = None
    sticker: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Return a one-line summary for failure messages."""
        shown = self.text or self.caption or self.photo or self.sticker or ""
        shown = shown.replace("\n", "\\n")
        if len(shown) > 120:
            shown = shown[:117] + "..."
        return f"{self.method} chat={self.chat_id} {shown!r}"


@dataclass
class Delivery:
    """One time an update reached (or was offered to) the bot: a getUpdates answer or a
    webhook POST."""

    update: dict[str, Any]
    via: str  # "poll" or "webhook"
    repeat: bool  # a redelivery of an update delivered before
    status: int | None = None  # the bot's HTTP answer to a webhook POST; 200 for a poll
    error: str | None = None  # why a webhook POST got no answer

    @property
    def message_id(self) -> str:
        """Return the update's message id ("" when it has none)."""
        return str((self.update.get("message") or {}).get("message_id", ""))

    @property
    def ok(self) -> bool:
        """Return whether the bot took the update (a poll answer, or a 2xx webhook answer)."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Queued:
    update: dict[str, Any]
    repeat: bool = False
    attempts: int = 0


@dataclass
class _Failure:
    error_code: int
    description: str
    http_status: int


class _ApiError(Exception):
    """An error answer, shaped like Zalo's."""

    def __init__(self, error_code: int, description: str, http_status: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.http_status = error_code if http_status is None else http_status

    def payload(self) -> dict[str, Any]:
        """Return the JSON body Zalo would send."""
        return {"ok": False, "error_code": self.error_code, "description": self.description}


def _bad_request(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


def _timed_out() -> _ApiError:
    return _ApiError(408, "Request timeout")


def _default_description(status: int) -> str:
    match status:
        case 400:
            return "Bad Request"
        case 401:
            return "Unauthorized"
        case 403:
            return BLOCKED
        case 404:
            return "Not Found"
        case 408:
            return "Request timeout"
        case 409:
            return "Conflict"
        case 429:
            return "Too Many Requests"
        case _ if status >= 500:
            return "Internal Server Error"
        case _:
            return f"Error {status}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_id() -> str:
    # Random, not counted: a fake restarted under the same bot database must not repeat ids.
    return secrets.token_hex(12)


class _Signal:
    """Wakes all waiters on every state change; notify() is sync so plain methods can call it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake everybody currently waiting."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None) -> None:
        """Wait until predicate() is true; raise TimeoutError after timeout seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._event.wait()


class _JsonHandler(tornado.web.RequestHandler):
    """Shared plumbing of the API and media handlers."""

    def initialize(self, api: FakeZaloBotApi) -> None:
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
        self.set_header("Content-Type", "application/json; charset=utf-8")
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            await self.finish(json.dumps(payload, ensure_ascii=False))


class _ApiHandler(_JsonHandler):
    """Serves /bot<token>/<method>; Zalo takes every call as a POST with a JSON body."""

    async def get(self, token: str, method: str) -> None:
        """Refuse: the API takes POST only."""
        await self.send_json(405, _ApiError(405, "Method Not Allowed").payload())

    async def post(self, token: str, method: str) -> None:
        """Handle an API call."""
        # Counted until the answer is flushed, so stop() does not cut off a 408 reply.
        self.api._in_flight += 1
        try:
            status, payload = await self.api._handle_call(token, method, self.request.body, self)
            await self.send_json(status, payload)
        finally:
            self.api._in_flight -= 1
            self.api._signal.notify()


class _MediaHandler(_JsonHandler):
    """Serves /media/<name>: bytes put there by host_image(), under either host name."""

    async def get(self, name: str) -> None:
        """Return hosted bytes with their content type, and note the download."""
        self.api.downloads.append(f"{self.request.protocol}://{self.request.host}/media/{name}")
        self.api._signal.notify()
        hosted = self.api._media.get(name)
        if hosted is None:
            await self.send_json(404, _ApiError(404, "Not Found").payload())
            return
        content_type, data = hosted
        self.set_header("Content-Type", content_type)
        with contextlib.suppress(tornado.iostream.StreamClosedError):
            await self.finish(data)


_Method = Callable[[dict[str, Any], _JsonHandler], Awaitable[Any]]


class FakeZaloBotApi:
    """An in-process fake of the Zalo Bot API that a real HTTP client can talk to.

    Updates queued by the user_* helpers go out one per getUpdates call, or, once setWebhook
    is called, one at a time as POSTs to the webhook URL (through `webhook_proxy` when set).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        account_name: str = "youthbot_test",
        repeat_probability: float = 0.0,
        rate_limit: int | None = None,
        wrap_webhook: bool = False,
        webhook_proxy: str | None = None,
        webhook_attempts: int = 3,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.bot_id = token.split(":", 1)[0]
        self.account_name = account_name
        # Each first delivery comes back once more, later, with this probability.
        self.repeat_probability = repeat_probability
        self.rate_limit = rate_limit  # send* calls allowed in any one-second window; None: off
        self.rate_limited = 0  # calls answered 429 because of rate_limit
        # Messages the bot may still send this month (None: no limit); at 0, sends answer 429.
        self.quota: int | None = None
        self.over_quota = 0  # calls answered 429 because the quota was used up
        self.wrap_webhook = wrap_webhook  # post {"ok": true, "result": update} instead of bare
        # "http://127.0.0.1:PORT": where webhook posts really go (path and query kept), as the
        # TLS reverse proxy in front of a bot would forward them.
        self.webhook_proxy = webhook_proxy
        self.webhook_attempts = webhook_attempts  # tries per update when the bot answers non-2xx
        self.blocked: set[str] = set()  # chats whose user blocked the bot: sends answer 403
        self.sent: list[SentMessage] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.deliveries: list[Delivery] = []
        self.downloads: list[str] = []  # every URL fetched from the media handler
        self.webhook: dict[str, Any] | None = None
        self._signal = _Signal()
        self._random = random.Random(seed)
        self._queue: list[_Queued] = []
        self._repeat_pending = 0
        self._posting = False
        self._in_flight = 0
        self._stopping = False
        self._media: dict[str, tuple[str, bytes]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._send_times: collections.deque[float] = collections.deque()
        self._server: tornado.httpserver.HTTPServer | None = None
        self._http: tornado.httpclient.AsyncHTTPClient | None = None
        self._pump: asyncio.Task[None] | None = None
        self._port: int | None = None
        self._methods: dict[str, _Method] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendSticker": self._send_sticker,
            "sendChatAction": self._send_chat_action,
        }

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on a random free port of 127.0.0.1 (and of ::1 when the host has it)."""
        if self._server is not None:
            raise RuntimeError("FakeZaloBotApi is already running")
        self._stopping = False
        app = tornado.web.Application(
            [
                (r"/bot([^/]+)/([A-Za-z0-9_]+)/?", _ApiHandler, {"api": self}),
                (r"/media/([A-Za-z0-9_.-]+)", _MediaHandler, {"api": self}),
            ],
            log_function=lambda _handler: None,
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._port = sockets[0].getsockname()[1]
        # "localhost" (the foreign media host) may resolve to ::1 first.
        with contextlib.suppress(OSError):
            sockets += tornado.netutil.bind_sockets(self._port, "::1")
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        self._http = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        self._pump = asyncio.create_task(self._pump_webhook(), name="fake-zalo-webhook")

    async def stop(self) -> None:
        """Answer pending long polls with 408 and shut the server down."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        self._signal.notify()
        server.stop()
        if self._pump is not None:
            # Let a webhook post in flight finish (its socket closes), then the pump returns.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._pump), timeout=15)
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        with contextlib.suppress(TimeoutError):
            await self._signal.wait_until(lambda: self._in_flight == 0, timeout=5)
        await server.close_all_connections()
        if self._http is not None:
            self._http.close()
            self._http = None

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
            raise RuntimeError("FakeZaloBotApi has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base_url(self) -> str:
        """Return the value for zalo.api_base_url / $ZALO_API_BASE_URL (the root URL)."""
        return self.root_url

    @property
    def bot_url(self) -> str:
        """Return "<root>/bot<token>"; a method's URL is bot_url + "/" + method."""
        return f"{self.root_url}/bot{self.token}"

    @property
    def foreign_root_url(self) -> str:
        """Return "http://localhost:PORT": the same server under another host name."""
        return self.root_url.replace("127.0.0.1", "localhost")

    media_host = "127.0.0.1"  # host_image() URLs' host: put it on the bot's allow-list
    foreign_media_host = "localhost"  # host_image(foreign=True) URLs' host

    # --- what users do ---------------------------------------------------------------------

    def add_update(self, update: dict[str, Any]) -> str:
        """Queue a raw update; return its message id ("" when it has none)."""
        self._queue.append(_Queued(copy.deepcopy(update)))
        self._signal.notify()
        return str((update.get("message") or {}).get("message_id", ""))

    def user_text(
        self,
        user_id: str,
        text: str,
        *,
        display_name: str = "Test",
        group_id: str | None = None,
    ) -> str:
        """Queue a text message from user_id (in a group when group_id is given); return its
        message id."""
        return self._user_update(TEXT_RECEIVED, user_id, display_name, group_id, {"text": text})

    def user_image(
        self,
        user_id: str,
        photo_url: str,
        caption: str | None = None,
        *,
        display_name: str = "Test",
        group_id: str | None = None,
        field: str = "photo_url",
    ) -> str:
        """Queue a photo message; photo_url is usually a host_image() URL. Bots in use
        receive it as `photo_url`; Zalo's webhook documentation names the field `photo`."""
        content: dict[str, Any] = {field: photo_url}
        if caption is not None:
            content["caption"] = caption
        return self._user_update(IMAGE_RECEIVED, user_id, display_name, group_id, content)

    def user_sticker(
        self,
        user_id: str,
        sticker: str = "c8b1a6f3e2d4",
        *,
        display_name: str = "Test",
        group_id: str | None = None,
    ) -> str:
        """Queue a sticker message."""
        content = {"sticker": sticker}
        return self._user_update(STICKER_RECEIVED, user_id, display_name, group_id, content)

    def user_unsupported(
        self, user_id: str, *, display_name: str = "Test", group_id: str | None = None
    ) -> str:
        """Queue a message Zalo does not describe to bots (a voice note, a file, a location)."""
        return self._user_update(UNSUPPORTED_RECEIVED, user_id, display_name, group_id, {})

    def host_image(
        self, data: bytes, *, content_type: str = "image/jpeg", foreign: bool = False
    ) -> str:
        """Serve data from this server; return its URL, on media_host, or on
        foreign_media_host when foreign (for allow-list tests: both really serve it)."""
        name = f"{_new_id()}.{content_type.rsplit('/', 1)[-1] or 'bin'}"
        self._media[name] = (content_type, data)
        root = self.foreign_root_url if foreign else self.root_url
        return f"{root}/media/{name}"

    def repeat_next(self, n: int = 1) -> None:
        """Deliver the next delivered update n more times, later (queued behind the others)."""
        self._repeat_pending += n

    # --- what tests observe ----------------------------------------------------------------

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Return the updates queued and not yet delivered, redeliveries included."""
        return [copy.deepcopy(item.update) for item in self._queue]

    def messages_to(self, chat_id: str) -> list[SentMessage]:
        """Return everything sent to chat_id, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_for(
        self, predicate: Callable[[SentMessage], bool], *, timeout: float = 10.0
    ) -> SentMessage:
        """Return the first already-sent or future message matching predicate."""
        return await self._wait_in(
            self.sent,
            predicate,
            after=0,
            timeout=timeout,
            what="a message matching the predicate",
            dump=self._dump,
        )

    async def wait_reply(
        self, chat_id: str, *, after: int = 0, timeout: float = 10.0
    ) -> SentMessage:
        """Return the first message to chat_id whose index in self.sent is >= after."""
        return await self._wait_in(
            self.sent,
            lambda m: m.chat_id == chat_id,
            after=after,
            timeout=timeout,
            what=f"a message to chat {chat_id}",
            dump=self._dump,
        )

    async def wait_call(
        self, method: str, *, after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Return the params of the first call of method whose index in self.calls >= after."""
        _, params = await self._wait_in(
            self.calls,
            lambda call: call[0] == method,
            after=after,
            timeout=timeout,
            what=f"a {method} call",
            dump=lambda: str([m for m, _ in self.calls[-20:]]),
        )
        return params

    async def wait_delivered(
        self,
        predicate: Callable[[Delivery], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = 10.0,
    ) -> Delivery:
        """Return the first delivery (index >= after) matching predicate; a webhook delivery
        is recorded once the bot has answered the POST."""
        return await self._wait_in(
            self.deliveries,
            predicate or (lambda _d: True),
            after=after,
            timeout=timeout,
            what="a delivery",
            dump=lambda: "\n".join(
                f"  {d.via} {d.message_id} repeat={d.repeat} status={d.status} {d.error or ''}"
                for d in self.deliveries[-15:]
            ),
        )

    async def wait_drained(self, *, timeout: float = 10.0) -> None:
        """Wait until no update is queued and no webhook POST is in progress."""
        try:
            await self._signal.wait_until(lambda: not self._queue and not self._posting, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{len(self._queue)} update(s) still queued after {timeout}s "
                f"(webhook={self.webhook is not None}); recent calls: "
                f"{[m for m, _ in self.calls[-15:]]}"
            ) from None

    # --- failure injection -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        times: int = 1,
        description: str | None = None,
        http_status: int | None = None,
    ) -> None:
        """Make the next `times` calls of method answer ok:false with error_code status (HTTP
        status too, unless http_status says otherwise, e.g. 200)."""
        failure = _Failure(
            status,
            description or _default_description(status),
            status if http_status is None else http_status,
        )
        self._failures.setdefault(method, []).extend([failure] * times)

    def _check_chat_and_rate(self, params: dict[str, Any]) -> None:
        """Blocked chats answer 403; once the quota is used up, or over `rate_limit` sends
        per second, sends answer 429."""
        if params.get("chat_id") in self.blocked:
            raise _ApiError(403, BLOCKED)
        if self.quota is not None:
            if self.quota <= 0:
                self.over_quota += 1
                raise _ApiError(429, "Too Many Requests: the monthly message quota is used up")
            self.quota -= 1
        if self.rate_limit is None:
            return
        now = time.monotonic()
        while self._send_times and now - self._send_times[0] >= 1.0:
            self._send_times.popleft()
        if len(self._send_times) >= self.rate_limit:
            self.rate_limited += 1
            raise _ApiError(429, "Too Many Requests")
        self._send_times.append(now)

    # --- internals: dispatch ---------------------------------------------------------------

    async def _handle_call(
        self, token: str, method: str, body: bytes, handler: _JsonHandler
    ) -> tuple[int, Any]:
        if token != self.token:
            return 401, _ApiError(401, "Unauthorized").payload()
        try:
            params = self._parse_body(body)
        except _ApiError as err:
            self.calls.append((method, {}))
            self._signal.notify()
            return err.http_status, err.payload()
        self.calls.append((method, params))
        self._signal.notify()
        implementation = self._methods.get(method)
        try:
            if implementation is None:
                raise _ApiError(404, "Not Found")
            if failures := self._failures.get(method):
                failure = failures.pop(0)
                raise _ApiError(failure.error_code, failure.description, failure.http_status)
            if method in _SEND_METHODS:
                self._check_chat_and_rate(params)
            result = await implementation(params, handler)
        except _ApiError as err:
            return err.http_status, err.payload()
        return 200, {"ok": True, "result": result}

    def _parse_body(self, body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            params = json.loads(body)
        except ValueError:
            raise _bad_request("the body must be JSON") from None
        if not isinstance(params, dict):
            raise _bad_request("the body must be a JSON object")
        return params

    async def _get_me(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        return {
            "id": self.bot_id,
            "account_name": self.account_name,
            "account_type": "BASIC",
            "can_join_groups": True,
        }

    # --- internals: updates ----------------------------------------------------------------

    async def _get_updates(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        timeout = self._poll_timeout(params)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def done() -> bool:
            return (
                self._stopping or handler.closed or self.webhook is not None or bool(self._queue)
            )

        while True:
            if self._stopping or handler.closed:
                raise _timed_out()
            self._check_no_webhook()
            if self._queue:
                item = self._queue.pop(0)
                delivery = Delivery(copy.deepcopy(item.update), "poll", item.repeat, 200)
                self._delivered(item, delivery)
                return copy.deepcopy(item.update)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _timed_out()
            # Another poll may take the update that woke this one: then wait on.
            with contextlib.suppress(TimeoutError):
                await self._signal.wait_until(done, remaining)

    def _poll_timeout(self, params: dict[str, Any]) -> float:
        raw = params.get("timeout", 0)
        try:
            timeout = float(raw)
        except (TypeError, ValueError):
            raise _bad_request("timeout must be a number of seconds") from None
        if isinstance(raw, bool) or not 0 <= timeout <= 600:
            raise _bad_request("timeout must be a number of seconds") from None
        return timeout

    def _check_no_webhook(self) -> None:
        if self.webhook is not None:
            raise _ApiError(
                409, "Conflict: can't use getUpdates while a webhook is set; call deleteWebhook"
            )

    def _delivered(self, item: _Queued, delivery: Delivery) -> None:
        """Record a delivery; on success queue the redeliveries it is due."""
        if delivery.ok:
            copies = 0
            if self._repeat_pending:
                copies, self._repeat_pending = self._repeat_pending, 0
            elif not item.repeat and self._random.random() < self.repeat_probability:
                copies = 1
            self._queue += [
                _Queued(copy.deepcopy(item.update), repeat=True) for _ in range(copies)
            ]
        self.deliveries.append(delivery)
        self._signal.notify()

    async def _set_webhook(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url:
            raise _bad_request("url is required")
        parts = urlsplit(url)
        local = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
        if not parts.hostname or not (parts.scheme == "https" or local):
            raise _bad_request("url must be an https URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise _bad_request("secret_token must be 8-256 characters")
        self.webhook = {"url": url, "secret_token": secret, "updated_at": _now_ms()}
        self._signal.notify()
        return {"url": url, "updated_at": self.webhook["updated_at"]}

    async def _delete_webhook(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        self.webhook = None
        self._signal.notify()
        return {"url": "", "updated_at": _now_ms()}

    async def _get_webhook_info(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        if self.webhook is None:
            return {"url": "", "updated_at": 0}
        return {"url": self.webhook["url"], "updated_at": self.webhook["updated_at"]}

    async def _pump_webhook(self) -> None:
        """Post queued updates to the webhook one at a time, in order."""
        while True:
            await self._signal.wait_until(
                lambda: self._stopping or (self.webhook is not None and bool(self._queue)), None
            )
            if self._stopping:
                return
            webhook = self.webhook
            assert webhook is not None
            item = self._queue.pop(0)
            self._posting = True
            try:
                delivery = await self._post(webhook, item)
            finally:
                self._posting = False
            if not delivery.ok and item.attempts + 1 < self.webhook_attempts:
                item.attempts += 1
                self._queue.insert(0, item)  # retried at once, before anything newer
            self._delivered(item, delivery)

    async def _post(self, webhook: dict[str, Any], item: _Queued) -> Delivery:
        update = copy.deepcopy(item.update)
        delivery = Delivery(update, "webhook", item.repeat)
        parts = urlsplit(webhook["url"])
        if self.webhook_proxy is not None:
            proxy = urlsplit(self.webhook_proxy)
            parts = parts._replace(scheme=proxy.scheme, netloc=proxy.netloc)
        if parts.hostname not in _LOOPBACK_HOSTS:
            delivery.error = f"not posted: {parts.hostname} is not loopback (set webhook_proxy)"
            return delivery
        body = {"ok": True, "result": update} if self.wrap_webhook else update
        request = tornado.httpclient.HTTPRequest(
            urlunsplit(parts),
            method="POST",
            headers={
                "Content-Type": "application/json",
                SECRET_HEADER: webhook["secret_token"],
            },
            body=json.dumps(body, ensure_ascii=False),
            request_timeout=10,
            follow_redirects=False,
        )
        assert self._http is not None
        try:
            response = await self._http.fetch(request, raise_error=False)
        except Exception as exc:  # the bot being down is a test scenario, not a fake's crash
            delivery.error = f"{type(exc).__name__}: {exc}"
            return delivery
        delivery.status = response.code
        return delivery

    # --- internals: sending ----------------------------------------------------------------

    def _chat_id(self, params: dict[str, Any]) -> str:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise _bad_request("chat_id must be a non-empty string")
        return chat_id

    def _text(self, params: dict[str, Any], name: str, *, required: bool) -> str | None:
        value = params.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise _bad_request(f"{name} is empty")
        if len(value) > MAX_TEXT_LENGTH:
            raise _bad_request(f"{name} is longer than {MAX_TEXT_LENGTH} characters")
        return value

    def _record(self, method: str, chat_id: str, params: dict[str, Any], **content: Any) -> Any:
        message = SentMessage(method, chat_id, _new_id(), _now_ms(), params=params, **content)
        self.sent.append(message)
        self._signal.notify()
        return {"message_id": message.message_id, "date": message.date}

    async def _send_message(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        chat_id = self._chat_id(params)
        text = self._text(params, "text", required=True)
        return self._record("sendMessage", chat_id, params, text=text)

    async def _send_photo(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        chat_id = self._chat_id(params)
        photo = params.get("photo")
        parts = urlsplit(photo) if isinstance(photo, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad_request("photo must be an http(s) URL")
        caption = self._text(params, "caption", required=False)
        return self._record("sendPhoto", chat_id, params, photo=photo, caption=caption)

    async def _send_sticker(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        chat_id = self._chat_id(params)
        sticker = params.get("sticker")
        if not isinstance(sticker, str) or not sticker:
            raise _bad_request("sticker is empty")
        return self._record("sendSticker", chat_id, params, sticker=sticker)

    async def _send_chat_action(self, params: dict[str, Any], handler: _JsonHandler) -> Any:
        self._chat_id(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad_request(f"action must be one of {sorted(CHAT_ACTIONS)}")
        return True

    # --- internals: helpers ----------------------------------------------------------------

    def _user_update(
        self,
        event_name: str,
        user_id: str,
        display_name: str,
        group_id: str | None,
        content: dict[str, Any],
    ) -> str:
        chat = (
            {"id": user_id, "chat_type": "PRIVATE"}
            if group_id is None
            else {"id": group_id, "chat_type": "GROUP"}
        )
        message = {
            "message_id": _new_id(),
            "date": _now_ms(),
            "chat": chat,
            "from": {"id": user_id, "display_name": display_name, "is_bot": False},
            **content,
        }
        return self.add_update({"event_name": event_name, "message": message})

    def _dump(self, limit: int = 15) -> str:
        start = max(len(self.sent) - limit, 0)
        lines = [f"  [{i}] {m.describe()}" for i, m in enumerate(self.sent[start:], start)]
        return "\n".join(lines) or "  (nothing sent yet)"

    async def _wait_in(
        self,
        items: list[_T],
        predicate: Callable[[_T], bool],
        *,
        after: int,
        timeout: float,
        what: str,
        dump: Callable[[], str],
    ) -> _T:
        found: list[_T] = []
        scanned = after

        def seen() -> bool:
            nonlocal scanned
            while not found and scanned < len(items):
                if predicate(items[scanned]):
                    found.append(items[scanned])
                scanned += 1
            return bool(found)

        try:
            await self._signal.wait_until(seen, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what} (from index {after}); "
                f"recent:\n{dump()}\nrecent calls: {[m for m, _ in self.calls[-15:]]}"
            ) from None
        return found[0]
