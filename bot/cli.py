"""The operator command line: run, chat, migrate, units, roles, backup and restore, export,
audit; and (bot.admin_cli) campaigns, news, reminders, schedules and stats. What commands
print is in the operator's language (`--language`, else `bot.default_locale`), through the
catalogs."""

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
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import admin_cli, documents_cli
from bot import config as config_module
from bot.admin_cli import fail
from bot.app import App, build_app
from bot.backups import BadBackup, DatabaseInPlace, restore_backup, write_backup
from bot.channels.runtime import Channel, SetupError, Unavailable
from bot.channels.zalo_oa import CHANNEL as ZALO_OA
from bot.channels.zalo_oa import TokenRefused, ZaloOAAdapter
from bot.cluster import AlreadyRunning, process_name, single_process
from bot.config import Config, ConfigError
from bot.evidence import EvidenceStore
from bot.exports import (
    CsvStyle,
    ExportFilters,
    ExportFormat,
    UnknownUnit,
    unit_subtree,
    write_export,
)
from bot.health import HealthServer
from bot.i18n import N_, NC_, SUPPORTED, Translator
from bot.scheduler import Scheduler
from bot.text import fold
from bot.verify_page import VerifyServer
from domain.kinds import KINDS
from domain.vocabulary import CLI, Role, Status, role_title
from models import Database
from models.credentials import seed_tokens
from models.invites import unit_with_code
from models.people import audit, grant_role, identity_for, list_roles, revoke_role
from models.tables import AuditRecord, Entry, EntryFile, Member, Unit
from models.transfer import NotEmpty, copy_tables, count_tables
from models.units import UnitImportError, import_units, parse_units_csv, search_units

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
    parser.add_argument(
        "--language", choices=SUPPORTED, help="of what commands print (default: the bot's)"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    commands.add_parser(
        "run", help="run every configured channel (the console chat when no token is set)"
    )
    commands.add_parser("chat", help="chat with the bot in this terminal")
    commands.add_parser("migrate", help="bring the database schema up to date")
    _add_migrate_data(commands)

    units = commands.add_parser("units", help="the unit tree: list, or import a CSV")
    units_commands = units.add_subparsers(
        dest="action", required=True, parser_class=_OneLineParser
    )
    units_import = units_commands.add_parser("import", help="add or update units from a CSV")
    units_import.add_argument("file", type=Path, help="CSV with code,name,kind,parent_code")
    units_list = units_commands.add_parser("list", help="units with their codes")
    units_list.add_argument("--under", metavar="CODE", help="this unit and every unit below it")
    units_list.add_argument("--search", metavar="TEXT", help="names holding these words")

    roles = commands.add_parser("roles", help="grant, revoke or list secretary and admin roles")
    roles_commands = roles.add_subparsers(
        dest="action", required=True, parser_class=_OneLineParser
    )
    for action in ("grant", "revoke"):
        change = roles_commands.add_parser(action, help=f"{action} a role")
        change.add_argument("role", choices=list(Role))
        change.add_argument(
            "--channel", default="telegram", choices=["telegram", "zalo", "zalo_oa", "console"]
        )
        change.add_argument(
            "--user-id", required=True, help="the person's user id on that channel"
        )
        change.add_argument("--unit", help="unit code or name (required for secretary)")
    roles_list = roles_commands.add_parser("list", help="who holds which role")
    roles_list.add_argument("--unit", metavar="CODE", help="roles in this unit and below")

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
    export.add_argument(
        "--csv-style",
        choices=[style.value for style in CsvStyle],
        help="vi: ';' and decimal commas, as Excel in Vietnamese opens; standard: ',' "
        "(default: by --language)",
    )
    export.add_argument("--force", action="store_true", help="replace the file if it exists")
    export.add_argument(
        "--language",
        choices=SUPPORTED,
        default=argparse.SUPPRESS,
        help="of the headers, labels and messages",
    )

    audit_log = commands.add_parser("audit", help="the audit log of sensitive actions")
    audit_commands = audit_log.add_subparsers(dest="action", required=True)
    audit_export = audit_commands.add_parser("export", help="write the audit log as CSV")
    audit_export.add_argument("--out", required=True, type=Path, help="the CSV file to write")
    audit_export.add_argument("--from", dest="date_from", type=_day, help="first day, YYYY-MM-DD")
    _add_zalo_oa(commands)
    admin_cli.add_parsers(commands)
    documents_cli.add_parsers(commands)
    return parser


def _add_zalo_oa(commands: Any) -> None:
    zalo_oa = commands.add_parser("zalo-oa", help="the Zalo Official Account channel")
    zalo_oa_commands = zalo_oa.add_subparsers(
        dest="action", required=True, parser_class=_OneLineParser
    )
    token = zalo_oa_commands.add_parser(
        "token", help="store a refresh token from the Zalo app, and check it"
    )
    token.add_argument(
        "--refresh-token", required=True, help='the refresh token ("-": read it from stdin)'
    )


def _add_migrate_data(commands: argparse._SubParsersAction[_OneLineParser]) -> None:
    move = commands.add_parser(
        "migrate-data",
        help="copy every table into a new, empty database (SQLite to PostgreSQL), checked",
    )
    move.add_argument("--from", dest="source", required=True, help="the database URL to copy")
    move.add_argument("--to", dest="target", required=True, help="an empty database's URL")


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
        args.command == "run"
        and not (config.telegram.enabled or config.zalo.enabled or config.zalo_oa.enabled)
    )
    level = logging.DEBUG if args.verbose else (logging.WARNING if console else logging.INFO)
    # Every line names the process: several may run the same bot (bot.cluster).
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {process_name()} %(name)s: %(message)s",
    )
    # Alembic tells every migration step it checks at INFO: noise, unless asked for.
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    # httpx logs every request URL, and a Telegram URL holds the bot token; python-telegram-bot
    # logs request parameters at debug level, and setWebhook's hold the webhook secret.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
    handlers: dict[str, Callable[[App, argparse.Namespace], Awaitable[int]]] = {
        "run": _run,
        "chat": _chat,
        "migrate": _migrate,
        "units": _units,
        "roles": _roles,
        "backup": _backup,
        "export": _export,
        "audit": _audit_export,
        "zalo-oa": _zalo_oa_token,
        **admin_cli.COMMANDS,
        **documents_cli.COMMANDS,
    }
    try:
        if args.command == "restore":  # before anything opens (and so creates) the database
            return asyncio.run(_restore(config, args))
        if args.command == "migrate-data":  # between two URLs, not DATABASE_URL's
            return asyncio.run(_migrate_data(args))
        return asyncio.run(_with_app(config, handlers[args.command], args))
    except KeyboardInterrupt:
        return 130


