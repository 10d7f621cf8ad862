"""A member's data: everything we hold about them, and erasing it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.vocabulary import ERASED, Status, identity_actor, member_subject
from models.certificates import forget_holder
from models.people import audit
from models.stats import count_member, forget_reporter, tally
from models.tables import (
    AuditRecord,
    Broadcast,
    Certificate,
    Consent,
    ContactRequest,
    Dialogue,
    Entry,
    EntryFile,
    EntryParticipant,
    EntryRevision,
    Highlight,
    Identity,
    InboxUpdate,
    Invite,
    LinkCode,
    Member,
    Nomination,
    NominationEntry,
    NominationStep,
    OutboxMessage,
    ReporterMonth,
    ReviewDigest,
    RoleGrant,
    Schedule,
    Unit,
    UnitChange,
)

__all__ = ["ACTOR_COLUMNS", "Erasure", "erase_member", "member_data"]

# Columns that name who acted, as the audit log does ("identity:12"): an erased person's
# actions stay recorded there, as done by someone erased.
ACTOR_COLUMNS = (
    AuditRecord.actor,
    Entry.decided_by,
    RoleGrant.granted_by,
    Invite.created_by,
    UnitChange.decided_by,
    Certificate.issued_by,
    Certificate.revoked_by,
    Nomination.decided_by,
    NominationStep.acted_by,
    Highlight.marked_by,
)
# The details of an audit row that point at the person it concerns (see models.people.audit).
_POINTERS = ("member_id", "reporter_id", "identity_id")


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


async def member_data(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Every row about the member, as plain JSON-ready data."""
    member = await session.get_one(Member, member_id)
    unit = await session.get(Unit, member.unit_id)
    identities = (
        await session.scalars(select(Identity).where(Identity.member_id == member_id))
    ).all()
    identity_ids = [identity.id for identity in identities]
    consents = (await session.scalars(select(Consent).where(Consent.member_id == member_id))).all()
    roles = (
        await session.scalars(select(RoleGrant).where(RoleGrant.identity_id.in_(identity_ids)))
    ).all()
    entries = (
        await session.scalars(
            select(Entry).where(Entry.reporter_id == member_id).order_by(Entry.id)
        )
    ).all()
    entry_ids = [entry.id for entry in entries]
    files = (
        await session.scalars(
            select(EntryFile).where(EntryFile.entry_id.in_(entry_ids)).order_by(EntryFile.id)
        )
    ).all()
    revisions = (
        await session.scalars(
            select(EntryRevision)
            .where(EntryRevision.entry_id.in_(entry_ids))
            .order_by(EntryRevision.id)
        )
    ).all()
    months = (
        await session.scalars(
            select(ReporterMonth.month)
            .where(ReporterMonth.member_id == member_id)
            .order_by(ReporterMonth.month)
        )
    ).all()
    messages = (
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.identity_id.in_(identity_ids))
            .order_by(OutboxMessage.id)
        )
    ).all()
    chats = [(identity.channel, identity.chat_id) for identity in identities if identity.chat_id]
    forms = [
        dialogue
        for channel, chat_id in chats
        for dialogue in (
            await session.scalars(
                select(Dialogue).where(Dialogue.channel == channel, Dialogue.chat_id == chat_id)
            )
        ).all()
    ]
    sent = (
        await session.scalars(
            select(Broadcast.id).where(Broadcast.sender_identity_id.in_(identity_ids))
        )
    ).all()
    scheduled = (
        await session.scalars(
            select(Schedule.id).where(Schedule.created_by_identity_id.in_(identity_ids))
        )
    ).all()
    actors = [identity_actor(identity_id) for identity_id in identity_ids]
    audited = await _audit_rows(session, member_id, actors)
    joined = (
        await session.scalars(
            select(EntryParticipant).where(EntryParticipant.member_id == member_id)
        )
    ).all()
    moves = (
        await session.scalars(
            select(UnitChange).where(UnitChange.member_id == member_id).order_by(UnitChange.id)
        )
    ).all()
    digests = (
        await session.scalars(
            select(ReviewDigest).where(ReviewDigest.identity_id.in_(identity_ids))
        )
    ).all()
    certificates = (
        await session.scalars(
            select(Certificate).where(Certificate.member_id == member_id).order_by(Certificate.id)
        )
    ).all()
    link_codes = (
        await session.scalars(select(LinkCode).where(LinkCode.member_id == member_id))
    ).all()
    return {
        **await _recognition(session, member_id),
        "profile": {
            "member_id": member.id,
            "full_name": member.full_name,
            "birth_year": member.birth_year,
            "is_minor": member.is_minor,
            "unit": {"code": unit.code, "name": unit.name} if unit else None,
            "phone": member.phone,
            "broadcasts_off": member.broadcasts_off,
            "registered_at": _time(member.registered_at),
            # The account (of "accounts" below) that notices go to: the one used last.
            "account_id": member.account_id,
        },
        "accounts": [
            {
                "account_id": identity.id,
                "channel": identity.channel,
                "user_id": identity.user_id,
                "chat_id": identity.chat_id,
                "language": identity.locale,
                "app_language": identity.client_language,
                "unreachable_since": _time(identity.unreachable_at),
                "first_contact": _time(identity.created_at),
            }
            for identity in identities
        ],
        # A /link code not yet used: it joins another account to this registration.
        "link_codes": [
            {"given_on_account_id": code.identity_id, "expires_at": _time(code.expires_at)}
            for code in link_codes
        ],
        "consents": [
            {
                "notice_version": consent.notice_version,
                "channel": consent.channel,
                "accepted_at": _time(consent.accepted_at),
                "withdrawn_at": _time(consent.withdrawn_at),
            }
            for consent in consents
        ],
        "roles": [{"role": role.role, "unit_id": role.unit_id} for role in roles],
        "entries": [
            {
                "id": entry.id,
                "kind": entry.kind,
                "status": entry.status,
                "collective": entry.collective,
                "unit_id": entry.unit_id,
                "campaign_id": entry.campaign_id,
                "title": entry.title,
                "answers": entry.answers,
                "version": entry.version,
                "submitted_at": _time(entry.submitted_at),
                "updated_at": _time(entry.updated_at),
                "decided_at": _time(entry.decided_at),
                "reject_reason": entry.reject_reason,
                "history": [
                    {
                        "version": revision.version,
                        "status": revision.status,
                        "answers": revision.answers,
                        "note": revision.note,
                        "at": _time(revision.at),
                    }
                    for revision in revisions
                    if revision.entry_id == entry.id
                ],
            }
            for entry in entries
        ],
        "files": [
            {
                "entry_id": file.entry_id,
                "file_name": file.original_name,
                "mime_type": file.mime,
                "size": file.size,
                "sha256": file.sha256,
            }
            for file in files
        ],
        "reported_months": list(months),
        "messages_to_you": [
            {
                "broadcast_id": message.broadcast_id,
                "channel": message.channel,
                "status": message.status,
                "sent_at": _time(message.sent_at),
            }
            for message in messages
        ],
        "forms_in_progress": [
            {"form": dialogue.form, "step": dialogue.field, "answers": dialogue.answers}
            for dialogue in forms
        ],
        "broadcasts_you_sent": list(sent),
        "schedules_you_made": list(scheduled),
        "audit_log": [
            {
                "at": _time(record.at),
                "action": record.action,
                "by_you": record.actor in actors,
                "details": record.details,
            }
            for record in audited
        ],
        "activities_you_joined": [
            {"entry_id": row.entry_id, "hours": row.hours, "joined_at": _time(row.joined_at)}
            for row in joined
        ],
        "unit_changes": [
            {
                "from_unit_id": move.from_unit_id,
                "to_unit_id": move.to_unit_id,
                "status": move.status,
                "requested_at": _time(move.requested_at),
                "decided_at": _time(move.decided_at),
            }
            for move in moves
        ],
        "review_digests_sent_to_you": [_time(digest.sent_at) for digest in digests],
        "certificates": [
            {
                "kind": certificate.kind,
                "holder": certificate.holder,
                "unit": certificate.unit_name,
                "certifies": certificate.details,
                "issued_at": _time(certificate.issued_at),
                "revoked_at": _time(certificate.revoked_at),
                "revoke_reason": certificate.revoke_reason,
            }
            for certificate in certificates
        ],
    }


