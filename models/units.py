"""Units: import from CSV, search by name, and the default campaign."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.text import fold, nfc
from models.tables import Campaign, Unit

__all__ = [
    "DEFAULT_CAMPAIGN_TITLE",
    "UnitImportError",
    "UnitRow",
    "count_units",
    "ensure_default_campaign",
    "get_unit",
    "import_units",
    "list_units",
    "parse_units_csv",
    "place_name",
    "province",
    "search_units",
    "unit_path",
]

# The movement itself, named as the provincial plan names it (data, not a UI string).
DEFAULT_CAMPAIGN_TITLE = (
    "Phong trào thi đua thực hiện Chương trình phát triển thanh niên tỉnh Lạng Sơn "
    "giai đoạn 2021–2030"
)
# Units a young person registers in; the province itself is only the root of the tree.
SELECTABLE = Unit.kind != "province"


class UnitImportError(ValueError):
    """The CSV is not a unit tree we can import; the message names the line."""


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    kind: str
    parent_code: str | None


def parse_units_csv(text: str) -> list[UnitRow]:
    """Reads code,name,kind,parent_code rows; parents must come before their children."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    required = {"code", "name", "kind", "parent_code"}
    if reader.fieldnames is None or not required <= set(reader.fieldnames):
        raise UnitImportError("header must be: code,name,kind,parent_code")
    rows: list[UnitRow] = []
    seen: set[str] = set()
    for line, record in enumerate(reader, start=2):
        code = (record["code"] or "").strip()
        name = nfc(record["name"] or "")
        kind = (record["kind"] or "").strip()
        parent = (record["parent_code"] or "").strip() or None
        if not code or not name or not kind:
            raise UnitImportError(f"line {line}: code, name and kind are required")
        if code in seen:
            raise UnitImportError(f"line {line}: duplicate code {code!r}")
        seen.add(code)
        rows.append(UnitRow(code, name, kind, parent))
    return rows


async def import_units(session: AsyncSession, rows: Sequence[UnitRow]) -> tuple[int, int]:
    """Adds new units and updates existing ones by code; returns (added, updated)."""
    existing = {unit.code: unit for unit in (await session.scalars(select(Unit))).all()}
    added = updated = 0
    for row in rows:
        parent_id = None
        if row.parent_code is not None:
            parent = existing.get(row.parent_code)
            if parent is None:
                raise UnitImportError(f"{row.code}: unknown parent_code {row.parent_code!r}")
            parent_id = parent.id
        unit = existing.get(row.code)
        if unit is None:
            unit = Unit(
                code=row.code,
                name=row.name,
                search_name=fold(row.name),
                kind=row.kind,
                parent_id=parent_id,
            )
            session.add(unit)
            await session.flush()
            existing[row.code] = unit
            added += 1
        elif (unit.name, unit.kind, unit.parent_id) != (row.name, row.kind, parent_id):
            unit.name, unit.kind, unit.parent_id = row.name, row.kind, parent_id
            unit.search_name = fold(row.name)
            updated += 1
    return added, updated


async def count_units(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Unit)) or 0


async def get_unit(session: AsyncSession, unit_id: int) -> Unit | None:
    return await session.get(Unit, unit_id)


async def unit_path(session: AsyncSession, unit_id: int) -> list[Unit]:
    """The unit and every unit above it, nearest first."""
    path: list[Unit] = []
    current = await session.get(Unit, unit_id)
    while current is not None and current not in path:
        path.append(current)
        current = await session.get(Unit, current.parent_id) if current.parent_id else None
    return path


async def province(session: AsyncSession) -> Unit | None:
    """The root of the unit tree: the province."""
    return await session.scalar(
        select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id).limit(1)
    )


async def place_name(session: AsyncSession) -> str:
    """Where documents are dated, as administrative documents write it: the province's name
    without "Tỉnh" ("Lạng Sơn, ngày …")."""
    root = await province(session)
    name = root.name if root is not None else ""
    return name[len("Tỉnh ") :] if name.casefold().startswith("tỉnh ") else name


async def search_units(session: AsyncSession, query: str, *, limit: int) -> list[Unit]:
    """Units whose name holds every word typed, diacritics optional ("na sam")."""
    words = fold(query).split()
    if not words:
        return []
    statement = select(Unit).where(SELECTABLE)
    for word in words:
        statement = statement.where(Unit.search_name.contains(word, autoescape=True))
    statement = statement.order_by(func.length(Unit.name), Unit.name).limit(limit)
    return list((await session.scalars(statement)).all())


async def list_units(session: AsyncSession, *, offset: int, limit: int) -> tuple[list[Unit], int]:
    """One page of selectable units in name order, and how many there are."""
    total = await session.scalar(select(func.count()).select_from(Unit).where(SELECTABLE)) or 0
    statement = select(Unit).where(SELECTABLE).order_by(Unit.search_name).offset(offset)
    return list((await session.scalars(statement.limit(limit))).all()), total


async def ensure_default_campaign(session: AsyncSession, today: dt.date) -> bool:
    """Creates the movement-wide campaign on first start; True if it was created."""
    if await session.scalar(select(Campaign.id).limit(1)) is not None:
        return False
    session.add(
        Campaign(
            title=DEFAULT_CAMPAIGN_TITLE,
            description="",
            starts_on=min(today, dt.date(2021, 1, 1)),
            ends_on=dt.date(2030, 12, 31),
            is_default=True,
        )
    )
    return True
