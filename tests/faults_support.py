"""Helpers of the fault tests: the bot as a process that can be killed, Telegram's two ways
of delivering updates (getUpdates and webhook POSTs), and members who report through the chat."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import os
import re
import signal
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from PIL import Image

from bot.app import build_app
from tests.botapi import FakeBotApi, SentMessage
from tests.conftest import ROOT, bot_env, make_config, start_bot_run
from tests.test_stats import add_plain_members

__all__ = [
    "CONFIRMED",
    "WEBHOOK_PATH",
    "WEBHOOK_SECRET",
    "BotProcess",
    "Delivery",
    "PollingDelivery",
    "Reporter",
    "Submission",
    "WebhookDelivery",
    "add_reporters",
    "database_rows",
    "environment_count",
    "free_port",
    "photo_of",
    "write_config",
]

WEBHOOK_PATH = "/telegram"
WEBHOOK_SECRET = "fault-test_SECRET"
CONFIRMED = re.compile(r"✅ Đã lưu\. Báo cáo #(\d+)")
# Long enough for a kill, a restart (a second or two) and the backlog it left.
STEP_TIMEOUT = 30.0


def write_config(tmp_path: Path, *, webhook_port: int | None = None) -> None:
    """The project's config.toml for the bot process: no flood control, no pacing, no quiet
    hours (the tests must not depend on the hour they run at), the webhook on `webhook_port`."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    settings = [
        ("telegram", "rate_per_second", "1000"),
        ("telegram", "poll_timeout", "10"),
        ("flood", "messages", "10000"),
        ("flood", "per_seconds", "1"),
        ("schedules", "quiet_start", '"00:00"'),
        ("schedules", "quiet_end", '"00:00"'),
    ]
    if webhook_port is not None:
        settings.append(("telegram", "webhook_port", str(webhook_port)))
    for section, key, value in settings:
        text = _set(text, section, key, value)
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")


def _set(text: str, section: str, key: str, value: str) -> str:
    """`key = value` in `[section]` of a TOML text, replacing the line the project has."""
    header = re.search(rf"^\[{section}\]$", text, flags=re.MULTILINE)
    assert header is not None, f"config.toml has no [{section}]"
    following = re.compile(r"^\[", flags=re.MULTILINE).search(text, header.end())
    end = following.start() if following else len(text)
    body, count = re.subn(
        rf"^{key} = .*$", f"{key} = {value}", text[header.end() : end], flags=re.MULTILINE
    )
    assert count == 1, f"config.toml has no {key} in [{section}]"
    return text[: header.end()] + body + text[end:]


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on (for the bot's webhook server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def add_reporters(tmp_path: Path, count: int, first_chat: int) -> None:
    """Members of Xã Na Sầm with Telegram chats first_chat, first_chat + 1, …, written
    directly into the bot's database before it starts."""
    app = build_app(make_config(tmp_path))
    await app.prepare()
    try:
        async with app.db.write() as session:
            await add_plain_members(session, count, first_chat=first_chat)
    finally:
        await app.close()


def database_rows(tmp_path: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on the bot's SQLite file, read as the operator would (sqlite3)."""
    with contextlib.closing(sqlite3.connect(tmp_path / "bot.sqlite3")) as db:
        return db.execute(query, params).fetchall()


class BotProcess:
    """`python -m bot run` against the test's Bot API server, killed and started at will.
    Its log goes to bot-<n>.log beside the database, one file per start."""

    def __init__(self, tmp_path: Path, server: FakeBotApi, **env: str) -> None:
        self.tmp_path = tmp_path
        self.server = server
        self.env = bot_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=server.token,
            TELEGRAM_API_BASE_URL=server.root_url,
            **env,
        )
        self.starts = 0
        self.process: asyncio.subprocess.Process | None = None

    @property
    def webhook(self) -> bool:
        return "TELEGRAM_WEBHOOK_URL" in self.env

    async def start(self) -> None:
        """Starts the bot; returns once it listens (webhook) or has asked for updates."""
        self.starts += 1
        log = self.tmp_path / f"bot-{self.starts}.log"
        mark = len(self.server.calls)
        with log.open("wb") as stderr:
            self.process = await start_bot_run(self.env, stderr=stderr)
        ready = self.server.wait_call(
            "setWebhook" if self.webhook else "getUpdates", after=mark, timeout=60
        )
        exited = asyncio.ensure_future(self.process.wait())
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(ready), exited], return_when=asyncio.FIRST_COMPLETED
        )
        if exited in done:
            raise AssertionError(f"the bot exited on start:\n{self.log()}")
        exited.cancel()
        await done.pop()  # a timeout surfaces here

    async def kill(self) -> None:
        """SIGKILL: no cleanup at all."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=30)

    def log(self) -> str:
        return (self.tmp_path / f"bot-{self.starts}.log").read_text(errors="replace")[-4000:]

    def troubles(self) -> list[str]:
        """Error lines of every start's log (a kill itself leaves none)."""
        return [
            line
            for start in range(1, self.starts + 1)
            for line in (self.tmp_path / f"bot-{start}.log")
            .read_text(errors="replace")
            .splitlines()
            if any(word in line for word in (" ERROR ", " CRITICAL ", "Traceback", "is locked"))
        ]


class Delivery(Protocol):
    """How updates reach the bot, and whether the bot acknowledged one."""

    async def deliver(self, update: dict[str, Any]) -> int: ...

    def acknowledged(self, update_id: int) -> bool: ...


class PollingDelivery:
    """Updates wait in the Bot API server until a getUpdates offset confirms them."""

    def __init__(self, server: FakeBotApi) -> None:
        self.server = server

    async def deliver(self, update: dict[str, Any]) -> int:
        return self.server.add_update(update)

    def acknowledged(self, update_id: int) -> bool:
        return self.server.confirmed_offset > update_id


