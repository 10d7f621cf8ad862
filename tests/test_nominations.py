"""Nominations for awards, end to end: a commune secretary proposes a member, Tỉnh Đoàn
returns it with a reason, the unit fixes and sends it again, Tỉnh Đoàn passes it on, Sở Nội
vụ records the decision; the nominee hears of every step in their language. A double tap,
an old card and a nomination of one's own decide nothing. Over the real Telegram channel
(tests/botapi), the console chat and the command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from docx import Document as open_docx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App, build_app
from bot.channels.console import render
from bot.channels.runtime import Channel
from bot.notices import render_notice
from domain.kinds import KINDS
from models.entries import current_campaign, decide, save_entry
from models.people import grant_role, identity_for
from models.tables import (
    AuditRecord,
    Identity,
    Member,
    Nomination,
    NominationStep,
    OutboxMessage,
    Unit,
)
from tests.botapi import FakeBotApi
from tests.conftest import make_config, run_bot
from tests.test_abuse import Chat
from tests.test_review import join, make_secretary
from tests.test_stats import ADMIN
from tests.test_telegram import User, started, stopped, telegram_config

MAI, SON, TUAN, HA, JOHN = 1001, 1002, 1003, 1004, 1005
BANG_KHEN = "Bằng khen của Chủ tịch UBND tỉnh"
SUMMARY = "Chị Mai làm sổ tay điện tử cho chi đoàn, được áp dụng trên toàn tỉnh."
FIXED = "Sổ tay điện tử được áp dụng ở 65 xã, phường; tiết kiệm 200 giờ họp mỗi năm."


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
    channel = await started(telegram_config(tmp_path, server))
    yield channel
    await stopped(channel)


async def grant(app: App, channel: str, user: str, role: str) -> None:
    async with app.db.write() as session:
        identity = await identity_for(session, channel, user)
        await grant_role(session, identity, role, None, granted_by="test")


async def member_id(app: App, name: str) -> int:
    async with app.db.read() as session:
        return (await session.scalars(select(Member.id).where(Member.full_name == name))).one()


async def approve(session: AsyncSession, entry_id: int, tz: ZoneInfo) -> None:
    """Approves a waiting entry as an admin would."""
    await decide(
        session, entry_id, version=1, who=ADMIN, approve=True, reason=None, actor="test", tz=tz
    )


async def add_approved(
    app: App,
    kind: str,
    reporter: int,
    unit: str,
    answers: dict[str, Any],
    *,
    collective: bool = False,
) -> int:
    """An approved entry, saved as the bot saves one (for the unit when collective)."""
    async with app.db.write() as session:
        unit_id = (await session.scalars(select(Unit.id).where(Unit.code == unit))).one()
        happened = KINDS[kind].happened_on(answers) or dt.datetime.now(app.config.tz).date()
        entry = await save_entry(
            session,
            kind=kind,
            reporter_id=reporter,
            unit_id=unit_id,
            campaign_id=(await current_campaign(session, happened, kind)).id,
            collective=collective,
            title=str(answers[KINDS[kind].headline]),
            answers=answers,
            happened_on=happened,
            evidence=[],
            actor="test",
            tz=app.config.tz,
        )
        await approve(session, entry.id, app.config.tz)
        return entry.id


async def approved_work(app: App, name: str, unit: str = "ls-x-na-sam") -> None:
    """Two approved entries of this month: an initiative applied across the province (10
    points) and four hours of volunteer work (1.4 points)."""
    first = dt.datetime.now(app.config.tz).date().replace(day=1).isoformat()
    reporter = await member_id(app, name)
    initiative = {"title": "Sổ tay điện tử cho chi đoàn", "scope": "province", "applied_on": first}
    volunteer = {"activity": "Sửa đường vào thôn Bản Chu", "own_hours": 4, "date": first}
    await add_approved(app, "initiative", reporter, unit, initiative)
    await add_approved(app, "volunteer", reporter, unit, volunteer)


def nominations(tmp_path: Path) -> list[tuple[int, str, str, int]]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        return db.execute("SELECT id, status, level, version FROM nominations").fetchall()


async def button(server: FakeBotApi, user_id: int, prefix: str) -> tuple[int, str]:
    """The message id and the data of the latest button whose data starts with prefix,
    once it is shown."""
    await server.wait_for(
        lambda m: m.chat_id == user_id and any(d.startswith(prefix) for _, d in m.buttons())
    )
    for message in reversed(server.messages_to(user_id)):
        for _, data in message.buttons():
            if data.startswith(prefix):
                return message.message_id, data
    raise AssertionError(f"no button {prefix!r} shown to {user_id}")


async def propose_mai(son: User, year: int) -> None:
    """Sơn, secretary of Xã Na Sầm, picks Mai among the suggested candidates and proposes
    her for the Bằng khen of the provincial chairman."""
    await son.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    await son.presses("🔎 Gợi ý đề nghị khen thưởng", expect="Gợi ý cho kỳ nào?")
    ranked = await son.presses(f"Năm {year}", expect="Gợi ý đề nghị khen thưởng: Năm")
    assert "1. Hoàng Thị Mai · Xã Na Sầm: 11,4 điểm" in (ranked.text or "")
    assert "Sổ tay điện tử cho chi đoàn" in (ranked.text or "")
    await son.presses("👤 Hoàng Thị Mai", expect="Bạn đề nghị hình thức khen thưởng nào?")
    await son.presses(BANG_KHEN, expect="Những báo cáo đã duyệt nào làm căn cứ?")
    await son.says("1, 2", expect="Bạn tóm tắt thành tích trong vài câu.")
    summary = await son.says(SUMMARY, expect="bạn vui lòng kiểm tra trước khi gửi")
    assert f"Hình thức khen thưởng: {BANG_KHEN}" in (summary.text or "")
    await son.presses("📨 Gửi đề nghị", expect="Đề nghị khen thưởng #1 đã được gửi tới Tỉnh Đoàn.")


@dataclasses.dataclass
class Ladder:
    """The people of a nomination's way up: nominee, proposer, Tỉnh Đoàn, Sở Nội vụ."""

    server: FakeBotApi
    app: App
    mai: User
    son: User
    tuan: User
    ha: User


