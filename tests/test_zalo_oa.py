"""The bot on a Zalo Official Account, end to end over HTTP against a fake OA on loopback
(tests/zaloapi/oa.py): signed events delivered twice; tokens that expire and refresh tokens
that work once, refreshed by one process; the 48-hour window deciding between a free message,
a paid template and nobody; Zalo's errors; and the whole flow as a process killed in the
middle, with a secretary on Telegram whose decision the reporter hears on Zalo."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import re
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.channels.runtime import Channel
from bot.channels.zalo_oa import CHANNEL, TokenKeeper
from bot.config import Config, ConfigError, FloodConfig, ZaloOATemplate
from models.credentials import read_tokens, seed_tokens
from models.people import grant_role, identity_for
from models.stats import count_member
from models.tables import AuditRecord, Entry, EntryFile, Identity, Member, OutboxMessage, Unit
from tests.botapi import FakeBotApi
from tests.conftest import ROOT, bot_env, make_config, polled, start_bot_run
from tests.test_reporting import VOLUNTEER
from tests.test_telegram import User
from tests.test_telegram_reporting import jpeg
from tests.test_zalo import lan_on_telegram
from tests.zaloapi.oa import FakeZaloOA, OASent

MAI = "5001002003004005"
SON = "5001002003004006"
PATH = "/zalo-oa/events"


@pytest.fixture
async def oa(no_proxy: None) -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as oa:
        yield oa


def oa_env(oa: FakeZaloOA) -> dict[str, str]:
    return {
        "ZALO_OA_APP_ID": oa.app_id,
        "ZALO_OA_SECRET_KEY": oa.secret_key,
        "ZALO_OA_ID": oa.oa_id,
        "ZALO_OA_WEBHOOK_URL": "https://bot.example.vn" + PATH,
        "ZALO_OA_API_BASE_URL": oa.root_url,
        "ZALO_OA_OAUTH_BASE_URL": oa.root_url,
        "ZALO_OA_BUSINESS_BASE_URL": oa.root_url,
    }


def oa_config(
    tmp_path: Path, oa: FakeZaloOA, *, template: bool = True, per_minute: int = 6000, **env: str
) -> Config:
    config = make_config(tmp_path, **oa_env(oa), **env)
    settings = dataclasses.replace(
        config.zalo_oa,
        webhook_port=0,
        media_hosts=("127.0.0.1",),
        per_minute=per_minute,
        announcement=(
            ZaloOATemplate(
                "tpl-announcement", cost=200, params=(("content", "{text}"), ("date", "{date}"))
            )
            if template
            else None
        ),
    )
    return dataclasses.replace(
        config, zalo_oa=settings, flood=FloodConfig(messages=1000, per_seconds=1.0)
    )


async def seeded(app: App, oa: FakeZaloOA) -> None:
    async with app.db.write() as session:
        await seed_tokens(session, CHANNEL, oa.issue_refresh_token())


@contextlib.asynccontextmanager
async def running(config: Config, oa: FakeZaloOA, *, seed: bool = True) -> AsyncIterator[App]:
    """The bot's channels started (the OA's webhook where the fake posts), then stopped."""
    app = build_app(config)
    await app.prepare()
    if seed:
        await seeded(app, oa)
    started: list[Channel] = []
    try:
        for channel in app.channels.values():
            await channel.start()
            started.append(channel)
        oa.webhook_url = f"http://127.0.0.1:{app.channels[CHANNEL].webhook_port}{PATH}"
        yield app
    finally:
        for channel in reversed(started):
            await channel.stop()
        await app.close()


class OAUser:
    """A person writing to the Official Account."""

    def __init__(self, oa: FakeZaloOA, user_id: str) -> None:
        self.oa = oa
        self.id = user_id

    async def says(self, text: str, *, expect: str) -> OASent:
        mark = len(self.oa.sent)
        statuses = await self.oa.user_text(self.id, text)
        assert all(status == 200 for status in statuses), statuses
        return await self.reply(mark, expect)

    async def sends_photo(self, data: bytes, *, expect: str) -> OASent:
        mark = len(self.oa.sent)
        await self.oa.user_image(self.id, data)
        return await self.reply(mark, expect)

    async def reply(self, mark: int, expect: str) -> OASent:
        return await self.oa.wait_for(
            lambda s: s.user_id == self.id and expect in s.text, after=mark
        )


async def register(oa: FakeZaloOA, user_id: str, name: str) -> OAUser:
    person = OAUser(oa, user_id)
    mark = len(oa.sent)
    await oa.follow(user_id)  # following the OA is its /start
    consent = await person.reply(mark, "Trả lời 1 hoặc 2.")
    assert [b["payload"] for b in consent.buttons] == ["1", "2"]
    assert all(b["type"] == "oa.query.show" for b in consent.buttons)
    await person.says("1", expect="")
    await person.says(name, expect="sinh năm nào")
    await person.says("2002", expect="")
    await person.says("na sam", expect="")
    await person.says("bỏ qua", expect="Trả lời 1 hoặc 2.")  # the summary: confirm or change
    await person.says("1", expect="Menu")
    return person


async def add_oa_members(
    app: App, oa: FakeZaloOA, wrote_hours_ago: dict[str, float], unit_code: str = "ls-x-na-sam"
) -> None:
    """Members following the OA who last wrote that many hours ago, written directly."""
    now = dt.datetime.now(dt.UTC)
    async with app.db.write() as session:
        unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        for user, hours in wrote_hours_ago.items():
            member = Member(
                full_name=f"Đoàn viên {user}", birth_year=2002, is_minor=False, unit_id=unit.id
            )
            session.add(member)
            await session.flush()
            await count_member(session, unit.id, 1)  # as registration does
            wrote = now - dt.timedelta(hours=hours)
            session.add(
                Identity(
                    channel=CHANNEL,
                    user_id=user,
                    chat_id=user,
                    member_id=member.id,
                    last_message_at=wrote,
                )
            )
            oa.followers.add(user)
            oa.last_interaction[user] = wrote.timestamp()


async def test_a_young_person_registers_reports_with_a_photo_and_hears_the_review(
    tmp_path: Path, oa: FakeZaloOA
) -> None:
    """Every event comes twice; the photo is fetched and kept once; a secretary on the OA
    approves and the reporter hears it."""
    oa.twice = True
    async with running(oa_config(tmp_path, oa), oa) as app:
        mai = await register(oa, MAI, "Hoàng Thị Mai")
        await mai.says("/report", expect="")
        await mai.says("2", expect="")
        for answer in VOLUNTEER[:-1]:
            reply = await mai.says(answer, expect="")
            assert "⚠️" not in reply.text, reply.text
        await mai.sends_photo(jpeg("green"), expect="Đã nhận 1 tệp")
        await mai.says("xong", expect="bạn vui lòng kiểm tra trước khi gửi")
        await mai.says("1", expect="✅ Đã lưu. Báo cáo #")
        son = await register(oa, SON, "Lý Văn Sơn")
        async with app.db.write() as session:
            identity = await identity_for(session, CHANNEL, SON)
            unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
            await grant_role(session, identity, "secretary", unit, granted_by="test")
        await son.says("/review", expect="Sửa đường vào thôn Bản Chu")
        mark = len(oa.sent)
        await son.says("1", expect="Đã duyệt báo cáo #1")
        told = await mai.reply(mark, "đã được duyệt")
        async with app.db.read() as session:
            entries = (await session.scalars(select(Entry))).all()
            files = await session.scalar(select(func.count()).select_from(EntryFile))
    assert len(entries) == 1 and files == 1
    assert not told.paid and "<b>" not in told.text
    welcomes = [s for s in oa.to(MAI) if "Chào mừng bạn đến" in s.text]
    assert len(welcomes) == 1  # the follow event came twice, the welcome once
    assert all(len(s.text) <= 2000 for s in oa.sent)
    assert all(p.status == 200 for p in oa.posted)


async def test_the_webhook_takes_only_events_signed_by_the_app(
    tmp_path: Path, oa: FakeZaloOA
) -> None:
    async with running(oa_config(tmp_path, oa), oa):
        event = oa.event("user_send_text", MAI, message={"msg_id": "m-1", "text": "/start"})
        oa.followers.add(MAI)  # posted by hand below, not through the fake
        oa.last_interaction[MAI] = time.time()
        body = json.dumps(event).encode()
        good = oa.sign(body, event["timestamp"])
        json_type = {"Content-Type": "application/json"}
        async with httpx.AsyncClient() as client:

            async def post(content: bytes, **headers: str) -> int:
                response = await client.post(
                    oa.webhook_url, content=content, headers={**json_type, **headers}
                )
                return response.status_code

            forged = dict(event, app_id="999")
            statuses = [
                await post(body),  # unsigned: refused before the body is read
                await post(body, **{"X-ZEvent-Signature": "mac=" + "0" * 64}),
                await post(body + b" ", **{"X-ZEvent-Signature": good}),  # altered
                await post(
                    json.dumps(forged).encode(),
                    **{"X-ZEvent-Signature": oa.sign(json.dumps(forged).encode(), "x")},
                ),
                await post(b"x" * (3 * 1024 * 1024), **{"X-ZEvent-Signature": good}),
                await post(body, **{"X-ZEvent-Signature": good}),
                await post(body, **{"X-ZEvent-Signature": good}),  # Zalo's retry
            ]
        assert statuses == [403, 403, 403, 403, 413, 200, 200]
        await oa.wait_for(lambda s: s.user_id == MAI and "Trả lời 1 hoặc 2." in s.text)
    assert len([s for s in oa.to(MAI) if "Trả lời 1 hoặc 2." in s.text]) == 1


async def test_the_signature_scheme_is_a_setting(tmp_path: Path, no_proxy: None) -> None:
    """Some sources put the OA id first: with zalo_oa.signature saying so, those events are
    taken, and events signed the other way refused."""
    async with FakeZaloOA(signature=("oa_id", "body", "timestamp", "secret")) as oa:
        config = oa_config(tmp_path, oa)
        config = dataclasses.replace(
            config,
            zalo_oa=dataclasses.replace(
                config.zalo_oa, signature=("oa_id", "body", "timestamp", "secret")
            ),
        )
        async with running(config, oa):
            await register(oa, MAI, "Hoàng Thị Mai")
            oa.signature = ("app_id", "body", "timestamp", "secret")
            assert await oa.user_text(MAI, "/help") == [403]


async def test_tokens_rotate_and_one_process_refreshes_at_a_time(
    tmp_path: Path, oa: FakeZaloOA
) -> None:
    async with running(oa_config(tmp_path, oa), oa) as app:
        mai = await register(oa, MAI, "Hoàng Thị Mai")
        assert oa.refreshes == 1
        async with app.db.read() as session:
            first = await read_tokens(session, CHANNEL)
            assert first is not None and first.refresh_token in oa.refresh_tokens
        # The day is over: the access token expired; the next answer refreshes it once.
        oa.expire_access_tokens()
        await mai.says("/help", expect="")
        assert oa.refreshes == 2
        async with app.db.read() as session:
            second = await read_tokens(session, CHANNEL)
        assert second is not None and second.refresh_token != first.refresh_token
        assert first.refresh_token not in oa.refresh_tokens  # each works once

        # Two processes find the token expired at once: one refreshes, the other reads it.
        oa.expire_access_tokens()
        keepers = [TokenKeeper(app, app.config.zalo_oa, httpx.AsyncClient()) for _ in range(2)]
        stale = second.access_token
        tokens = await asyncio.gather(*(k.refresh(stale=stale) for k in keepers))
        for keeper in keepers:
            await keeper.http.aclose()
        assert oa.refreshes == 3
        assert tokens[0] == tokens[1] != stale
        await mai.says("/help", expect="")  # the bot's own keeper finds the new pair too
        assert oa.refreshes == 3


async def test_a_refused_token_stops_sending_tells_the_admins_once_and_never_spins(
    tmp_path: Path, oa: FakeZaloOA, no_proxy: None
) -> None:
    async with FakeBotApi() as telegram_api:
        config = oa_config(
            tmp_path,
            oa,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_API_BASE_URL=telegram_api.root_url,
        )
        async with running(config, oa) as app:
            await add_oa_members(app, oa, {f"z-{n}": 1.0 for n in range(5)})
            lan = await lan_on_telegram(app, telegram_api, "admin")
            oa.revoke()  # the OA's admin took the app's access away
            await broadcast_to_everyone(lan, "Sinh hoạt chi đoàn tối thứ Sáu", 6)
            await lan.says("1", expect="")
            alert = await telegram_api.wait_for(
                lambda m: m.chat_id == 3003 and "mã truy cập" in (m.text or ""), timeout=20
            )
            assert "Zalo OA" in (alert.text or "")
            calls = len(oa.calls)
            await oa.user_text("z-1", "/help")  # a member writes meanwhile: nothing is tried
            await app.channels[CHANNEL].drain()
            assert len(oa.calls) == calls
            async with app.db.read() as session:
                statuses = (
                    await session.scalars(
                        select(OutboxMessage.status).where(OutboxMessage.channel == CHANNEL)
                    )
                ).all()
                told = (
                    await session.scalars(
                        select(AuditRecord).where(AuditRecord.action == "channel.token_refused")
                    )
                ).all()
        assert set(statuses) == {"pending"}  # kept for when a new token is given
        assert [(a.details["channel"], a.details["told"]) for a in told] == [(CHANNEL, 1)]
    assert oa.refreshes == 1  # the refused refresh token was tried once, not in a loop


async def broadcast_to_everyone(lan: User, text: str, recipients: int) -> str:
    """Lan writes an announcement to every member she may reach; what the preview said."""
    await lan.says("/broadcast", expect="")
    await lan.says(text, expect="")
    await lan.says("skip", expect="")
    await lan.says("1", expect="")
    reach = await lan.says("1", expect=f"Gửi tới {recipients} đoàn viên")
    return reach.text or ""


async def test_a_broadcast_inside_and_outside_the_window(
    tmp_path: Path, oa: FakeZaloOA, no_proxy: None
) -> None:
    """Inside 48 hours: a free message; after: the paid template; the preview counts both
    and the cost, and how long the sending takes at the OA's pace."""
    async with FakeBotApi() as telegram_api:
        config = oa_config(
            tmp_path,
            oa,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_API_BASE_URL=telegram_api.root_url,
        )
        async with running(config, oa) as app:
            await add_oa_members(app, oa, {"in-1": 2.0, "in-2": 47.0, "out-1": 60.0, "out-2": 500})
            lan = await lan_on_telegram(app, telegram_api, "admin")
            await broadcast_to_everyone(lan, "Ngày hội thanh niên tình nguyện 15/12", 5)
            preview = "\n".join(m.text or "" for m in telegram_api.messages_to(3003))
            assert "✅ 3 đoàn viên nhận miễn phí" in preview  # two on Zalo, Lan on Telegram
            assert "💳 2 đoàn viên" in preview and "400 ₫" in preview
            await lan.says("1", expect="")
            await telegram_api.wait_for(
                lambda m: m.chat_id == 3003 and "đã gửi xong" in (m.text or ""), timeout=20
            )
    free = {s.user_id for s in oa.sent if s.kind == "text" and "Ngày hội" in s.text}
    templates = [s for s in oa.sent if s.kind == "template"]
    assert free == {"in-1", "in-2"}
    assert not [s for s in oa.sent if s.kind == "text" and s.paid]  # nothing paid by mistake
    assert {s.user_id for s in templates} == {"out-1", "out-2"}
    assert all("Ngày hội thanh niên" in s.template_data["content"] for s in templates)
    assert all("<b>" not in s.template_data["content"] for s in templates)


