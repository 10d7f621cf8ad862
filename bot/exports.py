"""Exports of entries: an XLSX workbook, CSV files in a ZIP, or the evidence files in a ZIP.

Entries are read in partitions by id, never all at once, and each partition is written to the
file in a worker thread, so memory stays bounded and the event loop stays free.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import enum
import json
import tempfile
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

import xlsxwriter
from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialogue import Field, FieldKind
from bot.evidence import EvidenceStore
from bot.i18n import N_, Translator
from domain.kinds import KINDS
from domain.vocabulary import OPEN, STATUS_LABELS, Status
from models.tables import Campaign, Entry, EntryFile, Member, Unit

__all__ = [
    "PARTITION",
    "CsvStyle",
    "ExportFilters",
    "ExportFormat",
    "ExportResult",
    "UnknownUnit",
    "safe_text",
    "starts_formula",
    "unit_subtree",
    "write_export",
]

PARTITION = 2000  # entries read and written at a time
# Text a spreadsheet would read as a formula (or a DDE command) when it starts with one of
# these, also after spaces, no-break spaces, line breaks or invisible characters (OWASP "CSV
# Injection"; OWASP ASVS 5.0 requirement 1.2.10 names tab and NUL as first characters too).
_FORMULA_STARTS = ("=", "+", "-", "@")
_CONTROL_STARTS = ("\t", "\r", "\n", "\0")
_BLANKS = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000\0"
    + "".join(chr(code) for code in range(0x2000, 0x200E))  # spaces, zero-width, marks
    + "\u2060\ufeff"
)
_RISKY_FIRST = frozenset("".join(_FORMULA_STARTS) + _BLANKS)
_MONEY_FORMAT = '#,##0 "₫"'
_DATE_FORMAT = "dd/mm/yyyy"
_DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
_CSV_DATETIME = "%Y-%m-%d %H:%M"
_NO_REPORTER = "—"  # the reporter deleted their account; the approved entry stays
# Answers whose options depend on the person at the time (e.g. "for myself or my unit"); the
# collective and unit columns already say the same thing.
_SKIPPED_FIELDS = {"on_behalf"}
_NUMBERS = {FieldKind.MONEY, FieldKind.INTEGER, FieldKind.DECIMAL, FieldKind.YEAR}
_WIDTHS = {
    FieldKind.TEXT: 40,
    FieldKind.MONEY: 16,
    FieldKind.DATE: 12,
    FieldKind.LOCATION: 30,
    FieldKind.CHOICE: 24,
    FieldKind.MULTI_CHOICE: 30,
}

COLUMNS = (
    (N_("ID"), 8),
    (N_("Status"), 22),
    (N_("Collective"), 10),
    (N_("Unit"), 28),
    (N_("Reporter"), 24),
    (N_("Campaign"), 28),
    (N_("Submitted at"), 17),
)


class ExportFormat(enum.StrEnum):
    XLSX = "xlsx"
    CSV = "csv"
    EVIDENCE = "evidence"


class CsvStyle(enum.StrEnum):
    """How CSV files are written. Excel opens a double-clicked CSV with the list separator
    and decimal mark of the computer's regional settings: on Windows set to Vietnamese these
    are ";" and "," (as in Germany and much of Europe), so a comma-separated file opens in
    one column there."""

    VIETNAMESE = "vi"  # ";" between columns, decimal commas: the default in Vietnamese
    STANDARD = "standard"  # "," between columns, decimal points (RFC 4180)

    @classmethod
    def for_locale(cls, locale: str) -> CsvStyle:
        return cls.VIETNAMESE if locale == "vi" else cls.STANDARD

    @property
    def delimiter(self) -> str:
        return ";" if self is CsvStyle.VIETNAMESE else ","

    @property
    def decimal(self) -> str:
        return "," if self is CsvStyle.VIETNAMESE else "."


class UnknownUnit(ValueError):
    """No unit has the code an export was filtered by."""


@dataclass(frozen=True)
class ExportFilters:
    """Which entries to export; None means no limit. Dates are local days, both included."""

    kind: str | None = None
    status: str | None = None
    unit_ids: frozenset[int] | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    campaign_id: int | None = None

    def describe(self) -> dict[str, Any]:
        """The filters for the audit log (no personal data)."""
        return {
            "kind": self.kind,
            "status": self.status,
            "units": None if self.unit_ids is None else len(self.unit_ids),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "campaign": self.campaign_id,
        }


@dataclass(frozen=True)
class ExportResult:
    rows: int
    files: int = 0


class _Row(NamedTuple):
    """One entry with the names an export shows (plain values: no ORM object to accumulate);
    a named tuple, made six times faster than a frozen dataclass."""

    id: int
    kind: str
    status: str
    collective: bool
    submitted_at: dt.datetime
    # JSON text, decoded row by row as it is written. Decoded up front, a partition's dicts
    # outlived the garbage collector's young generations and made it sweep the whole heap
    # again and again: about a tenth of a CSV export's time.
    answers: str
    unit: str
    reporter: str | None
    campaign: str
    files: int


@dataclass(frozen=True)
class _File:
    entry_id: int
    path: str
    position: int
    original_name: str | None
    mime: str
    size: int
    sha256: str


def starts_formula(value: str) -> bool:
    """Whether a spreadsheet would read the text as a formula: it starts with =, +, - or @,
    maybe after blanks, or with a tab, a line break or NUL."""
    if not value or value[0] not in _RISKY_FIRST:
        return False  # what nearly every cell starts with: decided by its first character
    return value.startswith(_CONTROL_STARTS) or value.lstrip(_BLANKS).startswith(_FORMULA_STARTS)


def safe_text(value: str) -> str:
    """CSV text, prefixed with ' when a spreadsheet would otherwise run it as a formula."""
    return "'" + value if starts_formula(value) else value