async def _with_app(
    config: Config,
    command: Callable[[App, argparse.Namespace], Awaitable[int]],
    args: argparse.Namespace,
) -> int:
    app = build_app(config)
    args.t = _translator(app, args)
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


SQLITE_TAKEN = N_(
    "run: another bot process is already using the database {path}. SQLite serves one "
    "process; to run several, use PostgreSQL (DATABASE_URL=postgresql+asyncpg://…)."
)


async def _run(app: App, args: argparse.Namespace) -> int:
    """Runs every configured channel (Telegram, Zalo) in this process, and the verify page
    when verify.listen is set; with no channel, the console chat. On SQLite only one
    process may run; on PostgreSQL any number share the work (bot.cluster)."""
    try:
        with single_process(app.db):
            return await _serve(app, args)
    except AlreadyRunning as taken:
        t = app.catalogs.translator(app.config.default_locale, app.config.tz)
        print(t.gettext(SQLITE_TAKEN).format(path=taken), file=sys.stderr)
        return 2


async def _serve(app: App, args: argparse.Namespace) -> int:
    verify = app.config.verify
    page = None
    if verify.listen_host:
        page = VerifyServer(app)
        page.start(verify.listen_host, verify.listen_port)
    health = None
    if app.config.health_listen is not None:
        health = HealthServer(app)
        health.start(*app.config.health_listen)
    await app.cluster.start()
    try:
        return await _run_channels(app, args, health)
    finally:
        await app.cluster.close()
        if health is not None:
            await health.stop()
        if page is not None:
            await page.stop()


