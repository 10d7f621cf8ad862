"""The same `bot run` started three times on one PostgreSQL database, against the test Bot API
server: 50 people register and report while a scheduled broadcast goes to 500 members, and
the process polling Telegram is killed with SIGKILL half-way. Every update is handled once
and in order, every report stored once, the scheduled run made once, every member reached,
the shared rate limit kept, and another process polls within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import build_app
from bot.config import DatabaseConfig
from models.tables import (
    Broadcast,
    Entry,
    InboxUpdate,
    Lease,
    OutboxMessage,
    Schedule,
    ScheduleRun,
)
from tests.botapi import FakeBotApi, SentMessage
from tests.conftest import ROOT, bot_env, make_config, polled, run_bot, start_bot_run
from tests.test_broadcast import add_members
from tests.test_postgres import (
    free_port,
    postgres_url,  # noqa: F401 (the throwaway server, a fixture)
)
from tests.test_reporting import VOLUNTEER

PROCESSES = 3
USERS = 50
FIRST_USER = 5001
AUDIENCE = 500
FIRST_MEMBER = 20_000_000
RATE = 30  # the server's limit and the bot's, as Telegram's: a busy machine makes no burst of it
NEWS = "Hội nghị sơ kết phong trào thi đua"
STEPS = (
    ("/start", "Bạn có đồng ý không?"),
    ("1", "Họ và tên của bạn là gì?"),
    ("Hoàng Thị Mai", "Bạn sinh năm nào?"),
    ("2004", "Bạn sinh hoạt ở xã, phường"),
    ("na sam", "Số điện thoại"),
    ("bỏ qua", "Đăng ký: bạn vui lòng kiểm tra trước khi gửi"),
    ("1", "Bạn đã đăng ký thành công"),
    ("/report", "Bạn muốn báo cáo nội dung gì?"),
    ("2", ""),
    *((answer, "") for answer in VOLUNTEER[:-1]),
    (VOLUNTEER[-1], "bạn vui lòng kiểm tra trước khi gửi"),
    ("1", "✅ Đã lưu. Báo cáo #"),
)


def shared_config(tmp_path: Path) -> Path:
    """The project's config with no quiet hours (the scheduled news goes whatever the time),
    no flood control in the way, and the test's rate."""
    path = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('quiet_end = "07:00"', 'quiet_end = "21:00"')
    text = text.replace("messages = 12", "messages = 1000")
    text = text.replace("rate_per_second = 30", f"rate_per_second = {RATE}")
    path.write_text(text, encoding="utf-8")
    return path


async def prepare(tmp_path: Path, url: str, server: FakeBotApi) -> None:
    """The schema, 500 registered members, and news scheduled for a few seconds on."""
    shared_config(tmp_path)
    config = make_config(
        tmp_path, TELEGRAM_BOT_TOKEN=server.token, TELEGRAM_API_BASE_URL=server.root_url
    )
    app = build_app(dataclasses.replace(config, database=DatabaseConfig(url=url)))
    try:
        await app.prepare()
        await add_members(app.channels["telegram"], AUDIENCE, first_chat=FIRST_MEMBER)
        due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
        async with app.db.write() as session:
            session.add(
                Schedule(
                    kind="news",
                    rule={"every": "once", "at": due.astimezone(config.tz).isoformat()},
                    audience={"who": "all", "units": None},
                    text=NEWS,
                    status="active",
                    next_run_at=due,
                )
            )
    finally:
        await app.close()


@contextlib.asynccontextmanager
async def bot_processes(
    tmp_path: Path, url: str, server: FakeBotApi
) -> AsyncIterator[dict[str, asyncio.subprocess.Process]]:
    """`python -m bot run` three times, named bot-1 … bot-3, logging to files."""
    processes: dict[str, asyncio.subprocess.Process] = {}
    try:
        for number in range(1, PROCESSES + 1):
            name = f"bot-{number}"
            env = bot_env(
                tmp_path,
                DATABASE_URL=url,
                TELEGRAM_BOT_TOKEN=server.token,
                TELEGRAM_API_BASE_URL=server.root_url,
                BOT_PROCESS_NAME=name,
            )
            with (tmp_path / f"{name}.log").open("wb") as log:
                processes[name] = await start_bot_run(env, stderr=log)
        yield processes
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def converse(server: FakeBotApi, user: int) -> None:
    """One person registers, then reports volunteer work, answering each question."""
    for text, expected in STEPS:

        def answers(message: SentMessage, expected: str = expected) -> bool:
            shown = message.text or ""
            return message.chat_id == user and expected in shown and NEWS not in shown

        mark = len(server.sent)
        server.user_message(user, text)
        await server.wait_for(answers, after=mark, timeout=60)


class News:
    """Who has received the scheduled news, and how often, counted as messages come."""

    def __init__(self, server: FakeBotApi) -> None:
        self.server = server
        self.seen = 0
        self.received: Counter[int] = Counter()

    def reached(self) -> int:
        while self.seen < len(self.server.sent):
            message = self.server.sent[self.seen]
            if message.method == "sendMessage" and NEWS in (message.text or ""):
                self.received[message.chat_id] += 1
            self.seen += 1
        return len(self.received)