class WebhookDelivery:
    """Telegram's side of a webhook: POSTs each update until the bot answers 200. While the
    bot is down, deliveries wait for `up`, which the test sets once the bot listens again."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        self.up = asyncio.Event()
        self.client = httpx.AsyncClient(
            trust_env=False,
            timeout=30,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )
        self._ids = itertools.count(1)
        self._acknowledged: set[int] = set()
        self.refused: list[tuple[int, int]] = []  # (update_id, status) of answers not 200

    async def deliver(self, update: dict[str, Any]) -> int:
        update_id = next(self._ids)
        update = {"update_id": update_id, **update}
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        while True:
            await self.up.wait()
            try:
                response = await self.client.post(self.url, json=update, headers=headers)
            except httpx.TransportError:
                # The bot died under this request, or is not listening yet: retry once it is.
                if self.up.is_set():
                    await asyncio.sleep(0.05)  # a back-off, not a wait for a condition
                continue
            if response.status_code == 200:
                self._acknowledged.add(update_id)
                return update_id
            self.refused.append((update_id, response.status_code))
            return update_id

    def acknowledged(self, update_id: int) -> bool:
        return update_id in self._acknowledged

    async def close(self) -> None:
        await self.client.aclose()


@dataclass
class Submission:
    """One entry a member sends through the chat, and what became of it."""

    chat_id: int
    activity: str
    photo: bytes
    submit_update: int | None = None  # the update of the final "1" (submit)
    confirmed_id: int | None = None  # the N of "✅ Đã lưu. Báo cáo #N" the member saw
    failure: str | None = None

    @property
    def photo_sha256(self) -> str:
        return hashlib.sha256(self.photo).hexdigest()


@dataclass
class Reporter:
    """A member in a private chat who reports volunteer work with one photo, step by step,
    each answer sent once the bot's question arrived."""

    server: FakeBotApi
    delivery: Delivery
    chat_id: int
    submissions: list[Submission] = field(default_factory=list)
    _message_ids: itertools.count[int] = field(
        init=False, default_factory=lambda: itertools.count(1)
    )

    async def report(self, activity: str) -> Submission:
        """Reports one entry, from /report to the confirmation; failures are recorded."""
        submission = Submission(self.chat_id, activity, photo_of(activity))
        self.submissions.append(submission)
        steps: list[tuple[str | bytes, str]] = [
            ("/report", "Bạn muốn báo cáo nội dung gì?"),
            ("2", "bước 1/9"),
            (activity, "bước 2/9"),
            ("hôm qua", "bước 3/9"),
            ("Thôn Bản Chu, xã Na Sầm", "bước 4/9"),
            ("2", "bước 5/9"),  # organised by the branch? No: own hours next
            ("4", "bước 6/9"),
            ("120", "bước 7/9"),
            ("2 tr", "bước 8/9"),
            ("Đoàn viên chi đoàn thôn cùng nhau sửa 300 mét đường đất vào bản.", "bước 9/9"),
            (submission.photo, "Đã nhận 1 tệp"),
            ("xong", "bạn vui lòng kiểm tra trước khi gửi"),
            ("1", "✅ Đã lưu. Báo cáo #"),
        ]
        for index, (content, expect) in enumerate(steps):
            mark = len(self.server.sent)
            update_id = await self.delivery.deliver(self._update(content))
            if index == len(steps) - 1:
                submission.submit_update = update_id
            try:
                reply = await self.reply(mark, expect)
            except TimeoutError:
                submission.failure = f"no reply containing {expect!r} to step {index + 1}"
                return submission
            if index == len(steps) - 1:
                found = CONFIRMED.search(reply.text or "")
                assert found is not None
                submission.confirmed_id = int(found.group(1))
        return submission

    async def ask(self, content: str | bytes, expect: str) -> SentMessage:
        """Sends a message; returns the bot's answer containing `expect`."""
        mark = len(self.server.sent)
        await self.delivery.deliver(self._update(content))
        return await self.reply(mark, expect)

    def _update(self, content: str | bytes) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": self.chat_id, "type": "private", "first_name": "Đoàn viên"},
            "from": {
                "id": self.chat_id,
                "is_bot": False,
                "first_name": "Đoàn viên",
                "language_code": "vi",
            },
        }
        if isinstance(content, bytes):
            file_id = self.server.add_file(content)
            message["photo"] = [
                {
                    "file_id": file_id,
                    "file_unique_id": f"U{file_id}",
                    "file_size": len(content),
                    "width": 80,
                    "height": 60,
                }
            ]
        else:
            message["text"] = content
            if content.startswith("/"):
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(content)}
                ]
        return {"message": message}

    async def reply(self, mark: int, expect: str) -> SentMessage:
        """The bot's first message to this chat from index `mark` on that contains `expect`.
        Others are skipped: after a crash the bot resends replies it may already have sent."""
        sent = self.server.sent
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                message = await self.server.wait_reply(
                    self.chat_id, after=mark, timeout=STEP_TIMEOUT
                )
                mark = next(i for i in range(len(sent) - 1, mark - 1, -1) if sent[i] is message)
                mark += 1
                if message.method == "sendMessage" and expect in (message.text or ""):
                    return message


def photo_of(tag: str) -> bytes:
    """A small JPEG photo whose comment is `tag`: a different tag is a different file."""
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), "orange").save(buffer, "JPEG", comment=tag.encode())
    return buffer.getvalue()


def environment_count(name: str, default: int) -> int:
    """A count from the environment (the fault loops' size), at least 1."""
    return max(1, int(os.environ.get(name, default)))