async def _run_channels(app: App, args: argparse.Namespace, health: HealthServer | None) -> int:
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

    cluster = app.cluster

    def wake() -> None:
        for channel in channels:
            channel.worker.wake()

    cluster.subscribe("outbox", wake)

    def filled() -> None:
        """The scheduler filled the outbox: every process's delivery workers start."""
        wake()
        cluster.announce("outbox")

    async def scheduling() -> None:
        scheduler = Scheduler(app, wake=filled)
        try:
            await scheduler.start()
            await asyncio.Event().wait()  # until the role ends
        finally:
            scheduler.stop()

    started: list[Channel] = []
    try:
        for channel in channels:
            started.append(channel)  # stopped below even when its start was cut short
            if not await _unless_stopped(channel.start(), stopping):
                return 0
        # One process at a time runs the scheduler and the maintenance (on SQLite: this one).
        cluster.lead("scheduler", scheduling)
        cluster.lead("maintenance", app.maintain_forever)
        if health is not None:
            health.ready = True
        await stopping.wait()
    finally:
        if health is not None:
            health.ready = False
        await cluster.stop_roles()
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


async def _migrate(app: App, args: argparse.Namespace) -> int:
    await app.prepare()
    print(args.t.gettext("The database is up to date."))
    return 0


async def _migrate_data(args: argparse.Namespace) -> int:
    """Copies every table from --from into the empty database at --to (its schema brought up
    to date first), then counts each table on both sides."""
    if args.source == args.target:
        print("migrate-data: --from and --to are the same database", file=sys.stderr)
        return 2
    try:
        source, target = Database(args.source), Database(args.target)
    except (ArgumentError, ValueError) as error:
        print(f"migrate-data: not a database URL: {error}", file=sys.stderr)
        return 2
    try:
        if source.is_sqlite and not await asyncio.to_thread(
            Path(source.url.database or "").is_file
        ):
            print(f"migrate-data: {source.url.database} does not exist", file=sys.stderr)
            return 2
        await source.migrate()
        await target.migrate()
        last = [""]

        def copied(table: str, rows: int) -> None:
            if table != last[0]:
                last[0] = table
                print(f"copying {table} …", file=sys.stderr)

        await copy_tables(source, target, copied=copied)
        counts = await count_tables(source, target)
    except NotEmpty as full:
        print(
            f"migrate-data: the target database is not empty (table {full}); nothing was "
            "copied. Use a new, empty database.",
            file=sys.stderr,
        )
        return 2
    except (SQLAlchemyError, OSError) as error:
        reason = getattr(error, "orig", None) or error
        print(f"migrate-data: {reason}", file=sys.stderr)
        return 1
    finally:
        await source.close()
        await target.close()
    for count in counts:
        mark = "ok" if count.matches else "MISMATCH"
        print(f"{count.table:<24} {count.source:>12,} → {count.target:>12,}  {mark}")
    if not all(count.matches for count in counts):
        print("migrate-data: the counts differ; do not use the copy", file=sys.stderr)
        return 1
    total = sum(count.target for count in counts)
    print(
        f"copied {total:,} rows in {len(counts)} tables; every count matches. Evidence "
        "files stay in the data folder: copy data/files along with the database."
    )
    return 0


async def _units(app: App, args: argparse.Namespace) -> int:
    return await (_units_list if args.action == "list" else _units_import)(app, args)