async def lease_holder(url: str, role: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(select(Lease.holder).where(Lease.name == role))
    finally:
        await engine.dispose()


# About 65 s on a quiet machine (the news waits for the scheduler's first look, then goes out
# at Telegram's pace); the waits below allow for a busy one, so the whole may take longer
# than the suite's usual 120 s.
@pytest.mark.timeout(300)
async def test_three_processes_share_the_work_exactly_once(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    no_proxy: None,
) -> None:
    url = postgres_url
    async with FakeBotApi() as server:
        server.rate_limit = RATE
        await prepare(tmp_path, url, server)
        news = News(server)
        async with bot_processes(tmp_path, url, server) as processes:
            people = [asyncio.create_task(converse(server, FIRST_USER + n)) for n in range(USERS)]
            # A quarter into the broadcast, the process polling Telegram is killed.
            await server.wait_until(lambda: news.reached() >= AUDIENCE // 4, timeout=120)
            poller = await lease_holder(url, "intake:telegram")
            assert poller in processes
            mark = len(server.calls)
            processes[poller].kill()
            killed_at = time.monotonic()
            await processes[poller].wait()
            await server.wait_call("getUpdates", after=mark, timeout=10)
            took_over = time.monotonic() - killed_at
            await asyncio.wait_for(asyncio.gather(*people), timeout=240)
            await server.wait_until(lambda: news.reached() >= AUDIENCE + USERS, timeout=120)
            assert await lease_holder(url, "intake:telegram") not in (None, poller)
        logs = {name: (tmp_path / f"{name}.log").read_bytes().decode() for name in processes}

    assert took_over < 10
    # Each person's conversation went through in order (each answer came to its question);
    # every update was handled once and answered, and no reply went out twice in a row.
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            updates = (
                await connection.execute(
                    select(InboxUpdate.handled_at, InboxUpdate.replied_at).where(
                        InboxUpdate.channel == "telegram"
                    )
                )
            ).all()
            entries = (await connection.execute(select(Entry.reporter_id))).scalars().all()
            runs = await connection.scalar(select(func.count()).select_from(ScheduleRun))
            broadcasts = await connection.scalar(select(func.count()).select_from(Broadcast))
            outbox = dict(
                (
                    await connection.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert len(updates) == USERS * len(STEPS)
    assert all(handled and replied for handled, replied in updates)
    assert len(entries) == USERS and len(set(entries)) == USERS  # one report each
    assert (runs, broadcasts) == (1, 1)  # the scheduled news went out once
    assert outbox == {"sent": AUDIENCE + USERS}
    # Every member reached; a second copy only of a message the killed process had in
    # flight (Telegram has no way to send a message "once": the one it was sending when
    # killed is sent again by the process that takes its work over).
    assert len(news.received) == AUDIENCE + USERS
    assert sum(news.received.values()) - len(news.received) <= 1
    for user in range(FIRST_USER, FIRST_USER + USERS):
        texts = [m.text for m in server.messages_to(user) if NEWS not in (m.text or "")]
        repeats = [a for a, b in itertools.pairwise(texts) if a == b]
        assert len(repeats) <= 1, (user, repeats)
    # The shared pace held the server's limit for the three processes together.
    sends = sum(1 for method, _ in server.calls if method.startswith("send"))
    assert server.rate_limited <= sends // 100, (server.rate_limited, sends)
    # Every process took part, and each line names its process.
    for name, text in logs.items():
        assert f" {name} " in text, text[-2000:]


async def test_a_second_process_on_one_sqlite_file_refuses_and_says_to_use_postgresql(
    tmp_path: Path, no_proxy: None
) -> None:
    """SQLite serves one process: a second `run` on the same file stops at once with one
    line; the first one's health and readiness answer for a proxy meanwhile."""
    port = free_port()
    async with FakeBotApi() as server:
        telegram = {"TELEGRAM_BOT_TOKEN": server.token, "TELEGRAM_API_BASE_URL": server.root_url}
        env = bot_env(
            tmp_path, HEALTH_LISTEN=f"127.0.0.1:{port}", BOT_PROCESS_NAME="bot-first", **telegram
        )
        first = await start_bot_run(env)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                ready = await answered(client, "/readyz", 200)
                assert ready.json() == {"status": "ready", "process": "bot-first"}
                alive = await client.get("/healthz")
                assert alive.json() == {"status": "alive", "process": "bot-first"}
                second = await asyncio.to_thread(
                    run_bot,
                    tmp_path,
                    "run",
                    env={
                        "TELEGRAM_BOT_TOKEN": server.token,
                        "TELEGRAM_API_BASE_URL": server.root_url,
                    },
                )
            assert second.returncode == 2
            lines = [line for line in second.stderr.splitlines() if " INFO " not in line]
            assert lines == [
                "run: một tiến trình bot khác đang dùng cơ sở dữ liệu "
                f"{tmp_path / 'bot.sqlite3'}. SQLite chỉ phục vụ một tiến trình; muốn chạy "
                "nhiều tiến trình, hãy dùng "
                "PostgreSQL (DATABASE_URL=postgresql+asyncpg://…)."
            ]
            assert first.returncode is None  # the first one goes on
        finally:
            first.send_signal(signal.SIGTERM)
            await asyncio.wait_for(first.wait(), timeout=30)
        assert first.returncode == 0


async def answered(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    """The first answer of `status` from `path`, asked again as long as the process starts
    (or does not listen yet)."""

    async def probe() -> httpx.Response | None:
        with contextlib.suppress(httpx.TransportError):
            response = await client.get(path)
            if response.status_code == status:
                return response
        return None

    return await polled(probe, timeout=30)
