"""Broadcasts through the outbox, end to end on Telegram: every reachable member gets the
message exactly once despite rate limits, server errors, blocked users and a restart."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

import bot.delivery
from bot.app import App
from bot.channels.runtime import Channel
from bot.config import Config
from models.invites import create_invite
from models.outbox import audience, count_audience
from models.people import grant_role, identity_for
from models.tables import Identity, Member, OutboxMessage, Unit
from tests.botapi import FakeBotApi
from tests.test_reporting import REGISTER, say
from tests.test_review import join
from tests.test_telegram import User, started, stopped, telegram_config
from tests.test_telegram_reporting import jpeg

SON = 1002
FIRST_MEMBER = 500_000


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def fast_config(tmp_path: Path, server: FakeBotApi) -> Config:
    config = telegram_config(tmp_path, server)
    return dataclasses.replace(
        config, telegram=dataclasses.replace(config.telegram, rate_per_second=1000)
    )


async def add_members(
    channel: Channel,
    count: int,
    *,
    first_chat: int = FIRST_MEMBER,
    unit_code: str = "ls-x-na-sam",
) -> int:
    """Registered members with Telegram chats (one in ten speaking English), written directly:
    registering thousands of people through the chat would test registration, not delivery.
    Returns their unit's id."""
    async with channel.app.db.write() as session:
        unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        now = dt.datetime.now(dt.UTC)
        members = await session.execute(
            insert(Member).returning(Member.id),
            [
                {
                    "full_name": f"Đoàn viên {n}",
                    "birth_year": 2000,
                    "is_minor": False,
                    "unit_id": unit.id,
                    "broadcasts_off": False,
                    "registered_at": now,
                }
                for n in range(count)
            ],
        )
        # What registration keeps: how many members the unit has.
        await session.execute(
            update(Unit).where(Unit.id == unit.id).values(members=Unit.members + count)
        )
        await session.execute(
            insert(Identity),
            [
                {
                    "channel": "telegram",
                    "user_id": str(first_chat + n),
                    "chat_id": str(first_chat + n),
                    "member_id": member_id,
                    "created_at": now,
                    "locale": "en" if n % 10 == 1 else None,
                }
                for n, member_id in enumerate(members.scalars().all())
            ],
        )
        return unit.id


async def secretary(server: FakeBotApi, channel: Channel) -> User:
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    async with channel.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(SON))
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")
    return son


def member_deliveries(server: FakeBotApi) -> Counter[int]:
    return Counter(
        m.chat_id
        for m in server.sent
        if m.method in ("sendMessage", "sendPhoto") and m.chat_id >= FIRST_MEMBER
    )


async def test_a_broadcast_reaches_every_reachable_member_exactly_once(
    tmp_path: Path, server: FakeBotApi
) -> None:
    channel = await started(fast_config(tmp_path, server))
    try:
        await add_members(channel, 2000)
        son = await secretary(server, channel)
        await son.says("/broadcast", expect="Bạn viết nội dung thông báo")
        await son.says(
            "Chủ nhật này 7h tập trung tại nhà văn hóa <b>& mang găng tay</b>", expect=""
        )
        mark = len(server.sent)
        server.user_photo(SON, jpeg("green"))
        await son.reply(mark, "Đã nhận 1 tệp")
        await son.says("xong", expect="Ai sẽ nhận thông báo?")
        await son.says("1", expect="")
        confirm = await son.says("1", expect="2.001")
        assert "Gửi tới 2.001 đoàn viên, thanh niên ngay bây giờ?" in (confirm.text or "")
        assert any(m.method == "sendPhoto" and m.chat_id == SON for m in server.sent[mark:])
        server.blocked.update(FIRST_MEMBER + n for n in range(0, 300, 10))  # 30 blocked the bot
        await son.says("1", expect="đang được gửi tới 2.001 đoàn viên")
        server.fail_next("sendPhoto", 429, times=2, retry_after=1)
        server.fail_next("sendPhoto", 502, times=5)
        final = await server.wait_for(
            lambda m: m.chat_id == SON and "đã gửi xong" in (m.text or ""), timeout=60
        )
    finally:
        await stopped(channel)
    assert "không liên lạc được 30" in (final.text or "")
    delivered = member_deliveries(server)
    assert len(delivered) == 2000 - 30  # every reachable member
    assert set(delivered.values()) == {1}  # exactly once
    assert not set(delivered) & server.blocked
    english = next(m for m in server.sent if m.chat_id == FIRST_MEMBER + 11)
    assert "Announcement from Na Sầm Commune Youth Union" in (english.text or "")
    vietnamese = next(m for m in server.sent if m.chat_id == FIRST_MEMBER + 32)
    assert "Thông báo từ Đoàn xã Na Sầm" in (vietnamese.text or "")  # the union sends it
    assert "<b>& mang găng tay</b>" in (vietnamese.text or "")  # the sender's text, escaped
    uploads = [
        m
        for m in server.sent
        if m.method == "sendPhoto" and not isinstance(m.params["photo"], str)
    ]
    assert len(uploads) == 2  # the preview and the first delivery; then Telegram's file id