async def unit_subtree(session: AsyncSession, code: str) -> frozenset[int]:
    """The unit with this code and every unit below it; UnknownUnit when there is none."""
    root = await session.scalar(select(Unit.id).where(Unit.code == code))
    if root is None:
        raise UnknownUnit(code)
    children: dict[int, list[int]] = {}
    for unit_id, parent_id in (await session.execute(select(Unit.id, Unit.parent_id))).all():
        if parent_id is not None:
            children.setdefault(parent_id, []).append(unit_id)
    found, stack = set(), [root]
    while stack:
        unit_id = stack.pop()
        if unit_id not in found:
            found.add(unit_id)
            stack.extend(children.get(unit_id, ()))
    return frozenset(found)


def _conditions(filters: ExportFilters, tz: ZoneInfo) -> list[Any]:
    conditions: list[Any] = []
    if filters.kind is not None:
        conditions.append(Entry.kind == filters.kind)
    if filters.status is not None:
        conditions.append(Entry.status == filters.status)
    if filters.unit_ids is not None:
        conditions.append(Entry.unit_id.in_(filters.unit_ids))
    if filters.campaign_id is not None:
        conditions.append(Entry.campaign_id == filters.campaign_id)
    # A period holds the entries of what happened in it (not of when they were sent).
    if filters.date_from is not None:
        conditions.append(Entry.happened_on >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(Entry.happened_on <= filters.date_to)
    return conditions


async def _partitions(
    session: AsyncSession, filters: ExportFilters, tz: ZoneInfo
) -> AsyncIterator[list[_Row]]:
    """The matching entries, PARTITION at a time in id order (keyset paging: no OFFSET)."""
    conditions = _conditions(filters, tz)
    # Counted in the same query (a lookup in the entry_id index per row): a second query per
    # partition, with every id of the partition as a parameter, took longer.
    files = select(func.count()).where(EntryFile.entry_id == Entry.id).scalar_subquery()
    last_id = 0
    while True:
        statement = (
            select(
                Entry.id,
                Entry.kind,
                Entry.status,
                Entry.collective,
                Entry.submitted_at,
                cast(Entry.answers, Text),  # see _Row.answers
                Unit.name,
                Member.full_name,
                Campaign.title,
                files,
            )
            .join(Unit, Unit.id == Entry.unit_id)
            .join(Campaign, Campaign.id == Entry.campaign_id)
            .outerjoin(Member, Member.id == Entry.reporter_id)
            .where(Entry.id > last_id, *conditions)
            .order_by(Entry.id)
            .limit(PARTITION)
        )
        found = (await session.execute(statement)).all()
        if not found:
            return
        yield [_Row._make(row) for row in found]
        last_id = found[-1][0]


async def _files(session: AsyncSession, entry_ids: list[int]) -> list[_File]:
    statement = (
        select(
            EntryFile.entry_id,
            EntryFile.path,
            EntryFile.position,
            EntryFile.original_name,
            EntryFile.mime,
            EntryFile.size,
            EntryFile.sha256,
        )
        .where(EntryFile.entry_id.in_(entry_ids))
        .order_by(EntryFile.entry_id, EntryFile.position)
    )
    return [_File(*row) for row in (await session.execute(statement)).all()]


class _Writer(Protocol):
    def add(self, rows: Sequence[_Row], files: Sequence[_File]) -> None: ...

    def close(self) -> None: ...


def _fields(kind: str) -> list[Field]:
    return [f for f in KINDS[kind].fields if f.name not in _SKIPPED_FIELDS]


# One answer (and the entry's count of evidence files) as a spreadsheet value, or as CSV
# text (empty for no answer; text made safe).
Cell = Callable[[Any, int], Any]
CsvText = Callable[[Any, int], str]


@dataclass(frozen=True)
class _Column:
    """One answer column of a kind's sheet or file."""

    name: str
    kind: FieldKind
    cell: Cell
    text: CsvText


def _file_count(_value: Any, files: int) -> int:
    return files


def _number(value: Any, _files: int) -> Any:
    if value is None:
        return None
    return value if isinstance(value, int | float) else Decimal(str(value))


def _date(value: Any, _files: int) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value))


