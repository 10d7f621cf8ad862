"""Review end to end on Telegram: a secretary approves or returns entries of their units with
one tap, the reporter is told in their language, and two reviewers never both decide."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.channels.runtime import Channel
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
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
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
    await person.says("1", expect="")  # the summary: confirmed
    return person


async def make_secretary(bot: Channel, user_id: int, unit_code: str) -> None:
    async with bot.app.db.write() as session:
        identity = await identity_for(session, "telegram", str(user_id))
        unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")


async def report(person: User, activity: str, *, behalf: str | None = None) -> None:
    """A volunteer report; a secretary first says for whom ("1": themselves)."""
    await person.says("/report", expect="")
    await person.says("2", expect="")
    if behalf is not None:
        await person.says(behalf, expect="")
    for answer in (activity, *VOLUNTEER[1:]):
        await person.says(answer, expect="")
    await person.says("1", expect="#")


def statuses(tmp_path: Path) -> list[tuple[int, str, str | None]]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        return db.execute("SELECT id, status, reject_reason FROM entries ORDER BY id").fetchall()


async def test_approve_and_return_with_a_reason_and_the_reporter_is_told(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    john = await join(server, TUAN, "John Tuan Nguyen", "na sam", language="en")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await report(john, "Dọn rác bờ suối")

    card = await son.says("/review", expect="#1 · Hoạt động tình nguyện")
    assert "Người báo cáo: Hoàng Thị Mai" in (card.text or "")
    await son.reply(0, "Có 2 báo cáo chờ bạn duyệt.")
    mark = len(server.sent)
    await son.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #1.")
    told = await mai.reply(mark, "đã được duyệt")
    assert "Báo cáo #1 «Sửa đường vào thôn Bản Chu» của bạn đã được duyệt" in (told.text or "")
    await son.reply(mark, "#2 · Hoạt động tình nguyện")
    asked = await son.presses("↩️ Trả lại kèm lý do", expect="Vì sao trả lại báo cáo?")
    assert "Bạn hãy nêu rõ nội dung cần bổ sung, chỉnh sửa" in (asked.text or "")
    assert "Bạn vui lòng viết ít nhất 5 ký tự." in ((await son.says("ok", expect="⚠️")).text or "")
    mark = len(server.sent)
    await son.says("Xin bổ sung ảnh hoạt động <b>&", expect="↩️ Đã trả lại báo cáo #2.")
    told = await john.reply(mark, "returned for changes")
    assert "Reason: Xin bổ sung ảnh hoạt động <b>&" in (told.text or "")
    await son.reply(mark, "Không còn báo cáo nào chờ bạn duyệt")
    assert statuses(tmp_path) == [
        (1, "approved", None),
        (2, "rejected", "Xin bổ sung ảnh hoạt động <b>&"),
    ]

    # John fixes the returned entry; it comes back to the queue and is approved.
    await john.presses("📂 My entries", expect="Your entries")
    await john.says("1", expect="#2 · Volunteer work")  # newest first: #2 is his only entry
    await john.presses("✏️ Fix and send again", expect="please check before sending")
    await john.presses("✅ Submit", expect="Sent again. Entry #2")
    await son.says("/review", expect="Bạn quyết định thế nào với báo cáo #2?")
    await son.presses("✅ Duyệt", expect="✅ Đã duyệt báo cáo #2.")
    assert [status for _, status, _ in statuses(tmp_path)] == ["approved", "approved"]


async def test_two_reviewers_the_first_decision_wins(
    tmp_path: Path, server: FakeBotApi, bot: Channel
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
    late = await lan.says("Thiếu ảnh minh chứng", expect="đã được Lý Văn Sơn duyệt lúc")
    assert "Báo cáo #1 đã được Lý Văn Sơn duyệt lúc" in (late.text or "")
    assert statuses(tmp_path) == [(1, "approved", None)]


async def test_only_secretaries_of_the_unit_see_and_decide(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    lan = await join(server, LAN, "Vi Thị Lan", "dong dang")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await make_secretary(bot, LAN, "ls-x-dong-dang")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    refused = await mai.says("/review", expect="dành cho bí thư")
    assert "#1" not in (refused.text or "")
    empty = await lan.says("/review", expect="Không còn báo cáo nào chờ bạn duyệt")
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
    tmp_path: Path, server: FakeBotApi, bot: Channel
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


async def approve(server: FakeBotApi, secretary: User, entry_id: int, *, version: int) -> None:
    """Presses "Approve" on the card of this entry at this revision, once it is shown."""
    data = f"f:review:decision:approve:{entry_id}:{version}"
    card = await server.wait_for(
        lambda m: m.chat_id == secretary.id and ("✅ Duyệt", data) in m.buttons()
    )
    mark = len(server.sent)
    server.user_callback(secretary.id, data, message_id=card.message_id)
    await secretary.reply(mark, f"✅ Đã duyệt báo cáo #{entry_id}.")


def decision_buttons(server: FakeBotApi, user_id: int, entry_id: int) -> tuple[int, str]:
    """The message id and the approve button's data of the latest card of this entry."""
    for message in reversed(server.messages_to(user_id)):
        for _, data in message.buttons():
            if data.startswith(f"f:review:decision:approve:{entry_id}:"):
                return message.message_id, data
    raise AssertionError(f"no decision on #{entry_id} shown to {user_id}")