async def test_a_restart_mid_broadcast_loses_no_one(
    tmp_path: Path, server: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.delivery, "LEASE", dt.timedelta(seconds=1))
    config = fast_config(tmp_path, server)
    channel = await started(config)
    await add_members(channel, 600)
    son = await secretary(server, channel)
    await son.says("/broadcast", expect="Bạn viết nội dung thông báo")
    await son.says("Họp chi đoàn tối thứ Sáu", expect="")
    await son.says("bỏ qua", expect="Ai sẽ nhận thông báo?")
    await son.says("1", expect="")
    await son.says("1", expect="601")
    await son.says("1", expect="đang được gửi")
    await server.wait_for(lambda m: len(member_deliveries(server)) >= 200, timeout=30)
    await stopped(channel)  # the worker is cancelled wherever it is
    sent_before = len(member_deliveries(server))
    assert sent_before < 600

    restarted = await started(config)
    try:
        await server.wait_for(
            lambda m: m.chat_id == SON and "đã gửi xong" in (m.text or ""), timeout=60
        )
        async with restarted.app.db.read() as session:
            statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
    finally:
        await stopped(restarted)
    delivered = member_deliveries(server)
    assert len(delivered) == 600
    assert sum(delivered.values()) <= 600 + 1  # at most the one in flight is repeated
    assert statuses == {"sent": 601}


async def test_stop_opts_out_of_broadcasts_and_start_opts_back_in(app: App) -> None:
    for line in REGISTER:
        await say(app, line)

    async def reached() -> int:
        async with app.db.read() as session:
            return await count_audience(session, audience(None))

    assert await reached() == 1
    assert "Bạn sẽ không nhận thông báo chung nữa" in await say(app, "/stop")
    assert await reached() == 0
    assert "Bạn sẽ nhận lại các thông báo chung." in await say(app, "/start")
    assert await reached() == 1


async def test_an_invitation_opened_while_registering_starts_afresh(app: App) -> None:
    async with app.db.write() as session:
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-dong-dang"))).one()
        invite = await create_invite(session, unit.id, actor="test")
    await say(app, "/start")
    await say(app, "1")
    fresh = await say(app, f"/start {invite.code}")
    assert "Bạn được mời tham gia Xã Đồng Đăng" in fresh
    for line in ("1", "Hoàng Thị Mai", "2004"):
        reply = await say(app, line)
    assert "Số điện thoại" in reply  # the unit question never came


async def test_only_the_sender_or_an_admin_cancels_a_broadcast(
    tmp_path: Path, server: FakeBotApi
) -> None:
    config = fast_config(tmp_path, server)
    config = dataclasses.replace(
        config, telegram=dataclasses.replace(config.telegram, rate_per_second=2)
    )
    channel = await started(config)  # slow on purpose: the broadcast is still running
    try:
        await add_members(channel, 50)
        son = await secretary(server, channel)
        lan = await join(server, 1003, "Vi Thị Lan", "na sam")
        async with channel.app.db.write() as session:
            identity = await identity_for(session, "telegram", "1003")
            unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
            await grant_role(session, identity, "secretary", unit, granted_by="test")
        await son.says("/broadcast", expect="Bạn viết nội dung thông báo")
        await son.says("Họp chi đoàn tối thứ Sáu", expect="")
        await son.says("bỏ qua", expect="Ai sẽ nhận thông báo?")
        await son.says("1", expect="")
        await son.says("1", expect="Gửi tới")
        await son.says("1", expect="đang được gửi")
        # Another secretary sees nothing to cancel, and a forged button does nothing.
        await lan.says("/broadcasts", expect="Không có thông báo nào đang được gửi.")
        mark = len(server.sent)
        server.user_callback(1003, "f:broadcasts:broadcast:1")
        await lan.reply(mark, "Nút này không còn dùng được nữa")
        # The sender cancels it.
        await son.says("/broadcasts", expect="Bạn muốn hủy thông báo nào?")
        cancelled = await son.says("1", expect="Đã hủy thông báo #1")
        assert "tin nhắn sẽ không được gửi" in (cancelled.text or "")
        # The list's button pressed once more: nothing more is cancelled, and it says why.
        mark = len(server.sent)
        server.user_callback(1002, "f:broadcasts:broadcast:1")
        again = await son.reply(mark, "Thông báo #1 không còn đang gửi; chưa có gì thay đổi.")
        assert again.text
        async with channel.app.db.read() as session:
            statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
        assert statuses["cancelled"] > 0
        assert statuses["pending"] == 0
    finally:
        await stopped(channel)