def _location(value: Any, _files: int) -> str | None:
    if value is None:
        return None
    if "place" in value:
        return str(value["place"])
    return f"{value.get('latitude')}, {value.get('longitude')}"


def _plain(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _text(value: Any, _files: int) -> str | None:
    return None if value is None else _plain(value)


def _file_count_text(_value: Any, files: int) -> str:
    return str(files)


def _number_text(value: Any, files: int) -> str:
    return "" if value is None else str(_number(value, files))


def _decimal_comma_text(value: Any, files: int) -> str:
    return _number_text(value, files).replace(".", ",")


def _date_text(value: Any, _files: int) -> str:
    return "" if value is None else dt.date.fromisoformat(str(value)).isoformat()


def _text_text(value: Any, _files: int) -> str:
    return "" if value is None else safe_text(_plain(value))


def _as_text(cell: Cell) -> CsvText:
    """The CSV text of a cell that is text (or empty)."""

    def text(value: Any, files: int) -> str:
        result = cell(value, files)
        return "" if result is None else safe_text(result)

    return text


def _column(t: Translator, current: Field, style: CsvStyle) -> _Column:
    """How answers to `current` become cells (numbers, dates and text, labels translated) and
    CSV text: chosen once per export, with the option labels translated once, not per row."""
    kind = current.kind
    if kind is FieldKind.PHOTOS:
        return _Column(current.name, kind, _file_count, _file_count_text)
    if kind in _NUMBERS:
        # Only a decimal answer (hours) has a fractional part to write with a comma.
        comma = style.decimal == "," and kind is FieldKind.DECIMAL
        return _Column(current.name, kind, _number, _decimal_comma_text if comma else _number_text)
    if kind is FieldKind.DATE:
        return _Column(current.name, kind, _date, _date_text)
    cell = _text_cell(t, current)
    return _Column(current.name, kind, cell, _text_text if cell is _text else _as_text(cell))


def _text_cell(t: Translator, current: Field) -> Cell:
    kind = current.kind
    if kind is FieldKind.LOCATION:
        return _location
    if kind not in (FieldKind.CHOICE, FieldKind.MULTI_CHOICE):
        return _text
    labels: dict[str, str] = {}
    for option in current.options:
        labels.setdefault(option.value, t.gettext(option.label))

    def label(value: Any) -> str:
        text = str(value)
        return labels.get(text, text)

    if kind is FieldKind.CHOICE:
        return lambda value, _files: None if value is None else label(value)
    return lambda value, _files: None if value is None else ", ".join(label(v) for v in value)


class _Layout:
    """The columns of each kind, and the labels every row repeats, translated once."""

    def __init__(
        self,
        t: Translator,
        tz: ZoneInfo,
        kinds: Sequence[str],
        style: CsvStyle = CsvStyle.STANDARD,
    ) -> None:
        self.t, self.tz = t, tz
        self.columns = {kind: [_column(t, f, style) for f in _fields(kind)] for kind in kinds}
        self.yes, self.no = t.gettext(N_("Yes")), t.gettext(N_("No"))
        self.statuses: dict[str, str] = {}

    def status(self, status: str) -> str:
        label = self.statuses.get(status)
        if label is None:
            label = self.statuses[status] = self.t.gettext(STATUS_LABELS.get(status, status))
        return label

    def local(self, time: dt.datetime) -> dt.datetime:
        # Excel knows no time zones: local time, as people there read it.
        return time.astimezone(self.tz).replace(tzinfo=None)

    def fixed(self, row: _Row) -> list[Any]:
        return [
            row.id,
            self.status(row.status),
            self.yes if row.collective else self.no,
            row.unit,
            row.reporter or _NO_REPORTER,
            row.campaign,
            self.local(row.submitted_at),
        ]

    def fixed_texts(self, row: _Row) -> list[str]:
        """fixed(row) as CSV text: the local time to the minute, text made safe."""
        return [
            str(row.id),
            safe_text(self.status(row.status)),
            safe_text(self.yes if row.collective else self.no),
            safe_text(row.unit),
            safe_text(row.reporter or _NO_REPORTER),
            safe_text(row.campaign),
            self.local(row.submitted_at).strftime(_CSV_DATETIME),
        ]

    def answers(self, row: _Row) -> list[Any]:
        answers, files = json.loads(row.answers), row.files
        return [c.cell(answers.get(c.name), files) for c in self.columns[row.kind]]

    def answer_texts(self, row: _Row) -> list[str]:
        answers, files = json.loads(row.answers), row.files
        return [c.text(answers.get(c.name), files) for c in self.columns[row.kind]]


def _headers(t: Translator, kind: str) -> list[str]:
    return [t.gettext(label) for label, _ in COLUMNS] + [
        t.gettext(f.label or f.prompt) for f in _fields(kind)
    ]


class _Xlsx:
    """One sheet per kind and a summary, streamed row by row (constant memory)."""

    def __init__(self, path: Path, t: Translator, tz: ZoneInfo, kinds: Sequence[str]) -> None:
        self.t, self.layout = t, _Layout(t, tz, kinds)
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self.bold = self.book.add_format({"bold": True})
        self.money = self.book.add_format({"num_format": _MONEY_FORMAT})
        self.date = self.book.add_format({"num_format": _DATE_FORMAT})
        self.datetime = self.book.add_format({"num_format": _DATETIME_FORMAT})
        # Text that looks like a formula is written as text all the same (write_string never
        # makes a formula); the quote prefix keeps it text when someone edits the cell, and
        # shows no apostrophe.
        self.quoted = self.book.add_format({"quote_prefix": True})
        self.summary = self.book.add_worksheet(t.gettext(N_("Summary"))[:31])
        self.sheets: dict[str, Any] = {}
        self.next_row: dict[str, int] = {}
        self.formats: dict[str, list[Any]] = {}  # of each answer column: money, or none
        self.totals: Counter[tuple[str, str]] = Counter()  # approved, by unit and kind
        self.waiting: Counter[str] = Counter()  # waiting for review, by unit
        for kind in kinds:
            sheet = self.book.add_worksheet(t.gettext(KINDS[kind].title)[:31])
            headers = _headers(t, kind)
            widths = [w for _, w in COLUMNS] + [_WIDTHS.get(f.kind, 14) for f in _fields(kind)]
            for column, (header, width) in enumerate(zip(headers, widths, strict=True)):
                sheet.set_column(column, column, width)
                sheet.write_string(0, column, header, self.bold)
            sheet.freeze_panes(1, 0)
            self.sheets[kind] = sheet
            self.next_row[kind] = 1
            self.formats[kind] = [
                self.money if c.kind is FieldKind.MONEY else None
                for c in self.layout.columns[kind]
            ]

    def add(self, rows: Sequence[_Row], _files: Sequence[_File]) -> None:
        layout, write = self.layout, self._write
        for row in rows:
            kind = row.kind
            if row.status == Status.APPROVED:
                self.totals[(row.unit, kind)] += 1
            elif row.status in OPEN:
                self.waiting[row.unit] += 1
            sheet, number = self.sheets[kind], self.next_row[kind]
            self.next_row[kind] = number + 1
            for column, value in enumerate(layout.fixed(row)):
                write(sheet, number, column, value, None)
            cells = zip(layout.answers(row), self.formats[kind], strict=True)
            for column, (value, number_format) in enumerate(cells, start=len(COLUMNS)):
                write(sheet, number, column, value, number_format)

    def _write(self, sheet: Any, row: int, column: int, value: Any, number_format: Any) -> None:
        if value is None:
            return
        if isinstance(value, str):
            # write_string, never write(): nothing a member typed becomes a formula.
            sheet.write_string(row, column, value, self.quoted if starts_formula(value) else None)
        elif isinstance(value, dt.datetime):
            sheet.write_datetime(row, column, value, self.datetime)
        elif isinstance(value, dt.date):
            sheet.write_datetime(row, column, value, self.date)
        elif isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        else:
            sheet.write_number(row, column, float(value), number_format)

    def close(self) -> None:
        for kind, sheet in self.sheets.items():
            last_column = len(COLUMNS) + len(_fields(kind)) - 1
            sheet.autofilter(0, 0, max(self.next_row[kind] - 1, 0), last_column)
        self._write_summary()
        self.book.close()

    def _write_summary(self) -> None:
        """Approved entries per unit (rows) and kind (columns) with their total; the entries
        waiting for review apart, not added in."""
        t, sheet, kinds = self.t, self.summary, list(self.sheets)
        headers = [
            t.gettext(N_("Unit")),
            *(
                t.gettext(N_("{kind}: approved")).format(kind=t.gettext(KINDS[k].title))
                for k in kinds
            ),
            t.gettext(N_("Total approved")),
            t.gettext(N_("Waiting for review (not counted)")),
        ]
        for column, header in enumerate(headers):
            sheet.set_column(column, column, 28 if column == 0 else 16)
            sheet.write_string(0, column, header, self.bold)
        units = sorted({unit for unit, _ in self.totals} | set(self.waiting))
        for number, unit in enumerate(units, start=1):
            counts = [self.totals[(unit, kind)] for kind in kinds]
            sheet.write_string(number, 0, unit, self.quoted if starts_formula(unit) else None)
            for column, count in enumerate([*counts, sum(counts), self.waiting[unit]], start=1):
                sheet.write_number(number, column, count)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, len(units), len(headers) - 1)


