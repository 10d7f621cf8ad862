"""The documents officials use, written from plain values and opened again the way an
official would: the award file (DOCX), a level's list of nominations (XLSX) and a certificate
(PDF), each checked for what it must say and how it is laid out."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import zxingcpp
from docx import Document as open_docx
from docx.document import Document as DocxDocument
from pypdf import PdfReader

from bot.documents import (
    AwardFile,
    CertificateSheet,
    Letterhead,
    NominationList,
    NominationRow,
    Nominee,
    achievement_of,
    award_file_docx,
    certificate_pdf,
    dated,
    nomination_list_xlsx,
)
from bot.i18n import Catalogs, Translator
from domain.figures import Figures

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
HEAD = Letterhead(
    issuer="Đoàn xã Na Sầm",
    superior="Tỉnh Đoàn Lạng Sơn",
    place="Lạng Sơn",
    day=dt.date(2026, 1, 5),
)
CLEAN_UP: dict[str, Any] = {
    "activity": "Ra quân làm sạch bờ suối",
    "date": "2026-06-20",
    "place": {"place": "Thôn Bản Chu, xã Na Sầm"},
    "participants": 25,
    "hours": 3.5,
    "beneficiaries": 300,
    "value": 2_000_000,
}
NOTEBOOK: dict[str, Any] = {
    "title": "Sổ tay điện tử cho chi đoàn",
    "field": "digital",
    "scope": "province",
    "effect": "Tiết kiệm thời gian họp và giấy in.",
    "value": 1_500_000,
    "applied_on": "2025-03-15",
}


@pytest.fixture(scope="module")
def vi() -> Translator:
    return Catalogs().translator("vi", LOCAL)


def text_of(document: DocxDocument) -> str:
    """Every paragraph of the document, those in tables included, one per line."""
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                lines += [paragraph.text for paragraph in cell.paragraphs]
    return "\n".join(lines)


def table_rows(document: DocxDocument, header: str) -> list[list[str]]:
    """The rows of the table whose first row starts with `header`."""
    for table in document.tables:
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        if rows and rows[0][0] == header:
            return rows
    raise AssertionError(f"no table starting with {header!r}")


def award_file(vi: Translator, *, collective: bool = False) -> AwardFile:
    clean_up = achievement_of(
        vi,
        kind="volunteer",
        title=CLEAN_UP["activity"],
        answers=CLEAN_UP,
        collective=True,
        happened_on=dt.date(2026, 6, 20),
        evidence=("ra-quan-1.jpg", "danh-sach-tham-gia.pdf"),
    )
    notebook = achievement_of(
        vi,
        kind="initiative",
        title=NOTEBOOK["title"],
        answers=NOTEBOOK,
        collective=False,
        happened_on=dt.date(2025, 3, 15),
    )
    nominee = (
        Nominee("Chi đoàn thôn Bản Chu", True, "Đoàn xã Na Sầm")
        if collective
        else Nominee("Hoàng Thị Mai", False, "Chi đoàn thôn Bản Chu, Đoàn xã Na Sầm", 2004)
    )
    return AwardFile(
        letterhead=HEAD,
        award="Giấy khen của Ban Thường vụ Tỉnh Đoàn",
        movement="Phong trào thi đua thực hiện Chương trình phát triển thanh niên tỉnh Lạng Sơn",
        period="năm 2026",
        nominee=nominee,
        summary="Tích cực tham gia và vận động đoàn viên tham gia công tác tình nguyện.",
        achievements=(clean_up, notebook),
        figures=Figures(entries=2, participants=25, volunteer_hours=87.5, beneficiaries=300),
    )


def test_the_award_file_says_who_is_proposed_for_what_and_why(vi: Translator) -> None:
    document = open_docx(io.BytesIO(award_file_docx(vi, award_file(vi))))
    text = text_of(document)
    # The national motto and the proposing unit under the body above it, dated as documents
    # are: a 0 before a day under 10 and before January.
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "TỈNH ĐOÀN LẠNG SƠN",
        "ĐOÀN XÃ NA SẦM",
        "Lạng Sơn, ngày 05 tháng 01 năm 2026",
        "BÁO CÁO TÓM TẮT THÀNH TÍCH",
        "Đề nghị tặng: Giấy khen của Ban Thường vụ Tỉnh Đoàn",
        "năm 2026",
        "Họ và tên: HOÀNG THỊ MAI",
        "- Năm sinh: 2004",
        "- Đơn vị: Chi đoàn thôn Bản Chu, Đoàn xã Na Sầm",
        "I. THÔNG TIN CHUNG",
        "II. THÀNH TÍCH ĐẠT ĐƯỢC",
        "Tích cực tham gia và vận động đoàn viên",
        # The achievements, from the entries' answers and figures.
        "Ra quân làm sạch bờ suối",
        "- 25 người tham gia × 3,5 giờ = 87,5 giờ tình nguyện",
        "- Số người được hưởng lợi: 300",
        "- Địa điểm: Thôn Bản Chu, xã Na Sầm",
        "- Phạm vi áp dụng: Trên toàn tỉnh",
        "- Giá trị ước tính: 1.500.000 ₫",
        "III. DANH MỤC MINH CHỨNG",
        "NGƯỜI BÁO CÁO THÀNH TÍCH",
        "XÁC NHẬN, ĐỀ NGHỊ",
    ):
        assert expected in text, expected
    assert table_rows(document, "Chỉ tiêu")[1:] == [
        ["Số báo cáo được duyệt", "2"],
        ["Số giờ tình nguyện", "87,5"],
        ["Số người tham gia", "25"],
        ["Số người được hưởng lợi", "300"],
    ]
    assert table_rows(document, "STT")[1:] == [
        ["1", "ra-quan-1.jpg", "Ra quân làm sạch bờ suối"],
        ["2", "danh-sach-tham-gia.pdf", "Ra quân làm sạch bờ suối"],
    ]
    # A4, with the margins of administrative documents, in Times New Roman.
    section = document.sections[0]
    sizes = (
        section.page_width,
        section.page_height,
        section.left_margin,
        section.right_margin,
        section.top_margin,
        section.bottom_margin,
    )
    assert [round(size.mm) for size in sizes if size is not None] == [210, 297, 30, 15, 20, 20]
    assert document.styles["Normal"].font.name == "Times New Roman"


def test_a_collective_is_confirmed_by_the_unit_above(vi: Translator) -> None:
    text = text_of(open_docx(io.BytesIO(award_file_docx(vi, award_file(vi, collective=True)))))
    assert "Tên tập thể: CHI ĐOÀN THÔN BẢN CHU" in text
    assert "- Trực thuộc: Đoàn xã Na Sầm" in text
    assert "THỦ TRƯỞNG ĐƠN VỊ CẤP TRÊN TRỰC TIẾP" in text
    assert "NGƯỜI BÁO CÁO THÀNH TÍCH" not in text and "Năm sinh" not in text


def test_the_list_of_nominations_opens_in_excel_with_collectives_first(vi: Translator) -> None:
    batch = NominationList(
        letterhead=HEAD,
        subject="trong Phong trào thi đua thực hiện Chương trình phát triển thanh niên, năm 2026",
        rows=(
            NominationRow(
                "Hoàng Thị Mai", False, "Chi đoàn thôn Bản Chu", "Đạt 120 giờ", "Giấy khen", 2004
            ),
            NominationRow(
                "Chi đoàn thôn Bản Chu", True, "Đoàn xã Na Sầm", "=HYPERLINK(1)", "Bằng khen"
            ),
        ),
    )
    book = openpyxl.load_workbook(io.BytesIO(nomination_list_xlsx(vi, batch)))
    sheet = book.active
    assert sheet is not None
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][3] == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert values[1][0] == "ĐOÀN XÃ NA SẦM" and values[0][0] == "TỈNH ĐOÀN LẠNG SƠN"
    assert values[2][3] == "Lạng Sơn, ngày 05 tháng 01 năm 2026"
    assert values[4][0] == "DANH SÁCH ĐỀ NGHỊ KHEN THƯỞNG"
    assert values[7] == [
        "STT",
        "Tên tập thể, họ và tên cá nhân",
        "Năm sinh",
        "Chức vụ, đơn vị",
        "Tóm tắt thành tích",
        "Hình thức khen thưởng đề nghị",
        "Ghi chú",
    ]
    assert values[8][0] == "I. TẬP THỂ"
    # What someone typed never becomes a formula.
    assert values[9][:6] == [
        1,
        "Chi đoàn thôn Bản Chu",
        None,
        "Đoàn xã Na Sầm",
        "'=HYPERLINK(1)",
        "Bằng khen",
    ]
    assert sheet.cell(10, 5).data_type == "s"
    assert values[10][0] == "II. CÁ NHÂN"
    assert values[11][:6] == [
        1,
        "Hoàng Thị Mai",
        2004,
        "Chi đoàn thôn Bản Chu",
        "Đạt 120 giờ",
        "Giấy khen",
    ]
    assert "Tổng cộng: 1 tập thể và 1 cá nhân." in [row[0] for row in values]
    assert "THỦ TRƯỞNG ĐƠN VỊ" in [row[4] for row in values]


def test_a_certificate_is_one_page_with_its_fonts_and_a_qr_code_that_reads(
    vi: Translator,
) -> None:
    link = "https://thidua.example.vn/verify/ABCD-EFGH-JKMN-PQRS"
    sheet = CertificateSheet(
        heading=("ĐOÀN TNCS HỒ CHÍ MINH",),
        subtitle="Phong trào thi đua",
        title="GIẤY CHỨNG NHẬN",
        holder="Hoàng Thị Mai",
        lines=("Đơn vị: Xã Na Sầm", "Đã tham gia 40 giờ hoạt động tình nguyện năm 2026."),
        dated=dated(vi, "Lạng Sơn", dt.date(2026, 11, 28)),
        issued_by="Cấp theo các báo cáo đã được duyệt",
        code_line="Mã kiểm tra: ABCD-EFGH-JKMN-PQRS",
        check_line="Kiểm tra tại " + link,
        qr_payload=link,
    )
    reader = PdfReader(io.BytesIO(certificate_pdf(sheet)))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)
    text = page.extract_text()
    for expected in (
        "GIẤY CHỨNG NHẬN",
        "Hoàng Thị Mai",
        "Đã tham gia 40 giờ hoạt động tình nguyện năm 2026.",
        "Lạng Sơn, ngày 28 tháng 11 năm 2026",
        "Mã kiểm tra: ABCD-EFGH-JKMN-PQRS",
    ):
        assert expected in text, expected
    fonts: Any = page["/Resources"]["/Font"]  # type: ignore[index]
    embedded = [fonts[name].get_object()["/DescendantFonts"][0].get_object() for name in fonts]
    assert all("/FontFile2" in font["/FontDescriptor"] for font in embedded)
    (qr,) = page.images
    assert [found.text for found in zxingcpp.read_barcodes(qr.image)] == [link]