async def _units_import(app: App, args: argparse.Namespace) -> int:
    t = args.t
    try:
        rows = parse_units_csv(args.file.read_text(encoding="utf-8"))
        async with app.db.write() as session:
            added, updated = await import_units(session, rows)
    except OSError as error:
        message = t.gettext("units import: cannot read {file}: {reason}")
        return fail(message.format(file=args.file, reason=error.strerror))
    except (UnitImportError, UnicodeDecodeError) as error:
        return fail(
            t.gettext("units import: {file}: {reason}").format(file=args.file, reason=error)
        )
    unchanged = len(rows) - added - updated
    print(
        t.ngettext(
            "Units: {added} added, {updated} updated, {unchanged} unchanged ({n} row read).",
            "Units: {added} added, {updated} updated, {unchanged} unchanged ({n} rows read).",
            len(rows),
        ).format(added=added, updated=updated, unchanged=unchanged, n=len(rows))
    )
    return 0


async def _units_list(app: App, args: argparse.Namespace) -> int:
    """The units (under one, or matching a search) with their codes, as a table to read or
    to cut: tab-separated, a header first."""
    t = args.t
    async with app.db.read() as session:
        statement = select(Unit).order_by(Unit.search_name)
        if args.under:
            try:
                statement = statement.where(Unit.id.in_(await unit_subtree(session, args.under)))
            except UnknownUnit:
                return fail(
                    t.gettext("units list: unknown unit code {code}").format(code=repr(args.under))
                )
        for word in fold(args.search or "").split():
            statement = statement.where(Unit.search_name.contains(word, autoescape=True))
        units = (await session.scalars(statement)).all()
        codes = dict((await session.execute(select(Unit.id, Unit.code))).all())
    print("\t".join(t.gettext(c) for c in (N_("Code"), N_("Name"), N_("Kind"), N_("Under"))))
    for unit in units:
        parent = codes[unit.parent_id] if unit.parent_id is not None else ""
        print(f"{unit.code}\t{unit.name}\t{unit.kind}\t{parent}")
    print(t.ngettext("{n} unit.", "{n} units.", len(units)).format(n=len(units)), file=sys.stderr)
    return 0


async def _find_unit(session: AsyncSession, t: Translator, typed: str) -> Unit | str:
    """The unit with this code, or the one unit whose name holds these words; else why not."""
    unit = await unit_with_code(session, typed)
    if unit is not None:
        return unit
    found = await search_units(session, typed, limit=6)
    exact = [u for u in found if fold(u.name) == fold(typed)]
    if len(found) == 1 or len(exact) == 1:
        return (exact or found)[0]
    if not found:
        return t.gettext("no unit has the code or name {typed}").format(typed=repr(typed))
    names = ", ".join(f"{u.name} ({u.code})" for u in found[:5])
    return t.gettext("{typed} could be several units: {names}; give the code").format(
        typed=repr(typed), names=names
    )


async def _roles(app: App, args: argparse.Namespace) -> int:
    if args.action == "list":
        return await _roles_list(app, args)
    t = args.t
    if args.role == Role.SECRETARY and args.action == "grant" and not args.unit:
        return fail(t.gettext("roles: --unit is required for a secretary"))
    async with app.db.write() as session:
        unit = None
        if args.unit:
            found = await _find_unit(session, t, args.unit)
            if isinstance(found, str):
                return fail(t.gettext("roles: {reason}").format(reason=found))
            unit = found
        user_id = str(args.user_id)
        identity = await identity_for(session, args.channel, user_id)
        written = identity.chat_id is not None  # set by the first message the person sends
        title = role_title(
            t.gettext, args.role, unit.name if unit else None, unit.kind if unit else None
        )
        if args.action == "grant":
            changed = await grant_role(session, identity, args.role, unit, granted_by=CLI)
            message = N_("Granted: {role}.") if changed else N_("Already granted: {role}.")
            print(t.gettext(message).format(role=title))
        else:
            count = await revoke_role(session, identity, args.role, unit, revoked_by=CLI)
            print(t.ngettext("Revoked {n} grant.", "Revoked {n} grants.", count).format(n=count))
    if args.action == "grant" and not written:
        print(
            t.gettext(
                "Note: nobody with {channel} id {id} has written to the bot yet. The role "
                "waits for them; check the id if they do not get it."
            ).format(channel=args.channel, id=user_id),
            file=sys.stderr,
        )
    return 0