class _CsvZip:
    """One UTF-8 (with BOM, for Excel) CSV per kind, zipped at the end."""

    def __init__(
        self, path: Path, t: Translator, tz: ZoneInfo, kinds: Sequence[str], style: CsvStyle
    ) -> None:
        self.path, self.layout = path, _Layout(t, tz, kinds, style)
        # A ZIP takes one member at a time: each kind streams into its own file first.
        self.folder = tempfile.TemporaryDirectory(prefix="export-")
        self.handles: dict[str, IO[str]] = {}
        self.writers: dict[str, Any] = {}
        for kind in kinds:
            handle = (Path(self.folder.name) / f"{kind}.csv").open(
                "w", encoding="utf-8-sig", newline=""
            )
            self.handles[kind] = handle
            self.writers[kind] = csv.writer(handle, delimiter=style.delimiter)
            self.writers[kind].writerow([safe_text(h) for h in _headers(t, kind)])

    def add(self, rows: Sequence[_Row], _files: Sequence[_File]) -> None:
        layout, writers = self.layout, self.writers
        for row in rows:
            writers[row.kind].writerow(layout.fixed_texts(row) + layout.answer_texts(row))

    def close(self) -> None:
        try:
            for handle in self.handles.values():
                handle.close()
            with zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED) as archive:
                for kind in self.handles:
                    archive.write(Path(self.folder.name) / f"{kind}.csv", f"{kind}.csv")
        finally:
            self.folder.cleanup()