@pytest.fixture
async def ladder(server: FakeBotApi, bot: Channel) -> Ladder:
    app = bot.app
    people = [
        await join(server, user_id, name, unit)
        for user_id, name, unit in (
            (MAI, "Hoàng Thị Mai", "na sam"),
            (SON, "Lý Văn Sơn", "na sam"),
            (TUAN, "Nguyễn Văn Tuấn", "dong kinh"),
            (HA, "Trần Thu Hà", "dong kinh"),
        )
    ]
    await make_secretary(bot, SON, "ls-x-na-sam")
    await approved_work(app, "Hoàng Thị Mai")
    return Ladder(server, app, *people)


async def returned_by_tinh_doan(way: Ladder, tmp_path: Path) -> None:
    """Tỉnh Đoàn returns it with a reason; the unit and the nominee are told; the card
    still on screen passes nothing on afterwards."""
    server, tuan = way.server, way.tuan
    await tuan.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    card = await tuan.presses("📥 Chờ bạn xem xét (1)", expect="Đề nghị khen thưởng #1 ·")
    for line in (
        f"Đề nghị khen thưởng #1 · {BANG_KHEN}",
        "Đối tượng: Hoàng Thị Mai (Cá nhân thanh niên)",
        "Đơn vị đề nghị: Đoàn xã Na Sầm · Lý Văn Sơn",
        "Các cấp xét: Tỉnh Đoàn → Sở Nội vụ",
        "Các báo cáo đã duyệt làm căn cứ (11,4 điểm)",
    ):
        assert line in (card.text or ""), line
    old_card, old_pass = await button(server, TUAN, "f:nomination_review:decision:pass:1:")
    await tuan.presses("↩️ Trả lại kèm lý do", expect="Vì sao trả lại?")
    mark = len(server.sent)
    await tuan.says("Đề nghị bổ sung minh chứng", expect="Đã trả lại đề nghị #1 cho đơn vị.")
    for person in (way.mai, way.son):
        returned = await person.reply(mark, "đã được Tỉnh Đoàn trả lại")
        assert "Lý do: Đề nghị bổ sung minh chứng" in (returned.text or "")
    assert nominations(tmp_path) == [(1, "returned", "tinh-doan", 2)]
    mark = len(server.sent)
    server.user_callback(TUAN, old_pass, message_id=old_card)
    late = await tuan.reply(mark, "⚠️")
    assert "Đề nghị #1 đã được Nguyễn Văn Tuấn trả lại lúc" in (late.text or "")
    assert nominations(tmp_path) == [(1, "returned", "tinh-doan", 2)]


