"""The documents officials already use, written from plain values (no database rows), so that
whoever holds the values can write them: the award file "Báo cáo tóm tắt thành tích" and a
level's list "Danh sách đề nghị khen thưởng" (nominations), the period report "Báo cáo sơ
kết/tổng kết phong trào" (bot.period_reports) and the one-page certificate (bot.certificates).

Where the layouts come from:
- The page, the header and the date line follow Nghị định 30/2020/NĐ-CP on administrative
  documents (Phụ lục I): A4 portrait, margins top and bottom 20 mm, left 30 mm, right 15 mm,
  Times New Roman 13–14 pt; the national motto "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in bold
  capitals over "Độc lập - Tự do - Hạnh phúc", the issuing body at the left under the body
  above it, "<place>, ngày dd tháng mm năm yyyy" with a 0 before days under 10 and the months
  January and February.
- Youth-union documents (the period report, the volunteer certificate) put "ĐOÀN TNCS HỒ CHÍ
  MINH" where state documents put the motto, and "***" under the issuing body (Hướng dẫn
  29-HD/TWĐTN-VP on the layout of the Đoàn's documents).
- The award file follows the outline of the report for awards in an emulation movement on a
  theme (thi đua theo chuyên đề, as this movement is): Mẫu số 07 in the appendix of Nghị định
  91/2017/NĐ-CP, kept by Nghị định 98/2023/NĐ-CP and, from 1 July 2025, Nghị định
  152/2025/NĐ-CP ("Báo cáo thành tích đề nghị khen thưởng thi đua theo chuyên đề"): who is
  proposed and for what, I. general information, II. the achievements measured against the
  movement's targets, the evidence, and the signatures (the person reporting, or the unit's
  head, with the level above confirming and proposing).
- The list of nominations has the columns such lists use: STT, name of the collective or
  person, year of birth, position and unit, summary of achievements, the award proposed, note;
  collectives first, then individuals.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qrcode  # type: ignore[import-untyped]
import xlsxwriter
from docx import Document as new_docx
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from bot.exports import safe_text
from bot.i18n import Translator
from domain.figures import Figures, own_hours
from domain.forms import FieldKind
from domain.kinds import KINDS

__all__ = [
    "DOCX_MIME",
    "PDF_MIME",
    "XLSX_MIME",
    "Achievement",
    "AwardFile",
    "AwardLine",
    "CertificateSheet",
    "ChartImage",
    "FigureRow",
    "Letterhead",
    "NominationList",
    "NominationRow",
    "Nominee",
    "PeriodReport",
    "QuietUnit",
    "achievement_of",
    "award_file_docx",
    "certificate_pdf",
    "dated",
    "nomination_list_xlsx",
    "period_report_docx",
]

FONT = "Times New Roman"
BODY_PT = 14
HEADER_PT = 13
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_MIME = "application/pdf"


# The PDF embeds the DejaVu fonts that ship inside matplotlib (as bot.charts does): every
# Vietnamese letter, whatever fonts the machine has.
def _fonts() -> Path:
    """The DejaVu fonts matplotlib ships, found without importing it (that takes half a
    second and some 40 MB, for a path)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib, which ships the DejaVu fonts, is not installed")
    return Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf"


_RED = (160, 20, 20)
IDLE_NAMED = 20  # units without members a period report names, before "and N more"


@dataclass(frozen=True)
class Letterhead:
    """Who issues a document, where and when."""

    issuer: str  # "Đoàn xã Na Sầm"
    superior: str | None  # the body above the issuer, written above it: "Tỉnh Đoàn Lạng Sơn"
    place: str  # "Lạng Sơn", for "Lạng Sơn, ngày 28 tháng 11 năm 2026"
    day: dt.date
    union: bool = False  # a youth-union document: "ĐOÀN TNCS HỒ CHÍ MINH" instead of the motto


@dataclass(frozen=True)
class Achievement:
    """One approved entry as an achievement: its kind, what it was, when, its figures."""

    kind: str  # translated: "Hoạt động tình nguyện"
    title: str
    happened_on: dt.date | None
    details: tuple[str, ...]  # translated phrases: "25 người tham gia × 3,5 giờ = 87,5 giờ"
    evidence: tuple[str, ...] = ()  # names of its evidence files
    by: str = ""  # who reported it: a person, or a unit for a collective entry


