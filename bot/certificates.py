"""Certificates anyone can check: issuing one (a member's approved volunteer hours in a
period, or an award decision), the code printed on it and held by its QR code, checking a
code, and revoking one. The chat, the command line and the public verify page share these.

A code is 16 characters of Crockford's base32 (no I, L, O or U; typed in any case, with or
without dashes): 8 for a random serial that finds the certificate in the register (not its
id, and not guessable) and 8 for a signature, the first 40 bits of an HMAC-SHA256 keyed with
$CERTIFICATE_SECRET over the serial and what the certificate certifies. A code with any
character changed names no certificate or does not match it; a register row changed behind
the bot's back no longer matches its code; without the key nobody makes a code that verifies.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.documents import CertificateSheet, certificate_pdf, dated
from bot.i18n import N_, Translator
from domain.vocabulary import ERASED
from models.certificates import (
    AWARD,
    VOLUNTEER_HOURS,
    add_certificate,
    approved_volunteer_hours,
    certificate_by_serial,
    revoke_certificate,
    same_certificate,
)
from models.tables import Certificate, Member, Unit, utcnow
from models.units import DEFAULT_CAMPAIGN_TITLE, place_name

__all__ = [
    "AwardDecision",
    "CertificatesOff",
    "Issued",
    "Standing",
    "Verdict",
    "certificate_file",
    "certified",
    "check_code",
    "issue_award_certificate",
    "issue_volunteer_certificate",
    "parse_code",
    "revoke",
    "title_of",
    "verdict_line",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
_SIMILAR = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
PART = 8  # characters of the serial, and of the signature: 40 bits each
SIGNED = 1  # the version of what the signature covers


class CertificatesOff(Exception):
    """No $CERTIFICATE_SECRET: certificates can be neither issued nor checked."""


def _encode(data: bytes) -> str:
    number, length = int.from_bytes(data, "big"), len(data) * 8 // 5
    return "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(length)))


def parse_code(typed: str) -> str | None:
    """The 16 characters of a code as typed, pasted or read from the QR code (the verify
    address with the code at its end); None when it cannot be one."""
    text = typed.strip().rstrip("/").rsplit("/", 1)[-1]
    code = "".join(text.split()).replace("-", "").upper().translate(_SIMILAR)
    if len(code) != 2 * PART or any(c not in ALPHABET for c in code):
        return None
    return code


def _grouped(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _signature(secret: str, certificate: Certificate) -> str:
    signed = json.dumps(
        [
            SIGNED,
            certificate.serial,
            certificate.kind,
            certificate.holder,
            certificate.unit_name,
            certificate.details,
            certificate.issued_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return _encode(digest[:5])


@dataclass(frozen=True)
class Issued:
    """A certificate as the register holds it, with its code."""

    id: int
    code: str  # "ABCD-EFGH-JKMN-PQRS"
    kind: str
    member_id: int | None  # the holder, when a member
    holder: str
    unit_name: str
    details: dict[str, Any]
    issued_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    place: str  # where it is dated: "Lạng Sơn"


async def _issued(session: AsyncSession, secret: str, row: Certificate) -> Issued:
    return Issued(
        id=row.id,
        code=_grouped(row.serial + _signature(secret, row)),
        kind=row.kind,
        member_id=row.member_id,
        holder=row.holder,
        unit_name=row.unit_name,
        details=dict(row.details),
        issued_at=row.issued_at,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
        place=await place_name(session),
    )


def _secret(config: Config) -> str:
    if config.verify.secret is None:
        raise CertificatesOff
    return config.verify.secret


async def _new_serial(session: AsyncSession) -> str:
    while True:  # 40 random bits: a repeat is rare, and looked for
        serial = _encode(secrets.token_bytes(5))
        if await certificate_by_serial(session, serial) is None:
            return serial


async def _issue(
    session: AsyncSession,
    config: Config,
    *,
    kind: str,
    member_id: int | None,
    holder: str,
    unit_name: str,
    details: dict[str, Any],
    actor: str,
) -> tuple[Issued, bool]:
    """A certificate of exactly this for the member, the one already valid if there is one;
    True when it is new."""
    secret = _secret(config)
    found = await same_certificate(session, kind, holder, member_id, details)
    if found is not None:
        return await _issued(session, secret, found), False
    row = await add_certificate(
        session,
        serial=await _new_serial(session),
        kind=kind,
        member_id=member_id,
        holder=holder,
        unit_name=unit_name,
        details=details,
        issued_at=utcnow().replace(microsecond=0),  # what the signature covers, to the second
        actor=actor,
    )
    return await _issued(session, secret, row), True


async def issue_volunteer_certificate(
    session: AsyncSession,
    config: Config,
    member_id: int,
    first: dt.date,
    last: dt.date,
    *,
    today: dt.date,
    actor: str,
) -> tuple[Issued, bool] | None:
    """Certifies the member's approved volunteer hours that happened between the days (up to
    today): their own and those of the branch activities they joined. None when there are
    none; the certificate already issued for the same hours when there is one (and False)."""
    _secret(config)
    last = min(last, today)
    own, joined = await approved_volunteer_hours(session, member_id, first, last)
    hours = round(own + joined, 1)
    if hours <= 0:
        return None
    member = await session.get_one(Member, member_id)
    unit = await session.get_one(Unit, member.unit_id)
    details: dict[str, Any] = {"hours": hours, "from": first.isoformat(), "to": last.isoformat()}
    if first == dt.date(first.year, 1, 1) and last.year == first.year:
        details["year"] = first.year
    return await _issue(
        session,
        config,
        kind=VOLUNTEER_HOURS,
        member_id=member_id,
        holder=member.full_name,
        unit_name=unit.name,
        details=details,
        actor=actor,
    )


@dataclass(frozen=True)
class AwardDecision:
    """An award as decided: what the nominations' last level records."""

    holder: str  # the person's or the collective's name
    unit_name: str  # the person's unit, or the unit a collective belongs to
    award: str  # "Bằng khen của Chủ tịch Ủy ban nhân dân tỉnh"
    decision: str  # its number: "123/QĐ-UBND"
    decided_on: dt.date
    signer: str  # "Chủ tịch UBND tỉnh Lạng Sơn"
    member_id: int | None = None  # when a member is awarded
    achievement: str = ""  # "for outstanding achievements in …", when given


