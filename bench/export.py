"""Export benchmark: a million entries written to XLSX and to CSV by the project's own export,
next to a bare baseline doing the same with the libraries directly.

    .venv/bin/python -m bench.export [--rows 1000000] [--repeat 3]

The entries are generated once into a SQLite file made by the project's migrations and kept,
keyed by row count, under the temporary folder (`--data-dir`), so reruns start at once. Each
run of each variant is a process of its own (`--variant NAME --db PATH --out PATH`), so that
one variant's memory does not count against another's: the parent reads each child's peak
RSS with wait4. The variants take turns, `--repeat` rounds; each keeps its fastest time.

- ours-xlsx, ours-csv: `bot.exports.write_export` through the app's async session, as the
  `export` command runs it (so with everything the app imports).
- bare-xlsx, bare-csv: one query with the sqlite3 module (the same joins, the same file
  counts), each row written with xlsxwriter (constant_memory) or the csv module, to the same
  sheets, columns and number formats (the CSV files zipped, as ours are); they import
  nothing of the bot (the columns come from layout.json, written beside the database).

Times cover the export only (opening the session to closing the file), as wall time (the
targets) and as the process's processor time (all its threads; on a machine others share,
what the wall time would be with the machine to oneself); peak RSS covers the whole process,
imports included. Exits 0 whatever the verdicts: it is a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

VARIANTS = ("bare-xlsx", "ours-xlsx", "bare-csv", "ours-csv")
XLSX_TIME_TARGET = 1.3  # ours' seconds at most this many times the bare export's
CSV_RATE_TARGET = 0.8  # ours' rows/s at least this share of the bare export's
RSS_TARGET_MB = 150
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "youthbot-bench" / "data"
BATCH = 10_000  # rows per INSERT executemany (and per commit) while generating
ENTRIES_PER_MEMBER = 25
SEED = 20261127


@dataclasses.dataclass(frozen=True)
class Measured:
    """What one variant's process reports, and what the parent measured of it."""

    variant: str
    rows: int
    seconds: float
    cpu_seconds: float  # processor time of the export, every thread of the process
    peak_rss_mb: float
    start_rss_mb: float  # the child's peak when its export began: imports and start-up
    output_mb: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


# ---------------------------------------------------------------------------------------------
# The data: members across the shipped unit tree, entries with answers of every field kind.