@dataclass(frozen=True)
class Nominee:
    name: str
    collective: bool
    unit: str  # their unit, or for a collective the unit it belongs to
    birth_year: int | None = None
    position: str = ""  # "Bí thư Chi đoàn thôn Bản Chu", when known


@dataclass(frozen=True)
class AwardFile:
    """What "Báo cáo tóm tắt thành tích" says of one nomination."""

    letterhead: Letterhead
    award: str  # "Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh"
    movement: str  # the campaign or the movement
    period: str  # worded already: "năm 2026"
    nominee: Nominee
    summary: str  # the proposing secretary's few sentences
    achievements: tuple[Achievement, ...]
    figures: Figures  # what the supporting (approved) entries add up to


@dataclass(frozen=True)
class NominationRow:
    name: str
    collective: bool
    unit: str
    summary: str
    award: str
    birth_year: int | None = None
    note: str = ""


@dataclass(frozen=True)
class NominationList:
    """A level's batch: "Danh sách đề nghị khen thưởng"."""

    letterhead: Letterhead
    subject: str  # "trong Phong trào thi đua …, năm 2026"
    rows: tuple[NominationRow, ...]


@dataclass(frozen=True)
class FigureRow:
    label: str
    now: float
    before: float
    money: bool = False


@dataclass(frozen=True)
class ChartImage:
    caption: str
    png: bytes


@dataclass(frozen=True)
class QuietUnit:
    name: str
    members: int
    reported: int
    approved: int


@dataclass(frozen=True)
class AwardLine:
    name: str
    unit: str
    award: str
    decision: str  # "Quyết định số 123/QĐ-UBND ngày 15/01/2031"


@dataclass(frozen=True)
class PeriodReport:
    """What "Báo cáo sơ kết/tổng kết phong trào" says of a unit (or the province)."""

    letterhead: Letterhead
    final: bool  # tổng kết (a whole year or the whole movement), else sơ kết
    movement: str
    scope: str  # "Xã Na Sầm", or "toàn tỉnh"
    period: str  # "tháng 01/2026 – tháng 06/2026"
    previous: str
    rows: tuple[FigureRow, ...]
    waiting: int  # entries of the period still waiting for review: not counted
    charts: tuple[ChartImage, ...]
    exemplary: tuple[Achievement, ...]
    criteria: str  # how the exemplary entries were chosen
    quiet_units: tuple[QuietUnit, ...]
    idle_units: tuple[str, ...]  # below, with no member registered and no entry
    # None: not recorded in the bot (yet); the section asks the unit to add it by hand.
    nominations: tuple[NominationRow, ...] | None = None
    awards: tuple[AwardLine, ...] | None = None
    recipients: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CertificateSheet:
    """A one-page certificate, every text already in the reader's language."""

    heading: tuple[str, ...]  # the motto and "Độc lập - Tự do - Hạnh phúc", or the union
    subtitle: str  # the movement, under the heading (or nothing)
    title: str  # "GIẤY CHỨNG NHẬN"
    holder: str
    lines: tuple[str, ...]  # the unit, then what is certified
    dated: str  # "Lạng Sơn, ngày 28 tháng 11 năm 2026"
    issued_by: str
    code_line: str  # "Mã kiểm tra: ABCD-EFGH-JKMN-PQRS"
    check_line: str  # how to check it
    qr_payload: str  # the verify address with the code, or the code alone


# -- Shared wording -----------------------------------------------------------------------


def dated(t: Translator, place: str, day: dt.date) -> str:
    """The date line: "Lạng Sơn, ngày 05 tháng 01 năm 2026", with a 0 before days under 10
    and before the months 1 and 2."""
    return t.gettext("{place}, day {day} month {month} year {year}").format(
        place=place,
        day=f"{day.day:02d}",
        month=f"{day.month:02d}" if day.month < 3 else str(day.month),
        year=day.year,
    )


def _number(t: Translator, value: float) -> str:
    return t.number(round(value, 1) if isinstance(value, float) else value)


