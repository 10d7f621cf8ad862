"""A fake Zalo Official Account (Open API v3, its OAuth server and its template server) on
loopback, for end-to-end tests of bot.channels.zalo_oa.

What it holds the bot to, as Zalo does (see that module's sources): events are posted to the
bot's webhook, signed in X-ZEvent-Signature ("mac=" + SHA-256 of the parts in `signature`),
and posted again when the answer is not 200 (`redeliver`), or always twice (`twice`); every
call needs the header access_token, which expires (`expire_access_tokens`); a refresh token
works once and each refresh hands out a new one; /v3.0/oa/message/cs takes a message only
from a follower (-213) who wrote within 7 days (-230; after 48 hours it is marked paid), and
at most `per_minute` calls a minute (-32); a quota of messages (-211); template messages
only with an approved template id; pictures only as JPEG or PNG up to 1 MB. Errors come back
with HTTP 200 and error != 0, as Zalo's do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import tornado.httpclient
import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

__all__ = ["FakeZaloOA", "OASent"]

APP_ID = "3141592653589793"
OA_ID = "2718281828459045"
SECRET_KEY = "oa-app-secret-key-for-tests"
HOUR = 3600.0
FREE_WINDOW = 48 * HOUR
WINDOW = 7 * 24 * HOUR
IMAGE_LIMIT = 1024 * 1024


@dataclass
class OASent:
    """What the bot sent: a free (or paid) cs message, or a template message."""

    kind: str  # "text", "image", "template"
    user_id: str
    text: str = ""
    buttons: list[dict[str, Any]] = field(default_factory=list)
    attachment_id: str = ""
    template_id: str = ""
    template_data: dict[str, Any] = field(default_factory=dict)
    paid: bool = False


@dataclass
class Posted:
    event: dict[str, Any]
    status: int | None  # the bot's answer; None when it could not be reached


class _Handler(tornado.web.RequestHandler):
    def initialize(self, oa: FakeZaloOA) -> None:
        self.oa = oa

    async def get(self, path: str) -> None:
        await self._answer("GET", path)

    async def post(self, path: str) -> None:
        await self._answer("POST", path)

    async def _answer(self, method: str, path: str) -> None:
        if path.startswith("media/"):
            data = self.oa.media.get(path.removeprefix("media/"))
            if data is None:
                self.set_status(404)
                return
            self.set_header("Content-Type", "image/jpeg")
            self.write(data)
            return
        headers: dict[str, str] = {}
        body = self.oa.call(method, "/" + path, self.request, headers)
        for name, value in headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(body, ensure_ascii=False))
        self.oa.changed.set()


class FakeZaloOA:
    def __init__(
        self,
        *,
        signature: tuple[str, ...] = ("app_id", "body", "timestamp", "secret"),
        templates: tuple[str, ...] = ("tpl-announcement",),
    ) -> None:
        self.app_id, self.oa_id, self.secret_key = APP_ID, OA_ID, SECRET_KEY
        self.signature = signature
        self.templates = set(templates)
        self.refresh_tokens: set[str] = set()
        self.access_tokens: dict[str, float] = {}  # token -> when it expires (time.time)
        self.refreshes = 0
        self.followers: set[str] = set()
        self.last_interaction: dict[str, float] = {}
        self.sent: list[OASent] = []
        self.calls: list[tuple[str, int]] = []  # (path, error)
        self.uploads: dict[str, bytes] = {}
        self.media: dict[str, bytes] = {}
        self.per_minute: int | None = None
        self.quota: int | None = None  # messages left before -211
        self.fail_next: list[int] = []  # errors the next cs calls answer
        self.posted: list[Posted] = []
        self.webhook_url = ""
        self.twice = False  # every event posted twice, as Zalo's retries can
        self.changed = asyncio.Event()
        self._recent: list[float] = []
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        app = tornado.web.Application([(r"/(.*)", _Handler, {"oa": self})])
        self._server = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.stop()
        await self._server.close_all_connections()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- tokens --------------------------------------------------------------------------

    def issue_refresh_token(self) -> str:
        """A refresh token, as the OA's admin gets one in the Zalo app."""
        token = "rt-" + secrets.token_urlsafe(12)
        self.refresh_tokens.add(token)
        return token

    def expire_access_tokens(self) -> None:
        self.access_tokens = dict.fromkeys(self.access_tokens, 0.0)

    def revoke(self) -> None:
        """The admin took the app's access away: no token works any more."""
        self.refresh_tokens.clear()
        self.access_tokens.clear()

    def _refresh(self, request: tornado.httputil.HTTPServerRequest) -> dict[str, Any]:
        arguments = {k: v[0].decode() for k, v in request.body_arguments.items()}
        if (
            request.headers.get("secret_key") != self.secret_key
            or arguments.get("app_id") != self.app_id
            or arguments.get("grant_type") != "refresh_token"
        ):
            return {"error": -14002, "error_name": "Invalid app", "error_description": "app"}
        token = arguments.get("refresh_token", "")
        if token not in self.refresh_tokens:
            return {"error": -14014, "error_description": "Invalid refresh token"}
        self.refresh_tokens.discard(token)  # works once
        self.refreshes += 1
        access, refresh = "at-" + secrets.token_urlsafe(12), self.issue_refresh_token()
        self.access_tokens[access] = time.time() + 90_000
        return {"access_token": access, "refresh_token": refresh, "expires_in": "90000"}

    # -- the API -------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        request: tornado.httputil.HTTPServerRequest,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        if path == "/v4/oa/access_token" and method == "POST":
            return self._refresh(request)
        expires = self.access_tokens.get(request.headers.get("access_token", ""))
        error = 0 if expires is not None else -216
        if expires is not None and expires < time.time():
            error = -220
        result: dict[str, Any] = {}
        if not error:
            error, result = self._api(method, path, request, headers)
        self.calls.append((path, error))
        if error:
            return {"error": error, "message": f"fake error {error}"}
        return {"error": 0, "message": "Success", "data": result}

    def _api(
        self,
        method: str,
        path: str,
        request: tornado.httputil.HTTPServerRequest,
        headers: dict[str, str],
    ) -> tuple[int, dict[str, Any]]:
        now = time.time()
        if path == "/v2.0/oa/getoa":
            return 0, {"oa_id": self.oa_id, "name": "Tỉnh Đoàn Lạng Sơn"}
        if self.per_minute is not None:
            self._recent = [t for t in self._recent if now - t < 60]
            if len(self._recent) >= self.per_minute:
                headers["X-RateLimit-Limit"] = str(self.per_minute)
                headers["X-RateLimit-Reset"] = "1"
                return -32, {}
            self._recent.append(now)
        if path == "/v2.0/oa/upload/image" and method == "POST":
            files = request.files.get("file") or []
            data = files[0].body if files else b""
            if not data.startswith((b"\xff\xd8", b"\x89PNG")) or len(data) > IMAGE_LIMIT:
                return -201, {}
            attachment_id = "att-" + secrets.token_hex(6)
            self.uploads[attachment_id] = data
            return 0, {"attachment_id": attachment_id}
        body = json.loads(request.body or b"{}")
        if path == "/message/template" and method == "POST":
            if body.get("template_id") not in self.templates:
                return -124, {}
            if self.quota is not None:
                if self.quota <= 0:
                    return -211, {}
                self.quota -= 1
            self.sent.append(
                OASent(
                    "template",
                    str(body.get("user_id")),
                    template_id=body["template_id"],
                    template_data=body.get("template_data") or {},
                    paid=True,
                )
            )
            return 0, {"msg_id": secrets.token_hex(8)}
        if path == "/v3.0/oa/message/cs" and method == "POST":
            if self.fail_next:
                error = self.fail_next.pop(0)
                if error == -32:
                    headers["X-RateLimit-Reset"] = "1"
                return error, {}
            return self._cs(body, now)
        return -209, {}

    def _cs(self, body: dict[str, Any], now: float) -> tuple[int, dict[str, Any]]:
        user = str((body.get("recipient") or {}).get("user_id", ""))
        message = body.get("message") or {}
        if user not in self.followers:
            return -213, {}
        since = now - self.last_interaction.get(user, 0.0)
        if since > WINDOW:
            return -230, {}
        text = message.get("text") or ""
        if len(text) > 2000:
            return -201, {}
        if self.quota is not None:
            if self.quota <= 0:
                return -211, {}
            self.quota -= 1
        payload = (message.get("attachment") or {}).get("payload") or {}
        elements = payload.get("elements") or []
        if elements:
            attachment_id = elements[0].get("attachment_id", "")
            if attachment_id not in self.uploads:
                return -100, {}
            self.sent.append(OASent("image", user, attachment_id=attachment_id))
        else:
            self.sent.append(
                OASent(
                    "text",
                    user,
                    text,
                    list(payload.get("buttons") or []),
                    paid=since > FREE_WINDOW,
                )
            )
        return 0, {"message_id": secrets.token_hex(8)}

    # -- a person on Zalo ----------------------------------------------------------------

    def sign(self, body: bytes, timestamp: str) -> str:
        parts = {
            "app_id": self.app_id.encode(),
            "oa_id": self.oa_id.encode(),
            "body": body,
            "timestamp": timestamp.encode(),
            "secret": self.secret_key.encode(),
        }
        return "mac=" + hashlib.sha256(b"".join(parts[p] for p in self.signature)).hexdigest()

    def event(self, name: str, user: str, **fields: Any) -> dict[str, Any]:
        timestamp = str(int(time.time() * 1000))
        event: dict[str, Any] = {"app_id": self.app_id, "event_name": name, "timestamp": timestamp}
        if name in ("follow", "unfollow"):
            event.update(oa_id=self.oa_id, follower={"id": user}, source="oa_profile")
        else:
            event.update(sender={"id": user}, recipient={"id": self.oa_id})
        event.update(fields)
        return event

    async def post(self, event: dict[str, Any]) -> list[int | None]:
        """Posts an event to the bot's webhook, signed (twice when `twice`); the answers."""
        if name := event.get("event_name"):
            user = (event.get("sender") or event.get("follower") or {}).get("id", "")
            if name == "unfollow":
                self.followers.discard(user)
            elif str(name).startswith("user_send") or name in ("follow", "user_submit_info"):
                self.followers.add(user)
                self.last_interaction[user] = time.time()
        statuses = [await self._post_once(event)]
        if self.twice:
            statuses.append(await self._post_once(event))
        return statuses

    async def _post_once(self, event: dict[str, Any]) -> int | None:
        body = json.dumps(event, ensure_ascii=False).encode()
        request = tornado.httpclient.HTTPRequest(
            self.webhook_url,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-ZEvent-Signature": self.sign(body, str(event["timestamp"])),
            },
            body=body,
            request_timeout=10,
        )
        client = tornado.httpclient.AsyncHTTPClient()
        try:
            response = await client.fetch(request, raise_error=False)
            status: int | None = response.code
        except Exception:  # the bot being down is a test scenario
            status = None
        self.posted.append(Posted(event, status))
        return status

    async def redeliver(self) -> None:
        """Zalo's retry: every event the bot did not answer 200 is posted again."""
        failed = [p.event for p in self.posted if p.status != 200]
        self.posted = [p for p in self.posted if p.status == 200]
        for event in failed:
            await self._post_once(event)

    async def user_text(self, user: str, text: str) -> list[int | None]:
        msg = {"msg_id": secrets.token_hex(10), "text": text}
        return await self.post(self.event("user_send_text", user, message=msg))

    def host_image(self, data: bytes) -> str:
        name = secrets.token_hex(6) + ".jpg"
        self.media[name] = data
        return f"{self.root_url}/media/{name}"

    async def user_image(self, user: str, data: bytes) -> list[int | None]:
        url = self.host_image(data)
        attachment = {"type": "image", "payload": {"url": url, "thumbnail": url}}
        msg = {"msg_id": secrets.token_hex(10), "attachments": [attachment]}
        return await self.post(self.event("user_send_image", user, message=msg))

    async def follow(self, user: str) -> list[int | None]:
        return await self.post(self.event("follow", user))

    # -- what the bot did ----------------------------------------------------------------

    def to(self, user: str) -> list[OASent]:
        return [sent for sent in self.sent if sent.user_id == user]

    async def wait_for(
        self, predicate: Callable[[OASent], bool], *, after: int = 0, timeout: float = 10
    ) -> OASent:
        """The first message sent (from index `after` on) matching `predicate`, waiting."""
        async with asyncio.timeout(timeout):
            while True:
                found = next((sent for sent in self.sent[after:] if predicate(sent)), None)
                if found is not None:
                    return found
                self.changed.clear()
                await self.changed.wait()