FAMILY = ("Nguyễn", "Hoàng", "Lường", "Nông", "Vi", "Lộc", "Hà", "Triệu", "Lý", "Trần", "Mã")
MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Thu", "Quang", "Ngọc", "Hải")
GIVEN = ("Mai", "Nam", "Sơn", "Hùng", "Lan", "Hương", "Tuấn", "Linh", "Dũng", "Thảo", "Vy")
VILLAGES = ("Bản Chu", "Khòn Pát", "Nà Cạn", "Pác Là", "Còn Quan", "Nà Pàn", "Bó Củng")
ACTIVITIES = (
    "Sửa đường vào thôn {v}",
    "Dọn vệ sinh suối thôn {v}",
    "Trồng cây xanh ở nhà văn hoá thôn {v}",
    "Hiến máu tình nguyện tại trạm y tế xã",
    "Dạy tiếng Việt cho trẻ em thôn {v}",
    "Làm nhà nhân ái cho hộ nghèo thôn {v}",
)
INITIATIVES = (
    "Sổ tay điện tử cho chi đoàn thôn {v}",
    "Bản đồ số các điểm du lịch thôn {v}",
    "Ứng dụng nhắc lịch tiêm chủng cho thôn {v}",
    "Mô hình thùng rác phân loại ở thôn {v}",
    "Hướng dẫn nộp hồ sơ trực tuyến cho bà con thôn {v}",
)
MODELS = (
    "Trang trại hồi của anh {n}",
    "Vườn na Chi Lăng của chị {n}",
    "Hợp tác xã chè thôn {v}",
    "Homestay {v} của gia đình {n}",
    "Cửa hàng nông sản sạch của {n}",
)
SENTENCES = (
    "Đoàn viên khó theo dõi lịch sinh hoạt và văn bản của chi đoàn.",
    "Bà con phải đi xa mới làm được thủ tục hành chính.",
    "Một nhóm Zalo và bảng tính chung, cập nhật mỗi tuần một lần.",
    "Đoàn viên chi đoàn thôn cùng nhau sửa 300 mét đường đất vào bản.",
    "Trồng và chế biến hoa hồi, bán cho hợp tác xã trong xã.",
    "Tiết kiệm thời gian họp và giấy in, ai cũng xem được trên điện thoại.",
    "Mỗi tháng tổ chức một buổi hướng dẫn tại nhà văn hoá thôn.",
    "Thu nhập của các hộ tham gia tăng khoảng hai mươi phần trăm so với năm trước.",
)
STATUSES = ("approved",) * 12 + ("submitted",) * 4 + ("rejected", "resubmitted", "withdrawn")
WAITING = ("submitted", "resubmitted")  # domain.vocabulary.OPEN: shown apart in the summary
KIND_SHARES = ("volunteer",) * 5 + ("initiative",) * 3 + ("economic_model",) * 2
HEADLINES = {"initiative": "title", "volunteer": "activity", "economic_model": "name"}
START = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
SPAN_SECONDS = int((dt.datetime(2026, 11, 1, tzinfo=dt.UTC) - START).total_seconds())
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
# The shape of the generated data: part of the cached database's name, so that data made by an
# older generator is made again rather than reused (changed when the generator changes).
GENERATION = 2  # 2: when entries happened, their reviewing units, own and collective hours