async def _roles_list(app: App, args: argparse.Namespace) -> int:
    """Who holds which role: one grant a line, a header first."""
    t = args.t
    async with app.db.read() as session:
        scope = None
        if args.unit:
            try:
                scope = await unit_subtree(session, args.unit)
            except UnknownUnit:
                return fail(
                    t.gettext("roles list: unknown unit code {code}").format(code=repr(args.unit))
                )
        grants = await list_roles(session, scope)
    headers = (
        N_("Role"),
        N_("Unit code"),
        NC_("role", "Title"),
        N_("Channel"),
        N_("User id"),
        N_("Person"),
        N_("Granted on"),
    )
    print("\t".join(t.gettext(header) for header in headers))
    for grant in grants:
        person = grant.full_name or (
            t.gettext("(not registered)")
            if grant.has_written
            else t.gettext("(has not written to the bot)")
        )
        print(
            "\t".join(
                (
                    grant.role,
                    grant.unit_code or "",
                    role_title(t.gettext, grant.role, grant.unit_name, grant.unit_kind),
                    grant.channel,
                    grant.user_id,
                    person,
                    t.date(grant.granted_at.astimezone(app.config.tz).date()),
                )
            )
        )
    return 0


def _translator(app: App, args: argparse.Namespace) -> Translator:
    """What commands print speaks the operator's language: --language, else the bot's."""
    return app.catalogs.translator(
        getattr(args, "language", None) or app.config.default_locale, app.config.tz
    )


async def _zalo_oa_token(app: App, args: argparse.Namespace) -> int:
    """Stores the refresh token an operator got from the Zalo app (the first, or a new one
    after it was lost), then spends it at once for a fresh pair, which proves it works."""
    t = args.t
    channel = app.channels.get(ZALO_OA)
    if channel is None or not isinstance(channel.adapter, ZaloOAAdapter):
        return fail(
            t.gettext(
                "zalo-oa: set ZALO_OA_APP_ID, ZALO_OA_SECRET_KEY, ZALO_OA_ID and "
                "zalo_oa.webhook_url first (see README)"
            )
        )
    from_stdin = args.refresh_token == "-"  # noqa: S105 - kept out of the shell history
    token = (sys.stdin.readline() if from_stdin else args.refresh_token).strip()
    if not token:
        return fail(t.gettext("zalo-oa: the refresh token is empty"))
    async with app.db.write() as session:
        await seed_tokens(session, ZALO_OA, token)
        await audit(session, CLI, "channel.token_seeded", channel=ZALO_OA)
    adapter = channel.adapter
    try:
        await adapter.tokens.refresh(stale="")
    except TokenRefused as error:
        print(
            t.gettext("zalo-oa: {error}; get a new one in the Zalo app (README)").format(
                error=error
            ),
            file=sys.stderr,
        )
        return 1
    except Unavailable as error:
        print(
            t.gettext(
                "zalo-oa: the token is stored, but Zalo could not be reached to check it "
                "({error}); the bot spends it when it starts"
            ).format(error=error),
            file=sys.stderr,
        )
        return 1
    finally:
        await adapter.close()
    print(t.gettext("zalo-oa: tokens stored and working; the bot refreshes them from now on"))
    return 0


async def _backup(app: App, args: argparse.Namespace) -> int:
    """SQLite online backup (consistent while the bot writes), checked, readable by its owner
    only; with --with-files, one archive with the evidence files too."""
    t = args.t
    if not app.db.is_sqlite:
        return fail(t.gettext("backup: only for SQLite; use pg_dump for PostgreSQL"))
    source = Path(app.db.url.database or "")
    target: Path = args.path
    store = EvidenceStore(app.config.data_dir / "files") if args.with_files else None
    try:
        files = await asyncio.to_thread(write_backup, source, target, store)
    except FileExistsError:
        return fail(t.gettext("backup: {file} exists; choose a new file").format(file=target))
    except BadBackup as error:
        print(t.gettext("backup: {reason}").format(reason=error), file=sys.stderr)
        return 1
    if store is None:
        print(t.gettext("Backup written to {file} (integrity check ok).").format(file=target))
    else:
        print(
            t.ngettext(
                "Backup written to {file} (integrity check ok), with {n} evidence file.",
                "Backup written to {file} (integrity check ok), with {n} evidence files.",
                files,
            ).format(file=target, n=files)
        )
    return 0