async def fixed_and_sent_again(way: Ladder) -> None:
    son = way.son
    await son.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    await son.presses("📂 Đề nghị của đơn vị", expect="Các đề nghị khen thưởng mới nhất")
    await son.says("1", expect="Bạn muốn làm gì?")
    await son.presses("✏️ Sửa và gửi lại", expect="bạn vui lòng kiểm tra trước khi gửi")
    await son.presses("✏️ Sửa một câu trả lời", expect="Bạn muốn sửa câu trả lời nào?")
    await son.presses("Tóm tắt thành tích", expect="Bạn tóm tắt thành tích")
    await son.says(FIXED, expect="bạn vui lòng kiểm tra trước khi gửi")
    mark = len(way.server.sent)
    await son.presses("📨 Gửi đề nghị", expect="Đã gửi lại. Đề nghị #1 được chuyển tới Tỉnh Đoàn.")
    await way.mai.reply(mark, "Đề nghị #1 đang chờ Tỉnh Đoàn xem xét.")


async def passed_on_with_a_double_tap(way: Ladder, tmp_path: Path) -> None:
    """Tỉnh Đoàn approves; tapping twice passes it on once, and the nominee hears once."""
    server, tuan = way.server, way.tuan
    await tuan.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    card = await tuan.presses("📥 Chờ bạn xem xét (1)", expect="Đề nghị khen thưởng #1 ·")
    assert FIXED in (card.text or "")
    assert "Tỉnh Đoàn trả lại: Đề nghị bổ sung minh chứng (Nguyễn Văn Tuấn)" in (card.text or "")
    # Returned and sent again: the card is of its third revision.
    message_id, data = await button(server, TUAN, "f:nomination_review:decision:pass:1:3")
    mark = len(server.sent)
    server.user_callback(TUAN, data, message_id=message_id)
    server.user_callback(TUAN, data, message_id=message_id)
    await tuan.reply(mark, "Đã chuyển đề nghị #1 lên Sở Nội vụ.")
    again = await tuan.reply(mark, "⚠️ Đề nghị #1 đã được Nguyễn Văn Tuấn (Tỉnh Đoàn) đồng ý")
    assert "không có quyết định nào khác được ghi nhận" in (again.text or "")
    passed = await way.mai.reply(mark, "đã được Tỉnh Đoàn đồng ý và chuyển lên Sở Nội vụ")
    await way.ha.reply(mark, "đang chờ bạn xem xét ở cấp Sở Nội vụ")
    assert nominations(tmp_path) == [(1, "waiting", "so-noi-vu", 4)]
    told = [m for m in server.messages_to(MAI) if "chuyển lên Sở Nội vụ" in (m.text or "")]
    assert told == [passed]


async def decided_by_so_noi_vu(way: Ladder) -> dt.date:
    """Sở Nội vụ records the decision; the nominee and the unit are congratulated."""
    ha = way.ha
    await ha.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    await ha.presses("📥 Chờ bạn xem xét (1)", expect="Bạn quyết định thế nào")
    await ha.presses("🏅 Ghi quyết định khen thưởng", expect="Quyết định tặng hình thức")
    await ha.presses(BANG_KHEN, expect="Số quyết định?")
    await ha.says("không số", expect="Số quyết định phải có chữ số")
    await ha.says("1234/QĐ-UBND", expect="Quyết định ký ngày nào?")
    signed = dt.datetime.now(way.app.config.tz).date() - dt.timedelta(days=1)
    await ha.says(f"{signed:%d/%m/%Y}", expect="Ai ký quyết định?")
    mark = len(way.server.sent)
    await ha.says(
        "Chủ tịch UBND tỉnh Hồ Tiến Thiệu", expect="Đã ghi quyết định khen thưởng cho đề nghị #1."
    )
    congratulated = await way.mai.reply(mark, "Chúc mừng!")
    assert (
        f"Hoàng Thị Mai được tặng «{BANG_KHEN}» theo Quyết định số 1234/QĐ-UBND ngày "
        f"{signed:%d/%m/%Y} do Chủ tịch UBND tỉnh Hồ Tiến Thiệu ký." in (congratulated.text or "")
    )
    await way.son.reply(mark, "Chúc mừng!")
    return signed