def achievement_of(
    t: Translator,
    *,
    kind: str,
    title: str,
    answers: dict[str, Any],
    collective: bool,
    happened_on: dt.date | None,
    evidence: Sequence[str] = (),
    by: str = "",
) -> Achievement:
    """An approved entry as an achievement: its figures and its main answers, worded."""
    declared = KINDS[kind]
    details: list[str] = []
    if kind == "volunteer":
        if collective:
            participants = int(answers.get("participants") or 0)
            hours = float(answers.get("hours") or 0)
            details.append(
                t.gettext(
                    "{people} participants × {hours} hours = {total} volunteer hours"
                ).format(
                    people=t.number(participants),
                    hours=_number(t, hours),
                    total=_number(t, participants * hours),
                )
            )
        else:
            details.append(
                t.gettext("{hours} volunteer hours").format(hours=_number(t, own_hours(answers)))
            )
    for name in _SHOWN[kind]:
        value = answers.get(name)
        if value in (None, "", []):
            continue
        current = declared.field(name)
        details.append(
            f"{t.gettext(current.label or current.prompt)}: {_value(t, current, value)}"
        )
    return Achievement(
        kind=t.gettext(declared.title),
        title=title,
        happened_on=happened_on,
        details=tuple(details),
        evidence=tuple(evidence),
        by=by,
    )


# The answers an achievement shows, beyond its title, date and volunteer hours.
_SHOWN = {
    "initiative": ("field", "scope", "effect", "value", "coauthors"),
    "volunteer": ("place", "beneficiaries", "value"),
    "economic_model": (
        "sector",
        "year_started",
        "revenue",
        "profit",
        "jobs",
        "youth_jobs",
        "place",
    ),
    "programme": (
        "document_number",
        "issued_on",
        "integrated_into",
        "budget",
        "mobilised",
        "models_replicated",
    ),
}
_LONGEST_ANSWER = 400  # characters of a long answer (an effect) kept in a document


def _value(t: Translator, current: Any, value: Any) -> str:
    kind = current.kind
    if kind is FieldKind.CHOICE:
        labels = {option.value: t.gettext(option.label) for option in current.options}
        return labels.get(str(value), str(value))
    if kind is FieldKind.MONEY:
        return t.money(int(value))
    if kind in (FieldKind.INTEGER, FieldKind.DECIMAL):
        return t.number(value)
    if kind is FieldKind.DATE:
        return t.date(dt.date.fromisoformat(str(value)))
    if kind is FieldKind.LOCATION:
        return str(
            value.get("place") or "{:.5f}, {:.5f}".format(value["latitude"], value["longitude"])
        )
    text = " ".join(str(value).split())
    return text if len(text) <= _LONGEST_ANSWER else text[: _LONGEST_ANSWER - 1] + "…"


def _figure_lines(t: Translator, figures: Figures) -> list[tuple[str, str]]:
    """What approved entries add up to, as (what, how much), leaving out what is nothing."""
    rows = [
        (t.gettext("Approved entries"), t.number(figures.entries)),
        (t.gettext("Volunteer hours"), _number(t, figures.volunteer_hours)),
        (t.gettext("Participants"), t.number(figures.participants)),
        (t.gettext("People who benefited"), t.number(figures.beneficiaries)),
        (t.gettext("Jobs created"), t.number(figures.jobs)),
        (t.gettext("Yearly revenue of economic models"), t.money(figures.revenue)),
        (t.gettext("Budget allocated to youth programmes"), t.money(figures.budget)),
        (t.gettext("Resources mobilised for youth programmes"), t.money(figures.mobilised)),
        (t.gettext("Models of young people replicated"), t.number(figures.models_replicated)),
    ]
    values = (
        figures.entries,
        figures.volunteer_hours,
        figures.participants,
        figures.beneficiaries,
        figures.jobs,
        figures.revenue,
        figures.budget,
        figures.mobilised,
        figures.models_replicated,
    )
    return [row for row, value in zip(rows, values, strict=True) if value]


# -- DOCX -----------------------------------------------------------------------------------


def _new_document(title: str) -> DocxDocument:
    document = new_docx()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(BODY_PT)
    # Word picks the font of Vietnamese letters from these, not only from the name above.
    fonts = normal.element.get_or_add_rPr().get_or_add_rFonts()
    for script in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(script), FONT)
    normal.paragraph_format.space_after = Pt(4)
    properties = document.core_properties
    properties.title, properties.author = title, ""
    properties.created = properties.modified = dt.datetime.now(dt.UTC).replace(microsecond=0)
    properties.last_modified_by = ""
    return document


def _paragraph(
    where: DocxDocument | _Cell,
    text: str = "",
    *,
    bold: bool = False,
    italic: bool = False,
    size: float | None = None,
    align: Any = None,
    underline: bool = False,
    indent: bool = False,
) -> Paragraph:
    paragraph = where.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    if indent:
        paragraph.paragraph_format.first_line_indent = Mm(10)
    if text:
        run = paragraph.add_run(text)
        run.bold, run.italic, run.underline = bold, italic, underline
        if size is not None:
            run.font.size = Pt(size)
    return paragraph