async def _recognition(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Nominations about the member or proposed by them, their places on the honour roll
    with their answers, and the models they asked to learn from."""
    about = (
        await session.scalars(
            select(Nomination)
            .where(Nomination.nominee_member_id == member_id)
            .order_by(Nomination.id)
        )
    ).all()
    proposed = (
        await session.scalars(
            select(Nomination.id)
            .where(Nomination.proposer_id == member_id)
            .order_by(Nomination.id)
        )
    ).all()
    highlights = (
        await session.scalars(
            select(Highlight).where(Highlight.member_id == member_id).order_by(Highlight.id)
        )
    ).all()
    asked = (
        await session.scalars(
            select(ContactRequest)
            .where(ContactRequest.member_id == member_id)
            .order_by(ContactRequest.id)
        )
    ).all()
    return {
        "nominations_about_you": [
            {
                "id": nomination.id,
                "award": nomination.award,
                "period": nomination.period,
                "status": nomination.status,
                "level": nomination.level,
                "summary": nomination.summary,
                "return_reason": nomination.return_reason,
                "decision_number": nomination.decision_number,
                "decision_date": (
                    nomination.decision_date.isoformat() if nomination.decision_date else None
                ),
                "submitted_at": _time(nomination.submitted_at),
            }
            for nomination in about
        ],
        "nominations_you_proposed": list(proposed),
        "honour_roll": [
            {
                "id": highlight.id,
                "title": highlight.title,
                "citation": highlight.citation,
                "consent": highlight.consent,
                "consent_at": _time(highlight.consent_at),
                "consent_version": highlight.consent_version,
            }
            for highlight in highlights
        ],
        "models_you_asked_to_learn_from": [
            {"highlight_id": row.highlight_id, "with_phone": row.with_phone, "at": _time(row.at)}
            for row in asked
        ],
    }


async def _erase_recognition(session: AsyncSession, member_id: int) -> None:
    """Nominations about the member and their places on the honour roll go; nominations they
    proposed stay with the unit that proposed them, without them."""
    about = select(Nomination.id).where(Nomination.nominee_member_id == member_id)
    highlights = select(Highlight.id).where(
        (Highlight.member_id == member_id) | Highlight.nomination_id.in_(about)
    )
    await session.execute(
        delete(ContactRequest).where(
            ContactRequest.highlight_id.in_(highlights) | (ContactRequest.member_id == member_id)
        )
    )
    await session.execute(delete(Highlight).where(Highlight.id.in_(highlights)))
    await session.execute(delete(NominationEntry).where(NominationEntry.nomination_id.in_(about)))
    await session.execute(delete(NominationStep).where(NominationStep.nomination_id.in_(about)))
    await session.execute(delete(Nomination).where(Nomination.nominee_member_id == member_id))
    await session.execute(
        update(Nomination).where(Nomination.proposer_id == member_id).values(proposer_id=None)
    )


async def _audit_rows(
    session: AsyncSession, member_id: int, actors: list[str]
) -> list[AuditRecord]:
    """The audit rows of what the person did, or that concern them (their account, their
    entries), oldest first."""
    subjects = [member_subject(member_id), *actors]
    return list(
        (
            await session.scalars(
                select(AuditRecord)
                .where(or_(AuditRecord.actor.in_(actors), AuditRecord.subject.in_(subjects)))
                .order_by(AuditRecord.id)
            )
        ).all()
    )


@dataclass(frozen=True)
class Erasure:
    kept_anonymised: int  # approved entries that stay in the statistics
    kept_for_units: int  # collective entries, which belong to their unit
    deleted_entries: int
    file_paths: list[str]  # evidence files to remove from the store (after commit)


async def erase_member(
    session: AsyncSession,
    member_id: int,
    *,
    keep_update: tuple[str, str],
    action: str,
    tz: ZoneInfo,
) -> Erasure:
    """Erases the member: profile, contact details, consent, accounts, roles, forms, and
    their own entries except approved ones, which stay anonymised without evidence. Entries
    they filed on behalf of a unit are the unit's: they stay, with their evidence, without
    the reporter. The audit log keeps what was done, by or about someone erased.
    `keep_update` is the inbox row of the request itself, still being handled."""
    identities = (
        await session.scalars(select(Identity).where(Identity.member_id == member_id))
    ).all()
    entries = (await session.scalars(select(Entry).where(Entry.reporter_id == member_id))).all()
    collective = [entry.id for entry in entries if entry.collective]
    approved = [e.id for e in entries if e.status == Status.APPROVED and not e.collective]
    removed = [e.id for e in entries if e.status != Status.APPROVED and not e.collective]
    own = approved + removed
    files = (await session.scalars(select(EntryFile).where(EntryFile.entry_id.in_(own)))).all()
    paths = sorted({file.path for file in files})
    await session.execute(delete(EntryFile).where(EntryFile.entry_id.in_(own)))
    for entry in entries:
        if entry.id in removed:
            await tally(session, entry, tz, sign=-1)
    await forget_reporter(session, member_id)
    await session.execute(delete(EntryRevision).where(EntryRevision.entry_id.in_(removed)))
    await session.execute(
        delete(EntryParticipant).where(
            (EntryParticipant.entry_id.in_(removed)) | (EntryParticipant.member_id == member_id)
        )
    )
    await session.execute(delete(UnitChange).where(UnitChange.member_id == member_id))
    certificates = await forget_holder(session, member_id)
    await _erase_recognition(session, member_id)
    await session.execute(delete(Entry).where(Entry.id.in_(removed)))
    await session.execute(
        update(Entry).where(Entry.id.in_(approved + collective)).values(reporter_id=None)
    )
    await _anonymise_audit(session, member_id, [identity.id for identity in identities])
    await session.execute(delete(LinkCode).where(LinkCode.member_id == member_id))
    for identity in identities:
        await session.execute(delete(RoleGrant).where(RoleGrant.identity_id == identity.id))
        await session.execute(delete(ReviewDigest).where(ReviewDigest.identity_id == identity.id))
        # Messages queued for them go; what they sent or scheduled stays, without them.
        await session.execute(
            delete(OutboxMessage).where(OutboxMessage.identity_id == identity.id)
        )
        await session.execute(
            update(Broadcast)
            .where(Broadcast.sender_identity_id == identity.id)
            .values(sender_identity_id=None)
        )
        await session.execute(
            update(Schedule)
            .where(Schedule.created_by_identity_id == identity.id)
            .values(created_by_identity_id=None)
        )
        if identity.chat_id is not None:
            await session.execute(
                delete(Dialogue).where(
                    Dialogue.channel == identity.channel, Dialogue.chat_id == identity.chat_id
                )
            )
            channel, key = keep_update
            await session.execute(
                delete(InboxUpdate).where(
                    InboxUpdate.channel == identity.channel,
                    InboxUpdate.payload["_chat_id"].as_string() == identity.chat_id,
                    ~((InboxUpdate.channel == channel) & (InboxUpdate.update_key == key)),
                )
            )
        await session.delete(identity)
    await session.execute(delete(Consent).where(Consent.member_id == member_id))
    erased_from = await session.scalar(
        delete(Member).where(Member.id == member_id).returning(Member.unit_id)
    )
    await count_member(session, erased_from, -1)
    # Who it was is what must go: the row says that an erasure happened, and what it kept.
    await audit(
        session,
        "system",
        action,
        kept_anonymised=len(approved),
        kept_for_units=len(collective),
        deleted_entries=len(removed),
        withdrawn_certificates=certificates,
    )
    # A file stays if another entry (a co-reported photo) still uses it.
    still_used = set(
        (await session.scalars(select(EntryFile.path).where(EntryFile.path.in_(paths)))).all()
    )
    return Erasure(
        len(approved), len(collective), len(removed), [p for p in paths if p not in still_used]
    )


async def _anonymise_audit(session: AsyncSession, member_id: int, identity_ids: list[int]) -> None:
    """What the person did stays recorded as done by someone erased; rows about them keep
    what happened, without what pointed at them."""
    actors = [identity_actor(identity_id) for identity_id in identity_ids]
    for column in ACTOR_COLUMNS:
        await session.execute(
            update(column.class_).where(column.in_(actors)).values({column.key: ERASED})
        )
    about = (
        await session.scalars(
            select(AuditRecord).where(
                AuditRecord.subject.in_([member_subject(member_id), *actors])
            )
        )
    ).all()
    for record in about:
        record.subject = None
        record.details = {
            key: value for key, value in record.details.items() if key not in _POINTERS
        }