MANIFEST = (
    N_("Entry ID"),
    N_("Kind of entry"),
    N_("File in this ZIP"),
    N_("File name as sent"),
    N_("File type"),
    N_("Size (bytes)"),
    N_("SHA-256 checksum"),
)


class _EvidenceZip:
    """The evidence files of the entries, one folder per entry, and a manifest.csv with the
    headers and kinds in the export's language."""

    def __init__(self, path: Path, store: EvidenceStore, t: Translator, style: CsvStyle) -> None:
        self.store = store
        self.kinds = {name: t.gettext(kind.title) for name, kind in KINDS.items()}
        self.archive = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED)
        # Open until close(): the manifest grows partition by partition, on disk.
        self.manifest = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
        self.writer = csv.writer(self.manifest, delimiter=style.delimiter)
        self.writer.writerow([safe_text(t.gettext(header)) for header in MANIFEST])
        self.files = 0

    def add(self, rows: Sequence[_Row], files: Sequence[_File]) -> None:
        kinds = {row.id: self.kinds.get(row.kind, row.kind) for row in rows}
        for stored in files:
            source = self.store.path(stored.path)
            name = f"{stored.entry_id}/{stored.position + 1:02d}{source.suffix}"
            if source.is_file():
                # Photos and PDFs are compressed already: stored as they are.
                self.archive.write(source, name)
                self.files += 1
            else:
                name = ""  # gone from disk (restored from an older backup): listed, not zipped
            self.writer.writerow(
                [
                    stored.entry_id,
                    safe_text(kinds[stored.entry_id]),
                    name,
                    safe_text(stored.original_name or ""),
                    stored.mime,
                    stored.size,
                    stored.sha256,
                ]
            )

    def close(self) -> None:
        with self.archive, self.manifest:
            self.manifest.seek(0)
            with self.archive.open("manifest.csv", "w") as target:
                target.write("\ufeff".encode())  # the BOM, so that Excel reads UTF-8
                while chunk := self.manifest.read(1 << 16):
                    target.write(chunk.encode("utf-8"))