async def test_a_nomination_climbs_the_ladder_to_a_decision_and_the_nominee_hears_each_step(
    tmp_path: Path, ladder: Ladder
) -> None:
    app, server = ladder.app, ladder.server
    await grant(app, "telegram", str(TUAN), "admin")
    await grant(app, "telegram", str(HA), "appraiser")
    year = dt.datetime.now(app.config.tz).year
    mark = len(server.sent)
    await propose_mai(ladder.son, year)
    told = await ladder.mai.reply(mark, "đã đề nghị tặng")
    assert (
        f"Đoàn xã Na Sầm đã đề nghị tặng «{BANG_KHEN}» cho Hoàng Thị Mai ({year}). "
        "Đề nghị #1 đang chờ Tỉnh Đoàn xem xét." in (told.text or "")
    )
    assert ("🏅 Khen thưởng", "m:nominations") in told.buttons()
    await ladder.tuan.reply(mark, "đang chờ bạn xem xét ở cấp Tỉnh Đoàn")
    # Not yet Sở Nội vụ's turn.
    assert not [m for m in server.messages_to(HA) if "Đề nghị" in (m.text or "")]

    await returned_by_tinh_doan(ladder, tmp_path)
    await fixed_and_sent_again(ladder)
    await passed_on_with_a_double_tap(ladder, tmp_path)
    await decided_by_so_noi_vu(ladder)

    assert nominations(tmp_path) == [(1, "awarded", "so-noi-vu", 5)]
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        steps = db.execute("SELECT level, action FROM nomination_steps ORDER BY id").fetchall()
        audited = db.execute(
            "SELECT action, subject FROM audit_log WHERE action LIKE 'nomination.%' ORDER BY id"
        ).fetchall()
        (mai_id,) = db.execute(
            "SELECT id FROM members WHERE full_name = 'Hoàng Thị Mai'"
        ).fetchone()
    assert steps == [
        ("tinh-doan", "submitted"),
        ("tinh-doan", "returned"),
        ("tinh-doan", "resubmitted"),
        ("tinh-doan", "passed"),
        ("so-noi-vu", "awarded"),
    ]
    actions = ("submitted", "returned", "resubmitted", "passed", "awarded")
    assert audited == [(f"nomination.{action}", f"member:{mai_id}") for action in actions]


async def test_nobody_decides_on_their_own_nomination(tmp_path: Path, ladder: Ladder) -> None:
    """The nominee is an admin and the proposer an appraiser: neither sees it in their
    queue, and a forged decision of theirs changes nothing; others decide it."""
    app, server = ladder.app, ladder.server
    mai, son, tuan, ha = ladder.mai, ladder.son, ladder.tuan, ladder.ha
    year = dt.datetime.now(app.config.tz).year
    await grant(app, "telegram", str(SON), "appraiser")
    await grant(app, "telegram", str(MAI), "admin")
    await grant(app, "telegram", str(TUAN), "admin")
    await grant(app, "telegram", str(HA), "appraiser")
    await propose_mai(son, year)

    await mai.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    await mai.presses("📥 Chờ bạn xem xét (0)", expect="Không còn đề nghị khen thưởng nào")
    mark = len(server.sent)
    server.user_callback(MAI, "f:nomination_review:decision:pass:1:1")
    forged = await mai.reply(mark, "⚠️")
    assert "Đề nghị #1 là của bạn hoặc của đơn vị bạn: người khác sẽ xem xét." in (
        forged.text or ""
    )
    assert nominations(tmp_path) == [(1, "waiting", "tinh-doan", 1)]

    await tuan.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    await tuan.presses("📥 Chờ bạn xem xét (1)", expect="Bạn quyết định thế nào")
    await tuan.presses("✅ Đồng ý, chuyển lên Sở Nội vụ", expect="Đã chuyển đề nghị #1")

    # Sơn proposed it: as an appraiser of Sở Nội vụ, he does not appraise it.
    await son.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    await son.presses("📥 Chờ bạn xem xét (0)", expect="Không còn đề nghị khen thưởng nào")
    mark = len(server.sent)
    server.user_callback(SON, "f:nomination_review:decision:award:1:2")
    forged = await son.reply(mark, "⚠️")
    assert "là của bạn hoặc của đơn vị bạn" in (forged.text or "")
    assert nominations(tmp_path) == [(1, "waiting", "so-noi-vu", 2)]
    await ha.says("/nominations", expect="Khen thưởng trong Phong trào thi đua")
    await ha.presses("📥 Chờ bạn xem xét (1)", expect="#1")