class _Generator:
    """Entries as the dialogue stores them: text, money (đồng, int), dates (ISO), counts."""

    def __init__(
        self,
        rng: random.Random,
        units: list[int],
        members: dict[int, list[int]],
        parents: dict[int, int | None],
        kinds: dict[str, Any],
    ):
        self.rng, self.units, self.members = rng, units, members
        self.parents, self.kinds = parents, kinds  # each unit's parent; domain.kinds.KINDS

    def name(self) -> str:
        return " ".join(self.rng.choice(part) for part in (FAMILY, MIDDLE, GIVEN))

    def text(self, sentences: int) -> str:
        return " ".join(self.rng.choice(SENTENCES) for _ in range(sentences))

    def headline(self, patterns: tuple[str, ...]) -> str:
        village = self.rng.choice(VILLAGES)
        return self.rng.choice(patterns).format(v=village, n=self.name())

    def money(self, low: int, high: int) -> int:
        return self.rng.randint(low, high) * 100_000

    def day(self, sent: dt.date, *, late: float) -> str:
        """The day something reported on `sent` happened: that day or the few before, or
        with the chance `late` weeks to a year before (not before the movement began)."""
        back = self.rng.randint(7, 365) if self.rng.random() < late else self.rng.randint(0, 6)
        return max(sent - dt.timedelta(days=back), START.date()).isoformat()

    def place(self) -> dict[str, Any]:
        if self.rng.random() < 0.1:  # shared from the phone's map
            return {
                "latitude": 21.8 + self.rng.random() / 5,
                "longitude": 106.7 + self.rng.random(),
            }
        return {"place": f"Thôn {self.rng.choice(VILLAGES)}, xã Na Sầm"}

    def evidence(self, entry_id: int) -> list[dict[str, Any]] | None:
        if self.rng.random() < 0.6:
            return None
        return [
            {
                "sha256": f"{entry_id:032x}{position:032x}",
                "path": f"{entry_id % 256:02x}/{entry_id:032x}{position:032x}.jpg",
                "mime": "image/jpeg",
                "size": self.rng.randint(80_000, 2_000_000),
                "name": f"IMG_{entry_id % 10_000:04d}_{position}.jpg",
            }
            for position in range(self.rng.randint(1, 3))
        ]

    def answers(
        self, kind: str, entry_id: int, *, collective: bool, unit_id: int, sent: dt.date
    ) -> dict[str, Any]:
        rng = self.rng
        if kind == "initiative":
            return {
                "title": self.headline(INITIATIVES),
                "field": rng.choice(("administration", "economy", "digital", "education")),
                "problem": self.text(2),
                "solution": self.text(3),
                "scope": rng.choice(("unit", "commune", "province")),
                "effect": self.text(1),
                "value": self.money(1, 500) if rng.random() < 0.7 else None,
                "applied_on": self.day(sent, late=1.0),
                # A few start as a formula would (the export neutralises those).
                "coauthors": rng.choice((None, None, self.name(), "- " + self.name())),
                "evidence": self.evidence(entry_id),
            }
        if kind == "volunteer":
            hours = rng.choice((1.5, 2.0, 3.0, 4.0, 6.0, 8.0))
            # A member gives their own hours; a secretary filing for the unit, participants
            # and the hours each gave.
            counted = (
                {"participants": rng.randint(3, 120), "hours": hours}
                if collective
                else {"organised": rng.choice(("yes", "no")), "own_hours": hours}
            )
            return {
                **({"on_behalf": str(unit_id)} if collective else {}),
                "activity": self.headline(ACTIVITIES),
                "date": self.day(sent, late=0.1),
                "place": self.place(),
                **counted,
                "beneficiaries": rng.randint(0, 2_000),
                "value": self.money(5, 200) if rng.random() < 0.4 else None,
                "description": self.text(2),
                "evidence": self.evidence(entry_id),
            }
        jobs = rng.randint(1, 40)
        return {
            "name": self.headline(MODELS),
            "sector": rng.choice(("crops", "livestock", "forestry", "trade", "tourism")),
            "year_started": rng.randint(2005, 2026),
            "capital": self.money(100, 20_000),
            "revenue": self.money(100, 50_000),
            "profit": self.money(0, 10_000),
            "jobs": jobs,
            "youth_jobs": rng.randint(0, jobs),
            "place": self.place(),
            "description": self.text(2),
            "evidence": self.evidence(entry_id),
        }

    def entry(self, entry_id: int, campaign_id: int) -> dict[str, Any]:
        """An entry: it happened on its kind's date answer, else the day it was sent; it
        waits for its unit's reviewers, or the level above's when it is collective (no one
        here is a secretary: models.entries.review_unit_for)."""
        rng = self.rng
        kind = rng.choice(KIND_SHARES)
        unit_id = rng.choice(self.units)
        collective = rng.random() < 0.1
        submitted = START + dt.timedelta(seconds=rng.randrange(SPAN_SECONDS))
        sent = submitted.astimezone(LOCAL).date()
        answers = self.answers(kind, entry_id, collective=collective, unit_id=unit_id, sent=sent)
        reporter = None if rng.random() < 0.01 else rng.choice(self.members[unit_id])
        return {
            "id": entry_id,
            "kind": kind,
            "status": rng.choice(STATUSES),
            "reporter_id": reporter,
            "unit_id": unit_id,
            "campaign_id": campaign_id,
            "collective": collective,
            "happened_on": self.kinds[kind].happened_on(answers) or sent,
            "review_unit_id": self.parents[unit_id] if collective else unit_id,
            "title": answers[HEADLINES[kind]],
            "answers": answers,
            "version": 1,
            "submitted_at": submitted,
            "updated_at": submitted,
        }


def prepare(rows: int, data_dir: Path) -> Path:
    """The folder of the database of `rows` entries (generated on first use) at the current
    schema, with layout.json: the columns of each kind, for the bare variants (which import
    nothing of the bot, so that their memory is the libraries' alone)."""
    folder = data_dir / f"entries-{rows}-g{GENERATION}"
    if not (folder / "bench.sqlite3").is_file():
        partial = data_dir / f"entries-{rows}-g{GENERATION}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        started = time.perf_counter()
        print(f"generating {rows:,} entries in {folder} (once; kept for reruns)", flush=True)
        asyncio.run(_migrate(partial))
        _fill(partial / "bench.sqlite3", rows)
        partial.rename(folder)
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
    asyncio.run(_migrate(folder))  # migrations added since the data was generated
    _write_layout(folder)
    return folder


