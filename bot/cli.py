"""The operator command line: run, chat, migrate, units import, roles, backup and restore,
export, audit; and (bot.admin_cli) campaigns, news, reminders, schedules and stats."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bot import admin_cli, documents_cli
from bot import config as config_module
from bot.app import App, build_app
from bot.backups import BadBackup, DatabaseInPlace, restore_backup, write_backup
from bot.channels.runtime import Channel, SetupError
from bot.config import Config, ConfigError
from bot.evidence import EvidenceStore
from bot.exports import ExportFilters, ExportFormat, UnknownUnit, unit_subtree, write_export
from bot.i18n import SUPPORTED
from bot.scheduler import Scheduler
from bot.verify_page import VerifyServer
from domain.kinds import KINDS
from domain.vocabulary import CLI, Role, Status
from models.people import audit, grant_role, identity_for, revoke_role
from models.tables import AuditRecord, Entry, EntryFile, Member, Unit
from models.units import UnitImportError, import_units, parse_units_csv

__all__ = ["main"]

log = logging.getLogger("bot")


class _OneLineParser(argparse.ArgumentParser):
    """A subcommand whose bad arguments stop it with one line (not the usage) and code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Youth emulation bot — operator commands."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    commands.add_parser(
        "run", help="run every configured channel (the console chat when no token is set)"
    )
    commands.add_parser("chat", help="chat with the bot in this terminal")
    commands.add_parser("migrate", help="bring the database schema up to date")

    units = commands.add_parser("units", help="manage the unit tree")
    units_commands = units.add_subparsers(dest="action", required=True)
    units_import = units_commands.add_parser("import", help="add or update units from a CSV")
    units_import.add_argument("file", type=Path, help="CSV with code,name,kind,parent_code")

    roles = commands.add_parser("roles", help="grant or revoke admin and secretary roles")
    roles.add_argument("action", choices=["grant", "revoke"])
    roles.add_argument("role", choices=list(Role))
    roles.add_argument("--channel", default="telegram", choices=["telegram", "zalo", "console"])
    roles.add_argument("--user-id", required=True, help="the person's user id on that channel")
    roles.add_argument("--unit", help="unit code (required for secretary)")

    backup = commands.add_parser("backup", help="copy the SQLite database while it runs")
    backup.add_argument("path", type=Path, help="where to write the copy (a new file)")
    backup.add_argument(
        "--with-files",
        action="store_true",
        help="write one ZIP archive: the database and the evidence files",
    )
    restore = commands.add_parser(
        "restore", help="put a backup in place of the database, which must not exist"
    )
    restore.add_argument("path", type=Path, help="a backup made by `backup`")

    export = commands.add_parser("export", help="write entries to an XLSX, CSV or evidence file")
    export.add_argument("--format", required=True, choices=[f.value for f in ExportFormat])
    export.add_argument("--out", required=True, type=Path, help="the file to write")
    export.add_argument("--kind", choices=list(KINDS))
    export.add_argument("--status", choices=list(Status))
    export.add_argument("--unit", help="unit code: this unit and every unit below it")
    export.add_argument("--from", dest="date_from", type=_day, help="first day, YYYY-MM-DD")
    export.add_argument("--to", dest="date_to", type=_day, help="last day, YYYY-MM-DD")
    export.add_argument("--campaign", type=int, help="campaign id")
    export.add_argument("--language", choices=SUPPORTED, help="of the headers and labels")

    audit_log = commands.add_parser("audit", help="the audit log of sensitive actions")
    audit_commands = audit_log.add_subparsers(dest="action", required=True)
    audit_export = audit_commands.add_parser("export", help="write the audit log as CSV")
    audit_export.add_argument("--out", required=True, type=Path, help="the CSV file to write")
    audit_export.add_argument("--from", dest="date_from", type=_day, help="first day, YYYY-MM-DD")
    admin_cli.add_parsers(commands)
    documents_cli.add_parsers(commands)
    return parser


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_module.load()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    # In the console chat, log lines would interleave with the conversation.
    console = args.command == "chat" or (
        args.command == "run" and not (config.telegram.enabled or config.zalo.enabled)
    )
    level = logging.DEBUG if args.verbose else (logging.WARNING if console else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and a Telegram URL holds the bot token; python-telegram-bot
    # logs request parameters at debug level, and setWebhook's hold the webhook secret.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
    handlers: dict[str, Callable[[App, argparse.Namespace], Awaitable[int]]] = {
        "run": _run,
        "chat": _chat,
        "migrate": _migrate,
        "units": _units_import,
        "roles": _roles,
        "backup": _backup,
        "export": _export,
        "audit": _audit_export,
        **admin_cli.COMMANDS,
        **documents_cli.COMMANDS,
    }
    try:
        if args.command == "restore":  # before anything opens (and so creates) the database
            return asyncio.run(_restore(config, args))
        return asyncio.run(_with_app(config, handlers[args.command], args))
    except KeyboardInterrupt:
        return 130


async def _with_app(
    config: Config,
    command: Callable[[App, argparse.Namespace], Awaitable[int]],
    args: argparse.Namespace,
) -> int:
    app = build_app(config)
    try:
        if command is not _migrate:
            await app.prepare()
        return await command(app, args)
    except (SQLAlchemyError, OSError) as error:
        reason = getattr(error, "orig", None) or error
        print(f"DATABASE_URL: cannot use the database: {reason}", file=sys.stderr)
        return 2
    except SetupError as error:
        print(error, file=sys.stderr)
        return 2
    finally:
        await app.close()


async def _run(app: App, args: argparse.Namespace) -> int:
    """Runs every configured channel (Telegram, Zalo) in this process, and the verify page
    when verify.listen is set; with no channel, the console chat."""
    verify = app.config.verify
    page = None
    if verify.listen_host:
        page = VerifyServer(app)
        page.start(verify.listen_host, verify.listen_port)
    try:
        return await _run_channels(app, args)
    finally:
        if page is not None:
            await page.stop()


async def _run_channels(app: App, args: argparse.Namespace) -> int:
    """Every configured channel until SIGINT or SIGTERM; with none, the console chat, when
    there is a terminal to hold it."""
    channels = list(app.channels.values())
    if not channels:
        if sys.stdin is None or not sys.stdin.isatty():
            print(
                "run: no TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN is set, and without a terminal "
                "there is no console chat to open; set a token (see README)",
                file=sys.stderr,
            )
            return 2
        print(
            "No TELEGRAM_BOT_TOKEN or ZALO_BOT_TOKEN is set: opening the console chat "
            "(/attach PATH sends a file, Ctrl-D leaves).",
            file=sys.stderr,
        )
        return await _chat(app, args)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)

    def wake() -> None:
        for channel in channels:
            channel.worker.wake()

    scheduler = Scheduler(app, wake=wake)
    maintenance = asyncio.create_task(app.maintain_forever(), name="maintenance")
    started: list[Channel] = []
    try:
        for channel in channels:
            started.append(channel)  # stopped below even when its start was cut short
            if not await _unless_stopped(channel.start(), stopping):
                return 0
        await scheduler.start()
        await stopping.wait()
    finally:
        scheduler.stop()
        maintenance.cancel()
        for channel in reversed(started):
            await channel.stop()
    return 0