# -- the console, and the command line ---------------------------------------------------------


async def console(chat: Chat, *lines: str) -> str:
    """Types each line in the console chat; what the bot answered to the last one."""
    shown = ""
    for line in lines:
        shown = "\n\n".join(render(reply) for reply in await chat.send(line))
    return shown


async def notices_to(app: App, name: str) -> list[str]:
    """The notices queued for a member, as they read them, in their language."""
    member = await member_id(app, name)
    async with app.db.read() as session:
        found = (
            await session.execute(
                select(OutboxMessage.template, OutboxMessage.params, OutboxMessage.locale)
                .join(Identity, Identity.id == OutboxMessage.identity_id)
                .where(Identity.member_id == member, OutboxMessage.template.is_not(None))
                .order_by(OutboxMessage.id)
            )
        ).all()
    texts = []
    for template, params, locale in found:
        t = app.catalogs.translator(locale or "vi", app.config.tz)
        texts.append(render_notice(t, template, params or {})[0])
    return texts


async def branch_people(app: App) -> dict[str, Chat]:
    """John and Lan of a branch under Xã Na Sầm (Lan its secretary), Sơn the commune's
    secretary, Tuấn of Tỉnh Đoàn; John reads English and has two approved entries."""
    async with app.db.write() as session:
        na_sam = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        session.add(
            Unit(
                code="ls-x-na-sam-ban-chu",
                name="Chi đoàn thôn Bản Chu",
                search_name="chi doan thon ban chu",
                kind="branch",
                parent_id=na_sam.id,
            )
        )
    people = {}
    for user, name, unit in (
        ("john", "John Tuan Nguyen", "ban chu"),
        ("lan", "Vi Thị Lan", "ban chu"),
        ("son", "Lý Văn Sơn", "na sam"),
        ("tuan", "Nguyễn Văn Tuấn", "dong kinh"),
    ):
        people[user] = Chat(app, user)
        await console(people[user], "/start", "1", name, "2001", unit, "bỏ qua", "1")
    await console(people["john"], "/language en")
    async with app.db.write() as session:
        for user, role, code in (
            ("lan", "secretary", "ls-x-na-sam-ban-chu"),
            ("son", "secretary", "ls-x-na-sam"),
            ("tuan", "admin", None),
        ):
            identity = await identity_for(session, "console", user)
            led = None
            if code:
                led = (await session.scalars(select(Unit).where(Unit.code == code))).one()
            await grant_role(session, identity, role, led, granted_by="test")
    await approved_work(app, "John Tuan Nguyen", unit="ls-x-na-sam-ban-chu")

    return people


