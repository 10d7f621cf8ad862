"""Certificates: a member asks for the certificate of their approved volunteer hours
(/certificate) and gets a PDF with a QR code; anyone checks a code (/verify CODE), registered
or not; an admin who checks a valid certificate may revoke it, with a reason that everyone
checking it will read."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from typing import Any

from bot.certificates import (
    CertificatesOff,
    Issued,
    Standing,
    Verdict,
    certificate_file,
    certified,
    check_code,
    issue_volunteer_certificate,
    revoke,
    title_of,
    verdict_line,
)
from bot.context import Context
from bot.dialogue import Field, FieldKind, Form, Option, start_form
from bot.documents import PDF_MIME
from bot.events import Document, Reply
from bot.i18n import N_
from bot.router import Router, menu_reply
from bot.text import escape
from models.tables import Certificate

__all__ = ["register"]

THIS_YEAR, LAST_YEAR, EVERYTHING = "year", "last_year", "all"
MOVEMENT_STARTS = dt.date(2021, 1, 1)  # the programme 2021–2030
REVOKE = "revoke"


def _off(ctx: Context) -> list[Reply]:
    return [Reply(ctx._("Certificates are not available on this bot yet."))]


async def ask_certificate(ctx: Context) -> list[Reply]:
    """Asks which period the certificate of volunteer hours is for."""
    if not ctx.config.verify.enabled:
        return _off(ctx)
    return await start_form(ctx, "certificate")


async def period_options(ctx: Context, _answers: dict[str, Any]) -> tuple[Option, ...]:
    year = ctx.today().year
    return (
        Option(THIS_YEAR, ctx._("The year {year}, up to today").format(year=year)),
        Option(LAST_YEAR, ctx._("The year {year}").format(year=year - 1)),
        Option(EVERYTHING, ctx._("Since the movement began (2021)")),
    )


def _period(today: dt.date, choice: str) -> tuple[dt.date, dt.date]:
    if choice == THIS_YEAR:
        return dt.date(today.year, 1, 1), today
    if choice == LAST_YEAR:
        return dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)
    return MOVEMENT_STARTS, today


async def give_certificate(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Issues the certificate of the member's approved hours (the same one again when the
    hours are the same), then sends it once it is drawn."""
    first, last = _period(ctx.today(), answers["period"])
    try:
        issued = await issue_volunteer_certificate(
            ctx.session,
            ctx.config,
            ctx.person.member_id or 0,
            first,
            last,
            today=ctx.today(),
            actor=ctx.person.actor,
        )
    except CertificatesOff:
        return _off(ctx)
    if issued is None:
        text = ctx._(
            "You have no approved volunteer hours from {first} to {last} yet. Hours count "
            "once your secretary approves the entry; those waiting for review do not."
        ).format(first=ctx.t.date(first), last=ctx.t.date(min(last, ctx.today())))
        return [menu_reply(ctx, text)]
    certificate, _ = issued
    ctx.later.append(functools.partial(_send, ctx, certificate))
    return [Reply(ctx._("⏳ Preparing your certificate…"))]


async def _send(ctx: Context, certificate: Issued) -> list[Reply]:
    """Draws the PDF after the request's transaction, in a worker thread."""
    content = await asyncio.to_thread(certificate_file, ctx.t, ctx.config, certificate)
    text = "\n".join(
        (
            f"🎖 <b>{escape(title_of(ctx.t, certificate))}</b>",
            ctx._("Verification code: {code}").format(code=certificate.code),
            ctx._(
                "Anyone can check it by scanning its QR code or by sending /verify {code} to "
                "this bot."
            ).format(code=certificate.code),
        )
    )
    name = f"giay-chung-nhan-{certificate.code}.pdf"
    return [Reply(text, document=Document(name, content, PDF_MIME))]


async def verify_command(ctx: Context) -> list[Reply]:
    """Checks the code typed after /verify, or asks for it."""
    if ctx.inbound.args.strip():
        return await _check(ctx, ctx.inbound.args)
    return await start_form(ctx, "verify")