async def _restore(config: Config, args: argparse.Namespace) -> int:
    """Puts a backup where the configured database would be, then opens it as `run` would
    (bringing its schema up to date) and says what it holds."""
    app = build_app(config)
    t = _translator(app, args)
    try:
        if not app.db.is_sqlite or app.db.url.database in (None, "", ":memory:"):
            return fail(t.gettext("restore: only for SQLite; use pg_restore for PostgreSQL"))
        database = Path(app.db.url.database or "")
        folder = config.data_dir / "files"
        store = EvidenceStore(folder)
        try:
            restored = await asyncio.to_thread(restore_backup, args.path, database, store)
        except DatabaseInPlace as error:
            return fail(
                t.gettext(
                    "restore: {file} exists. Stop the bot and move the database and its -wal "
                    "and -shm files aside (keep them until the restored one is checked), then "
                    "restore again."
                ).format(file=error)
            )
        except (BadBackup, OSError) as error:
            message = t.gettext("restore: {file}: {reason}")
            return fail(message.format(file=args.path, reason=error))
        await app.prepare()
        async with app.db.read() as session:
            members = await session.scalar(select(func.count()).select_from(Member))
            entries = await session.scalar(select(func.count()).select_from(Entry))
            paths = set((await session.scalars(select(EntryFile.path))).all())
        missing = [path for path in paths if not store.exists(path)]
    finally:
        await app.close()
    print(
        t.gettext(
            "Restored {database}. Members: {members}; entries: {entries}; evidence files put "
            "back: {put}, already there: {there}."
        ).format(
            database=database,
            members=members,
            entries=entries,
            put=restored.files,
            there=restored.already_there,
        )
    )
    if missing:
        print(
            t.ngettext(
                "restore: {n} evidence file named by entries is not in {folder}",
                "restore: {n} evidence files named by entries are not in {folder}",
                len(missing),
            ).format(n=len(missing), folder=folder),
            file=sys.stderr,
        )
        return 1
    return 0


async def _export(app: App, args: argparse.Namespace) -> int:
    """Writes every matching entry (no scope limit: operators run this) and audits it. Like
    backup, it never replaces a file unless told to (--force)."""
    t = args.t
    if args.date_from and args.date_to and args.date_from > args.date_to:
        return fail(t.gettext("export: --from is after --to"))
    out: Path = args.out
    if not args.force and await asyncio.to_thread(out.exists):
        return fail(
            t.gettext("export: {file} exists; choose a new file, or add --force").format(file=out)
        )
    config = app.config
    export_format = ExportFormat(args.format)
    async with app.db.read() as session:
        try:
            units = await unit_subtree(session, args.unit) if args.unit else None
        except UnknownUnit:
            return fail(t.gettext("export: unknown unit code {code}").format(code=repr(args.unit)))
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
            csv_style=CsvStyle(args.csv_style) if args.csv_style else None,
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
    print(
        t.ngettext(
            "Exported {n} entry to {file}.", "Exported {n} entries to {file}.", result.rows
        ).format(n=result.rows, file=out)
    )
    return 0


async def _audit_export(app: App, args: argparse.Namespace) -> int:
    """Every audit row (from a day on), oldest first, as CSV with a BOM for Excel."""
    t = args.t
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
        message = t.gettext("audit export: cannot write {file}: {reason}")
        return fail(message.format(file=args.out, reason=error.strerror))
    async with app.db.write() as session:
        await audit(session, CLI, "audit.exported", rows=len(records))
    print(
        t.ngettext(
            "Exported {n} audit row to {file}.", "Exported {n} audit rows to {file}.", len(records)
        ).format(n=len(records), file=args.out)
    )
    return 0