async def _unless_stopped(work: Awaitable[None], stopping: asyncio.Event) -> bool:
    """Runs `work` (a channel waiting for its platform, perhaps) unless a stop comes first;
    whether it finished."""
    task = asyncio.ensure_future(work)
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()  # a refused token surfaces here
    return True


async def _chat(app: App, _args: argparse.Namespace) -> int:
    """The console chat until end of input."""
    if app.console is None:
        raise RuntimeError("the application was built without its console")
    scheduler = Scheduler(app)  # what falls due reaches the console with the next answer
    await scheduler.start()
    try:
        await app.console.start()
        await app.console.finished()
    finally:
        scheduler.stop()
        await app.console.stop()
    return 0


async def _migrate(app: App, _args: argparse.Namespace) -> int:
    await app.prepare()
    print("database is up to date")
    return 0


async def _units_import(app: App, args: argparse.Namespace) -> int:
    try:
        rows = parse_units_csv(args.file.read_text(encoding="utf-8"))
        async with app.db.write() as session:
            added, updated = await import_units(session, rows)
    except OSError as error:
        print(f"units import: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    except (UnitImportError, UnicodeDecodeError) as error:
        print(f"units import: {args.file}: {error}", file=sys.stderr)
        return 2
    print(f"units: {added} added, {updated} updated, {len(rows) - added - updated} unchanged")
    return 0


async def _roles(app: App, args: argparse.Namespace) -> int:
    if args.role == Role.SECRETARY and args.action == "grant" and not args.unit:
        print("roles: --unit is required for a secretary", file=sys.stderr)
        return 2
    async with app.db.write() as session:
        unit = None
        if args.unit:
            unit = await session.scalar(select(Unit).where(Unit.code == args.unit))
            if unit is None:
                print(f"roles: unknown unit code {args.unit!r}", file=sys.stderr)
                return 2
        identity = await identity_for(session, args.channel, str(args.user_id))
        if args.action == "grant":
            changed = await grant_role(session, identity, args.role, unit, granted_by=CLI)
            where = f" of {unit.code}" if unit else ""
            print(f"granted {args.role}{where}" if changed else "already granted")
        else:
            count = await revoke_role(session, identity, args.role, unit, revoked_by=CLI)
            print(f"revoked {count} grant(s)")
    return 0


async def _backup(app: App, args: argparse.Namespace) -> int:
    """SQLite online backup (consistent while the bot writes), checked, readable by its owner
    only; with --with-files, one archive with the evidence files too."""
    if not app.db.is_sqlite:
        print("backup: only for SQLite; use pg_dump for PostgreSQL", file=sys.stderr)
        return 2
    source = Path(app.db.url.database or "")
    target: Path = args.path
    store = EvidenceStore(app.config.data_dir / "files") if args.with_files else None
    try:
        files = await asyncio.to_thread(write_backup, source, target, store)
    except FileExistsError:
        print(f"backup: {target} exists; choose a new file", file=sys.stderr)
        return 2
    except BadBackup as error:
        print(f"backup: {error}", file=sys.stderr)
        return 1
    with_files = f", {files} evidence files" if store is not None else ""
    print(f"backup written to {target} (integrity check ok{with_files})")
    return 0


async def _restore(config: Config, args: argparse.Namespace) -> int:
    """Puts a backup where the configured database would be, then opens it as `run` would
    (bringing its schema up to date) and says what it holds."""
    app = build_app(config)
    try:
        if not app.db.is_sqlite or app.db.url.database in (None, "", ":memory:"):
            print("restore: only for SQLite; use pg_restore for PostgreSQL", file=sys.stderr)
            return 2
        database = Path(app.db.url.database or "")
        folder = config.data_dir / "files"
        store = EvidenceStore(folder)
        try:
            restored = await asyncio.to_thread(restore_backup, args.path, database, store)
        except DatabaseInPlace as error:
            print(
                f"restore: {error} exists. Stop the bot and move the database and its -wal "
                "and -shm files aside (keep them until the restored one is checked), then "
                "restore again.",
                file=sys.stderr,
            )
            return 2
        except (BadBackup, OSError) as error:
            print(f"restore: {args.path}: {error}", file=sys.stderr)
            return 2
        await app.prepare()
        async with app.db.read() as session:
            members = await session.scalar(select(func.count()).select_from(Member))
            entries = await session.scalar(select(func.count()).select_from(Entry))
            paths = set((await session.scalars(select(EntryFile.path))).all())
        missing = [path for path in paths if not store.exists(path)]
    finally:
        await app.close()
    print(
        f"restored {database}: {members} members, {entries} entries; evidence files: "
        f"{restored.files} put back, {restored.already_there} already there"
    )
    if missing:
        print(
            f"restore: {len(missing)} evidence files named by entries are not in {folder}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _export(app: App, args: argparse.Namespace) -> int:
    """Writes every matching entry (no scope limit: operators run this) and audits it."""
    if args.date_from and args.date_to and args.date_from > args.date_to:
        print("export: --from is after --to", file=sys.stderr)
        return 2
    config = app.config
    t = app.catalogs.translator(args.language or config.default_locale, config.tz)
    export_format = ExportFormat(args.format)
    out: Path = args.out
    async with app.db.read() as session:
        try:
            units = await unit_subtree(session, args.unit) if args.unit else None
        except UnknownUnit:
            print(f"export: unknown unit code {args.unit!r}", file=sys.stderr)
            return 2
        filters = ExportFilters(
            kind=args.kind,
            status=args.status,
            unit_ids=units,
            date_from=args.date_from,
            date_to=args.date_to,
            campaign_id=args.campaign,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        result = await write_export(
            session,
            out,
            export_format,
            filters,
            t=t,
            tz=config.tz,
            store=EvidenceStore(config.data_dir / "files"),
        )
    async with app.db.write() as session:
        await audit(
            session,
            CLI,
            "export.created",
            format=export_format.value,
            rows=result.rows,
            filters=filters.describe(),
        )
    print(f"exported {result.rows} entries to {out}")
    return 0


async def _audit_export(app: App, args: argparse.Namespace) -> int:
    """Every audit row (from a day on), oldest first, as CSV with a BOM for Excel."""
    since = (
        dt.datetime.combine(args.date_from, dt.time(), app.config.tz)
        if args.date_from
        else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    )
    async with app.db.read() as session:
        records = (
            await session.scalars(
                select(AuditRecord).where(AuditRecord.at >= since).order_by(AuditRecord.id)
            )
        ).all()
    try:
        with args.out.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "at", "actor", "action", "details"])
            for record in records:
                local = record.at.astimezone(app.config.tz).strftime("%Y-%m-%d %H:%M:%S")
                details = json.dumps(record.details, ensure_ascii=False, sort_keys=True)
                writer.writerow([record.id, local, record.actor, record.action, details])
    except OSError as error:
        print(f"audit export: cannot write {args.out}: {error.strerror}", file=sys.stderr)
        return 2
    async with app.db.write() as session:
        await audit(session, CLI, "audit.exported", rows=len(records))
    print(f"exported {len(records)} audit rows to {args.out}")
    return 0