async def _migrate(folder: Path) -> None:
    """The schema, the shipped units and the default campaign, as the app makes them."""
    from bot.app import build_app  # noqa: PLC0415 (the processes that measure stay lean)
    from tests.conftest import make_config  # noqa: PLC0415

    app = build_app(make_config(folder, DATABASE_URL=_url(folder / "bench.sqlite3")))
    try:
        await app.prepare()
    finally:
        await app.close()


def _fill(path: Path, rows: int) -> None:
    """Members and entries with SQLAlchemy Core executemany (the ORM's add_all is far slower)."""
    from sqlalchemy import create_engine, insert, select  # noqa: PLC0415

    from bench.stats import count_unit_members  # noqa: PLC0415
    from domain.kinds import KINDS  # noqa: PLC0415
    from models.tables import Campaign, Entry, EntryFile, Member, Unit  # noqa: PLC0415

    rng = random.Random(SEED)  # noqa: S311 (reproducible test data, not a secret)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA synchronous=OFF")
        units = list(connection.scalars(select(Unit.id).where(Unit.kind != "province")))
        parents = dict(connection.execute(select(Unit.id, Unit.parent_id)).all())
        campaign_id = connection.scalar(select(Campaign.id).where(Campaign.is_default))
        assert campaign_id is not None
        registered = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
        people = [
            {
                "full_name": " ".join(rng.choice(p) for p in (FAMILY, MIDDLE, GIVEN)),
                "birth_year": rng.randint(1996, 2009),
                "is_minor": False,
                "unit_id": rng.choice(units),
                "broadcasts_off": False,
                "registered_at": registered,
            }
            for _ in range(max(len(units), rows // ENTRIES_PER_MEMBER))
        ]
        for number, person in enumerate(people[: len(units)]):
            person["unit_id"] = units[number]  # every unit has someone to report
        connection.execute(insert(Member), people)
        count_unit_members(connection)
        members: dict[int, list[int]] = {}
        for member_id, unit_id in connection.execute(select(Member.id, Member.unit_id)):
            members.setdefault(unit_id, []).append(member_id)
    generator = _Generator(rng, units, members, parents, KINDS)
    for first in range(1, rows + 1, BATCH):
        batch = [
            generator.entry(n, campaign_id) for n in range(first, min(first + BATCH, rows + 1))
        ]
        files = [
            {
                "entry_id": entry["id"],
                "sha256": file["sha256"],
                "path": file["path"],
                "mime": file["mime"],
                "size": file["size"],
                "original_name": file["name"],
                "position": position,
            }
            for entry in batch
            for position, file in enumerate(entry["answers"].get("evidence") or [])
        ]
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            connection.execute(insert(Entry), batch)
            if files:
                connection.execute(insert(EntryFile), files)
        if first // BATCH % 20 == 0:
            print(f"  {first + len(batch) - 1:,} entries", flush=True)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _write_layout(folder: Path) -> None:
    """What the bare variants need to know of the forms: each kind's answer columns (in the
    export's order, with the option labels), the status labels and the time zone."""
    from bot.config import load  # noqa: PLC0415
    from bot.exports import _fields  # noqa: PLC0415
    from domain.kinds import KINDS  # noqa: PLC0415
    from domain.vocabulary import STATUS_LABELS  # noqa: PLC0415

    layout = {
        "timezone": load(folder / "config.toml", {}).timezone,
        "statuses": STATUS_LABELS,
        "kinds": {
            kind: [
                [f.name, f.kind.value, {o.value: o.label for o in f.options}]
                for f in _fields(kind)
            ]
            for kind in KINDS
        },
    }
    (folder / "layout.json").write_text(json.dumps(layout, ensure_ascii=False), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The variants, each run in a process of its own.


def run_variant(variant: str, folder: Path, out: Path) -> dict[str, float]:
    """Exports every entry as `variant` does; returns the rows written, the seconds and the
    processor seconds it took, and the process's peak RSS when the export began (imports and
    start-up)."""
    if variant.startswith("ours-"):
        rows, clock, start_rss = asyncio.run(_ours(variant.removeprefix("ours-"), folder, out))
    else:
        rows, clock, start_rss = _bare(variant.removeprefix("bare-"), folder, out)
    seconds, cpu_seconds = clock.elapsed()
    return {
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "start_rss_mb": start_rss,
    }


class _Clock:
    """Wall and processor time from its making: on a machine others share, the processor
    time says what the wall time would have been with the machine to oneself."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _ours(fmt: str, folder: Path, out: Path) -> tuple[int, _Clock, float]:
    """As `python -m bot export --format FMT` does it (cli._export, without the audit row)."""
    from bot.app import build_app  # noqa: PLC0415
    from bot.config import load  # noqa: PLC0415
    from bot.evidence import EvidenceStore  # noqa: PLC0415
    from bot.exports import ExportFilters, ExportFormat, write_export  # noqa: PLC0415

    config = load(folder / "config.toml", {"DATABASE_URL": _url(folder / "bench.sqlite3")})
    app = build_app(config)
    try:
        await app.prepare()
        t = app.catalogs.translator(config.default_locale, config.tz)
        start_rss = _peak_rss_mb()
        clock = _Clock()
        async with app.db.read() as session:
            result = await write_export(
                session,
                out,
                ExportFormat(fmt),
                ExportFilters(),
                t=t,
                tz=config.tz,
                store=EvidenceStore(config.data_dir / "files"),
            )
        return result.rows, clock, start_rss
    finally:
        await app.close()


# The rows of the export, as plainly as sqlite3 gives them.
BARE_QUERY = """
SELECT e.id, e.kind, e.status, e.collective, e.submitted_at, e.answers,
       u.name, m.full_name, c.title,
       (SELECT count(*) FROM entry_files f WHERE f.entry_id = e.id)
FROM entries e
JOIN units u ON u.id = e.unit_id
JOIN campaigns c ON c.id = e.campaign_id
LEFT JOIN members m ON m.id = e.reporter_id
ORDER BY e.id
"""
BARE_HEADERS = ("ID", "Status", "Collective", "Unit", "Reporter", "Campaign", "Submitted at")


@dataclasses.dataclass(frozen=True)
class _BareColumn:
    name: str
    kind: str
    labels: dict[str, str]


@dataclasses.dataclass(frozen=True)
class _BareLayout:
    tz: ZoneInfo
    statuses: dict[str, str]
    columns: dict[str, list[_BareColumn]]


def _bare_layout(folder: Path) -> _BareLayout:
    raw = json.loads((folder / "layout.json").read_text(encoding="utf-8"))
    return _BareLayout(
        ZoneInfo(raw["timezone"]),
        raw["statuses"],
        {
            kind: [_BareColumn(*column) for column in columns]
            for kind, columns in raw["kinds"].items()
        },
    )


def _bare_rows(path: Path, tz: ZoneInfo) -> Iterator[tuple[Any, ...]]:
    """Each row with its time local and its answers decoded."""
    with sqlite3.connect(path) as connection:
        for row in connection.execute(BARE_QUERY):
            local = dt.datetime.fromisoformat(row[4]).replace(tzinfo=dt.UTC).astimezone(tz)
            yield (*row[:4], local.replace(tzinfo=None), json.loads(row[5]), *row[6:])


def _bare(fmt: str, folder: Path, out: Path) -> tuple[int, _Clock, float]:
    layout = _bare_layout(folder)
    if fmt == "xlsx":
        import xlsxwriter  # noqa: PLC0415, F401 (imported before the clock starts, as ours is)
    start_rss = _peak_rss_mb()
    clock = _Clock()
    if fmt == "xlsx":
        rows = _bare_xlsx(folder / "bench.sqlite3", out, layout)
    else:
        rows = _bare_csv(folder / "bench.sqlite3", out, layout)
    return rows, clock, start_rss


def _bare_xlsx(path: Path, out: Path, layout: _BareLayout) -> int:
    import xlsxwriter  # noqa: PLC0415

    columns, statuses = layout.columns, layout.statuses
    book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": '#,##0 "₫"'})
    date = book.add_format({"num_format": "dd/mm/yyyy"})
    stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    summary = book.add_worksheet("Summary")
    sheets, next_row = {}, {}
    for kind, fields in columns.items():
        sheet = book.add_worksheet(kind)
        sheet.write_row(0, 0, [*BARE_HEADERS, *(f.name for f in fields)], bold)
        sheet.freeze_panes(1, 0)
        sheets[kind], next_row[kind] = sheet, 1
    counted = _BareSummary(list(columns))
    rows = 0
    for (
        entry_id,
        kind,
        status,
        collective,
        local,
        answers,
        unit,
        reporter,
        campaign,
        files,
    ) in _bare_rows(path, layout.tz):
        rows += 1
        counted.add(unit, kind, status)
        sheet, number = sheets[kind], next_row[kind]
        next_row[kind] = number + 1
        sheet.write_number(number, 0, entry_id)
        sheet.write_string(number, 1, statuses[status])
        sheet.write_string(number, 2, "Yes" if collective else "No")
        sheet.write_string(number, 3, unit)
        sheet.write_string(number, 4, reporter or "—")
        sheet.write_string(number, 5, campaign)
        sheet.write_datetime(number, 6, local, stamp)
        for column, field in enumerate(columns[kind], start=7):
            value = answers.get(field.name)
            if field.kind == "photos":
                sheet.write_number(number, column, files)
            elif value is None:
                continue
            elif field.kind == "money":
                sheet.write_number(number, column, value, money)
            elif field.kind in ("integer", "decimal", "year"):
                sheet.write_number(number, column, value)
            elif field.kind == "date":
                sheet.write_datetime(number, column, dt.date.fromisoformat(value), date)
            elif field.kind == "choice":
                sheet.write_string(number, column, field.labels[value])
            elif field.kind == "location":
                place = value.get("place") or f"{value['latitude']}, {value['longitude']}"
                sheet.write_string(number, column, place)
            else:
                sheet.write_string(number, column, value)
    for kind, sheet in sheets.items():
        sheet.autofilter(0, 0, next_row[kind] - 1, len(BARE_HEADERS) + len(columns[kind]) - 1)
    counted.write(summary, bold)
    book.close()
    return rows


class _BareSummary:
    """The summary sheet: approved entries per unit and kind with their total, and the
    entries waiting for review apart."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.approved: Counter[tuple[str, str]] = Counter()
        self.waiting: Counter[str] = Counter()

    def add(self, unit: str, kind: str, status: str) -> None:
        if status == "approved":
            self.approved[(unit, kind)] += 1
        elif status in WAITING:
            self.waiting[unit] += 1

    def write(self, sheet: Any, bold: Any) -> None:
        kinds = self.kinds
        headers = ["Unit", *(f"{kind}: approved" for kind in kinds), "Total approved", "Waiting"]
        sheet.write_row(0, 0, headers, bold)
        units = sorted({unit for unit, _ in self.approved} | set(self.waiting))
        for number, unit in enumerate(units, start=1):
            counts = [self.approved[(unit, kind)] for kind in kinds]
            sheet.write_row(number, 0, [unit, *counts, sum(counts), self.waiting[unit]])


def _bare_csv(path: Path, out: Path, layout: _BareLayout) -> int:
    columns, statuses = layout.columns, layout.statuses
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        handles = {
            kind: (Path(folder) / f"{kind}.csv").open("w", encoding="utf-8-sig", newline="")
            for kind in columns
        }
        writers = {kind: csv.writer(handle) for kind, handle in handles.items()}
        for kind, fields in columns.items():
            writers[kind].writerow([*BARE_HEADERS, *(f.name for f in fields)])
        rows = 0
        for (
            entry_id,
            kind,
            status,
            collective,
            local,
            answers,
            unit,
            reporter,
            campaign,
            files,
        ) in _bare_rows(path, layout.tz):
            rows += 1
            values = [
                entry_id,
                statuses[status],
                "Yes" if collective else "No",
                unit,
                reporter or "—",
                campaign,
                local.strftime("%Y-%m-%d %H:%M"),
            ]
            for field in columns[kind]:
                value = answers.get(field.name)
                if field.kind == "photos":
                    value = files
                elif value is None:
                    pass
                elif field.kind == "choice":
                    value = field.labels[value]
                elif field.kind == "location":
                    value = value.get("place") or f"{value['latitude']}, {value['longitude']}"
                values.append(value)
            writers[kind].writerow(values)
        for handle in handles.values():
            handle.close()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for kind in columns:
                archive.write(Path(folder) / f"{kind}.csv", f"{kind}.csv")
    return rows


# ---------------------------------------------------------------------------------------------
# The parent: one process per variant and run, then the table.


def measure(variant: str, folder: Path) -> Measured:
    """Runs `variant` in a child process; its peak RSS comes from wait4 on that child alone
    (RUSAGE_CHILDREN would give the largest of all the children waited for so far)."""
    suffix = "xlsx" if variant.endswith("xlsx") else "zip"
    out = folder / f"out-{variant}.{suffix}"
    database = str(folder / "bench.sqlite3")
    command = [sys.executable, "-m", "bench.export", "--variant", variant]
    child = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
        [*command, "--db", database, "--out", str(out)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    with child.stdout:
        output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{variant} failed with exit code {child.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    size = out.stat().st_size / 2**20
    out.unlink()
    return Measured(
        variant,
        int(report["rows"]),
        report["seconds"],
        report["cpu_seconds"],
        usage.ru_maxrss / 1024,
        report["start_rss_mb"],
        size,
    )


def best(runs: list[Measured]) -> Measured:
    """The fastest run's time (the least disturbed by anything else the machine did), the
    least processor time and the highest peak RSS of all the runs."""
    fastest = min(runs, key=lambda m: m.seconds)
    return dataclasses.replace(
        fastest,
        cpu_seconds=min(m.cpu_seconds for m in runs),
        peak_rss_mb=max(m.peak_rss_mb for m in runs),
    )


def warm(path: Path) -> None:
    """Reads the database once, so that no variant pays for a cold page cache."""
    buffer = bytearray(1 << 20)
    with path.open("rb") as handle:
        while handle.readinto(buffer):
            pass


def verdicts(results: dict[str, Measured]) -> dict[str, tuple[str, str, str]]:
    """Ours against bare: (ratio, target, verdict) of each of our variants."""
    found = {}
    for variant in ("ours-xlsx", "ours-csv"):
        ours, bare = results[variant], results[variant.replace("ours-", "bare-")]
        failed = []
        if variant == "ours-xlsx":
            value = ours.seconds / bare.seconds
            ratio = f"{value:.2f}x the time"
            target = f"<= {XLSX_TIME_TARGET}x time, <= {RSS_TARGET_MB} MB"
            if value > XLSX_TIME_TARGET:
                failed.append("time")
        else:
            value = ours.rate / bare.rate
            ratio = f"{value:.2f}x the rows/s"
            target = f">= {CSV_RATE_TARGET}x rows/s, <= {RSS_TARGET_MB} MB"
            if value < CSV_RATE_TARGET:
                failed.append("rows/s")
        if ours.peak_rss_mb > RSS_TARGET_MB:
            failed.append("RSS")
        found[variant] = (ratio, target, "FAIL (" + ", ".join(failed) + ")" if failed else "PASS")
    return found


def table(results: dict[str, Measured]) -> list[str]:
    judged = verdicts(results)
    lines = [
        f"{'variant':<10} {'rows':>10} {'seconds':>8} {'cpu s':>7} {'rows/s':>8} "
        f"{'peak RSS MB':>11} {'at start':>8} {'out MB':>7}  {'ratio vs bare':<18} "
        f"{'target':<29} verdict"
    ]
    for variant in VARIANTS:
        m = results[variant]
        ratio, target, verdict = judged.get(variant, ("", "", ""))
        lines.append(
            f"{variant:<10} {m.rows:>10,} {m.seconds:>8.2f} {m.cpu_seconds:>7.2f} "
            f"{m.rate:>8,.0f} {m.peak_rss_mb:>11.1f} {m.start_rss_mb:>8.1f} {m.output_mb:>7.1f}  "
            f"{ratio:<18} {target:<29} {verdict}".rstrip()
        )
    cpu = {
        fmt: results[f"ours-{fmt}"].cpu_seconds / results[f"bare-{fmt}"].cpu_seconds
        for fmt in ("xlsx", "csv")
    }
    lines.append(
        f"processor time, ours over bare: xlsx {cpu['xlsx']:.2f}x, csv {cpu['csv']:.2f}x "
        f"(csv rows per processor second {1 / cpu['csv']:.2f}x the bare rate)"
    )
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, XlsxWriter {metadata.version('XlsxWriter')}, "
        f"SQLAlchemy {metadata.version('SQLAlchemy')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="entries to export")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant")
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where generated data is kept"
    )
    parser.add_argument("--generate", action="store_true", help="only prepare the database")
    parser.add_argument("--variant", choices=VARIANTS, help="run one variant (in a child)")
    parser.add_argument("--db", type=Path, help="the database of --variant")
    parser.add_argument("--out", type=Path, help="the file --variant writes")
    args = parser.parse_args()
    if args.variant:
        if args.db is None or args.out is None:
            parser.error("--variant needs --db and --out")
        print(json.dumps(run_variant(args.variant, args.db.parent, args.out)))
        return
    if args.generate:
        prepare(args.rows, args.data_dir)
        return

    # This process starts every child, and a child's peak RSS counts from the memory of the
    # process it was started from (Linux carries it over the fork and exec): so this one only
    # starts processes and reads their reports, and stays far below any child.
    generate = [sys.executable, "-m", "bench.export", "--generate", "--rows", str(args.rows)]
    subprocess.run([*generate, "--data-dir", str(args.data_dir)], check=True)  # noqa: S603
    folder = args.data_dir / f"entries-{args.rows}-g{GENERATION}"
    warm(folder / "bench.sqlite3")
    load_before = os.getloadavg()[0]
    runs: dict[str, list[Measured]] = {variant: [] for variant in VARIANTS}
    for number in range(1, args.repeat + 1):
        for variant in VARIANTS:  # interleaved, so that a slow spell hits every variant
            m = measure(variant, folder)
            runs[variant].append(m)
            print(
                f"run {number}/{args.repeat} {variant:<10} {m.seconds:8.2f} s "
                f"({m.cpu_seconds:.2f} s of processor) {m.peak_rss_mb:6.1f} MB peak RSS",
                flush=True,
            )
            if m.rows != args.rows:
                print(f"  wrote {m.rows:,} rows, expected {args.rows:,}")
    results = {variant: best(measured) for variant, measured in runs.items()}
    floor = _peak_rss_mb()
    print()
    print(f"export of {args.rows:,} entries, best of {args.repeat} runs per variant")
    print(f"machine: {machine()}")
    print(
        f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; "
        f"the starting process peaked at {floor:.0f} MB"
    )
    for line in table(results):
        print(line)


if __name__ == "__main__":
    main()
