"""/export: secretaries (their units) and admins (everything) download entries as a workbook,
CSV files or the evidence, chosen in a short form."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.events import Document, Reply
from bot.evidence import EvidenceStore
from bot.exports import CsvStyle, ExportFilters, ExportFormat, ExportResult, write_export
from bot.i18n import N_
from bot.router import Audience, Router, menu_reply
from domain.kinds import KINDS
from domain.vocabulary import Status
from models import Database
from models.entries import scope_unit_ids
from models.people import audit
from models.tables import Campaign

__all__ = ["register"]

EVERYTHING = "all"
THIS_MONTH = "month"
THIS_YEAR = "year"
APPROVED = Status.APPROVED
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
    if not ctx.channel.files:
        text = ctx._(
            "An export is a file, and this chat cannot receive files. Please export from a "
            "chat app that can, or ask the operator to run the export on the server."
        )
        return [menu_reply(ctx, text)]
    campaigns = await ctx.session.scalar(select(func.count()).select_from(Campaign))
    return await start_form(ctx, "export", {"_campaigns": (campaigns or 0) > 1})


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
    chosen, _, style = answers["format"].partition(":")
    export_format = ExportFormat(chosen)
    csv_style = CsvStyle(style) if style else CsvStyle.for_locale(ctx.t.locale)
    campaign = answers.get("campaign", EVERYTHING)
    if campaign != EVERYTHING:
        filters = dataclasses.replace(filters, campaign_id=int(campaign))
    ctx.later.append(functools.partial(_produce, ctx, export_format, filters, csv_style))
    return [Reply(ctx._("⏳ Preparing your file…"))]


async def _produce(
    ctx: Context, export_format: ExportFormat, filters: ExportFilters, csv_style: CsvStyle
) -> list[Reply]:
    """Writes the file after the request's transaction: other people's writes never wait
    for an export, which reads in its own transaction. A workbook too large for the chat
    comes as CSV files in a ZIP, several times smaller."""
    if ctx.db is None:
        raise RuntimeError("exports need the database")
    note = None
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        result, size, content = await _write(
            ctx, ctx.db, Path(folder) / "export", export_format, filters, csv_style=csv_style
        )
        if content is None and export_format is ExportFormat.XLSX:
            note = ctx._(
                "The workbook would be {size} MB, more than the {limit} MB this chat can "
                "receive, so here are the same entries as CSV files in a ZIP."
            ).format(size=_megabytes(ctx, size), limit=ctx.channel.max_file_mb)
            export_format = ExportFormat.CSV
            result, size, content = await _write(
                ctx, ctx.db, Path(folder) / "csv", export_format, filters, csv_style=csv_style
            )
    async with ctx.db.write() as session:
        await audit(
            session,
            ctx.person.actor,
            "export.created",
            format=export_format.value,
            rows=result.rows,
            filters=filters.describe(),
            sent=content is not None,
        )
    if result.rows == 0:
        return [
            menu_reply(
                ctx, ctx._("No entries match these choices, so there is nothing to export.")
            )
        ]
    if content is None:
        text = ctx._(
            "The file is {size} MB, more than the {limit} MB this chat can receive. Please "
            "choose one kind or a shorter period, or ask the operator to run the export on the "
            "server."
        ).format(size=_megabytes(ctx, size), limit=ctx.channel.max_file_mb)
        return [menu_reply(ctx, text)]
    text = ctx.t.ngettext(
        "📤 Your export: {n} entry.", "📤 Your export: {n} entries.", result.rows
    ).format(n=ctx.t.number(result.rows))
    if note:
        text = f"{note}\n\n{text}"
    name = f"youthbot-{ctx.today().isoformat()}{SUFFIXES[export_format]}"
    return [Reply(text, document=Document(name, content, MIME_TYPES[export_format]))]


async def _write(
    ctx: Context,
    db: Database,
    path: Path,
    export_format: ExportFormat,
    filters: ExportFilters,
    *,
    csv_style: CsvStyle,
) -> tuple[ExportResult, int, bytes | None]:
    """Writes the export; its size, and its bytes when the chat can receive them."""
    store = EvidenceStore(ctx.config.data_dir / "files")
    async with db.read() as session:
        result = await write_export(
            session,
            path,
            export_format,
            filters,
            t=ctx.t,
            tz=ctx.config.tz,
            store=store,
            csv_style=csv_style,
        )
    size = (await asyncio.to_thread(path.stat)).st_size
    limit = ctx.channel.max_file_bytes
    fits = limit is None or size <= limit
    content = await asyncio.to_thread(path.read_bytes) if fits else None
    return result, size, content


def _megabytes(ctx: Context, size: int) -> str:
    return ctx.t.number(round(size / (1024 * 1024), 1))


async def campaign_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    campaigns = (await ctx.session.scalars(select(Campaign).order_by(Campaign.id))).all()
    if len(campaigns) < 2:
        return ()
    return (
        Option(EVERYTHING, N_("All campaigns")),
        *(Option(str(c.id), c.title) for c in campaigns),
    )


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
                *(Option(name, kind.title) for name, kind in KINDS.items()),
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
            "campaign",
            FieldKind.CHOICE,
            N_("Which campaign?"),
            options_for=campaign_options,
            ask_if=lambda answers: answers.get("_campaigns", False),
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
                # Which CSV opens in columns when double-clicked depends on the regional
                # settings of the computer (see bot.exports.CsvStyle).
                Option(
                    f"{ExportFormat.CSV.value}:{CsvStyle.VIETNAMESE.value}",
                    N_("CSV files in a ZIP, for Excel in Vietnamese (; and decimal commas)"),
                ),
                Option(
                    f"{ExportFormat.CSV.value}:{CsvStyle.STANDARD.value}",
                    N_("CSV files in a ZIP, comma-separated (other programs)"),
                ),
                Option(ExportFormat.EVIDENCE.value, N_("Evidence files in a ZIP")),
            ),
        ),
    ),
)


def register(router: Router) -> None:
    router.form(EXPORT)
    router.command(
        "export",
        start_export,
        N_("download entries as a spreadsheet"),
        audience=Audience.SECRETARIES,
    )
    router.menu_item("export", N_("📤 Export"), start_export, visible=lambda ctx: ctx.person.leads)
