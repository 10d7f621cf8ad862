"""The period report (Báo cáo sơ kết/tổng kết phong trào): its figures against the previous
period count approved entries by the month things happened, the charts are in it, the
exemplary entries and the units that reported least are named; secretaries and admins get it
in the chat, operators on the command line, and the Word file is opened again."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from docx import Document as open_docx
from docx.document import Document as DocxDocument
from sqlalchemy import select

from bot.app import App
from bot.channels.console import parse_line
from bot.i18n import Catalogs
from bot.period_reports import Period
from models.tables import AuditRecord
from tests.conftest import run_bot
from tests.test_admin import give
from tests.test_documents import LOCAL, table_rows, text_of
from tests.test_reporting import REGISTER, say
from tests.test_stats import add_entry, add_plain_members

FIRST_HALF = Period("2026-01", "2026-06")


def test_a_period_is_whole_months_and_the_previous_one_as_long() -> None:
    t = Catalogs().translator("vi", LOCAL)
    assert Period.of_days(dt.date(2026, 1, 15), dt.date(2026, 6, 2)) == FIRST_HALF
    assert FIRST_HALF.previous() == Period("2025-07", "2025-12")
    assert FIRST_HALF.label(t) == "tháng 01/2026 – tháng 06/2026"
    assert not FIRST_HALF.final  # six months: a sơ kết
    year = Period("2026-01", "2026-12")
    assert year.final and year.label(t) == "năm 2026"
    assert year.previous() == Period("2025-01", "2025-12")
    assert Period("2021-01", "2025-12").label(t) == "giai đoạn 2021 – 2025"
    assert Period("2024-02", "2024-02").last_day == dt.date(2024, 2, 29)
    assert Period("2026-03", "2026-05").previous() == Period("2025-12", "2026-02")
    assert Period("2026-12", "2026-12").label(t) == "tháng 12/2026"


async def the_commune_reports(app: App) -> None:
    """Na Sầm in the first half of 2026: the clean-up of 20 June (25 people × 3,5 hours,
    approved), an initiative applied province-wide (approved) and one volunteer entry
    waiting; in the half before, one member's own 2 hours. Đông Kinh has two members and
    reported nothing."""
    async with app.db.write() as session:
        member, secretary = await add_plain_members(session, 2)
        await add_plain_members(session, 2, unit_code="ls-p-dong-kinh", first_chat=1)
        clean_up = {
            "activity": "Ra quân làm sạch bờ suối",
            "date": "2026-06-20",
            "participants": 25,
            "hours": 3.5,
            "beneficiaries": 300,
        }
        await add_entry(
            session, "volunteer", secretary, "ls-x-na-sam", clean_up, collective=True, approve=True
        )
        notebook = {
            "title": "Sổ tay điện tử cho chi đoàn",
            "scope": "province",
            "applied_on": "2026-03-15",
        }
        await add_entry(session, "initiative", member, "ls-x-na-sam", notebook, approve=True)
        await add_entry(session, "volunteer", member, "ls-x-na-sam", {
            "activity": "Dạy chữ cho trẻ", "date": "2026-05-02", "own_hours": 3,
        })  # fmt: skip
        before = {"activity": "Dọn đường", "date": "2025-10-05", "own_hours": 2}
        await add_entry(session, "volunteer", member, "ls-x-na-sam", before, approve=True)


def report_text(content: bytes) -> tuple[DocxDocument, str]:
    document = open_docx(io.BytesIO(content))
    return document, text_of(document)


async def test_the_report_compares_the_period_with_the_one_before(
    tmp_path: Path, app: App
) -> None:
    await the_commune_reports(app)
    out = tmp_path / "reports" / "na-sam.docx"
    done = run_bot(
        tmp_path, "reports", "period", "--unit", "ls-x-na-sam", "--from", "2026-01-01",
        "--to", "2026-06-30", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2026-01 to 2026-06" in done.stdout
    document, text = report_text(out.read_bytes())
    for expected in (
        "ĐOÀN TNCS HỒ CHÍ MINH",
        "TỈNH ĐOÀN LẠNG SƠN",
        "ĐOÀN XÃ NA SẦM",
        "BÁO CÁO",
        "Sơ kết Phong trào thi đua thực hiện Chương trình phát triển thanh niên tỉnh Lạng Sơn",
        "(tháng 01/2026 – tháng 06/2026)",
        "so với kỳ tháng 07/2025 – tháng 12/2025",
        "1 báo cáo của kỳ đang chờ duyệt, chưa được tính.",
        "3. Các điển hình tiêu biểu",
        "Ra quân làm sạch bờ suối",
        "- 25 người tham gia × 3,5 giờ = 87,5 giờ tình nguyện",
        "Sổ tay điện tử cho chi đoàn",
        "- Phạm vi áp dụng: Trên toàn tỉnh",
        # The bot records nominations and awards (issue 14): none in this period.
        "Trong kỳ chưa có đề nghị khen thưởng nào.",
        "Trong kỳ chưa có quyết định khen thưởng nào.",
        "Đơn vị này không có đơn vị trực thuộc.",
        "- Tỉnh Đoàn Lạng Sơn;",
        "TM. BAN CHẤP HÀNH",
    ):
        assert expected in text, expected
    assert "Dạy chữ cho trẻ" not in text  # waiting: not exemplary
    assert "Dọn đường" not in text  # the period before
    rows = {row[0]: row[1:] for row in table_rows(document, "Chỉ tiêu")}
    assert rows["Sáng kiến, giải pháp: số báo cáo được duyệt"] == ["1", "0", "mới"]
    assert rows["Hoạt động tình nguyện: số báo cáo được duyệt"] == ["1", "1", "0 %"]
    assert rows["Số giờ tình nguyện"] == ["87,5", "2", "+4.275 %"]
    assert rows["Số người tham gia"] == ["25", "1", "+2.400 %"]
    assert rows["Số người được hưởng lợi"] == ["300", "0", "mới"]
    assert rows["Việc làm tạo ra"] == ["0", "0", "—"]
    # The charts, drawn for the period's months, embedded as pictures.
    pictures = [shape for shape in document.inline_shapes]
    assert len(pictures) == 2
    blobs = [rel.target_part.blob for rel in document.part.rels.values() if "image" in rel.reltype]
    assert len(blobs) == 2 and all(blob.startswith(b"\x89PNG") for blob in blobs)
    assert "Hình 1. Báo cáo được duyệt theo tháng: Xã Na Sầm" in text


async def test_the_province_report_names_the_units_that_reported_least(
    tmp_path: Path, app: App
) -> None:
    await the_commune_reports(app)
    out = tmp_path / "tinh.docx"
    done = run_bot(
        tmp_path, "reports", "period", "--from", "2026-01-01", "--to", "2026-12-31",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document, text = report_text(out.read_bytes())
    assert "Tổng kết Phong trào thi đua" in text and "(năm 2026)" in text
    assert "báo cáo kết quả thực hiện phong trào của toàn tỉnh" in text
    assert "TỈNH ĐOÀN LẠNG SƠN" in text
    quiet = table_rows(document, "STT")
    # Units with members or entries only: Đông Kinh reported nothing, Na Sầm 3 (2 approved).
    assert quiet[1:] == [
        ["1", "Phường Đông Kinh", "2", "0", "0"],
        ["2", "Xã Na Sầm", "2", "3", "2"],
    ]
    assert "Hình 2. Xếp hạng xã, phường theo số báo cáo được duyệt" in text


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--from", "2026-06-30", "--to", "2026-01-01"), "--from is after --to"),
        (("--unit", "atlantis", "--from", "2026-01-01", "--to", "2026-06-30"), "unknown unit"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path: Path, args: tuple[str, ...], problem: str) -> None:
    done = run_bot(tmp_path, "reports", "period", *args, "--out", str(tmp_path / "r.docx"))
    assert done.returncode == 2 and problem in done.stderr
    assert not (tmp_path / "r.docx").exists()


async def test_a_secretary_gets_the_report_of_their_unit_in_the_chat(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    assert "dành cho bí thư Đoàn và cán bộ quản trị" in await say(app, "/periodreport")
    await the_commune_reports(app)
    await give(app, "secretary", "ls-x-na-sam")
    question = await say(app, "/periodreport")  # their one unit: straight to the period
    assert "Báo cáo cho kỳ nào?" in question and "Khoảng tháng khác" in question
    assert "Which months" not in await say(app, "5")
    assert "Tháng là một số từ 1 đến 12." in await say(app, "13/2026 - 06/2026")
    assert "Tháng đầu đang ở sau tháng cuối." in await say(app, "06/2026 - 01/2026")
    assert "phải bắt đầu trong khoảng từ 01/2021" in await say(app, "01/2019 - 06/2019")
    replies = await app.dispatcher.handle(parse_line("01/2026 - 06/2026")) or []
    assert replies[0].text.startswith("⏳ Mình đang chuẩn bị báo cáo kỳ tháng 01/2026")
    (document,) = [reply.document for reply in replies if reply.document is not None]
    assert document.file_name == "bao-cao-so-ket-2026-01-2026-06.docx"
    _, text = report_text(document.content)
    assert "ĐOÀN XÃ NA SẦM" in text and "Ra quân làm sạch bờ suối" in text
    async with app.db.read() as session:
        audited = (
            await session.scalars(
                select(AuditRecord).where(AuditRecord.action == "report.created")
            )
        ).one()
    assert audited.details["first"] == "2026-01" and audited.details["last"] == "2026-06"


async def test_an_admin_chooses_the_province_or_any_unit(app: App) -> None:
    for line in REGISTER:
        await say(app, line)
    await the_commune_reports(app)
    await give(app, "admin")
    assert "Một đơn vị (cùng các đơn vị trực thuộc)" in await say(app, "/periodreport")
    assert "Đơn vị nào?" in await say(app, "2")
    assert "Báo cáo cho kỳ nào?" in await say(app, "dong kinh")
    await say(app, "5")
    replies = await app.dispatcher.handle(parse_line("07/2025 - 12/2025")) or []
    (document,) = [reply.document for reply in replies if reply.document is not None]
    _, text = report_text(document.content)
    assert "ĐOÀN PHƯỜNG ĐÔNG KINH" in text and "Dọn đường" not in text  # Na Sầm's
    for line in ("/periodreport", "1", "5"):  # the whole province
        await say(app, line)
    replies = await app.dispatcher.handle(parse_line("07/2025 - 12/2025")) or []
    (document,) = [reply.document for reply in replies if reply.document is not None]
    assert document.file_name == "bao-cao-so-ket-2025-07-2025-12.docx"
    _, text = report_text(document.content)
    assert "của toàn tỉnh" in text and "Dọn đường" in text