async def verify_typed(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    return await _check(ctx, answers["code"])


def _answer(ctx: Context, verdict: Verdict) -> str:
    issued = verdict.certificate
    if verdict.standing is Standing.VALID and issued is not None:
        headline = "✅ <b>" + ctx._("This certificate is valid.") + "</b>"
    elif verdict.standing is Standing.REVOKED and issued is not None:
        headline = "⛔ <b>" + escape(verdict_line(ctx.t, verdict)) + "</b>"
    else:
        return "❌ " + escape(verdict_line(ctx.t, verdict))
    what = certified(ctx.t, issued)
    lines = [
        headline,
        "",
        f"<b>{escape(title_of(ctx.t, issued))}</b>",
        ctx._("Holder: {holder}").format(holder=escape(issued.holder)),
        ctx._("Unit: {unit}").format(unit=escape(issued.unit_name)),
        ctx._("Certifies that the holder {what}.").format(what=escape(what)),
        ctx._("Issued on {day}.").format(
            day=ctx.t.date(issued.issued_at.astimezone(ctx.config.tz).date())
        ),
        ctx._("Code: {code}").format(code=issued.code),
    ]
    return "\n".join(lines)


async def _check(ctx: Context, typed: str) -> list[Reply]:
    verdict = await check_code(ctx.session, ctx.config, typed)
    text = _answer(ctx, verdict)
    issued = verdict.certificate
    if verdict.valid and issued is not None and _may_revoke(ctx, issued.member_id):
        return [
            Reply(text),
            *await start_form(ctx, "revoke_certificate", {"id": issued.id, "code": issued.code}),
        ]
    return [Reply(text)]


def _may_revoke(ctx: Context, holder: int | None) -> bool:
    """Admins revoke certificates, but nobody decides on their own: another admin does."""
    return ctx.person.is_admin and (holder is None or holder != ctx.person.member_id)


async def revoke_options(ctx: Context, answers: dict[str, Any]) -> tuple[Option, ...]:
    return (
        Option(f"{REVOKE}:{answers['id']}", N_("🚫 Revoke this certificate")),
        Option("close", N_("Close")),
    )


async def stale_revoke(ctx: Context, value: str) -> str | None:
    """Why a revoke button of an earlier check does nothing now."""
    _, _, number = value.partition(":")
    certificate = await ctx.session.get(Certificate, int(number)) if number.isdigit() else None
    if certificate is None or certificate.revoked_at is None:
        return None
    return ctx._("This certificate was revoked already, on {day}.").format(
        day=ctx.t.date(certificate.revoked_at.astimezone(ctx.config.tz).date())
    )


def confirm_params(_ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    return {"code": answers.get("code", "")}


async def revoke_chosen(ctx: Context, answers: dict[str, Any]) -> list[Reply]:
    """Revokes the certificate that was checked, if it is still valid and the person still
    an admin; audited."""
    if not str(answers["action"]).startswith(REVOKE) or answers.get("confirm") != "yes":
        return [menu_reply(ctx, ctx._("Nothing was changed."))]
    certificate = await ctx.session.get(Certificate, int(answers["id"]))
    if certificate is None or not _may_revoke(ctx, certificate.member_id):
        return [
            Reply(
                ctx._(
                    "Only admins can revoke certificates, and never their own: another admin "
                    "decides."
                )
            )
        ]
    revoked = await revoke(
        ctx.session,
        ctx.config,
        int(answers["id"]),
        reason=answers["reason"],
        actor=ctx.person.actor,
    )
    if revoked is None:
        why = await stale_revoke(ctx, f"{REVOKE}:{answers['id']}")
        return [menu_reply(ctx, "⚠️ " + (why or ctx._("Nothing was changed.")))]
    text = ctx._(
        "⛔ The certificate {code} is revoked. Anyone who checks it now reads that it was "
        "revoked, and why."
    ).format(code=revoked.code)
    return [menu_reply(ctx, text)]


def _revoking(answers: dict[str, Any]) -> bool:
    return str(answers.get("action", "")).startswith(REVOKE)


CERTIFICATE = Form(
    name="certificate",
    interruptible=True,
    title=N_("Certificate"),
    steps=False,
    complete=give_certificate,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "period",
            FieldKind.CHOICE,
            N_("A certificate of your approved volunteer hours: for which period?"),
            hint=N_(
                "It counts your own volunteer work and the branch activities you joined, "
                "once approved."
            ),
            options_for=period_options,
        ),
    ),
)

VERIFY = Form(
    name="verify",
    interruptible=True,
    title=N_("Check a certificate"),
    steps=False,
    complete=verify_typed,
    cancelled=N_("Closed."),
    fields=(
        Field(
            "code",
            FieldKind.TEXT,
            N_("Please type the certificate's code."),
            hint=N_("16 letters and digits, printed under its QR code, e.g. ABCD-EFGH-JKMN-PQRS."),
            max_length=200,
        ),
    ),
)

REVOKE_CERTIFICATE = Form(
    name="revoke_certificate",
    interruptible=True,
    title=N_("Revoke a certificate"),
    steps=False,
    complete=revoke_chosen,
    cancelled=N_("Nothing was changed."),
    fields=(
        Field(
            "action",
            FieldKind.CHOICE,
            N_("As an admin, you may revoke this certificate."),
            options_for=revoke_options,
            stale=stale_revoke,
        ),
        Field(
            "reason",
            FieldKind.TEXT,
            N_("Why is it revoked?"),
            hint=N_("Everyone who checks the code will read this reason (5 to 300 characters)."),
            min_length=5,
            max_length=300,
            ask_if=_revoking,
        ),
        Field(
            "confirm",
            FieldKind.CHOICE,
            N_("Revoke the certificate {code}? This cannot be undone."),
            params=confirm_params,
            options=(Option("yes", N_("🚫 Yes, revoke it")), Option("no", N_("No, keep it"))),
            ask_if=_revoking,
        ),
    ),
)


def register(router: Router) -> None:
    router.form(CERTIFICATE)
    router.form(VERIFY)
    router.form(REVOKE_CERTIFICATE)
    router.command(
        "certificate",
        ask_certificate,
        N_("a certificate of your approved volunteer hours (PDF)"),
        members_only=True,
    )
    router.command("verify", verify_command, N_("check a certificate's code"))
    router.menu_item(
        "certificate",
        N_("🎖 My certificate"),
        ask_certificate,
        visible=lambda ctx: ctx.person.registered,
    )