async def test_without_a_template_the_preview_says_who_cannot_be_reached(
    tmp_path: Path, oa: FakeZaloOA, no_proxy: None
) -> None:
    async with FakeBotApi() as telegram_api:
        config = oa_config(
            tmp_path,
            oa,
            template=False,
            per_minute=10,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_API_BASE_URL=telegram_api.root_url,
        )
        async with running(config, oa) as app:
            members = {f"z-{n}": 1.0 for n in range(700)} | {"gone": 200.0}
            await add_oa_members(app, oa, members)
            lan = await lan_on_telegram(app, telegram_api, "admin")
            await broadcast_to_everyone(lan, "Ngày hội thanh niên tình nguyện 15/12", 702)
            preview = "\n".join(m.text or "" for m in telegram_api.messages_to(3003))
            assert "🚫 1 đoàn viên" in preview
            assert "💳" not in preview
            # 700 at 8 a minute (10, less a fifth kept for answers): hours; an article is better.
            assert re.search(r"⏱ .*1 giờ 28 phút", preview), preview
            assert "bài viết" in preview
            await lan.says("2", expect="")  # not sent


async def test_zalo_errors_back_off_skip_and_recover(tmp_path: Path, oa: FakeZaloOA) -> None:
    """-32 slows the sending down and the answer still goes; -213 (not following) marks the
    person unreachable until they write again."""
    async with running(oa_config(tmp_path, oa), oa) as app:
        mai = await register(oa, MAI, "Hoàng Thị Mai")
        oa.fail_next = [-32]
        reply = await mai.says("/help", expect="")
        assert reply.text
        assert (("/v3.0/oa/message/cs", -32)) in oa.calls
        async with app.db.write() as session:
            identity = await identity_for(session, CHANNEL, MAI)
            await grant_role(session, identity, "admin", None, granted_by="test")
        await add_oa_members(app, oa, {SON: 1.0})
        oa.followers.discard(SON)  # he unfollowed
        await mai.says("/broadcast", expect="")
        await mai.says("Họp chi đoàn sáng Chủ nhật", expect="")
        await mai.says("bỏ qua", expect="")
        await mai.says("1", expect="")
        await mai.says("1", expect="")
        await mai.says("1", expect="")
        await oa.wait_for(lambda s: s.user_id == MAI and "đã gửi xong" in s.text)
        async with app.db.read() as session:
            son = await identity_for(session, CHANNEL, SON)
            assert son.unreachable_at is not None
        mark = len(oa.sent)
        await oa.user_text(SON, "/help")  # he follows and writes again
        await oa.wait_for(lambda s: s.user_id == SON, after=mark)
        async with app.db.read() as session:
            son = await identity_for(session, CHANNEL, SON)
            assert son.unreachable_at is None