def _first(cell: _Cell, text: str, **style: Any) -> Paragraph:
    """Writes into the empty paragraph a new cell starts with."""
    paragraph = cell.paragraphs[0]
    run = paragraph.add_run(text)
    run.bold = style.get("bold", False)
    run.italic = style.get("italic", False)
    run.underline = style.get("underline", False)
    if "size" in style:
        run.font.size = Pt(style["size"])
    if "align" in style:
        paragraph.alignment = style["align"]
    return paragraph


def _letterhead(t: Translator, document: DocxDocument, head: Letterhead) -> None:
    """The issuer at the left, the motto (or the union's name) at the right, then the date."""
    table = document.add_table(rows=1, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = table.rows[0].cells
    centre = WD_ALIGN_PARAGRAPH.CENTER
    if head.superior:
        _first(left, head.superior.upper(), size=HEADER_PT, align=centre)
        _paragraph(left, head.issuer.upper(), bold=True, size=HEADER_PT, align=centre)
    else:
        _first(left, head.issuer.upper(), bold=True, size=HEADER_PT, align=centre)
    _paragraph(left, "***" if head.union else "———", size=HEADER_PT, align=centre)
    if head.union:
        _first(
            right,
            t.gettext("HO CHI MINH COMMUNIST YOUTH UNION"),
            bold=True,
            size=15,
            align=centre,
            underline=True,
        )
    else:
        _first(
            right, t.gettext("SOCIALIST REPUBLIC OF VIETNAM"), bold=True, size=12.5, align=centre
        )
        _paragraph(
            right,
            t.gettext("Independence - Freedom - Happiness"),
            bold=True,
            size=HEADER_PT,
            align=centre,
            underline=True,
        )
    _paragraph(right, dated(t, head.place, head.day), italic=True, size=HEADER_PT, align=centre)
    _widths(table, (70, 95))


def _heading(document: DocxDocument, text: str) -> None:
    _paragraph(document, text, bold=True)


def _grid(
    document: DocxDocument,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
) -> Table:
    """A table with borders, its header row in bold; `widths` in millimetres (the text is
    165 mm wide)."""
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        _first(cell, text, bold=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER)
    for values in rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, values, strict=True):
            _first(cell, text, size=12)
    _widths(table, widths)
    return table


def _widths(table: Table, widths: Sequence[float]) -> None:
    """Column widths in millimetres, on the grid (LibreOffice reads it) and on every cell
    (Word does)."""
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Mm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Mm(width)


def _signatures(document: DocxDocument, left: Sequence[str], right: Sequence[str]) -> None:
    """Two signature blocks side by side: title in bold capitals, then how to sign."""
    table = document.add_table(rows=1, cols=2)
    _widths(table, (82, 83))
    for cell, lines in zip(table.rows[0].cells, (left, right), strict=True):
        if not lines:
            continue
        *titles, how = lines
        _first(cell, titles[0], bold=True, size=HEADER_PT, align=WD_ALIGN_PARAGRAPH.CENTER)
        for title in titles[1:]:
            _paragraph(cell, title, bold=True, size=HEADER_PT, align=WD_ALIGN_PARAGRAPH.CENTER)
        _paragraph(cell, how, italic=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER)


def _docx_bytes(document: DocxDocument) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _when(t: Translator, item: Achievement) -> str:
    return t.date(item.happened_on) if item.happened_on else ""


def _achievement_lines(
    t: Translator, document: DocxDocument, items: Sequence[Achievement]
) -> None:
    for number, item in enumerate(items, start=1):
        paragraph = _paragraph(document, indent=True)
        paragraph.add_run(f"{number}. ")
        title = paragraph.add_run(item.title)
        title.bold = True
        heading = [item.kind, _when(t, item), item.by]
        paragraph.add_run(" (" + "; ".join(part for part in heading if part) + ")")
        for detail in item.details:
            _paragraph(document, "- " + detail, indent=True)