async def test_a_branch_nomination_passes_its_commune_then_tinh_doan_in_the_console(
    app: App, tmp_path: Path
) -> None:
    """A branch under Xã Na Sầm proposes John (who reads English) for a Giấy khen: the
    commune's secretary passes it on (the branch's own secretary cannot), then Tỉnh Đoàn
    records the decision; John is told each step in English. The command line lists and
    shows it."""
    people = await branch_people(app)
    year = dt.datetime.now(app.config.tz).year

    lan = people["lan"]
    menu = await console(lan, "/nominations")
    assert "2. 📝 Đề nghị khen thưởng" in menu
    asked = await console(lan, "2", "1")  # propose; a young person
    assert "Bạn gõ một phần họ tên." in asked
    assert "1. John Tuan Nguyen · Chi đoàn thôn Bản Chu" in await console(lan, "john")
    awards = await console(lan, "1")
    assert "1. Giấy khen" in awards and BANG_KHEN not in awards  # a branch proposes Giấy khen
    await console(lan, "1")  # Giấy khen
    periods = await console(lan, "1")  # this year
    assert "Những báo cáo đã duyệt nào làm căn cứ?" in periods
    await console(lan, "1, 2", "Anh John tích cực tham gia tình nguyện và có sáng kiến hay.")
    sent = await console(lan, "1")
    assert "Đề nghị khen thưởng #1 đã được gửi tới Đoàn cấp trên trực tiếp." in sent
    check_the_level_list(tmp_path)

    # Lan proposed it for her branch: she does not decide it at any level.
    assert "Chờ bạn xem xét" not in await console(lan, "/nominations")
    son = people["son"]
    card = await console(son, "/nominations", "1")
    assert "Các cấp xét: Đoàn cấp trên trực tiếp → Tỉnh Đoàn" in card
    assert "1. ✅ Đồng ý, chuyển lên Tỉnh Đoàn" in card
    assert "Đã chuyển đề nghị #1 lên Tỉnh Đoàn." in await console(son, "1")
    tuan = people["tuan"]
    card = await console(tuan, "/nominations", "1")
    assert "1. 🏅 Ghi quyết định khen thưởng" in card
    signed = dt.datetime.now(app.config.tz).date() - dt.timedelta(days=2)
    await console(tuan, "1", "1", "56/QĐ-TĐTN", f"{signed:%d/%m/%Y}")
    done = await console(tuan, "Bí thư Tỉnh Đoàn Nông Văn Tiến")
    assert "Đã ghi quyết định khen thưởng cho đề nghị #1." in done

    told = await notices_to(app, "John Tuan Nguyen")
    assert told == [
        f"🏅 Chi đoàn thôn Bản Chu has proposed John Tuan Nguyen for the award «Giấy khen» "
        f"({year}). Nomination #1 now waits for Đoàn cấp trên trực tiếp.",
        "✅ Nomination #1 of John Tuan Nguyen for «Giấy khen» was approved by Đoàn cấp trên "
        "trực tiếp and passed on to Tỉnh Đoàn.",
        "🏅 Congratulations! John Tuan Nguyen has been awarded «Giấy khen» by decision No. "
        f"56/QĐ-TĐTN of {signed.day} {signed:%b %Y}, signed by Bí thư Tỉnh Đoàn Nông Văn Tiến.",
    ]

    check_the_command_line(tmp_path, signed)
    check_the_award_file_and_the_period_report(tmp_path, signed)
    await the_award_file_from_the_chat(tuan)
    await the_certificate_of_the_award(tmp_path)


def check_the_command_line(tmp_path: Path, signed: dt.date) -> None:
    listed = run_bot(tmp_path, "nominations", "list")
    assert listed.returncode == 0, listed.stderr
    assert "#1 · John Tuan Nguyen · Giấy khen · 🏅 Đã có quyết định khen thưởng" in listed.stdout
    shown = run_bot(tmp_path, "nominations", "show", "1")
    assert shown.returncode == 0, shown.stderr
    for line in (
        "Đề nghị khen thưởng #1 · Giấy khen",
        f"🏅 Quyết định số 56/QĐ-TĐTN ngày {signed:%d/%m/%Y}: Giấy khen, người ký: Bí thư "
        "Tỉnh Đoàn Nông Văn Tiến",
        "Đoàn cấp trên trực tiếp đồng ý và chuyển lên cấp trên (Lý Văn Sơn)",
        "Tóm tắt thành tích",
    ):
        assert line in shown.stdout, line
    assert "<b>" not in shown.stdout
    missing = run_bot(tmp_path, "nominations", "show", "7")
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("nominations show: no nomination 7")
    waiting = run_bot(tmp_path, "nominations", "list", "--status", "waiting")
    assert waiting.stdout.strip() == "no nominations match"