class _Closing:
    """Closes the writer in a thread when the export ends, whether it succeeded or not."""

    def __init__(self, writer: _Writer) -> None:
        self.writer = writer

    async def __aenter__(self) -> _Writer:
        return self.writer

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.writer.close)


async def write_export(
    session: AsyncSession,
    out: Path,
    export_format: ExportFormat,
    filters: ExportFilters,
    *,
    t: Translator,
    tz: ZoneInfo,
    store: EvidenceStore,
    csv_style: CsvStyle | None = None,
) -> ExportResult:
    """Writes the entries matching `filters` to `out`; returns how many there were. CSV
    (files and the evidence manifest) is written in `csv_style`, by default the one of the
    export's language."""
    kinds = [filters.kind] if filters.kind else list(KINDS)
    style = csv_style or CsvStyle.for_locale(t.locale)
    writer: _Writer
    if export_format is ExportFormat.XLSX:
        writer = await asyncio.to_thread(_Xlsx, out, t, tz, kinds)
    elif export_format is ExportFormat.CSV:
        writer = await asyncio.to_thread(_CsvZip, out, t, tz, kinds, style)
    else:
        writer = await asyncio.to_thread(_EvidenceZip, out, store, t, style)
    rows = 0
    async with _Closing(writer):
        async for partition in _partitions(session, filters, tz):
            files: list[_File] = []
            if export_format is ExportFormat.EVIDENCE:
                files = await _files(session, [row.id for row in partition])
            await asyncio.to_thread(writer.add, partition, files)
            rows += len(partition)
    files_written = writer.files if isinstance(writer, _EvidenceZip) else 0
    return ExportResult(rows, files_written)
