"""The honour roll: Tỉnh Đoàn marks approved entries and awards as exemplary, the person is
asked through a notice and shown only once they agree (a minor never by name), everyone
browses it, and a young person's wish to learn from a model reaches its unit's secretary."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.channels.runtime import Channel
from models.tables import AuditRecord, Entry, Highlight
from tests.botapi import FakeBotApi
from tests.test_abuse import Chat
from tests.test_nominations import add_approved, console, grant, member_id
from tests.test_review import join, make_secretary
from tests.test_telegram import User, started, stopped, telegram_config

MAI, SON, TUAN, JOHN = 1001, 1002, 1003, 1004
CITATION = "Mô hình giúp 30 thanh niên trong xã có việc làm ổn định."


@pytest.fixture
async def server(no_proxy: None) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
async def bot(tmp_path: Path, server: FakeBotApi) -> AsyncIterator[Channel]:
    channel = await started(telegram_config(tmp_path, server))
    yield channel
    await stopped(channel)


def farm(name: str = "Trang trại hồi của Mai") -> dict[str, object]:
    return {"name": name, "sector": "forestry", "year_started": 2020, "jobs": 6}


def highlights(tmp_path: Path) -> list[tuple[int, str | None, str | None]]:
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        return db.execute("SELECT id, consent, consent_version FROM highlights").fetchall()


async def mark_as_model(admin: User, entry: int) -> None:
    """An admin of Tỉnh Đoàn puts an approved entry on the honour roll."""
    await admin.says("/highlights", expect="Bảng vàng của Phong trào")
    await admin.presses("⭐ Tôn vinh một báo cáo hoặc khen thưởng", expect="Tôn vinh nội dung gì?")
    await admin.presses("Một báo cáo đã được duyệt", expect="Số của nó?")
    await admin.says("999", expect="Báo cáo #999 không phải là báo cáo đã được duyệt.")
    await admin.says(str(entry), expect="Tôn vinh là gì?")
    await admin.presses("🌟 Mô hình tiêu biểu", expect="Vì sao đây là điển hình?")
    await admin.says(CITATION, expect="kiểm tra trước khi gửi")
    await admin.presses("⭐ Đưa lên bảng vàng", expect="họ đã được hỏi ý kiến")


async def test_a_model_is_shown_once_its_person_agrees_and_others_can_ask_to_learn(
    tmp_path: Path, server: FakeBotApi, bot: Channel
) -> None:
    app = bot.app
    mai = await join(server, MAI, "Hoàng Thị Mai", "na sam")
    son = await join(server, SON, "Lý Văn Sơn", "na sam")
    tuan = await join(server, TUAN, "Nguyễn Văn Tuấn", "dong kinh")
    john = await join(server, JOHN, "John Tuan Nguyen", "dong dang", language="en")
    await make_secretary(bot, SON, "ls-x-na-sam")
    await grant(app, "telegram", str(TUAN), "admin")
    entry = await add_approved(
        app, "economic_model", await member_id(app, "Hoàng Thị Mai"), "ls-x-na-sam", farm()
    )

    # Tỉnh Đoàn marks it; Mai is asked.
    mark = len(server.sent)
    await mark_as_model(tuan, entry)
    asked = await mai.reply(mark, "Tỉnh Đoàn muốn giới thiệu «Trang trại hồi của Mai»")
    assert ("⭐ Gương điển hình", "m:highlights") in asked.buttons()
    assert highlights(tmp_path) == [(1, "asked", None)]

    # Nothing is shown before she answers.
    await john.says("/highlights", expect="The honour roll of the movement")
    await john.presses("🆕 Newest", expect="Nothing on the honour roll here yet.")

    # She answers from the notice's button.
    await mai.presses("⭐ Gương điển hình", expect="Bạn có đồng ý được giới thiệu công khai")
    (card,) = [m for m in server.messages_to(MAI) if "giới thiệu thành tích" in (m.text or "")]
    assert "Trang trại hồi của Mai" in (card.text or "") and CITATION in (card.text or "")
    await mai.presses("✅ Tôi đồng ý", expect="Thành tích của bạn đã được giới thiệu")
    assert highlights(tmp_path) == [(1, "given", "honour-roll-1")]

    await john.says("/highlights", expect="The honour roll of the movement")
    await john.presses("🆕 Newest", expect="Choose one to read it")
    shown = await john.presses(
        "🌟 Trang trại hồi của Mai · Xã Na Sầm", expect="Trang trại hồi của Mai"
    )
    assert "👤 Hoàng Thị Mai · Xã Na Sầm" in (shown.text or "")
    await john.presses("🤝 I want to learn from this model", expect="Ask to learn from")
    mark = len(server.sent)
    await john.presses("✅ Send my name and unit", expect="will get in touch with you")
    request = await son.reply(mark, "muốn học hỏi «Trang trại hồi của Mai»")
    assert "John Tuan Nguyen (Xã Đồng Đăng)" in (request.text or "")
    assert not [m for m in server.sent[mark:] if m.chat_id == MAI and "🤝" in (m.text or "")]
    # Asking twice tells the secretary once.
    await john.says("/highlights", expect="The honour roll")
    await john.presses("🆕 Newest", expect="Choose one to read it")
    await john.presses("🌟 Trang trại hồi của Mai · Xã Na Sầm", expect="Trang trại hồi")
    await john.presses("🤝 I want to learn from this model", expect="Ask to learn from")
    await john.presses("✅ Send my name and unit", expect="You have already asked")
    told = [m for m in server.messages_to(SON) if "muốn học hỏi" in (m.text or "")]
    assert len(told) == 1

    # She stops it: it is gone from the roll.
    await mai.says("/highlights", expect="Bảng vàng của Phong trào")
    await mai.presses("🙈 Không giới thiệu tôi trên bảng vàng nữa", expect="không còn được")
    await john.says("/highlights", expect="The honour roll")
    await john.presses("🆕 Newest", expect="Nothing on the honour roll here yet.")
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        actions = [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY id")]
    assert [a for a in actions if a.startswith("highlight.")] == [
        "highlight.marked",
        "highlight.consent_given",
        "highlight.contact_requested",
        "highlight.consent_refused",
    ]


async def test_only_consented_people_are_shown_and_minors_never_by_name(app: App) -> None:
    """Of four highlights: a refusal and one still unanswered stay hidden; a minor who
    agreed is shown without her name; a unit's collective work needs no one's consent.
    Browsing by kind and by commune finds only what is shown."""
    admin = Chat(app, "admin")
    await console(admin, "/start", "1", "Nguyễn Văn Tuấn", "2000", "dong kinh", "bỏ qua", "1")
    await grant(app, "console", "admin", "admin")
    minor_year = dt.datetime.now(app.config.tz).year - 17
    people = {}
    for user, name, year in (
        ("mai", "Hoàng Thị Mai", 2000),
        ("lan", "Vi Thị Lan", minor_year),
        ("ha", "Trần Thu Hà", 2001),
    ):
        people[user] = Chat(app, user)
        await console(people[user], "/start", "1", name, str(year), "na sam", "bỏ qua", "1")
    titles = {"mai": "Vườn rau sạch", "lan": "Mô hình nuôi ong", "ha": "Trang trại gà"}
    names = {"mai": "Hoàng Thị Mai", "lan": "Vi Thị Lan", "ha": "Trần Thu Hà"}
    entries = [
        await add_approved(
            app, "economic_model", await member_id(app, names[user]), "ls-x-na-sam", farm(title)
        )
        for user, title in titles.items()
    ]
    unit_work = await add_approved(
        app,
        "economic_model",
        await member_id(app, "Trần Thu Hà"),
        "ls-x-na-sam",
        farm("Hợp tác xã"),
    )
    async with app.db.write() as session:
        (await session.get_one(Entry, unit_work)).collective = True  # the commune's own
    for entry in (*entries, unit_work):
        done = await console(admin, "/highlights", "4", "1", str(entry), "2", CITATION, "1")
        assert "Đã tôn vinh" in done or "đã được đưa lên bảng vàng" in done, done
    await console(people["mai"], "/highlights", "2")  # she does not agree
    minor = await console(people["lan"], "/highlights")
    assert "dưới 18 tuổi được giới thiệu không kèm họ tên" in minor
    await console(people["lan"], "1")
    # Hà has not answered yet.

    viewer = Chat(app, "viewer")  # not registered: browsing needs no account
    newest = await console(viewer, "/highlights", "1")
    assert "1. 🌟 Hợp tác xã · Xã Na Sầm" in newest
    assert "2. 🌟 Mô hình nuôi ong · Xã Na Sầm" in newest
    assert "Vườn rau sạch" not in newest and "Trang trại gà" not in newest
    card = await console(viewer, "2")
    assert "👤 Một đoàn viên, thanh niên · Xã Na Sầm" in card and "Vi Thị Lan" not in card
    unit_card = await console(viewer, "/highlights", "1", "1")
    assert "👥 Đoàn xã Na Sầm" in unit_card
    by_kind = await console(viewer, "/highlights", "2", "3")  # economic models
    assert "Hợp tác xã" in by_kind
    assert "Chưa có gương điển hình nào ở đây." in await console(viewer, "/highlights", "2", "1")
    assert "Chưa có gương điển hình nào ở đây." in await console(
        viewer, "/highlights", "3", "dong dang"
    )
    assert "Hợp tác xã" in await console(viewer, "/highlights", "3", "na sam")
    async with app.db.read() as session:
        consents = sorted(
            (h.title, h.consent) for h in (await session.scalars(select(Highlight))).all()
        )
        given = (
            await session.scalars(
                select(AuditRecord.action).where(AuditRecord.action.like("highlight.consent%"))
            )
        ).all()
    assert consents == [
        ("Hợp tác xã", None),
        ("Mô hình nuôi ong", "given"),
        ("Trang trại gà", "asked"),
        ("Vườn rau sạch", "refused"),
    ]
    assert sorted(given) == ["highlight.consent_given", "highlight.consent_refused"]