def award_file_docx(t: Translator, file: AwardFile) -> bytes:
    """Writes "Báo cáo tóm tắt thành tích" of a nomination (DOCX)."""
    document = _new_document(t.gettext("SUMMARY REPORT OF ACHIEVEMENTS"))
    _letterhead(t, document, file.letterhead)
    centre = WD_ALIGN_PARAGRAPH.CENTER
    _paragraph(
        document, t.gettext("SUMMARY REPORT OF ACHIEVEMENTS"), bold=True, size=15, align=centre
    )
    _paragraph(
        document,
        t.gettext("Proposed for: {award}").format(award=file.award),
        bold=True,
        align=centre,
    )
    _paragraph(
        document,
        t.gettext("in the {movement}, {period}").format(
            movement=file.movement, period=file.period
        ),
        italic=True,
        align=centre,
    )
    nominee = file.nominee
    who = (
        t.gettext("Name of the collective: {name}")
        if nominee.collective
        else t.gettext("Full name: {name}")
    )
    _paragraph(document, who.format(name=nominee.name.upper()), bold=True, align=centre)

    _heading(document, t.gettext("I. GENERAL INFORMATION"))
    if nominee.collective:
        _paragraph(document, t.gettext("- Belongs to: {unit}").format(unit=nominee.unit))
    else:
        if nominee.birth_year:
            _paragraph(
                document, t.gettext("- Year of birth: {year}").format(year=nominee.birth_year)
            )
        if nominee.position:
            _paragraph(
                document, t.gettext("- Position: {position}").format(position=nominee.position)
            )
        _paragraph(document, t.gettext("- Unit: {unit}").format(unit=nominee.unit))

    _heading(document, t.gettext("II. ACHIEVEMENTS"))
    _heading(document, t.gettext("1. Summary"))
    _paragraph(document, file.summary, indent=True)
    _heading(document, t.gettext("2. Results in figures (approved entries)"))
    headers = (t.gettext("Measure"), t.gettext("Result"))
    _grid(document, headers, _figure_lines(t, file.figures), (110, 55))
    _heading(document, t.gettext("3. Achievements"))
    if file.achievements:
        _achievement_lines(t, document, file.achievements)
    else:
        _paragraph(
            document,
            t.gettext("No entry was chosen to support this nomination."),
            italic=True,
            indent=True,
        )

    _heading(document, t.gettext("III. EVIDENCE"))
    evidence = [
        (str(number), name, item.title)
        for number, (name, item) in enumerate(
            ((name, item) for item in file.achievements for name in item.evidence), start=1
        )
    ]
    if evidence:
        _grid(
            document,
            (t.gettext("No."), t.gettext("Evidence"), t.gettext("Of the achievement")),
            evidence,
            (14, 86, 65),
        )
    else:
        _paragraph(
            document,
            t.gettext("No evidence files are attached to these entries."),
            italic=True,
            indent=True,
        )
    _paragraph(document)
    if nominee.collective:
        _signatures(
            document,
            (
                t.gettext("HEAD OF THE UNIT ABOVE"),
                t.gettext("CONFIRMING AND PROPOSING"),
                t.gettext("(Signature, seal)"),
            ),
            (t.gettext("HEAD OF THE UNIT"), t.gettext("(Signature, seal)")),
        )
    else:
        _signatures(
            document,
            (
                t.gettext("HEAD OF THE UNIT"),
                t.gettext("CONFIRMING AND PROPOSING"),
                t.gettext("(Signature, seal)"),
            ),
            (t.gettext("THE PERSON REPORTING"), t.gettext("(Signature, full name)")),
        )
    return _docx_bytes(document)


def _change(t: Translator, row: FigureRow) -> str:
    difference = row.now - row.before
    if row.before == 0:
        return "—" if difference == 0 else t.gettext("new")
    percent = round(100 * difference / row.before)
    return ("+" if percent > 0 else "") + t.number(percent) + " %"


def _figure(t: Translator, value: float, *, money: bool) -> str:
    return t.money(int(value)) if money else _number(t, value)


