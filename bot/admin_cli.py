"""Operator commands for running the movement from a terminal: campaigns, news, reminders,
what is scheduled, statistics with charts, the award ladder and nominations. What they
queue, the running bot sends."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.announcements import (
    REMINDER_TEMPLATES,
    TimePassed,
    add_reminder,
    cancel_scheduled,
    close_campaign,
    post_news,
    save_campaign,
)
from bot.app import App
from bot.config import Config
from bot.exports import UnknownUnit, unit_subtree
from bot.i18n import N_, NC_, SUPPORTED, Translator
from bot.nomination_files import award_file, level_list
from bot.recognition import ladder_lines, nomination_card, nomination_line
from bot.statistics import charts, summary
from bot.text import strip_html
from domain.kinds import KINDS
from domain.text import clean
from domain.vocabulary import CAMPAIGN_STATES, CLI, campaign_state
from domain.vocabulary import Nomination as NominationState
from models.people import audit
from models.schedules import (
    MONTH,
    ONCE,
    WEEK,
    pending_schedules,
)
from models.tables import Broadcast, Campaign, Nomination, Unit

__all__ = ["COMMANDS", "add_parsers", "fail"]

Command = Callable[[App, argparse.Namespace], Awaitable[int]]
REMINDED = ("not_reported", "waiting_review", "all", "secretaries")
NEWS_TO = {"members": "all", "secretaries": "secretaries", "everyone": "everyone"}


def add_parsers(commands: Any) -> None:
    """Adds the subcommands (their handlers are in COMMANDS) to the parser."""
    campaigns = commands.add_parser("campaigns", help="list, add or close campaigns")
    actions = campaigns.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every campaign with its dates and what counts")
    add = actions.add_parser("add", help="a new campaign, with deadline reminders")
    # Text that is stored goes through the same cleaning as what people type in the chat.
    add.add_argument("--title", required=True, type=clean)
    add.add_argument("--description", default="", type=clean)
    add.add_argument("--from", dest="starts_on", required=True, type=_day, help="YYYY-MM-DD")
    add.add_argument("--to", dest="ends_on", required=True, type=_day, help="YYYY-MM-DD")
    add.add_argument("--kinds", help=f"comma-separated, of {', '.join(KINDS)} (default: all)")
    close = actions.add_parser("close", help="close a campaign (its reminders are cancelled)")
    close.add_argument("id", type=int)

    news = commands.add_parser("news", help="send campaign news now or at a local time")
    news.add_argument("--text", required=True, type=clean)
    news.add_argument("--to", choices=list(NEWS_TO), default="members")
    news.add_argument("--unit", help="unit code: this unit and every unit below it")
    news.add_argument("--at", type=_moment, help='local "YYYY-MM-DD HH:MM" (default: now)')

    reminders = commands.add_parser("reminders", help="add a recurring reminder")
    reminders.add_argument("--who", choices=REMINDED, required=True)
    when = reminders.add_mutually_exclusive_group(required=True)
    when.add_argument("--monthly", type=int, metavar="DAY", help="on this day of each month")
    when.add_argument("--weekly", type=int, metavar="WEEKDAY", help="1 (Monday) to 7 (Sunday)")
    when.add_argument("--once", type=_moment, help='local "YYYY-MM-DD HH:MM"')
    reminders.add_argument("--time", default="08:00", type=_time, help="HH:MM (default 08:00)")
    reminders.add_argument("--unit", help="unit code: this unit and every unit below it")
    reminders.add_argument(
        "--text", default="", type=clean, help="the message (a note for built-in ones)"
    )

    schedules = commands.add_parser("schedules", help="what is scheduled: list or cancel")
    schedule_actions = schedules.add_subparsers(dest="action", required=True)
    schedule_actions.add_parser("list", help="news and reminders still to be sent")
    cancel = schedule_actions.add_parser("cancel", help="cancel one")
    cancel.add_argument("id", type=int)

    _recognition_parsers(commands)

    stats = commands.add_parser("stats", help="print statistics; write the charts as PNG")
    stats.add_argument("--unit", help="unit code: this unit and every unit below it")
    stats.add_argument("--charts", type=Path, help="a folder to write the charts into")
    stats.add_argument("--language", choices=SUPPORTED)


def _recognition_parsers(commands: Any) -> None:
    """The award ladder and nominations."""
    awards = commands.add_parser("awards", help="the award ladder (data/awards.toml)")
    awards_actions = awards.add_subparsers(dest="action", required=True)
    awards_list = awards_actions.add_parser(
        "list", help="award forms, who proposes them, their levels, criteria and scoring"
    )
    awards_list.add_argument("--language", choices=SUPPORTED)

    nominations = commands.add_parser("nominations", help="nominations for awards")
    nomination_actions = nominations.add_subparsers(dest="action", required=True)
    listed = nomination_actions.add_parser("list", help="the latest nominations, newest first")
    listed.add_argument("--status", choices=list(NominationState))
    listed.add_argument("--level", help="a level code of the ladder, e.g. so-noi-vu")
    listed.add_argument("--unit", help="unit code: nominations proposed by it or below it")
    listed.add_argument("--limit", type=int, default=50)
    listed.add_argument("--language", choices=SUPPORTED)
    show = nomination_actions.add_parser("show", help="one nomination with its history")
    show.add_argument("id", type=int)
    show.add_argument("--language", choices=SUPPORTED)
    export = nomination_actions.add_parser(
        "export", help='"Danh sách đề nghị khen thưởng" of the nominations waiting at a level'
    )
    export.add_argument(
        "--level", required=True, help="a level code of the ladder, e.g. tinh-doan"
    )
    export.add_argument("--out", required=True, type=Path, help="the XLSX file to write")
    export.add_argument("--language", choices=SUPPORTED)
    dossier = nomination_actions.add_parser(
        "dossier", help='"Báo cáo tóm tắt thành tích" of one nomination'
    )
    dossier.add_argument("id", type=int)
    dossier.add_argument("--out", required=True, type=Path, help="the DOCX file to write")
    dossier.add_argument("--language", choices=SUPPORTED)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _moment(text: str) -> str:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").isoformat(timespec="minutes")  # noqa: DTZ007 (local by design)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not "YYYY-MM-DD HH:MM": {text!r}') from None


def _time(text: str) -> str:
    try:
        return dt.time.fromisoformat(text).strftime("%H:%M")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {text!r}") from None


def fail(message: str) -> int:
    """A command refused: one line on stderr, exit code 2."""
    print(message, file=sys.stderr)
    return 2


async def _units(session: AsyncSession, code: str | None) -> set[int] | None:
    return set(await unit_subtree(session, code)) if code else None


async def _campaigns(app: App, args: argparse.Namespace) -> int:
    config, t = app.config, args.t
    if args.action == "list":
        today = dt.datetime.now(config.tz).date()
        headers = (
            N_("ID"),
            NC_("campaign", "Title"),
            NC_("dates", "From"),
            NC_("dates", "To"),
            N_("State"),
            N_("Counts"),
        )
        print("\t".join(t.gettext(header) for header in headers))
        async with app.db.read() as session:
            for c in (await session.scalars(select(Campaign).order_by(Campaign.id))).all():
                state = t.gettext(CAMPAIGN_STATES[campaign_state(c, today)])
                counts = ",".join(c.kinds) if c.kinds else t.gettext("every kind")
                print(f"{c.id}\t{c.title}\t{c.starts_on}\t{c.ends_on or ''}\t{state}\t{counts}")
        return 0
    if args.action == "close":
        async with app.db.write() as session:
            campaign = await session.get(Campaign, args.id)
            if campaign is None or campaign.is_default or campaign.closed_at:
                message = t.gettext("campaigns close: no open campaign {id} to close")
                return fail(message.format(id=args.id))
            await close_campaign(session, config, campaign, actor=CLI)
        message = t.gettext("Closed campaign {id}; its deadline reminders are cancelled.")
        print(message.format(id=args.id))
        return 0
    kinds: list[str] | None = sorted(set(args.kinds.split(","))) if args.kinds else None
    if kinds and not set(kinds) <= set(KINDS):
        message = t.gettext("campaigns add: --kinds must be of {kinds}")
        return fail(message.format(kinds=", ".join(KINDS)))
    if args.ends_on < args.starts_on:
        return fail(t.gettext("campaigns add: --to is before --from"))
    async with app.db.write() as session:
        campaign, reminders = await save_campaign(
            session,
            config,
            None,
            title=args.title,
            description=args.description,
            starts_on=args.starts_on,
            ends_on=args.ends_on,
            kinds=kinds,
            actor=CLI,
        )
    print(
        t.ngettext(
            "Added campaign {id} with {n} deadline reminder.",
            "Added campaign {id} with {n} deadline reminders.",
            len(reminders),
        ).format(id=campaign.id, n=len(reminders))
    )
    return 0


async def _news(app: App, args: argparse.Namespace) -> int:
    config, t = app.config, args.t
    async with app.db.write() as session:
        try:
            units = await _units(session, args.unit)
        except UnknownUnit:
            return fail(t.gettext("news: unknown unit code {code}").format(code=repr(args.unit)))
        try:
            posted = await post_news(
                session,
                config,
                text=args.text,
                who=NEWS_TO[args.to],
                units=units,
                at=args.at,
                actor=CLI,
            )
        except TimePassed:
            return fail(t.gettext("news: --at has already passed"))
    if isinstance(posted, Broadcast):
        if posted.total == 0:
            print(t.gettext("News: nobody matches this audience; nothing was sent."))
        else:
            print(
                t.ngettext(
                    "News {id} is queued for {n} person; the running bot sends it.",
                    "News {id} is queued for {n} people; the running bot sends it.",
                    posted.total,
                ).format(id=posted.id, n=posted.total)
            )
        return 0
    when = _local(posted.next_run_at, config)
    if posted.rule.get("held"):
        message = t.gettext("Quiet hours: news {id} is held until {when}, and sent then.")
    else:
        message = t.gettext("News {id} is scheduled for {when}.")
    print(message.format(id=posted.id, when=when))
    return 0


def _local(moment: dt.datetime | None, config: Config) -> str:
    return f"{moment.astimezone(config.tz):%Y-%m-%d %H:%M}" if moment else "—"


async def _reminders(app: App, args: argparse.Namespace) -> int:
    config, t = app.config, args.t
    if args.once:
        rule: dict[str, Any] = {"every": ONCE, "at": args.once}
    elif args.weekly is not None:
        if not 1 <= args.weekly <= 7:
            return fail(t.gettext("reminders: --weekly is 1 (Monday) to 7 (Sunday)"))
        rule = {"every": WEEK, "weekday": args.weekly - 1, "time": args.time}
    else:
        if not 1 <= args.monthly <= 31:
            return fail(t.gettext("reminders: --monthly is a day from 1 to 31"))
        rule = {"every": MONTH, "day": args.monthly, "time": args.time}
    if args.who not in REMINDER_TEMPLATES and len(args.text.strip()) < 5:
        return fail(t.gettext("reminders: --text is required for this audience"))
    async with app.db.write() as session:
        try:
            units = await _units(session, args.unit)
        except UnknownUnit:
            message = t.gettext("reminders: unknown unit code {code}")
            return fail(message.format(code=repr(args.unit)))
        try:
            schedule = await add_reminder(
                session, config, who=args.who, units=units, rule=rule, text=args.text, actor=CLI
            )
        except TimePassed:
            return fail(t.gettext("reminders: --once has already passed"))
    print(
        t.gettext("Reminder {id}: the next one goes out at {when}.").format(
            id=schedule.id, when=_local(schedule.next_run_at, config)
        )
    )
    return 0


async def _schedules(app: App, args: argparse.Namespace) -> int:
    t = args.t
    if args.action == "cancel":
        async with app.db.write() as session:
            if not await cancel_scheduled(session, args.id, actor=CLI):
                message = t.gettext("schedules cancel: nothing scheduled as {id}")
                return fail(message.format(id=args.id))
        print(t.gettext("Cancelled {id}: it will not be sent.").format(id=args.id))
        return 0
    headers = (N_("ID"), N_("Kind"), N_("Next"), N_("To"), N_("Message"))
    print("\t".join(t.gettext(header) for header in headers))
    async with app.db.read() as session:
        titles = dict((await session.execute(select(Campaign.id, Campaign.title))).all())
        for s in await pending_schedules(session, ("news", "reminder", "deadline")):
            text = s.text.replace("\n", " ")[:50]
            if s.kind == "deadline":  # its text is built in: what it is about is the campaign
                title = titles.get(s.campaign_id or 0, "?")
                text = t.gettext("deadline of {campaign}").format(campaign=title)
            elif s.rule.get("held"):
                text = t.gettext("(held for quiet hours) {text}").format(text=text)
            when = _local(s.next_run_at, app.config)
            print(f"{s.id}\t{s.kind}\t{when}\t{s.audience['who']}\t{text}")
    return 0


async def _stats(app: App, args: argparse.Namespace) -> int:
    config, t = app.config, args.t
    today = dt.datetime.now(config.tz).date()
    async with app.db.read() as session:
        try:
            scope = await _units(session, args.unit)
        except UnknownUnit:
            return fail(t.gettext("stats: unknown unit code {code}").format(code=repr(args.unit)))
        name = t.gettext("the whole province")
        if args.unit:
            name = (await session.scalars(select(Unit.name).where(Unit.code == args.unit))).one()
        print(strip_html(await summary(session, t, scope, name, today)))
        if args.charts is not None:
            args.charts.mkdir(parents=True, exist_ok=True)
            for chart in await charts(session, t, scope, name, today):
                (args.charts / chart.file_name).write_bytes(chart.png)
                print(t.gettext("Wrote {file}").format(file=args.charts / chart.file_name))
    return 0


async def _awards(app: App, args: argparse.Namespace) -> int:
    t = app.catalogs.translator(args.language or app.config.default_locale, app.config.tz)
    print(strip_html("\n".join(ladder_lines(t, app.config.ladder))))
    return 0


async def _nominations(app: App, args: argparse.Namespace) -> int:
    config = app.config
    t = app.catalogs.translator(args.language or config.default_locale, config.tz)
    if args.action in ("export", "dossier"):
        return await _nomination_document(app, args, t)
    async with app.db.read() as session:
        if args.action == "show":
            nomination = await session.get(Nomination, args.id)
            if nomination is None:
                return fail(f"nominations show: no nomination {args.id}")
            lines = await nomination_card(session, t, config.ladder, nomination)
            print(strip_html("\n".join(lines)))
            return 0
        if args.level is not None and args.level not in config.ladder.levels:
            return fail(
                f"nominations list: --level must be one of {', '.join(config.ladder.levels)}"
            )
        try:
            units = await _units(session, args.unit)
        except UnknownUnit:
            return fail(f"nominations list: unknown unit code {args.unit!r}")
        statement = select(Nomination).order_by(Nomination.id.desc()).limit(max(args.limit, 1))
        if args.status is not None:
            statement = statement.where(Nomination.status == args.status)
        if args.level is not None:
            statement = statement.where(Nomination.level == args.level)
        if units is not None:
            statement = statement.where(Nomination.unit_id.in_(units))
        found = (await session.scalars(statement)).all()
        for nomination in found:
            print(strip_html(await nomination_line(session, t, config.ladder, nomination)))
        if not found:
            print("no nominations match")
    return 0


def _write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


async def _nomination_document(app: App, args: argparse.Namespace, t: Translator) -> int:
    """A level's list of the nominations waiting there (XLSX), or one nomination's summary
    report of achievements (DOCX), written by bot.documents; audited, as they name people."""
    config = app.config
    today = dt.datetime.now(config.tz).date()
    async with app.db.read() as session:
        if args.action == "export":
            if args.level not in config.ladder.levels:
                return fail(
                    f"nominations export: --level must be one of {', '.join(config.ladder.levels)}"
                )
            content, rows = await level_list(session, t, config.ladder, args.level, today)
            details: dict[str, object] = {"level": args.level, "rows": rows}
            done = f"{rows} nomination(s) waiting at {args.level} written to {args.out}"
        else:
            nomination = await session.get(Nomination, args.id)
            if nomination is None:
                return fail(f"nominations dossier: no nomination {args.id}")
            content = await award_file(session, t, config.ladder, nomination, today)
            details = {"nomination_id": nomination.id}
            done = f"summary report of achievements of nomination {args.id} written to {args.out}"
    out: Path = args.out
    try:
        await asyncio.to_thread(_write_file, out, content)
    except OSError as error:
        return fail(f"nominations {args.action}: cannot write {out}: {error.strerror}")
    action = "nomination.list_exported" if args.action == "export" else "nomination.dossier"
    async with app.db.write() as session:
        await audit(session, CLI, action, **details)
    print(done)
    return 0


COMMANDS: dict[str, Command] = {
    "awards": _awards,
    "nominations": _nominations,
    "campaigns": _campaigns,
    "news": _news,
    "reminders": _reminders,
    "schedules": _schedules,
    "stats": _stats,
}
