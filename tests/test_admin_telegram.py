"""An admin runs a campaign on Telegram, end to end over HTTP: statistics with charts as
photos, news that reaches members, and a reminder to those who have not reported."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.channels.runtime import Channel
from models.people import grant_role, identity_for
from models.tables import AuditRecord
from tests.botapi import FakeBotApi
from tests.test_broadcast import FIRST_MEMBER, add_members, fast_config, member_deliveries
from tests.test_review import join, report
from tests.test_telegram import User, started, stopped

ADMIN = 1001
NEWS = "Ngày hội thanh niên khởi nghiệp, 8h sáng Chủ nhật"


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


async def admin(server: FakeBotApi, channel: Channel) -> User:
    person = await join(server, ADMIN, "Nông Thị Hà", "na sam")
    async with channel.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(ADMIN))
        await grant_role(session, identity, "admin", None, granted_by="test")
    return person


async def test_an_admin_runs_a_campaign_on_telegram(tmp_path: Path, server: FakeBotApi) -> None:
    config = fast_config(tmp_path, server)
    # Whatever the hour the test runs, quiet hours must not hold the news back.
    awake = dataclasses.replace(config.schedules, quiet_start=dt.time(0), quiet_end=dt.time(0))
    channel = await started(dataclasses.replace(config, schedules=awake))
    try:
        await add_members(channel, 30)
        ha = await admin(server, channel)
        await report(ha, "Trồng cây xanh ở trường học")

        mark = len(server.sent)
        await ha.says("/stats", expect="Thống kê: toàn tỉnh")
        await ha.reply(mark, "Bạn cần xem thêm gì không?")
        photos = [m for m in server.sent[mark:] if m.method == "sendPhoto" and m.chat_id == ADMIN]
        assert len(photos) == 1  # entries per month; nothing is approved to rank yet
        upload = photos[0].params["photo"]
        assert not isinstance(upload, str)
        with Image.open(io.BytesIO(upload.content)) as image:
            assert image.format == "PNG" and image.width > 400

        await ha.presses(
            "👥 Ai chưa báo cáo trong tháng", expect="30 đoàn viên, thanh niên chưa báo cáo"
        )
        await ha.presses("🔔 Nhắc các bạn ấy", expect="Lời nhắc đang được gửi tới 30 đoàn viên")
        await server.wait_for(lambda m: len(member_deliveries(server)) >= 30, timeout=30)
        reminded = next(m for m in server.sent if m.chat_id == FIRST_MEMBER + 2)
        assert "bạn chưa gửi báo cáo nào" in (reminded.text or "")

        await ha.says("/news", expect="Bạn viết nội dung tin")
        await ha.says(NEWS, expect="Kèm theo một ảnh?")
        await ha.says("bỏ qua", expect="Gửi trong phạm vi nào?")
        await ha.presses("Toàn tỉnh", expect="Gửi tới ai?")
        await ha.presses("Đoàn viên, thanh niên", expect="Gửi ngay hay hẹn giờ gửi?")
        await ha.presses("Gửi ngay", expect="bạn vui lòng kiểm tra trước khi gửi")
        await ha.presses("📰 Xác nhận", expect="đang được gửi tới 31 người")
        await server.wait_for(lambda m: sum(member_deliveries(server).values()) >= 60, timeout=30)
        async with channel.app.db.read() as session:
            actions = (await session.scalars(select(AuditRecord.action))).all()
    finally:
        await stopped(channel)
    news = [m for m in server.sent if NEWS in (m.text or "")]
    assert {m.chat_id for m in news} >= {FIRST_MEMBER + n for n in range(30)}
    assert set(member_deliveries(server).values()) == {2}  # the reminder and the news, once
    assert {"reminder.sent", "news.sent"} <= set(actions)
