"""Operator commands that write or check documents: certificates (issue, verify, revoke) and
the period report. They share their use cases with the chat."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.admin_cli import _day
from bot.app import App
from bot.certificates import (
    CertificatesOff,
    certificate_file,
    check_code,
    issue_volunteer_certificate,
    revoke,
    title_of,
    verdict_line,
)
from bot.exports import UnknownUnit, unit_subtree
from bot.i18n import SUPPORTED
from bot.period_reports import Period, write_period_report
from domain.text import clean
from domain.vocabulary import CLI
from models.tables import Member, Unit

__all__ = ["COMMANDS", "add_parsers"]

Command = Callable[[App, argparse.Namespace], Awaitable[int]]
NO_KEY = "certificates: CERTIFICATE_SECRET is not set, so no certificate can be issued"


def add_parsers(commands: Any) -> None:
    """Adds the subcommands (their handlers are in COMMANDS) to the parser."""
    certificates = commands.add_parser(
        "certificates", help="issue, verify or revoke certificates anyone can check"
    )
    actions = certificates.add_subparsers(dest="action", required=True)
    issue = actions.add_parser("issue", help="a member's approved volunteer hours in a period")
    issue.add_argument("--member-id", type=int, required=True)
    issue.add_argument("--hours-from", type=_day, required=True, help="first day, YYYY-MM-DD")
    issue.add_argument("--hours-to", type=_day, required=True, help="last day, YYYY-MM-DD")
    issue.add_argument("--out", type=Path, required=True, help="the PDF file to write")
    issue.add_argument("--language", choices=SUPPORTED)
    verify = actions.add_parser("verify", help="check a code: exit 0 when valid, 1 when not")
    verify.add_argument("code")
    verify.add_argument("--language", choices=SUPPORTED)
    withdraw = actions.add_parser("revoke", help="revoke a certificate (audited)")
    withdraw.add_argument("code")
    withdraw.add_argument("--reason", required=True, type=clean)

    reports = commands.add_parser("reports", help="the movement's period reports")
    kinds = reports.add_subparsers(dest="action", required=True)
    period = kinds.add_parser(
        "period", help="Báo cáo sơ kết/tổng kết of a unit (or the province) as DOCX"
    )
    period.add_argument("--unit", help="unit code: this unit and every unit below it")
    period.add_argument("--from", dest="date_from", type=_day, required=True, help="YYYY-MM-DD")
    period.add_argument("--to", dest="date_to", type=_day, required=True, help="YYYY-MM-DD")
    period.add_argument("--out", type=Path, required=True, help="the DOCX file to write")
    period.add_argument("--language", choices=SUPPORTED)


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _fail(message: str, code: int = 2) -> int:
    print(message, file=sys.stderr)
    return code


async def _certificates(app: App, args: argparse.Namespace) -> int:
    config = app.config
    if args.action == "verify":
        t = app.catalogs.translator(args.language or config.default_locale, config.tz)
        async with app.db.read() as session:
            verdict = await check_code(session, config, args.code)
        print(verdict_line(t, verdict))
        return 0 if verdict.valid else 1
    if not config.verify.enabled:
        return _fail(NO_KEY)
    if args.action == "revoke":
        return await _revoke(app, args)
    return await _issue(app, args)


async def _issue(app: App, args: argparse.Namespace) -> int:
    config = app.config
    if args.hours_from > args.hours_to:
        return _fail("certificates issue: --hours-from is after --hours-to")
    t = app.catalogs.translator(args.language or config.default_locale, config.tz)
    today = dt.datetime.now(config.tz).date()
    async with app.db.write() as session:
        if await session.get(Member, args.member_id) is None:
            return _fail(f"certificates issue: no member {args.member_id}")
        try:
            issued = await issue_volunteer_certificate(
                session,
                config,
                args.member_id,
                args.hours_from,
                args.hours_to,
                today=today,
                actor=CLI,
            )
        except CertificatesOff:
            return _fail(NO_KEY)
    if issued is None:
        return _fail(
            f"certificates issue: member {args.member_id} has no approved volunteer hours "
            f"from {args.hours_from} to {min(args.hours_to, today)}; nothing was issued",
            1,
        )
    certificate, new = issued
    out: Path = args.out
    await asyncio.to_thread(_write, out, certificate_file(t, config, certificate))
    again = "" if new else " (the same hours were certified before: same certificate)"
    print(f"{title_of(t, certificate)}: code {certificate.code}{again}; written to {out}")
    return 0


async def _revoke(app: App, args: argparse.Namespace) -> int:
    config = app.config
    t = app.catalogs.translator(config.default_locale, config.tz)
    async with app.db.write() as session:
        verdict = await check_code(session, config, args.code)
        if not verdict.valid or verdict.certificate is None:
            return _fail("certificates revoke: " + verdict_line(t, verdict), 1)
        revoked = await revoke(
            session, config, verdict.certificate.id, reason=args.reason, actor=CLI
        )
    if revoked is None:
        return _fail("certificates revoke: it was revoked meanwhile", 1)
    print(f"revoked {revoked.code}")
    return 0


async def _reports(app: App, args: argparse.Namespace) -> int:
    config = app.config
    if args.date_from > args.date_to:
        return _fail("reports period: --from is after --to")
    t = app.catalogs.translator(args.language or config.default_locale, config.tz)
    period = Period.of_days(args.date_from, args.date_to)
    today = dt.datetime.now(config.tz).date()
    async with app.db.read() as session:
        unit, scope = None, None
        if args.unit:
            try:
                scope = set(await unit_subtree(session, args.unit))
            except UnknownUnit:
                return _fail(f"reports period: unknown unit code {args.unit!r}")
            unit = (await session.scalars(select(Unit).where(Unit.code == args.unit))).one()
        content = await write_period_report(
            session, t, unit=unit, scope=scope, period=period, today=today, ladder=config.ladder
        )
    out: Path = args.out
    await asyncio.to_thread(_write, out, content)
    print(f"period report ({period.first} to {period.last}, by month) written to {out}")
    return 0


COMMANDS: dict[str, Command] = {"certificates": _certificates, "reports": _reports}