async def test_a_nominee_sees_and_erases_what_is_stored_about_their_nominations(
    app: App,
) -> None:
    """/mydata holds the nominations about the member and their place on the honour roll;
    /deleteme erases them, while a nomination the member proposed stays with their unit."""
    people = await branch_people(app)
    john, lan = people["john"], people["lan"]
    await console(lan, "/nominations", "2", "1", "john", "1", "1", "1", "1, 2")
    await console(lan, "Anh John tích cực tham gia tình nguyện và có sáng kiến hay.", "1")
    # Lan is proposed too, by the commune's secretary.
    await approved_work(app, "Vi Thị Lan", unit="ls-x-na-sam-ban-chu")
    son = people["son"]
    # His menu: 1 waiting for him (a branch's nominations pass him), 2 candidates, 3 propose.
    await console(son, "/nominations", "3", "1", "lan", "1", "1", "1", "1, 2")
    sent = await console(son, "Chị Lan tổ chức tốt các hoạt động của chi đoàn thôn Bản Chu.", "1")
    assert "Đề nghị khen thưởng #2 đã được gửi tới Tỉnh Đoàn." in sent

    replies = await john.send("/mydata")
    document = next(reply.document for reply in replies if reply.document is not None)
    data = json.loads(document.content)
    assert [n["id"] for n in data["nominations_about_you"]] == [1]
    assert data["nominations_about_you"][0]["summary"].startswith("Anh John")
    assert data["nominations_you_proposed"] == []

    await console(lan, "/deleteme")
    assert "Dữ liệu của bạn đã được xóa" in await console(lan, "1")
    async with app.db.read() as session:
        left = (await session.execute(select(Nomination.id, Nomination.proposer_id))).all()
        steps = (await session.scalars(select(NominationStep.nomination_id))).all()
    assert left == [(1, None)]  # hers is gone; the one she proposed stays, without her
    assert set(steps) == {1}


async def test_two_at_one_level_the_first_decision_wins(app: App) -> None:
    """Two admins of Tỉnh Đoàn open the same card; one passes it on, the other's return
    changes nothing and says who decided first."""
    people = await branch_people(app)
    await grant(app, "console", "john", "admin")  # an admin of another unit's nomination
    await approved_work(app, "Vi Thị Lan", unit="ls-x-na-sam-ban-chu")
    # Sơn proposes Lan for a Bằng khen: it skips no level but the union level above Na Sầm.
    await console(people["son"], "/nominations", "3", "1", "vi thi lan", "1", "2", "1", "1, 2")
    await console(people["son"], "Chị Lan tổ chức tốt các hoạt động của chi đoàn thôn Bản Chu.")
    assert "Đề nghị khen thưởng #1 đã được gửi tới Tỉnh Đoàn." in await console(people["son"], "1")
    tuan, john = people["tuan"], people["john"]
    assert "Your decision on nomination #1?" in await console(john, "/nominations", "1")
    assert "Bạn quyết định thế nào với đề nghị #1?" in await console(tuan, "/nominations", "1")
    assert "Đã chuyển đề nghị #1 lên Sở Nội vụ." in await console(tuan, "1")
    await console(john, "2")  # return, with a reason
    late = await console(john, "Please add the evidence of the activities")
    assert "Nomination #1 was already approved at Tỉnh Đoàn by Nguyễn Văn Tuấn" in late
    async with app.db.read() as session:
        (status, level, version) = (
            await session.execute(select(Nomination.status, Nomination.level, Nomination.version))
        ).one()
        steps = (await session.scalars(select(NominationStep.action))).all()
    assert (status, level, version) == ("waiting", "so-noi-vu", 2)
    assert steps == ["submitted", "passed"]
    told = await notices_to(app, "Vi Thị Lan")
    assert [text.split(" ")[0] for text in told] == ["🏅", "✅"]