def period_report_docx(t: Translator, report: PeriodReport) -> bytes:
    """Writes "Báo cáo sơ kết/tổng kết phong trào" of a unit or the province (DOCX)."""
    review = t.gettext("FINAL REVIEW") if report.final else t.gettext("MID-TERM REVIEW")
    document = _new_document(t.gettext("REPORT") + " " + review)
    _letterhead(t, document, report.letterhead)
    centre = WD_ALIGN_PARAGRAPH.CENTER
    _paragraph(document, t.gettext("REPORT"), bold=True, size=15, align=centre)
    title = t.gettext("{review} of the {movement}").format(
        review=review.capitalize(), movement=report.movement
    )
    _paragraph(document, title, bold=True, align=centre)
    _paragraph(document, "(" + report.period + ")", italic=True, align=centre)
    opening = t.gettext(
        "Following the provincial plan for the {movement}, {issuer} reports the results of "
        "the movement in {scope} for {period}, compared with {previous}, as follows."
    )
    _paragraph(
        document,
        opening.format(
            movement=report.movement,
            issuer=report.letterhead.issuer,
            scope=report.scope,
            period=report.period,
            previous=report.previous,
        ),
        indent=True,
    )
    _heading(document, t.gettext("I. RESULTS"))
    _period_figures(t, document, report)
    _heading(document, t.gettext("2. Charts"))
    for chart in report.charts:
        document.add_picture(io.BytesIO(chart.png), width=Mm(160))
        document.paragraphs[-1].alignment = centre
        _paragraph(document, chart.caption, italic=True, size=12, align=centre)
    _heading(document, t.gettext("3. Exemplary entries"))
    _note(document, report.criteria)
    if report.exemplary:
        _achievement_lines(t, document, report.exemplary)
    else:
        _note(document, t.gettext("No entry of the period has been approved yet."))
    _recognition(t, document, report)
    _heading(document, t.gettext("6. Units that reported least"))
    if report.quiet_units:
        headers = (
            t.gettext("No."),
            t.gettext("Unit"),
            t.gettext("Members registered"),
            t.gettext("Entries sent"),
            t.gettext("Approved"),
        )
        rows = [
            (
                str(n),
                unit.name,
                t.number(unit.members),
                t.number(unit.reported),
                t.number(unit.approved),
            )
            for n, unit in enumerate(report.quiet_units, start=1)
        ]
        _grid(document, headers, rows, (14, 65, 30, 28, 28))
    elif not report.idle_units:
        _note(document, t.gettext("There are no units below this one."))
    if report.idle_units:
        shown = ", ".join(report.idle_units[:IDLE_NAMED])
        if len(report.idle_units) > IDLE_NAMED:
            shown += " " + t.gettext("and {n} more").format(
                n=t.number(len(report.idle_units) - IDLE_NAMED)
            )
        idle = t.ngettext(
            "{n} unit has no member registered and no entry yet: {units}.",
            "{n} units have no member registered and no entry yet: {units}.",
            len(report.idle_units),
        )
        _note(document, idle.format(n=t.number(len(report.idle_units)), units=shown))
    _heading(document, t.gettext("II. ASSESSMENT"))
    _to_add(t, document, t.gettext("strengths, shortcomings and their causes"))
    _heading(document, t.gettext("III. TASKS FOR THE NEXT PERIOD"))
    _to_add(t, document, t.gettext("the targets and tasks of the next period"))
    _paragraph(document)
    _closing(t, document, report.recipients)
    return _docx_bytes(document)


def _period_figures(t: Translator, document: DocxDocument, report: PeriodReport) -> None:
    _heading(document, t.gettext("1. Figures of the period against the previous one"))
    headers = (
        t.gettext("Measure"),
        t.gettext("This period"),
        t.gettext("Previous period"),
        t.gettext("Change"),
    )
    rows = [
        (
            row.label,
            _figure(t, row.now, money=row.money),
            _figure(t, row.before, money=row.money),
            _change(t, row),
        )
        for row in report.rows
    ]
    _grid(document, headers, rows, (65, 32, 32, 36))
    note = t.gettext("Counted from approved entries, in the month each thing happened.")
    if report.waiting:
        note += " " + t.ngettext(
            "{n} entry of the period is still waiting for review and is not counted.",
            "{n} entries of the period are still waiting for review and are not counted.",
            report.waiting,
        ).format(n=t.number(report.waiting))
    _note(document, note)


def _recognition(t: Translator, document: DocxDocument, report: PeriodReport) -> None:
    """The nominations and the awards of the period; when the bot does not record them, a
    place for the unit to write them in."""
    number, name, unit = t.gettext("No."), t.gettext("Name"), t.gettext("Unit")
    _heading(document, t.gettext("4. Nominations for awards"))
    if report.nominations is None:
        _to_add(t, document, t.gettext("the collectives and people proposed for awards"))
    elif report.nominations:
        headers = (number, name, unit, t.gettext("Award proposed"), t.gettext("Where it is"))
        rows = [
            (str(n), row.name, row.unit, row.award, row.note)
            for n, row in enumerate(report.nominations, start=1)
        ]
        _grid(document, headers, rows, (14, 45, 40, 38, 28))
    else:
        _note(document, t.gettext("No nomination in this period."))
    _heading(document, t.gettext("5. Awards"))
    if report.awards is None:
        _to_add(t, document, t.gettext("the awards decided"))
    elif report.awards:
        headers = (number, name, unit, t.gettext("Award"), t.gettext("Decision"))
        rows = [
            (str(n), row.name, row.unit, row.award, row.decision)
            for n, row in enumerate(report.awards, start=1)
        ]
        _grid(document, headers, rows, (14, 45, 40, 30, 36))
    else:
        _note(document, t.gettext("No award was decided in this period."))


