"""/export: secretaries (their units) and admins (everything) download entries as a workbook,
CSV files or the evidence, chosen in a short form."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import tempfile
from pathlib import Path
from typing import Any

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Document, Reply
from bot.evidence import EvidenceStore
from bot.exports import ExportFilters, ExportFormat, write_export
from bot.i18n import N_
from bot.router import Router, menu_reply
from handlers.reporting import KINDS
from models.entries import scope_unit_ids
from models.people import audit

__all__ = ["MAX_UPLOAD", "register"]

MAX_UPLOAD = 50 * 1024 * 1024  # what a bot may send on Telegram
EVERYTHING = "all"
THIS_MONTH = "month"
THIS_YEAR = "year"
APPROVED = "approved"
MIME_TYPES = {
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportFormat.CSV: "application/zip",
    ExportFormat.EVIDENCE: "application/zip",
}
SUFFIXES = {
    ExportFormat.XLSX: ".xlsx",
    ExportFormat.CSV: "-csv.zip",
    ExportFormat.EVIDENCE: "-evidence.zip",
}


async def start_export(ctx: Context) -> list[Reply]:
    """Opens the export form for those who may export; members are told politely."""
    if await scope_unit_ids(ctx.session, ctx.person.roles) == set():
        return [Reply(ctx._("Exports are for youth union secretaries and admins."))]
    return await start_form(ctx, "export")


def period(ctx: Context, answers: dict[str, Any]) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of the chosen period (None: no limit)."""
    today = ctx.today()
    if answers["period"] == THIS_MONTH:
        return today.replace(day=1), today
    if answers["period"] == THIS_YEAR:
        return today.replace(month=1, day=1), today
    return None, None


async def export(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Writes the file within the person's units as of now, then sends it."""
    scope = await scope_unit_ids(ctx.session, ctx.person.roles)  # checked again now
    if scope == set():
        return [Reply(ctx._("Exports are for youth union secretaries and admins."))]
    date_from, date_to = period(ctx, answers)
    filters = ExportFilters(
        kind=None if answers["kind"] == EVERYTHING else answers["kind"],
        status=None if answers["status"] == EVERYTHING else APPROVED,
        unit_ids=None if scope is None else frozenset(scope),
        date_from=date_from,
        date_to=date_to,
    )
    export_format = ExportFormat(answers["format"])
    ctx.later.append(functools.partial(_produce, ctx, export_format, filters))
    return [Reply(ctx._("⏳ Preparing your file…"))]


async def _produce(
    ctx: Context, export_format: ExportFormat, filters: ExportFilters
) -> list[Reply]:
    """Writes the file after the request's transaction: other people's writes never wait
    for an export, which reads in its own transaction."""
    if ctx.db is None:
        raise RuntimeError("exports need the database")
    store = EvidenceStore(ctx.config.data_dir / "files")
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        path = Path(folder) / "export"
        async with ctx.db.read() as session:
            result = await write_export(
                session, path, export_format, filters, t=ctx.t, tz=ctx.config.tz, store=store
            )
        size = path.stat().st_size
        too_large = size > MAX_UPLOAD
        content = b"" if too_large else await asyncio.to_thread(path.read_bytes)
    async with ctx.db.write() as session:
        await audit(
            session,
            f"identity:{ctx.person.identity_id}",
            "export.created",
            format=export_format.value,
            rows=result.rows,
            filters=filters.describe(),
            sent=not too_large,
        )
    if result.rows == 0:
        return [
            menu_reply(
                ctx, ctx._("No entries match these choices, so there is nothing to export.")
            )
        ]
    if too_large:
        text = ctx._(
            "The file is {size} MB, more than the 50 MB a bot may send. Please choose one kind "
            "or a shorter period, or ask the operator to run the export on the server."
        ).format(size=ctx.t.number(round(size / (1024 * 1024), 1)))
        return [menu_reply(ctx, text)]
    text = ctx.t.ngettext(
        "📤 Your export: {n} entry.", "📤 Your export: {n} entries.", result.rows
    ).format(n=ctx.t.number(result.rows))
    name = f"youthbot-{ctx.today().isoformat()}{SUFFIXES[export_format]}"
    return [Reply(text, document=Document(name, content, MIME_TYPES[export_format]))]


EXPORT = Form(
    name="export",
    title=N_("Export"),
    complete=export,
    fields=(
        Field(
            "kind",
            FieldKind.CHOICE,
            N_("Which entries?"),
            options=(
                Option(EVERYTHING, N_("All kinds")),
                *(Option(name, kind.form.title) for name, kind in KINDS.items()),
            ),
        ),
        Field(
            "period",
            FieldKind.CHOICE,
            N_("Submitted when?"),
            options=(
                Option(EVERYTHING, N_("Any time")),
                Option(THIS_MONTH, N_("This month")),
                Option(THIS_YEAR, N_("This year")),
            ),
        ),
        Field(
            "status",
            FieldKind.CHOICE,
            N_("Which statuses?"),
            options=(
                Option(EVERYTHING, N_("All statuses")),
                Option(APPROVED, N_("Approved only")),
            ),
        ),
        Field(
            "format",
            FieldKind.CHOICE,
            N_("In which format?"),
            options=(
                Option(ExportFormat.XLSX.value, N_("Excel workbook (XLSX)")),
                Option(ExportFormat.CSV.value, N_("CSV files in a ZIP")),
                Option(ExportFormat.EVIDENCE.value, N_("Evidence files in a ZIP")),
            ),
        ),
    ),
)


def register(router: Router) -> None:
    router.form(EXPORT)
    router.command("export", start_export, N_("download entries as a spreadsheet (secretaries)"))
    router.menu_item("export", N_("📤 Export"), start_export, visible=lambda ctx: ctx.person.leads)
