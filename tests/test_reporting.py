"""Reporting by typing only, as in the console chat (and on Zalo): each kind from the menu to
a saved entry, with the review, changing an answer, and collective entries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.channels.console import parse_line, render
from bot.config import Config
from bot.dialogue import Field, FieldKind
from bot.events import Attachment, Inbound, InboundKind
from domain.kinds import KINDS, EntryKind
from models import AuditRecord, Entry, EntryRevision
from models.entries import Reviewer, decide
from models.people import grant_role, identity_for
from models.tables import Unit
from tests.conftest import run_bot

REGISTER = ("/start", "1", "Hoàng Thị Mai", "2004", "na sam", "bỏ qua", "1")

INITIATIVE = (
    "Sổ tay điện tử cho chi đoàn",
    "6",  # Digital transformation
    "Đoàn viên khó theo dõi lịch sinh hoạt và văn bản của chi đoàn.",
    "Một nhóm Zalo và bảng tính chung, cập nhật mỗi tuần một lần.",
    "2",
    "Tiết kiệm thời gian họp và giấy in.",
    "1,5 triệu",
    "15/03/2025",
    "bỏ qua",
    "bỏ qua",
)
VOLUNTEER = (  # as a member reports it: their own hours, not organised by the branch
    "Sửa đường vào thôn Bản Chu",
    "hôm qua",
    "Thôn Bản Chu, xã Na Sầm",
    "2",  # organised by the branch? No
    "4",
    "120",
    "2 tr",
    "Đoàn viên chi đoàn thôn cùng nhau sửa 300 mét đường đất vào bản.",
    "bỏ qua",
)
ECONOMIC = (
    "Trang trại hồi của anh Nam",
    "3",
    "2019",
    "200 triệu",
    "350 triệu",
    "120 triệu",
    "6",
    "4",
    "Thôn Khòn Pát, xã Na Sầm",
    "Trồng và chế biến hoa hồi, bán cho hợp tác xã trong xã.",
    "bỏ qua",
)


async def say(app: App, line: str, language: str = "vi") -> str:
    replies = await app.dispatcher.handle(parse_line(line, language=language)) or []
    return "\n\n".join(render(reply) for reply in replies)


async def register(app: App) -> None:
    for line in REGISTER:
        await say(app, line)


async def entries(app: App) -> list[Entry]:
    async with app.db.read() as session:
        return list((await session.scalars(select(Entry).order_by(Entry.id))).all())


async def test_each_kind_from_the_menu_to_a_saved_entry(app: App) -> None:
    await register(app)
    for number, answers in (("1", INITIATIVE), ("2", VOLUNTEER), ("3", ECONOMIC)):
        choose = await say(app, "1")  # "📝 Báo cáo" is the first entry of the menu
        assert "Bạn muốn báo cáo nội dung gì?" in choose
        assert (
            "1. Sáng kiến, giải pháp\n  2. Hoạt động tình nguyện\n  3. Mô hình kinh tế" in choose
        )
        reply = await say(app, number)
        for answer in answers:
            assert "⚠️" not in reply, reply
            reply = await say(app, answer)
        assert "bạn vui lòng kiểm tra trước khi gửi" in reply
        saved = await say(app, "1")
        assert "✅ Đã lưu. Báo cáo #" in saved
        assert "Menu" in saved

    initiative, volunteer, economic = await entries(app)
    assert (initiative.kind, initiative.title, initiative.status) == (
        "initiative",
        "Sổ tay điện tử cho chi đoàn",
        "submitted",
    )
    assert initiative.answers["value"] == 1_500_000
    assert initiative.answers["applied_on"] == "2025-03-15"
    assert initiative.answers["scope"] == "commune"
    assert initiative.answers["field"] == "digital"
    assert "participants" not in volunteer.answers  # a member reports their own hours
    assert (volunteer.answers["organised"], volunteer.answers["own_hours"]) == ("no", 4.0)
    assert volunteer.answers["value"] == 2_000_000
    assert volunteer.answers["place"] == {"place": "Thôn Bản Chu, xã Na Sầm"}
    assert economic.answers["capital"] == 200_000_000
    assert economic.answers["sector"] == "forestry"
    assert {e.collective for e in (initiative, volunteer, economic)} == {False}
    async with app.db.read() as session:
        unit = await session.get(Unit, initiative.unit_id)
        assert unit is not None and unit.name == "Xã Na Sầm"
        revisions = (await session.scalars(select(EntryRevision))).all()
        actions = (await session.scalars(select(AuditRecord.action))).all()
    assert len(revisions) == 3
    assert actions.count("entry.submitted") == 3


async def test_the_summary_is_formatted_and_one_answer_can_be_changed(app: App) -> None:
    await register(app)
    await say(app, "/report")
    reply = await say(app, "2")
    for answer in VOLUNTEER:
        reply = await say(app, answer)
    # Labels read by kind (gettext contexts): the activity's date, value and description.
    assert "Giá trị quy ra tiền: 2.000.000 ₫" in reply
    assert "Ngày thực hiện: " in reply
    assert "Mô tả hoạt động: Đoàn viên chi đoàn thôn" in reply
    assert "Số giờ của bạn: 4" in reply
    change = await say(app, "2")
    assert "Bạn muốn sửa câu trả lời nào?" in change
    hours = await say(app, "Số giờ của bạn")  # by label, or number 5
    assert "Bạn đã tham gia bao nhiêu giờ?" in hours
    assert "Từ 0,5 đến 500 giờ" in hours  # the limit is told before it is broken
    assert "Bạn vui lòng nhập một số từ 0,5 đến 500." in await say(app, "600")
    back = await say(app, "/back")  # nothing changed: back to the summary
    assert "Số giờ của bạn: 4" in back
    await say(app, "2")
    await say(app, "5")
    # More than a day's hours is allowed (a campaign of several days), once confirmed.
    unusual = await say(app, "36")
    assert "36 giờ: hoạt động kéo dài nhiều ngày phải không?" in unusual
    assert "1. Đúng vậy\n  2. Không, tôi nhập lại" in unusual
    assert "Bạn đã tham gia bao nhiêu giờ?" in await say(app, "2")  # no: asked again
    assert "kéo dài nhiều ngày" in await say(app, "48")
    review = await say(app, "1")  # yes
    assert "Số giờ của bạn: 48" in review
    assert "✅ Đã lưu" in await say(app, "1")
    (entry,) = await entries(app)
    assert entry.answers["own_hours"] == 48


async def test_bad_answers_explain_the_rule_and_save_nothing(app: App) -> None:
    await register(app)
    await say(app, "/report")
    await say(app, "3")
    await say(app, "Trang trại hồi")
    await say(app, "1")
    await say(app, "2019")
    assert "1,5 triệu hoặc 500k" in await say(app, "nhiều lắm")
    await say(app, "200 triệu")
    await say(app, "300 triệu")
    await say(app, "0")
    await say(app, "3")
    over = await say(app, "5")
    assert "không thể nhiều hơn tổng số việc làm đã tạo ra (3)" in over
    assert "Bạn vui lòng nhập một số nguyên" in await say(app, "<b>" * 1500 + "&_")
    await say(app, "2")
    await say(app, "Thôn Khòn Pát")
    too_long = await say(app, "x" * 5000)
    assert "Nội dung quá dài: tối đa 3000 ký tự, bạn đã viết 5000 ký tự." in too_long
    # Nine answers given: /cancel asks once; "no" keeps the form where it was.
    asked = await say(app, "/cancel")
    assert "Bạn muốn dừng «Mô hình kinh tế»? 9 câu trả lời bạn đã nhập sẽ không được lưu." in asked
    assert "1. 🗑 Có, dừng và bỏ" in asked
    kept = await say(app, "không")
    assert "Bạn hãy mô tả ngắn gọn mô hình (vài câu)" in kept
    assert "Bạn muốn dừng" in await say(app, "huỷ")
    assert "Đã hủy báo cáo" in await say(app, "/cancel")  # a second /cancel means yes
    assert await entries(app) == []


async def test_a_secretary_reports_on_behalf_of_the_unit(app: App) -> None:
    await register(app)
    async with app.db.write() as session:
        identity = await identity_for(session, "console", "local")
        unit = (await session.scalars(select(Unit).where(Unit.code == "ls-x-na-sam"))).one()
        await grant_role(session, identity, "secretary", unit, granted_by="test")
    await say(app, "/report")
    behalf = await say(app, "2")
    assert "Bạn báo cáo cho cá nhân mình, hay thay mặt đơn vị?" in behalf
    assert "1. Cá nhân tôi\n  2. Xã Na Sầm" in behalf
    reply = await say(app, "2")
    for answer in VOLUNTEER:
        reply = await say(app, answer)
    assert "Báo cáo cho: Xã Na Sầm" in reply
    await say(app, "1")
    (entry,) = await entries(app)
    assert entry.collective
    assert "on_behalf" in entry.answers


def test_the_console_chat_reports_by_typing_only(tmp_path: Path) -> None:
    typed = "\n".join([*REGISTER[1:], "/report", "2", *VOLUNTEER, "1", ""])
    result = run_bot(tmp_path, "chat", stdin=typed)
    assert result.returncode == 0, result.stderr
    # No secretary nor admin yet on a fresh database: the entry waits, and says so.
    assert "✅ Đã lưu. Báo cáo #1 đã được gửi tới Tỉnh Đoàn để duyệt." in result.stdout
    assert "Hiện chưa có Bí thư hay quản trị viên nào có thể duyệt báo cáo này" in result.stdout
    with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
        assert db.execute("SELECT kind, status FROM entries").fetchall() == [
            ("volunteer", "submitted")
        ]


async def report_volunteer(app: App, activity: str = VOLUNTEER[0]) -> None:
    await say(app, "/report")
    await say(app, "2")
    for answer in (activity, *VOLUNTEER[1:]):
        await say(app, answer)
    assert "✅ Đã lưu" in await say(app, "1")


async def test_my_entries_lists_shows_and_withdraws(app: App) -> None:
    await register(app)
    for n in range(10):
        await report_volunteer(app, f"Hoạt động số {n + 1} của chi đoàn")
    listing = await say(app, "/myentries")
    assert (
        "1. #10 · Hoạt động tình nguyện · Hoạt động số 10 của chi đoàn · ⏳ Chờ duyệt" in listing
    )
    assert "Trang sau ▶️" in listing
    page_two = await say(app, "Trang sau")
    assert "#2 · Hoạt động tình nguyện" in page_two
    assert "#10 ·" not in page_two
    detail = await say(app, "2")  # entry #1, the oldest
    assert "#1 · Hoạt động tình nguyện" in detail
    assert "Trạng thái: ⏳ Chờ duyệt" in detail
    assert "Số giờ của bạn: 4" in detail
    confirm = await say(app, "🗑 Rút báo cáo này")
    assert "Bạn muốn rút báo cáo này?" in confirm
    assert "Đã rút báo cáo #1." in await say(app, "1")
    entries_now = {entry.id: entry.status for entry in await entries(app)}
    assert entries_now[1] == "withdrawn"
    totals = await say(app, "/totals")
    assert "Hoạt động tình nguyện — ⏳ Chờ duyệt: 9; 🗑 Đã rút: 1" in totals
    assert "Số giờ tình nguyện của bạn: 0" in totals  # nothing approved yet
    assert "9 báo cáo đang chờ duyệt, chưa được tính." in totals
    async with app.db.write() as session:  # three are approved: they count
        for entry_id in (2, 3, 4):
            await decide(
                session,
                entry_id,
                version=1,
                who=Reviewer(scope=None, member_id=None),
                approve=True,
                reason=None,
                actor="test",
                tz=app.config.tz,
            )
    totals = await say(app, "/totals")
    assert "Số giờ tình nguyện của bạn: 12" in totals  # 3 entries × their own 4 hours
    assert "Số người được hưởng lợi: 360" in totals
    assert "6 báo cáo đang chờ duyệt, chưa được tính." in totals


async def test_a_day_to_come_is_refused_politely(app: App) -> None:
    await register(app)
    for line in ("/report", "2", VOLUNTEER[0]):
        await say(app, line)
    refused = await say(app, "01/01/2099")
    assert "Ngày này chưa đến. Bạn vui lòng nhập ngày từ hôm nay trở về trước." in refused


async def test_an_entry_being_looked_at_is_no_form_other_commands_work(app: App) -> None:
    await register(app)
    await report_volunteer(app)
    await say(app, "/myentries")
    detail = await say(app, "1")
    assert "#1 · Hoạt động tình nguyện" in detail
    totals = await say(app, "/totals")  # no "you are in the middle of a form"
    assert "Kết quả của tôi" in totals
    assert "biểu mẫu" not in totals
    await say(app, "/myentries")
    await say(app, "1")
    assert "Bạn muốn báo cáo nội dung gì?" in await say(app, "/report")


async def test_choices_by_part_of_a_label_and_estimates_of_numbers(app: App) -> None:
    await register(app)
    await say(app, "/report")
    asked = await say(app, "tinh nguyen")  # only "Hoạt động tình nguyện" has these words
    assert "Đó là hoạt động gì?" in asked
    for answer in VOLUNTEER[:3]:
        await say(app, answer)
    assert "Bạn đã tham gia bao nhiêu giờ?" in await say(app, "không")  # not the branch's
    await say(app, "tầm 4 tiếng")
    await say(app, "hơn 120 người")
    await say(app, "khoảng 2 triệu")
    await say(app, VOLUNTEER[7])
    review = await say(app, "bỏ qua")
    assert "Số giờ của bạn: 4" in review
    assert "Số người được hưởng lợi: 120" in review
    assert "Giá trị quy ra tiền: 2.000.000 ₫" in review
    assert "✅ Đã lưu" in await say(app, "gửi")  # a part of "✅ Gửi báo cáo"
    (entry,) = await entries(app)
    assert (entry.answers["own_hours"], entry.answers["beneficiaries"]) == (4.0, 120)


async def test_a_rejected_entry_is_fixed_and_sent_again(app: App) -> None:
    await register(app)
    await report_volunteer(app)
    async with app.db.write() as session:
        entry = (await session.scalars(select(Entry))).one()
        entry.status, entry.reject_reason = "rejected", "Thiếu số giờ chính xác <b>&"
    await say(app, "/myentries")
    detail = await say(app, "1")
    assert "Trạng thái: ↩️ Bị trả lại để sửa" in detail
    assert "Lý do: Thiếu số giờ chính xác <b>&" in detail
    fix = await say(app, "✏️ Sửa và gửi lại")
    assert "Bạn sửa những nội dung cần thiết rồi gửi lại nhé." in fix
    assert "bạn vui lòng kiểm tra trước khi gửi" in fix
    await say(app, "2")
    await say(app, "5")
    await say(app, "3")
    sent = await say(app, "1")
    assert "✅ Đã gửi lại. Báo cáo #1 được chuyển tới Tỉnh Đoàn để duyệt." in sent
    (entry,) = await entries(app)
    assert (entry.status, entry.version, entry.answers["own_hours"]) == ("resubmitted", 2, 3.0)
    async with app.db.read() as session:
        history = (
            await session.execute(
                select(
                    EntryRevision.version, EntryRevision.status, EntryRevision.answers
                ).order_by(EntryRevision.id)
            )
        ).all()
    assert [(v, s, a["own_hours"]) for v, s, a in history] == [
        (1, "submitted", 4.0),
        (2, "resubmitted", 3.0),
    ]
    # The fixed entry cannot be "fixed" again from an old button.
    await say(app, "/myentries")
    again = await say(app, "1")
    assert "✏️ Sửa và gửi lại" not in again


async def test_no_entries_yet_and_other_peoples_entries_stay_hidden(app: App) -> None:
    await register(app)
    assert "Bạn chưa có báo cáo nào." in await say(app, "/myentries")
    await report_volunteer(app)
    async with app.db.write() as session:
        entry = (await session.scalars(select(Entry))).one()
        entry.reporter_id = None  # as if someone else's
    assert "Bạn chưa có báo cáo nào." in await say(app, "/myentries")


TRAINING = EntryKind(
    "training",
    "Training course",  # a real kind would add its translations to the catalogs
    headline="topic",
    fields=(
        Field("topic", FieldKind.TEXT, "What was the course about?", label="Topic", min_length=3),
        Field(
            "people",
            FieldKind.INTEGER,
            "How many people attended?",
            label="Attendees",
            minimum=1,
            maximum=1000,
        ),
    ),
)


async def test_a_fourth_kind_is_one_declaration(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KINDS, "training", TRAINING)
    app = build_app(config)
    await app.prepare()
    try:
        await register(app)
        choose = await say(app, "/report")
        assert "4. Training course" in choose
        await say(app, "4")
        await say(app, "Kỹ năng chuyển đổi số")
        review = await say(app, "30")
        assert "Attendees: 30" in review
        assert "✅ Đã lưu. Báo cáo #1" in await say(app, "1")
        (entry,) = await entries(app)
        assert (entry.kind, entry.title, entry.answers) == (
            "training",
            "Kỹ năng chuyển đổi số",
            {"topic": "Kỹ năng chuyển đổi số", "people": 30},
        )
        assert "#1 · Training course · Kỹ năng chuyển đổi số" in await say(app, "/myentries")
    finally:
        await app.close()


async def test_a_redelivered_submit_creates_one_entry(app: App) -> None:
    await register(app)
    await say(app, "/report")
    await say(app, "2")
    for answer in VOLUNTEER:
        await say(app, answer)
    submit = parse_line("1")
    first = await app.dispatcher.handle(submit)
    again = await app.dispatcher.handle(submit)
    assert first and "✅ Đã lưu" in first[0].text
    assert again is None
    assert len(await entries(app)) == 1


async def test_reporting_in_english(app: App) -> None:
    for line in ("/language en", *REGISTER):
        await say(app, line, language="en")
    choose = await say(app, "/report", language="en")
    assert "1. Initiative\n  2. Volunteer work\n  3. Economic model" in choose
    await say(app, "2")
    for answer in VOLUNTEER:
        review = await say(app, answer)
    assert "Value: 2,000,000 ₫" in review
    saved = await say(app, "1")
    assert "✅ Saved. Entry #1 has been sent to the provincial Youth Union for review." in saved
    listing = await say(app, "/myentries")
    assert "#1 · Volunteer work · Sửa đường vào thôn Bản Chu · ⏳ Waiting for review" in listing


async def test_wrong_kinds_of_message_in_a_step_change_nothing(app: App) -> None:
    await register(app)
    await say(app, "/report")
    await say(app, "2")
    for answer in VOLUNTEER[:3]:
        await say(app, answer)
    for kind in (InboundKind.STICKER, InboundKind.VOICE, InboundKind.PHOTO):
        inbound = Inbound(
            channel="console",
            update_key=f"wrong-{kind}",
            user_id="local",
            chat_id="local",
            kind=kind,
            attachments=(Attachment("x", "photo"),) if kind is InboundKind.PHOTO else (),
        )
        replies = await app.dispatcher.handle(inbound) or []
        assert "Bạn vui lòng trả lời câu hỏi này bằng chữ." in replies[0].text
        assert "có do chi đoàn của bạn tổ chức không?" in replies[0].text  # the same question
    typed = "Sửa đường \u200b🌟 <b>&amp;</b> _x_"
    await say(app, "/back")
    await say(app, "/back")
    await say(app, "/back")
    review_after = await say(app, typed)
    assert "Hoạt động tình nguyện · bước 2/9" in review_after
    for answer in VOLUNTEER[1:]:
        reply = await say(app, answer)
    assert "Hoạt động: Sửa đường \u200b🌟 <b>&amp;amp;</b> _x_" not in reply
    assert "Hoạt động: Sửa đường \u200b🌟 <b>&amp;</b> _x_" in reply  # shown as typed


async def test_every_long_answer_tells_its_length_before_it_is_typed(app: App) -> None:
    """The length a text answer may have is in its prompt, not only in the complaint after."""
    vi = app.catalogs.translator("vi", app.config.tz)
    for kind in KINDS.values():
        for field in kind.fields:
            if field.kind is FieldKind.TEXT and field.max_length and field.max_length >= 200:
                limit = f"{field.max_length:,}".replace(",", ".")
                assert field.hint and limit in vi.gettext(field.hint), (kind.name, field.name)
    await register(app)
    await say(app, "/report")
    await say(app, "1")
    await say(app, INITIATIVE[0])
    problem = await say(app, INITIATIVE[1])
    assert "Sáng kiến giải quyết vấn đề gì?" in problem and "Từ 20 đến 2.000 ký tự." in problem