async def test_a_double_tap_or_an_older_card_decides_nothing_unseen(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    """The buttons name the entry and its revision: tapping "Approve" twice, or on a card
    still on screen from before, never decides the next entry, which nobody has seen."""
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await report(mai, "Dọn rác bờ suối")
    await son.says("/review", expect="Bạn quyết định thế nào với báo cáo #1?")
    first_card, approve_first = decision_buttons(server, SON, 1)
    mark = len(server.sent)
    server.user_callback(SON, approve_first, message_id=first_card)
    server.user_callback(SON, approve_first, message_id=first_card)  # the double tap
    await son.reply(mark, "Bạn quyết định thế nào với báo cáo #2?")
    again = await son.reply(mark, "⚠️ Báo cáo #1 đã được Lý Văn Sơn duyệt lúc")
    assert "Bạn quyết định thế nào với báo cáo #2?" in (again.text or "")  # still on #2
    assert statuses(tmp_path) == [(1, "approved", None), (2, "submitted", None)]
    # Mai hears of her entry once, however many times it was tapped.
    await mai.reply(mark, "Báo cáo #1 «Sửa đường vào thôn Bản Chu» của bạn đã được duyệt")
    await son.presses("⏭ Tạm bỏ qua", expect="Bạn đã xem hết")
    told = [m for m in server.messages_to(MAI) if "đã được duyệt" in (m.text or "")]
    assert len(told) == 1


async def test_an_entry_changed_after_its_card_was_shown_is_shown_again(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Sửa đường vào thôn Bản Chu")
    await son.says("/review", expect="Bạn quyết định thế nào với báo cáo #1?")
    # Meanwhile Mai changes her hours: a new revision of the waiting entry.
    await mai.says("/myentries", expect="Các báo cáo của bạn")
    await mai.says("1", expect="#1 · Hoạt động tình nguyện")
    await mai.presses("✏️ Sửa báo cáo", expect="người duyệt sẽ thấy báo cáo đã được sửa")
    await mai.presses("✏️ Sửa một câu trả lời", expect="Bạn muốn sửa câu trả lời nào?")
    await mai.presses("Số giờ của bạn", expect="Bạn đã tham gia bao nhiêu giờ?")
    await mai.says("6", expect="bạn vui lòng kiểm tra trước khi gửi")
    await mai.presses("✅ Gửi báo cáo", expect="✅ Đã gửi lại. Báo cáo #1")
    changed = await son.presses("✅ Duyệt", expect="vừa được người báo cáo sửa")
    assert "chưa có quyết định nào được ghi nhận" in (changed.text or "")
    card = await son.reply(0, "Người báo cáo đã sửa: Số giờ của bạn")
    assert "Số giờ của bạn: 6" in (card.text or "")
    assert statuses(tmp_path) == [(1, "resubmitted", None)]
    await approve(server, son, 1, version=2)
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT status, version FROM entries").fetchall() == [("approved", 2)]


async def test_nobody_decides_their_own_work(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    """A secretary's own entry and the collective entries they file go to the level above
    (here the admins of Tỉnh Đoàn), never to them nor to the other secretaries of their unit;
    an admin's own entry goes to another admin. The audit names reporter and reviewer."""
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    lan = await join(server, LAN, "Vi Thị Lan", "na sam")
    tuan = await join(server, TUAN, "Nguyễn Văn Tuấn", "dong kinh")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await make_secretary(bot, LAN, "ls-x-na-sam")
    async with bot.app.db.write() as session:
        await grant_role(
            session,
            await identity_for(session, "telegram", str(TUAN)),
            "admin",
            None,
            granted_by="test",
        )
    await report(son, "Sinh hoạt chi đoàn của Sơn", behalf="1")  # his own
    await son.says("/report", expect="")
    await son.says("2", expect="")
    await son.says("2", expect="Đó là hoạt động gì?")  # on behalf of Xã Na Sầm
    for answer in ("Ra quân làm sạch đường làng", "hôm qua", "Thôn Bản Chu", "30", "3"):
        await son.says(answer, expect="")
    for answer in VOLUNTEER[5:]:
        await son.says(answer, expect="")
    sent = await son.says("1", expect="Đã lưu. Báo cáo #2")
    assert "đã được gửi tới Tỉnh Đoàn để duyệt" in (sent.text or "")
    await report(tuan, "Tình nguyện của quản trị viên")

    for secretary in (son, lan):  # neither sees Sơn's entries
        empty = await secretary.says("/review", expect="Không còn báo cáo nào chờ bạn duyệt")
        assert "#1" not in (empty.text or "") and "#2" not in (empty.text or "")
    card = await tuan.says("/review", expect="#1 ·")
    assert "Người báo cáo là Bí thư của đơn vị này" in (card.text or "")
    await approve(server, tuan, 1, version=1)
    card = await tuan.reply(0, "#2 ·")
    assert "Báo cáo thay mặt Xã Na Sầm: được chuyển lên cấp trên duyệt" in (card.text or "")
    assert "Người báo cáo: Lý Văn Sơn" in (card.text or "")
    await approve(server, tuan, 2, version=1)
    await tuan.reply(0, "Không còn báo cáo nào chờ bạn duyệt")  # #3 is his own
    await tuan.says("/review", expect="Không còn báo cáo nào chờ bạn duyệt")
    assert statuses(tmp_path)[2] == (3, "submitted", None)
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        audited = db.execute(
            "SELECT actor, json_extract(details, '$.reporter_id') FROM audit_log "
            "WHERE action = 'entry.approved' ORDER BY id"
        ).fetchall()
        son_member = db.execute(
            "SELECT member_id FROM identities WHERE user_id = ?", (str(SON),)
        ).fetchone()[0]
        tuan_identity = db.execute(
            "SELECT id FROM identities WHERE user_id = ?", (str(TUAN),)
        ).fetchone()[0]
    assert audited == [(f"identity:{tuan_identity}", son_member)] * 2


async def test_an_entry_nobody_else_can_review_waits_and_the_admins_are_told(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    """The only admin reports: nobody else can decide it, so it waits, and they hear why."""
    tuan = await join(server, TUAN, "Nguyễn Văn Tuấn", "dong kinh")
    async with bot.app.db.write() as session:
        await grant_role(
            session,
            await identity_for(session, "telegram", str(TUAN)),
            "admin",
            None,
            granted_by="test",
        )
    await report(tuan, "Tình nguyện của quản trị viên")
    await tuan.reply(0, "Hiện chưa có ai khác có thể duyệt báo cáo này")
    notice = await tuan.reply(0, "đang chờ nhưng chưa ai có thể duyệt")
    assert "Báo cáo #1 «Tình nguyện của quản trị viên»" in (notice.text or "")
    await tuan.says("/review", expect="Không còn báo cáo nào chờ bạn duyệt")
    assert statuses(tmp_path) == [(1, "submitted", None)]


async def test_the_card_warns_of_likely_duplicates(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    """Two people of one commune report the same clean-up: the reviewer sees the second may
    repeat the first, by the same day and a similar title."""
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    john = await join(server, TUAN, "John Tuan Nguyen", "na sam", language="en")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await report(mai, "Dọn rác bờ suối Bản Chu")
    await report(john, "dọn rác bờ suối")
    await son.says("/review", expect="#1 ·")
    await son.presses("⏭ Tạm bỏ qua", expect="#2 ·")
    card = await son.reply(0, "#2 · Hoạt động tình nguyện")
    assert (
        "⚠️ Có thể trùng với báo cáo #1 «Dọn rác bờ suối Bản Chu» (cùng ngày, tên gần giống)"
        in (card.text or "")
    )
