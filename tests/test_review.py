"""Review end to end on Telegram: a secretary approves or returns entries of their units with
one tap, the reporter is told in their language, and two reviewers never both decide."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.channels.telegram import TelegramChannel
from models.people import grant_role, identity_for, revoke_role
from models.tables import Unit
from tests.botapi import FakeBotApi
from tests.test_reporting import VOLUNTEER
from tests.test_telegram import User, started, stopped, telegram_config

MAI, SON, LAN, TUAN = 1001, 1002, 1003, 1004


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[TelegramChannel]:
    channel = await started(telegram_config(tmp_path, server))
    yield channel
    await stopped(channel)


async def join(
    server: FakeBotApi, user_id: int, name: str, unit: str, language: str = "vi"
) -> User:
    person = User(server, user_id, language)
    await person.says("/start", expect="?")
    await person.says("1", expect="")
    await person.says(name, expect="")
    await person.says("2002", expect="")
    await person.says(unit, expect="")
    await person.says("skip", expect="")
    return person


async def make_secretary(bot: TelegramChannel, user_id: int, unit_code: str) -> None:
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(user_id))
        unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")


async def report(person: User, activity: str) -> None:
    await person.says("/report", expect="")
    await person.says("2", expect="")
    for answer in (activity, *VOLUNTEER[1:]):
        await person.says(answer, expect="")
    await person.says("1", expect="#")


def statuses(tmp_path: Path) -> list[tuple[int, str, str | None]]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        return db.execute("SELECT id, status, reject_reason FROM entries ORDER BY id").fetchall()


async def test_approve_and_return_with_a_reason_and_the_reporter_is_told(
    tmp_path: Path, server: FakeBotApi, bot: TelegramChannel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    john = await join(server, TUAN, "John Tuan Nguyen", "na sam", language="en")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await report(john, "Dọn rác bờ suối")

    card = await son.says("/review", expect="#1 · Hoạt động tình nguyện")
    assert "Người báo cáo: Hoàng Thị Mai" in (card.text or "")
    await son.reply(0, "Đơn vị của bạn có 2 báo cáo đang chờ duyệt.")
    mark = len(server.sent)
    await son.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #1.")
    told = await mai.reply(mark, "đã được duyệt")
    assert "Báo cáo #1 «Sửa đường vào thôn Bản Chu» của bạn đã được duyệt" in (told.text or "")
    await son.reply(mark, "#2 · Hoạt động tình nguyện")
    await son.presses("↩️ Trả lại kèm lý do", expect="Vì sao trả lại báo cáo?")
    assert "Bạn vui lòng viết ít nhất 5 ký tự." in ((await son.says("ok", expect="⚠️")).text or "")
    mark = len(server.sent)
    await son.says("Xin bổ sung ảnh hoạt động <b>&", expect="↩️ Đã trả lại báo cáo #2.")
    told = await john.reply(mark, "returned for changes")
    assert "Reason: Xin bổ sung ảnh hoạt động <b>&" in (told.text or "")
    await son.reply(mark, "Không còn báo cáo nào chờ duyệt")
    assert statuses(tmp_path) == [
        (1, "approved", None),
        (2, "rejected", "Xin bổ sung ảnh hoạt động <b>&"),
    ]

    # John fixes the returned entry; it comes back to the queue and is approved.
    await john.presses("📂 My entries", expect="Your entries")
    await john.says("1", expect="#2 · Volunteer work")  # newest first: #2 is his only entry
    await john.presses("✏️ Fix and send again", expect="please check before sending")
    await john.presses("✅ Submit", expect="Sent again. Entry #2")
    await son.says("/review", expect="#2 · Hoạt động tình nguyện")
    await son.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #2.")
    assert [status for _, status, _ in statuses(tmp_path)] == ["approved", "approved"]


async def test_two_reviewers_the_first_decision_wins(
    tmp_path: Path, server: FakeBotApi, bot: TelegramChannel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    lan = await join(server, LAN, "Vi Thị Lan", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await make_secretary(bot, LAN, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await son.says("/review", expect="#1 ·")
    await lan.says("/review", expect="#1 ·")
    await son.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #1.")
    await lan.presses("↩️ Trả lại kèm lý do", expect="Vì sao")
    late = await lan.says("Thiếu ảnh minh chứng", expect="đã được Lý Văn Sơn xét duyệt trước")
    assert "Báo cáo #1 đã được Lý Văn Sơn xét duyệt trước." in (late.text or "")
    assert statuses(tmp_path) == [(1, "approved", None)]


async def test_only_secretaries_of_the_unit_see_and_decide(
    tmp_path: Path, server: FakeBotApi, bot: TelegramChannel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    lan = await join(server, LAN, "Vi Thị Lan", "dong dang")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await make_secretary(bot, LAN, "ls-x-dong-dang")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    refused = await mai.says("/review", expect="dành cho bí thư")
    assert "#1" not in (refused.text or "")
    empty = await lan.says("/review", expect="Không còn báo cáo nào chờ duyệt")
    assert "#1" not in (empty.text or "")
    # Forged buttons: a review decision while no review is open does nothing.
    mark = len(server.sent)
    server.user_callback(LAN, "f:review:decision:approve")
    await lan.reply(mark, "Nút này không còn dùng được nữa")
    server.user_callback(MAI, "f:review:decision:approve")
    await mai.reply(mark, "Nút này không còn dùng được nữa")
    assert statuses(tmp_path) == [(1, "submitted", None)]
    # Losing the role between seeing the card and deciding: the decision is refused.
    await son.says("/review", expect="#1 ·")
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(SON))
        await revoke_role(session, identity, "secretary", None, revoked_by="test")
    await son.presses("✅ Duyệt", expect="dành cho bí thư")
    assert statuses(tmp_path) == [(1, "submitted", None)]


async def test_a_decision_no_longer_yours_says_why(
    tmp_path: Path, server: FakeBotApi, bot: TelegramChannel
) -> None:
    """Between showing the card and deciding, the secretary is moved to another unit, or
    the reporter withdraws: nothing is decided, and the secretary is told which."""
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await son.says("/review", expect="#1 ·")
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(SON))
        await revoke_role(session, identity, "secretary", None, revoked_by="test")
    await make_secretary(bot, SON, "ls-x-dong-dang")
    moved = await son.presses("✅ Duyệt", expect="không còn thuộc các đơn vị")
    assert "Báo cáo #1 không còn thuộc các đơn vị bạn xét duyệt." in (moved.text or "")
    assert "xét duyệt trước" not in (moved.text or "")
    assert statuses(tmp_path) == [(1, "submitted", None)]

    await make_secretary(bot, SON, "ls-x-na-sam")
    await son.says("/review", expect="#1 ·")
    await mai.says("/myentries", expect="Các báo cáo của bạn")
    await mai.says("1", expect="#1 · Hoạt động tình nguyện")
    await mai.presses("🗑 Rút báo cáo này", expect="Bạn muốn rút báo cáo này?")
    await mai.presses("Có, rút báo cáo", expect="Đã rút báo cáo #1.")
    withdrawn = await son.presses("✅ Duyệt", expect="đã được người báo cáo rút lại")
    assert "Báo cáo #1 đã được người báo cáo rút lại." in (withdrawn.text or "")
    assert statuses(tmp_path) == [(1, "withdrawn", None)]
