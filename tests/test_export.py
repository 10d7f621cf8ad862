"""Exports: the workbook, the CSV files and the evidence read back and compared with the
database; formulas neutralised; scope enforced; the command line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, strategies
from PIL import Image
from sqlalchemy import select

from bot.app import App
from bot.capabilities import Capabilities
from bot.channels.console import parse_line
from bot.events import Reply
from bot.evidence import EvidenceStore
from bot.exports import safe_text, starts_formula
from models import AuditRecord, Entry
from models.people import grant_role, identity_for
from models.tables import Campaign, EntryFile, Unit
from tests.conftest import run_bot
from tests.test_reporting import ECONOMIC, INITIATIVE, VOLUNTEER, register, say

INJECTED_TITLE = '=HYPERLINK("http://x")'
INJECTED_EFFECT = "@SUM(A1) tiết kiệm giấy in"
INJECTED_COAUTHORS = "+1 Nguyễn Văn Ánh"
# The initiative again, with answers a spreadsheet would run as formulas.
HOSTILE = (
    INJECTED_TITLE,
    *INITIATIVE[1:5],
    INJECTED_EFFECT,
    *INITIATIVE[6:8],
    INJECTED_COAUTHORS,
    "bỏ qua",
)


async def replies(app: App, line: str, user: str | None = None) -> list[Reply]:
    inbound = parse_line(line, language="vi")
    if user is not None:
        inbound = replace(inbound, user_id=user, chat_id=user)
    return await app.dispatcher.handle(inbound) or []


async def report_all(app: App) -> None:
    """The console user reports one entry of each kind (the initiative full of formulas)."""
    for number, answers in (("1", HOSTILE), ("2", VOLUNTEER), ("3", ECONOMIC)):
        await say(app, "/report")
        reply = await say(app, number)
        for answer in answers:
            assert "⚠️" not in reply, reply
            reply = await say(app, answer)
        assert "✅" in await say(app, "1")


async def make(app: App, role: str, unit_code: str | None, user: str = "local") -> None:
    async with app.db.write() as session:
        identity = await identity_for(session, "console", user)
        unit = None
        if unit_code:
            unit = (await session.scalars(select(Unit).where(Unit.code == unit_code))).one()
        await grant_role(session, identity, role, unit, granted_by="test")


async def export_in_chat(app: App, fmt: str, user: str | None = None) -> list[Reply]:
    """/export with every kind, any time, every status, in format number `fmt`."""
    await replies(app, "/export", user)
    for answer in ("1", "1", "1"):
        await replies(app, answer, user)
    return await replies(app, fmt, user)


async def all_entries(app: App) -> list[Entry]:
    async with app.db.read() as session:
        return list((await session.scalars(select(Entry).order_by(Entry.id))).all())


async def test_the_workbook_matches_the_database(app: App) -> None:
    await register(app)
    await report_all(app)
    await make(app, "admin", None)
    (preparing, reply) = await export_in_chat(app, "1")
    assert "Mình đang chuẩn bị tệp cho bạn" in preparing.text  # said before the slow part
    assert " 3 " in reply.text
    assert reply.document is not None and reply.document.file_name.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(reply.document.content))
    initiative, volunteer, economic = await all_entries(app)
    vi = app.catalogs.translator("vi", app.config.tz).gettext  # new labels may await translation
    assert book.sheetnames == [
        vi("Summary"),
        "Sáng kiến, giải pháp",
        "Hoạt động tình nguyện",
        "Mô hình kinh tế",
        "Chương trình, kế hoạch",  # a sheet for every kind, with its headers
    ]

    sheet = book["Sáng kiến, giải pháp"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:Q2"
    headers = [cell.value for cell in sheet[1]]
    fixed = ("ID", "Status", "Collective", "Unit", "Reporter", "Campaign", "Submitted at")
    assert headers[:7] == [vi(label) for label in fixed]
    row = {header: cell for header, cell in zip(headers, sheet[2], strict=True)}
    assert row[vi("ID")].value == initiative.id
    assert row[vi("Unit")].value == "Xã Na Sầm"
    assert row[vi("Reporter")].value == "Hoàng Thị Mai"
    submitted = initiative.submitted_at.astimezone(app.config.tz).replace(tzinfo=None)
    assert abs(row[vi("Submitted at")].value - submitted) < dt.timedelta(milliseconds=5)
    assert row[vi("Submitted at")].number_format == "dd/mm/yyyy hh:mm"
    # Written as text, shown as typed (no apostrophe), kept as text if someone edits the cell.
    for header, typed in (
        ("Tên sáng kiến, giải pháp", INJECTED_TITLE),
        ("Hiệu quả", INJECTED_EFFECT),
        ("Đồng tác giả", INJECTED_COAUTHORS),
    ):
        assert row[header].value == typed
        assert row[header].data_type == "s"
        assert row[header].quotePrefix
    assert not row["Lĩnh vực"].quotePrefix
    assert row["Lĩnh vực"].value == "Chuyển đổi số"
    assert row["Giá trị ước tính"].value == 1_500_000
    assert row["Giá trị ước tính"].number_format == '#,##0 "₫"'
    assert row["Ngày áp dụng lần đầu"].value == dt.datetime.combine(
        dt.date(2025, 3, 15), dt.time()
    )
    assert row["Ngày áp dụng lần đầu"].number_format == "dd/mm/yyyy"
    assert row["Minh chứng"].value == 0

    sheet = book["Hoạt động tình nguyện"]
    row = {cell.value: value for cell, value in zip(sheet[1], sheet[2], strict=True)}
    assert row[vi("ID")].value == volunteer.id
    assert row["Số người tham gia"].value is None  # a member's own report: their own hours
    assert row["Số giờ của bạn"].value == 4
    assert row["Địa điểm"].value == "Thôn Bản Chu, xã Na Sầm"
    assert row["Hoạt động"].value == "Sửa đường vào thôn Bản Chu"
    volunteered = dt.date.fromisoformat(volunteer.answers["date"])
    assert row["Ngày thực hiện"].value == dt.datetime.combine(volunteered, dt.time())

    sheet = book["Mô hình kinh tế"]
    row = {cell.value: value for cell, value in zip(sheet[1], sheet[2], strict=True)}
    assert row[vi("ID")].value == economic.id
    assert row["Vốn đầu tư"].value == 200_000_000
    assert row["Ngành nghề"].value == "Lâm nghiệp"

    await check_summary_and_audit(app, book)


async def check_summary_and_audit(app: App, book: openpyxl.Workbook) -> None:
    """Entries per unit and kind in the summary; one audit row without personal data."""
    vi = app.catalogs.translator("vi", app.config.tz).gettext
    summary = book[vi("Summary")]
    assert [cell.value for cell in summary[1]] == [
        vi("Unit"),
        "Sáng kiến, giải pháp: đã duyệt",
        "Hoạt động tình nguyện: đã duyệt",
        "Mô hình kinh tế: đã duyệt",
        "Chương trình, kế hoạch: đã duyệt",
        "Tổng số đã duyệt",
        "Chờ duyệt (chưa tính)",
    ]
    # Nothing is approved yet: the three entries wait, and are shown apart.
    assert [cell.value for cell in summary[2]] == ["Xã Na Sầm", 0, 0, 0, 0, 0, 3]
    async with app.db.read() as session:
        audits = (
            await session.scalars(
                select(AuditRecord).where(AuditRecord.action == "export.created")
            )
        ).all()
    assert [(a.details["format"], a.details["rows"]) for a in audits] == [("xlsx", 3)]
    assert "Hoàng" not in str(audits[0].details)


async def test_the_csv_zip_has_one_file_per_kind_with_a_bom(app: App) -> None:
    await register(app)
    await report_all(app)
    await make(app, "admin", None)
    (_preparing, reply) = await export_in_chat(app, "3")  # comma-separated, decimal points
    assert reply.document is not None
    initiative, volunteer, _economic = await all_entries(app)
    vi = app.catalogs.translator("vi", app.config.tz).gettext
    with zipfile.ZipFile(io.BytesIO(reply.document.content)) as archive:
        assert sorted(archive.namelist()) == [
            "economic_model.csv",
            "initiative.csv",
            "programme.csv",
            "volunteer.csv",
        ]
        raw = archive.read("initiative.csv")
        volunteer_rows = list(
            csv.reader(io.StringIO(archive.read("volunteer.csv").decode("utf-8-sig")))
        )
    assert raw.startswith(b"\xef\xbb\xbf")
    header, row = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    values = dict(zip(header, row, strict=True))
    assert values[vi("ID")] == str(initiative.id)
    assert values["Tên sáng kiến, giải pháp"] == "'" + INJECTED_TITLE
    assert values["Đồng tác giả"] == "'" + INJECTED_COAUTHORS
    assert values["Giá trị ước tính"] == "1500000"
    assert values["Ngày áp dụng lần đầu"] == "2025-03-15"
    assert values[vi("Reporter")] == "Hoàng Thị Mai"
    assert len(volunteer_rows) == 2 and volunteer_rows[1][0] == str(volunteer.id)
    assert dict(zip(*volunteer_rows, strict=True))["Số giờ của bạn"] == "4.0"


async def test_csv_for_excel_in_vietnamese_opens_in_columns(app: App) -> None:
    await register(app)
    await report_all(app)
    await make(app, "admin", None)
    (_preparing, reply) = await export_in_chat(app, "2")  # the first CSV offered
    assert reply.document is not None
    with zipfile.ZipFile(io.BytesIO(reply.document.content)) as archive:
        text = archive.read("volunteer.csv").decode("utf-8-sig")
    # Excel set to Vietnamese splits on ";" and reads "4,0" as a number.
    header, row = list(csv.reader(io.StringIO(text), delimiter=";"))
    values = dict(zip(header, row, strict=True))
    assert values["Số giờ của bạn"] == "4,0"
    assert values["Số người được hưởng lợi"] == "120"
    assert values["Địa điểm"] == "Thôn Bản Chu, xã Na Sầm"  # its comma stays in the cell


async def test_a_workbook_too_large_to_send_comes_as_csv(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(app)
    await report_all(app)
    await make(app, "admin", None)
    # A chat that takes files of 7 kB at most: between the CSV zip (a few kB) and the workbook.
    small = Capabilities(buttons=False, max_file_bytes=7_000)
    monkeypatch.setitem(app.dispatcher.channels, "console", small)
    (_preparing, reply) = await export_in_chat(app, "1")
    assert reply.document is not None
    assert reply.document.file_name.endswith("-csv.zip")
    assert "nên mình gửi các tệp CSV trong một tệp ZIP" in reply.text
    with zipfile.ZipFile(io.BytesIO(reply.document.content)) as archive:
        assert len(archive.namelist()) == 4  # one per kind
    async with app.db.read() as session:
        record = (
            await session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1))
        ).one()
    assert (record.action, record.details["format"], record.details["sent"]) == (
        "export.created",
        "csv",
        True,
    )


async def test_an_export_of_one_campaign(app: App) -> None:
    await register(app)
    await make(app, "admin", None)
    today = dt.datetime.now(app.config.tz).date()
    async with app.db.write() as session:
        session.add(
            Campaign(
                title="Thi đua tình nguyện",
                description="",
                starts_on=today - dt.timedelta(days=3),  # the work of yesterday counts
                ends_on=today + dt.timedelta(days=30),
                kinds=["volunteer"],
            )
        )
    await report_all(app)  # the volunteer work goes to the new campaign, the others not
    await replies(app, "/export")
    await replies(app, "1")  # every kind
    await replies(app, "1")  # any time
    question = await replies(app, "3")  # the second campaign listed: the new one
    assert "Which statuses?" in question[-1].text or "trạng thái" in question[-1].text
    await replies(app, "1")
    (_preparing, reply) = await replies(app, "2")  # CSV
    assert reply.document is not None
    with zipfile.ZipFile(io.BytesIO(reply.document.content)) as archive:
        lines = {
            name: archive.read(name).decode("utf-8-sig").splitlines()
            for name in archive.namelist()
        }
    assert {name: len(rows) - 1 for name, rows in lines.items()} == {
        "initiative.csv": 0,
        "volunteer.csv": 1,
        "economic_model.csv": 0,
        "programme.csv": 0,
    }


async def test_members_are_refused_and_secretaries_see_only_their_units(app: App) -> None:
    await register(app)
    await report_all(app)
    (refusal,) = await replies(app, "/export")
    vi = app.catalogs.translator("vi", app.config.tz).gettext
    assert refusal.text == vi("Exports are for youth union secretaries and admins.")
    assert refusal.document is None
    # A secretary of another commune: nothing of Na Sầm.
    await make(app, "secretary", "ls-p-tam-thanh", user="other")
    (_preparing, reply) = await export_in_chat(app, "1", user="other")
    assert reply.document is None
    assert vi("No entries match these choices, so there is nothing to export.") in reply.text
    # The secretary of Na Sầm gets all three.
    await make(app, "secretary", "ls-x-na-sam")
    (_preparing, reply) = await export_in_chat(app, "2")
    assert reply.document is not None
    with zipfile.ZipFile(io.BytesIO(reply.document.content)) as archive:
        rows = sum(
            len(archive.read(name).decode("utf-8-sig").splitlines()) - 1
            for name in archive.namelist()
        )
    assert rows == 3


def jpeg(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_the_command_line_writes_evidence_and_refuses_bad_arguments(
    app: App, tmp_path: Path
) -> None:
    await register(app)
    await report_all(app)
    initiative, *_ = await all_entries(app)
    store = EvidenceStore(app.config.data_dir / "files")
    stored = [store.save(jpeg(color), original_name=f"{color}.jpg") for color in ("red", "blue")]
    async with app.db.write() as session:
        for position, file in enumerate(stored):
            session.add(
                EntryFile(
                    entry_id=initiative.id,
                    sha256=file.sha256,
                    path=file.relative_path,
                    mime=file.mime,
                    size=file.size,
                    original_name=file.original_name,
                    position=position,
                )
            )
    await app.close()  # the subprocess writes the audit row

    out = tmp_path / "out" / "evidence.zip"
    result = run_bot(tmp_path, "export", "--format", "evidence", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"Đã xuất 3 báo cáo ra {out}." in result.stdout
    with zipfile.ZipFile(out) as archive:
        manifest = archive.read("manifest.csv")
        assert manifest.startswith(b"\xef\xbb\xbf")
        text = manifest.decode("utf-8-sig")
        header, *rows = list(csv.reader(io.StringIO(text), delimiter=";"))
        assert header == [
            "Mã báo cáo",
            "Loại báo cáo",
            "Tệp trong ZIP này",
            "Tên tệp khi gửi",
            "Loại tệp",
            "Dung lượng (byte)",
            "Mã kiểm tra SHA-256",
        ]
        assert [(r[0], r[1], r[3], r[6]) for r in rows] == [
            (str(initiative.id), "Sáng kiến, giải pháp", f"{f.original_name}", f.sha256)
            for f in stored
        ]
        for row, file in zip(rows, stored, strict=True):
            assert archive.read(row[2]) == store.path(file.relative_path).read_bytes()

    workbook = tmp_path / "na-sam.xlsx"
    filtered = run_bot(
        tmp_path,
        "export",
        "--format",
        "xlsx",
        "--out",
        str(workbook),
        "--unit",
        "ls",
        "--kind",
        "volunteer",
        "--language",
        "en",
    )
    assert filtered.returncode == 0, filtered.stderr
    assert "Exported 1 entry to" in filtered.stdout  # one entry: singular
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == ["Summary", "Volunteer work"]
    other = run_bot(
        tmp_path,
        "export",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "x.zip"),
        "--unit",
        "ls-p-tam-thanh",
    )
    assert "Đã xuất 0 báo cáo" in other.stdout
    # Like backup, export never replaces a file unless told to.
    again = run_bot(tmp_path, "export", "--format", "csv", "--out", str(tmp_path / "x.zip"))
    assert again.returncode == 2
    assert "đã có; hãy chọn tệp mới, hoặc thêm --force" in again.stderr
    forced = run_bot(
        tmp_path,
        "export",
        "--format",
        "csv",
        "--csv-style",
        "standard",
        "--out",
        str(tmp_path / "x.zip"),
        "--force",
    )
    assert "Đã xuất 3 báo cáo" in forced.stdout
    with zipfile.ZipFile(tmp_path / "x.zip") as archive:
        assert archive.read("volunteer.csv").decode("utf-8-sig").startswith("Mã,")

    for bad in (
        ("--format", "pdf", "--out", "x"),
        ("--format", "xlsx", "--out", "x", "--from", "2025-13-01"),
        ("--format", "xlsx"),
    ):
        refused = run_bot(tmp_path, "export", *bad)
        assert refused.returncode == 2
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    unknown = run_bot(tmp_path, "export", "--format", "xlsx", "--out", "x", "--unit", "zz")
    assert unknown.returncode == 2
    last = unknown.stderr.strip().splitlines()[-1]
    assert last == "export: không có đơn vị nào mang mã 'zz'"


def test_formulas_are_neutralised() -> None:
    for value in (
        '=HYPERLINK("http://x")',
        "+1",
        "-2",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "\nx",
        "\0=1",
        "  =1+1",  # leading spaces, a no-break space, a line break, a zero-width space
        "\u00a0=1+1",
        "\n=cmd|' /C calc'!A0",
        "\u200b@SUM(A1)",
        "\u3000-2",
    ):
        assert starts_formula(value), repr(value)
        assert safe_text(value) == "'" + value
    for value in ("Xã Na Sầm", "1,5 triệu", "", "a=b", " Na Sầm", "\u00a0Bản Chu"):
        assert safe_text(value) == value


@given(strategies.text())
def test_no_neutralised_text_starts_a_formula(value: str) -> None:
    result = safe_text(value)
    # Past any blanks or invisible characters, no formula starts (unless behind the ').
    shown = "".join(
        c
        for c in result
        if not (
            c.isspace() or c in "\0\u200b\u200c\u200d\u2060\ufeff" or "\u2000" <= c <= "\u200d"
        )
    )
    assert result.startswith("'") or not shown.startswith(("=", "+", "-", "@"))
    assert result in (value, "'" + value)