def check_the_level_list(tmp_path: Path) -> None:
    """ "Danh sách đề nghị khen thưởng" of the union level above: John, waiting there."""
    out = tmp_path / "danh-sach.xlsx"
    written = run_bot(tmp_path, "nominations", "export", "--level", "co-so", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert "1 nomination(s) waiting at co-so written to" in written.stdout
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None
    cells = [str(cell.value) for row in sheet.iter_rows() for cell in row if cell.value]
    assert "DANH SÁCH ĐỀ NGHỊ KHEN THƯỞNG" in cells
    assert "II. CÁ NHÂN" in cells
    assert "John Tuan Nguyen" in cells and "Giấy khen" in cells and "2001" in cells
    assert "Chi đoàn thôn Bản Chu" in cells
    assert any(cell.startswith("Anh John tích cực") for cell in cells)
    assert "#1 · ⏳ Đang chờ Đoàn cấp trên trực tiếp xem xét" in cells
    wrong = run_bot(tmp_path, "nominations", "export", "--level", "x", "--out", str(out))
    assert wrong.returncode == 2
    assert "--level must be one of co-so, tinh-doan, so-noi-vu" in wrong.stderr


def docx_text(path: Path) -> str:
    document = open_docx(str(path))
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines += [cell.text for cell in row.cells]
    return "\n".join(lines)


def check_the_award_file_and_the_period_report(tmp_path: Path, signed: dt.date) -> None:
    """The award file of the nomination, and the commune's period report listing it and the
    award decided; both opened again."""
    out = tmp_path / "ho-so.docx"
    written = run_bot(tmp_path, "nominations", "dossier", "1", "--out", str(out))
    assert written.returncode == 0, written.stderr
    text = docx_text(out)
    for line in (
        "BÁO CÁO TÓM TẮT THÀNH TÍCH",
        "Đề nghị tặng: Giấy khen",
        "JOHN TUAN NGUYEN",
        "Năm sinh: 2001",
        "Đơn vị: Chi đoàn thôn Bản Chu",
        "Anh John tích cực tham gia tình nguyện và có sáng kiến hay.",
        "Sổ tay điện tử cho chi đoàn",
        "Sửa đường vào thôn Bản Chu",
        "CHI ĐOÀN THÔN BẢN CHU",
    ):
        assert line in text, line
    report = tmp_path / "so-ket.docx"
    first = signed.replace(month=1, day=1)
    made = run_bot(
        tmp_path, "reports", "period", "--unit", "ls-x-na-sam", "--from", str(first),
        "--to", str(dt.date(first.year, 12, 31)), "--out", str(report),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = docx_text(report)
    assert "John Tuan Nguyen" in text and "Giấy khen" in text
    assert f"Quyết định số 56/QĐ-TĐTN ngày {signed:%d/%m/%Y}" in text
    assert "(Đơn vị bổ sung: các tập thể" not in text  # filled in, not left to the unit


async def the_award_file_from_the_chat(admin: Chat) -> None:
    """An admin opens the nomination and takes its award file; the taking is audited."""
    await console(admin, "/nominations")
    await console(admin, "📂 Các đề nghị mới nhất")
    await console(admin, "1")
    replies = await admin.send("📄 Báo cáo tóm tắt thành tích (Word)")
    (document,) = [reply.document for reply in replies if reply.document is not None]
    assert document.file_name == "bao-cao-tom-tat-thanh-tich-1.docx"
    assert "JOHN TUAN NGUYEN" in "\n".join(
        paragraph.text for paragraph in open_docx(io.BytesIO(document.content)).paragraphs
    )
    async with admin.app.db.read() as session:
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert actions.count("nomination.dossier") == 2  # the command line's, and this one
    off = await console(admin, "🎖 Giấy chứng nhận khen thưởng (PDF)")
    assert "chưa đặt CERTIFICATE_SECRET" in off


async def the_certificate_of_the_award(tmp_path: Path) -> None:
    """With the key set, the award's certificate: its code checks out for anyone."""
    app = build_app(make_config(tmp_path, CERTIFICATE_SECRET="s" * 32))
    await app.prepare()
    try:
        admin = Chat(app, "tuan")
        await console(admin, "/nominations", "📂 Các đề nghị mới nhất", "1")
        replies = await admin.send("🎖 Giấy chứng nhận khen thưởng (PDF)")
        (document,) = [reply.document for reply in replies if reply.document is not None]
        assert document.mime_type == "application/pdf"
        code = document.file_name.removeprefix("giay-chung-nhan-").removesuffix(".pdf")
        again = await console(admin, "🎖 Giấy chứng nhận khen thưởng (PDF)")
        assert code in again  # the same certificate for the same decision
        verdict = await console(Chat(app, "someone"), f"/verify {code}")
        assert "hợp lệ" in verdict and "John Tuan Nguyen" in verdict and "Giấy khen" in verdict
    finally:
        await app.close()