# -- the whole flow, as the process operators run, killed in the middle ---------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode()


@contextlib.asynccontextmanager
async def bot_process(env: dict[str, str], port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await start_bot_run(env)
    try:

        async def listening() -> bool | None:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return None
            writer.close()
            return True

        await polled(listening, timeout=60)  # until the webhook listens
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def write_config(tmp_path: Path) -> int:
    """The project's config.toml for the test: its own webhook port (returned), the fake's
    pictures, an approved template, and a pace that does not slow the test down."""
    port = free_port()
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("webhook_port = 8446", f"webhook_port = {port}")
    text = text.replace(
        'media_hosts = ["zalo.me", "zdn.vn"', 'media_hosts = ["127.0.0.1", "zdn.vn"'
    )
    text = text.replace('id = ""\ncost = 200', 'id = "tpl-announcement"\ncost = 200')
    text = text.replace("per_minute = 100", "per_minute = 6000")
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return port


async def report_the_rest(mai: OAUser) -> None:
    for answer in VOLUNTEER[5:-1]:
        await mai.says(answer, expect="")
    await mai.sends_photo(jpeg("green"), expect="Đã nhận 1 tệp")
    await mai.says("xong", expect="bạn vui lòng kiểm tra trước khi gửi")
    await mai.says("1", expect="✅ Đã lưu. Báo cáo #")


async def secretary_by_the_command_line(telegram_api: FakeBotApi, env: dict[str, str]) -> User:
    """Lan registers on Telegram; an operator makes her secretary of Xã Na Sầm."""
    lan = User(telegram_api, 3003)
    for line in ("/start", "1", "Nông Thị Lan", "2001", "na sam"):
        await lan.says(line, expect="")
    await lan.says("skip", expect="kiểm tra trước khi gửi")
    await lan.says("1", expect="Menu")
    code, output = await cli(
        env, "roles", "grant", "secretary", "--user-id", "3003", "--unit", "ls-x-na-sam"
    )
    assert code == 0, output
    return lan


async def test_the_whole_flow_with_a_crash_in_the_middle_and_every_event_twice(
    tmp_path: Path, oa: FakeZaloOA, no_proxy: None
) -> None:
    """As operators run it: the token seeded by the command line; a young person on the OA
    registers and reports with a photo, the bot is killed mid-report (events meanwhile get
    no answer and come again), a secretary on Telegram approves and she hears it on Zalo;
    then a broadcast reaches her free and a member gone quiet by a template."""
    port = write_config(tmp_path)
    oa.twice = True
    oa.webhook_url = f"http://127.0.0.1:{port}{PATH}"
    async with FakeBotApi() as telegram_api:
        env = bot_env(
            tmp_path,
            **oa_env(oa),
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_API_BASE_URL=telegram_api.root_url,
        )
        code, output = await cli(env, "zalo-oa", "token", "--refresh-token", "not-a-token")
        assert code == 1 and "refused" in output
        code, output = await cli(
            env, "zalo-oa", "token", "--refresh-token", oa.issue_refresh_token()
        )
        assert code == 0, output

        async with bot_process(env, port) as process:
            mai = await register(oa, MAI, "Hoàng Thị Mai")
            await mai.says("/report", expect="")
            await mai.says("2", expect="")
            for answer in VOLUNTEER[:4]:
                await mai.says(answer, expect="")
            process.kill()  # SIGKILL, in the middle of the report
            await process.wait()
            assert await oa.user_text(MAI, VOLUNTEER[4]) == [None, None]  # the bot is down
        mark = len(oa.sent)
        async with bot_process(env, port):
            await oa.redeliver()  # Zalo posts it again
            await mai.reply(mark, "")
            await report_the_rest(mai)

            lan = await secretary_by_the_command_line(telegram_api, env)
            await lan.says("/review", expect="Sửa đường vào thôn Bản Chu")
            mark = len(oa.sent)
            await lan.says("1", expect="Đã duyệt")
            approved = await mai.reply(mark, "đã được duyệt")
            assert not approved.paid

            app = build_app(make_config(tmp_path))
            await add_oa_members(app, oa, {"quiet": 100.0})
            await app.close()
            await broadcast_to_everyone(lan, "Ngày hội thanh niên tình nguyện 15/12", 3)
            await lan.says("1", expect="")
            await telegram_api.wait_for(
                lambda m: m.chat_id == 3003 and "đã gửi xong" in (m.text or ""), timeout=30
            )
            await oa.wait_for(lambda s: s.kind == "template" and s.user_id == "quiet")
            await oa.wait_for(lambda s: s.user_id == MAI and "Ngày hội" in s.text)

    app = build_app(make_config(tmp_path))
    try:
        async with app.db.read() as session:
            entries = (await session.scalars(select(Entry))).all()
            files = await session.scalar(select(func.count()).select_from(EntryFile))
    finally:
        await app.close()
    assert len(entries) == 1 and files == 1
    assert entries[0].answers["own_hours"] in (4, 4.0, "4")  # given while the bot was down
    assert len([s for s in oa.to(MAI) if "Ngày hội" in s.text]) == 1
    assert len([s for s in oa.to(MAI) if "đã được duyệt" in s.text]) == 1


def test_the_settings_say_what_is_wrong(tmp_path: Path, oa: FakeZaloOA) -> None:
    with pytest.raises(ConfigError, match="set all three"):
        make_config(tmp_path, ZALO_OA_APP_ID="1", ZALO_OA_ID="2")
    env = {**oa_env(oa), "ZALO_OA_WEBHOOK_URL": ""}
    with pytest.raises(ConfigError, match="only to a webhook"):
        make_config(tmp_path, **env)
    config = tmp_path / "config.toml"
    make_config(tmp_path)  # the project's config.toml, copied
    original = config.read_text(encoding="utf-8")
    for wrong, message in (
        ('signature = ["app_id", "body", "timestamp", "secret"]', "zalo_oa.signature"),
        ('params = { content = "{text}", date = "{date}" }', "only {text} and {date}"),
    ):
        bad = {
            "zalo_oa.signature": 'signature = ["app_id", "body", "hmac"]',
            "only {text} and {date}": 'params = { content = "{name}" }',
        }[message]
        config.write_text(original.replace(wrong, bad).replace('id = ""', 'id = "t-1"'))
        with pytest.raises(ConfigError, match=re.escape(message)):
            make_config(tmp_path, **oa_env(oa))
    config.write_text(original.replace('id = ""', 'id = "t-1"'), encoding="utf-8")
    settings = make_config(tmp_path, **oa_env(oa)).zalo_oa
    assert settings.enabled and settings.announcement is not None
    assert settings.announcement.params == (("content", "{text}"), ("date", "{date}"))


async def test_pictures_are_uploaded_and_sent_by_attachment_id(
    tmp_path: Path, oa: FakeZaloOA
) -> None:
    """An invitation's QR code goes as a picture: uploaded once, then sent by its id."""
    async with running(oa_config(tmp_path, oa), oa) as app:
        son = await register(oa, SON, "Lý Văn Sơn")
        async with app.db.write() as session:
            identity = await identity_for(session, CHANNEL, SON)
            unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
            await grant_role(session, identity, "secretary", unit, granted_by="test")
        mark = len(oa.sent)
        invitation = await son.says("/invite", expect="Lời mời mới")
        picture = await oa.wait_for(lambda s: s.kind == "image", after=mark)
    assert "không nhận được tệp" not in invitation.text
    assert oa.uploads[picture.attachment_id].startswith(b"\x89PNG")


async def test_a_used_up_quota_stops_the_oa_and_tells_the_admins_once(
    tmp_path: Path, oa: FakeZaloOA, no_proxy: None
) -> None:
    async with FakeBotApi() as telegram_api:
        config = oa_config(
            tmp_path,
            oa,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_API_BASE_URL=telegram_api.root_url,
        )
        async with running(config, oa) as app:
            await add_oa_members(app, oa, {"z-1": 1.0, "z-2": 1.0, "z-3": 100.0})
            lan = await lan_on_telegram(app, telegram_api, "admin")
            await broadcast_to_everyone(lan, "Sinh hoạt chi đoàn tối thứ Sáu", 4)
            oa.quota = 1  # one message left
            await lan.says("1", expect="")
            await telegram_api.wait_for(
                lambda m: m.chat_id == 3003 and "hạn mức tin nhắn" in (m.text or ""), timeout=20
            )
            calls = len(oa.calls)
            await oa.user_text("z-1", "/help")  # nothing is tried meanwhile
            await app.channels[CHANNEL].drain()
            assert len(oa.calls) == calls
            async with app.db.read() as session:
                statuses = (
                    await session.scalars(
                        select(OutboxMessage.status).where(OutboxMessage.channel == CHANNEL)
                    )
                ).all()
        assert sorted(statuses) == ["pending", "pending", "sent"]
    assert len([m for m in telegram_api.messages_to(3003) if "hạn mức" in (m.text or "")]) == 1