async def issue_award_certificate(
    session: AsyncSession, config: Config, decision: AwardDecision, *, actor: str
) -> Issued:
    """The certificate of an award decision (the same one again for the same decision)."""
    details = {
        "award": decision.award,
        "decision": decision.decision,
        "decided_on": decision.decided_on.isoformat(),
        "signer": decision.signer,
    }
    if decision.achievement:
        details["for"] = decision.achievement
    issued, _ = await _issue(
        session,
        config,
        kind=AWARD,
        member_id=decision.member_id,
        holder=decision.holder,
        unit_name=decision.unit_name,
        details=details,
        actor=actor,
    )
    return issued


class Standing(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"  # its holder erased their data
    UNKNOWN = "unknown"  # no certificate has this serial (mistyped, or changed)
    ALTERED = "altered"  # the signature does not match what the register holds
    MALFORMED = "malformed"
    UNAVAILABLE = "unavailable"  # no key: nothing can be checked


@dataclass(frozen=True)
class Verdict:
    standing: Standing
    certificate: Issued | None = None  # when valid or revoked

    @property
    def valid(self) -> bool:
        return self.standing is Standing.VALID


async def check_code(session: AsyncSession, config: Config, typed: str) -> Verdict:
    """What a code says: valid (with the certificate), revoked, or why it is refused."""
    if config.verify.secret is None:
        return Verdict(Standing.UNAVAILABLE)
    code = parse_code(typed)
    if code is None:
        return Verdict(Standing.MALFORMED)
    row = await certificate_by_serial(session, code[:PART])
    if row is None:
        return Verdict(Standing.UNKNOWN)
    if row.revoked_by == ERASED and not row.holder:
        return Verdict(Standing.WITHDRAWN)
    expected = _signature(config.verify.secret, row)
    if not hmac.compare_digest(code[PART:], expected):
        return Verdict(Standing.ALTERED)
    issued = await _issued(session, config.verify.secret, row)
    return Verdict(Standing.REVOKED if row.revoked_at else Standing.VALID, issued)


async def revoke(
    session: AsyncSession, config: Config, certificate_id: int, *, reason: str, actor: str
) -> Issued | None:
    """Revokes the certificate (audited); None when it was revoked already."""
    row = await revoke_certificate(session, certificate_id, reason=reason, actor=actor)
    return None if row is None else await _issued(session, _secret(config), row)


def _hours_in(t: Translator, details: dict[str, Any]) -> dict[str, str]:
    return {
        "hours": t.number(details["hours"]),
        "year": str(details.get("year", "")),
        "first": t.date(dt.date.fromisoformat(details["from"])),
        "last": t.date(dt.date.fromisoformat(details["to"])),
    }


def title_of(t: Translator, issued: Issued) -> str:
    """What the certificate is, as its holder names it: "Giấy chứng nhận 40 giờ tình
    nguyện năm 2026"."""
    details = issued.details
    if issued.kind == AWARD:
        return t.gettext("Certificate of an award: {award}").format(award=details["award"])
    if "year" in details:
        return t.gettext("Certificate of {hours} volunteer hours in {year}").format(
            **_hours_in(t, details)
        )
    return t.gettext("Certificate of {hours} volunteer hours from {first} to {last}").format(
        **_hours_in(t, details)
    )


def certified(t: Translator, issued: Issued) -> str:
    """What the certificate says its holder did, as a sentence's end."""
    details = issued.details
    if issued.kind == AWARD:
        text = t.gettext("was awarded the {award} by Decision No. {decision} of {day}").format(
            award=details["award"],
            decision=details["decision"],
            day=t.date(dt.date.fromisoformat(details["decided_on"])),
        )
        if details.get("for"):
            text += " " + t.gettext("for {achievement}").format(achievement=details["for"])
        return text
    values = _hours_in(t, details)
    last = dt.date.fromisoformat(details["to"])
    if "year" in details:
        text = t.gettext(
            "took part in {hours} hours of volunteer work for the community in {year}"
        )
        if last < dt.date(last.year, 12, 31):
            text += " " + t.gettext("(counted up to {last})")
        return text.format(**values)
    return t.gettext(
        "took part in {hours} hours of volunteer work for the community from {first} to {last}"
    ).format(**values)


def verdict_line(t: Translator, verdict: Verdict) -> str:
    """What a code says, in one sentence."""
    issued = verdict.certificate
    if verdict.standing is Standing.VALID and issued is not None:
        return t.gettext("Valid: {holder} ({unit}) {certified}; issued on {day}.").format(
            holder=issued.holder,
            unit=issued.unit_name,
            certified=certified(t, issued),
            day=t.date(issued.issued_at.astimezone(t.timezone).date()),
        )
    if verdict.standing is Standing.REVOKED and issued is not None and issued.revoked_at:
        return t.gettext(
            "Revoked on {day}: this certificate of {holder} ({unit}) no longer counts. "
            "Reason: {reason}"
        ).format(
            day=t.date(issued.revoked_at.astimezone(t.timezone).date()),
            holder=issued.holder,
            unit=issued.unit_name,
            reason=issued.revoke_reason or "—",
        )
    return t.gettext(_REFUSALS[verdict.standing])


_REFUSALS = {
    Standing.WITHDRAWN: N_("No longer valid: withdrawn when its holder erased their data."),
    Standing.UNKNOWN: N_(
        "Not found: no certificate has this code. Check it character by character; a code "
        "with any character changed is refused."
    ),
    Standing.ALTERED: N_(
        "Refused: this code does not match the certificate issued under it. The code or the "
        "certificate was altered."
    ),
    Standing.MALFORMED: N_(
        "This is not a certificate code: a code has 16 letters and digits, such as "
        "ABCD-EFGH-JKMN-PQRS."
    ),
    Standing.UNAVAILABLE: N_(
        "Certificates cannot be checked here: this bot has no certificate key."
    ),
}


def certificate_file(t: Translator, config: Config, issued: Issued) -> bytes:
    """The certificate as a one-page PDF, its QR code holding the verify address and code."""
    link = config.verify.link(issued.code)
    heading: tuple[str, ...]
    if issued.kind == AWARD:
        heading = (
            t.gettext("SOCIALIST REPUBLIC OF VIETNAM"),
            t.gettext("Independence - Freedom - Happiness"),
        )
        subtitle = ""
        signed = t.gettext("Decision signed by {signer}").format(signer=issued.details["signer"])
    else:
        heading = (t.gettext("HO CHI MINH COMMUNIST YOUTH UNION"),)
        subtitle = DEFAULT_CAMPAIGN_TITLE
        signed = t.gettext("Issued from the approved entries of the emulation movement")
    check = (
        t.gettext("Check it at {link} or send /verify {code} to the bot.")
        if link
        else t.gettext(
            "Check it by sending /verify {code} to the bot, or by scanning the QR code."
        )
    )
    sheet = CertificateSheet(
        heading=heading,
        subtitle=subtitle,
        title=t.gettext("CERTIFICATE"),
        holder=issued.holder,
        lines=(
            t.gettext("Unit: {unit}").format(unit=issued.unit_name),
            _capital(certified(t, issued)) + ".",
        ),
        dated=dated(t, issued.place, issued.issued_at.astimezone(t.timezone).date()),
        issued_by=signed,
        code_line=t.gettext("Verification code: {code}").format(code=issued.code),
        check_line=check.format(link=link, code=issued.code),
        qr_payload=link or issued.code,
    )
    return certificate_pdf(sheet)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