def _closing(t: Translator, document: DocxDocument, recipients: Sequence[str]) -> None:
    """Who receives the report (left) and who signs it (right)."""
    table = document.add_table(rows=1, cols=2)
    _widths(table, (70, 95))
    left, right = table.rows[0].cells
    _first(left, t.gettext("Recipients:"), bold=True, italic=True, size=12)
    for name in recipients:
        _paragraph(left, "- " + name + ";", size=11)
    _paragraph(left, t.gettext("- Filed."), size=11)
    centre = WD_ALIGN_PARAGRAPH.CENTER
    signer = t.gettext("ON BEHALF OF THE EXECUTIVE COMMITTEE")
    _first(right, signer, bold=True, size=HEADER_PT, align=centre)
    _paragraph(right, t.gettext("SECRETARY"), bold=True, size=HEADER_PT, align=centre)
    _paragraph(right, t.gettext("(Signature, full name)"), italic=True, size=12, align=centre)


def _note(document: DocxDocument, text: str) -> None:
    _paragraph(document, text, italic=True, size=12, indent=True)


def _to_add(t: Translator, document: DocxDocument, what: str) -> None:
    """A section the unit writes itself, in the file, before it is sent."""
    _note(document, t.gettext("(To be completed by the unit: {what}.)").format(what=what))


# -- XLSX -----------------------------------------------------------------------------------


_LIST_HEADER_ROW = 7


def nomination_list_xlsx(t: Translator, batch: NominationList) -> bytes:
    """Writes "Danh sách đề nghị khen thưởng" of a level (an Excel workbook): the header,
    then collectives and individuals, numbered, and the head of the unit's signature."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(t.gettext("Nominations")[:31])
    style = _list_formats(book)
    columns = (
        (t.gettext("No."), 6),
        (t.gettext("Name of the collective or person"), 28),
        (t.gettext("Year of birth"), 9),
        (t.gettext("Position, unit"), 28),
        (t.gettext("Summary of achievements"), 60),
        (t.gettext("Award proposed"), 24),
        (t.gettext("Remarks"), 14),
    )
    last = len(columns) - 1
    for index, (label, width) in enumerate(columns):
        sheet.set_column(index, index, width)
        sheet.write_string(_LIST_HEADER_ROW, index, label, style["header"])
    sheet.set_row(_LIST_HEADER_ROW, 32)
    head = batch.letterhead
    centre, bold = style["centre"], style["bold"]
    sheet.merge_range(0, 0, 0, 2, safe_text((head.superior or "").upper()), centre)
    sheet.merge_range(1, 0, 1, 2, safe_text(head.issuer.upper()), bold)
    sheet.merge_range(0, 3, 0, last, t.gettext("SOCIALIST REPUBLIC OF VIETNAM"), bold)
    sheet.merge_range(1, 3, 1, last, t.gettext("Independence - Freedom - Happiness"), bold)
    sheet.merge_range(2, 3, 2, last, safe_text(dated(t, head.place, head.day)), style["italic"])
    sheet.merge_range(4, 0, 4, last, t.gettext("LIST OF NOMINATIONS FOR AWARDS"), style["title"])
    sheet.merge_range(5, 0, 5, last, safe_text(batch.subject), style["italic"])
    row = _LIST_HEADER_ROW
    groups = (
        (t.gettext("I. COLLECTIVES"), [r for r in batch.rows if r.collective]),
        (t.gettext("II. INDIVIDUALS"), [r for r in batch.rows if not r.collective]),
    )
    for label, rows in groups:
        if rows:
            row += 1
            sheet.merge_range(row, 0, row, last, label, style["group"])
            for position, nomination in enumerate(rows, start=1):
                row += 1
                _list_row(sheet, style, row, position, nomination)
    collectives = sum(1 for r in batch.rows if r.collective)
    total = t.gettext("In all: {collectives} collectives and {people} individuals.").format(
        collectives=t.number(collectives), people=t.number(len(batch.rows) - collectives)
    )
    sheet.merge_range(row + 2, 0, row + 2, last, total, style["note"])
    sheet.merge_range(row + 4, 4, row + 4, last, t.gettext("HEAD OF THE UNIT"), bold)
    sheet.merge_range(row + 5, 4, row + 5, last, t.gettext("(Signature, seal)"), style["italic"])
    sheet.repeat_rows(_LIST_HEADER_ROW)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    book.close()
    return buffer.getvalue()


def _list_formats(book: xlsxwriter.Workbook) -> dict[str, Any]:
    base: dict[str, Any] = {"font_name": FONT, "font_size": 12, "valign": "vcenter"}
    formats: dict[str, dict[str, Any]] = {
        "centre": {"align": "center", "text_wrap": True},
        "bold": {"align": "center", "bold": True, "text_wrap": True},
        "italic": {"align": "center", "italic": True},
        "title": {"align": "center", "bold": True, "font_size": 14},
        "header": {
            "align": "center",
            "bold": True,
            "border": 1,
            "text_wrap": True,
            "bg_color": "#EEEEEE",
        },
        "cell": {"border": 1, "text_wrap": True, "valign": "top"},
        "number": {"border": 1, "align": "center", "valign": "top"},
        "group": {"border": 1, "bold": True},
        "note": {"italic": True},
    }
    return {name: book.add_format({**base, **extra}) for name, extra in formats.items()}


def _list_row(
    sheet: Any, style: dict[str, Any], row: int, position: int, nomination: NominationRow
) -> None:
    sheet.write_number(row, 0, position, style["number"])
    sheet.write_string(row, 1, safe_text(nomination.name), style["cell"])
    if nomination.birth_year:
        sheet.write_number(row, 2, nomination.birth_year, style["number"])
    else:
        sheet.write_blank(row, 2, None, style["number"])
    texts = (nomination.unit, nomination.summary, nomination.award, nomination.note)
    for column, text in enumerate(texts, start=3):
        sheet.write_string(row, column, safe_text(text), style["cell"])


# -- PDF ------------------------------------------------------------------------------------


def _qr_png(payload: str) -> bytes:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=2)
    code.add_data(payload)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def certificate_pdf(sheet: CertificateSheet) -> bytes:
    """A one-page A4 landscape certificate with its QR code, fonts embedded."""
    # fpdf (with fontTools) takes half a second to import: loaded when a certificate is made.
    from fpdf import FPDF  # noqa: PLC0415

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(25, 18, 25)
    pdf.set_title(sheet.title)
    pdf.set_creator("")
    fonts = _fonts()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVu", "I", str(fonts / "DejaVuSans-Oblique.ttf"))
    pdf.add_page()
    width, height = pdf.w, pdf.h
    pdf.set_draw_color(*_RED)
    pdf.set_line_width(1.2)
    pdf.rect(8, 8, width - 16, height - 16)
    pdf.set_line_width(0.3)
    pdf.rect(11, 11, width - 22, height - 22)
    usable = width - 50

    def line(text: str, style: str, size: float, gap: float = 1.5) -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.multi_cell(usable, size * 0.5, text, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    pdf.set_y(20)
    for index, text in enumerate(sheet.heading):
        line(text, "B", 12 if index == 0 else 11)
    if sheet.subtitle:
        line(sheet.subtitle, "", 10)
    pdf.ln(6)
    pdf.set_text_color(*_RED)
    line(sheet.title, "B", 30, 4)
    pdf.set_text_color(0, 0, 0)
    line(sheet.holder, "B", 22, 3)
    for text in sheet.lines:
        line(text, "", 14, 1)
    qr_size = 38
    top = height - 20 - qr_size
    pdf.image(io.BytesIO(_qr_png(sheet.qr_payload)), x=25, y=top, w=qr_size, h=qr_size)
    pdf.set_xy(25 + qr_size + 4, top + 8)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(95, 6, sheet.code_line, new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(95, 4.5, sheet.check_line, align="L", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(width - 25 - 85, top + 8)
    pdf.set_font("DejaVu", "I", 11)
    pdf.multi_cell(85, 6, sheet.dated, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(85, 5, sheet.issued_by, align="C")
    return bytes(pdf.output())
