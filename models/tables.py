"""The tables. Times are stored in UTC and always come back timezone-aware."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditRecord",
    "Base",
    "Broadcast",
    "Campaign",
    "Certificate",
    "ChannelToken",
    "Consent",
    "ContactRequest",
    "Dialogue",
    "Entry",
    "EntryFile",
    "EntryParticipant",
    "EntryRevision",
    "Highlight",
    "Identity",
    "InboxUpdate",
    "Invite",
    "Lease",
    "LinkCode",
    "Member",
    "Nomination",
    "NominationEntry",
    "NominationStep",
    "OutboxMessage",
    "ReporterMonth",
    "ReviewDigest",
    "RoleGrant",
    "Schedule",
    "ScheduleRun",
    "SendPace",
    "StatTotal",
    "Unit",
    "UnitChange",
    "UnitMonth",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC; SQLite keeps no zone, so it is re-attached on load."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Unit(Base):
    """An organisational unit: the province, a body, a commune or ward, or a branch under it."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-case, without diacritics: what "na sam" is matched against.
    search_name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # How many members are in it, kept with every registration, move, merge and erasure
    # (models.stats.count_member): "who has not reported" in a province of two million
    # members reads the units instead of counting the members (50 ms on PostgreSQL).
    members: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # The entry kinds that count towards it; None: every kind.
    kinds: Mapped[list[str] | None] = mapped_column(JSON)
    closed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Member(Base):
    """A registered young person."""

    __tablename__ = "members"
    # "Who has not reported" lists a unit's members in name order without sorting them all.
    __table_args__ = (Index("ix_members_unit_name", "unit_id", "full_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(120))
    birth_year: Mapped[int] = mapped_column(Integer)
    is_minor: Mapped[bool] = mapped_column(Boolean)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    # /stop: no broadcasts (answers about their own entries still come); /start undoes it.
    broadcasts_off: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The account (identity) they wrote from last, where notices reach them: set when they
    # write from another of their accounts (/link joins accounts). No foreign key: identities
    # already point here, and an erased account takes this with it.
    account_id: Mapped[int | None] = mapped_column(Integer)


class Consent(Base):
    """Who accepted which version of the privacy notice, and when."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    notice_version: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    accepted_at: Mapped[dt.datetime]
    withdrawn_at: Mapped[dt.datetime | None]


class Identity(Base):
    """A person's account on one channel; becomes linked to a Member on registration."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(8))  # chosen with /language
    # The app's language as the platform reports it: for messages sent to this person
    # outside their own conversation (a review decision), when they chose none.
    client_language: Mapped[str | None] = mapped_column(String(16))
    # Set when the platform said the person blocked the bot; cleared when they write again.
    unreachable_at: Mapped[dt.datetime | None]
    # When the person last wrote to the bot from this account (to the nearest few minutes):
    # where a platform lets the bot write first only for a while after that, this says
    # whether it still may.
    last_message_at: Mapped[dt.datetime | None]
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RoleGrant(Base):
    """A role beyond member: secretary of a unit (and the units below it), or admin."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("identity_id", "role", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(64))


class Dialogue(Base):
    """Where a chat is in a form: the form, the field, and the answers so far."""

    __tablename__ = "dialogues"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    form: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Scratch space of the current field, e.g. the units offered for "na sam".
    pending: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboxUpdate(Base):
    """Every update a channel delivered, stored before it is acknowledged.

    The row is marked handled in the transaction of the handler's writes, together with the
    replies to send; replies are marked sent afterwards, so a crash at any point either redoes
    nothing (already handled) or resends at most the replies in flight.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "update_key"),
        Index("ix_inbox_pending", "channel", "handled_at", "replied_at"),
        # The updates still to handle or answer, found without reading the answered ones
        # (processes sharing the work look for them several times a second).
        Index(
            "ix_inbox_open",
            "channel",
            "id",
            sqlite_where=text("replied_at IS NULL"),
            postgresql_where=text("replied_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[dt.datetime | None]
    replies: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    replied_at: Mapped[dt.datetime | None]


class Lease(Base):
    """A role one process holds for a while (polling a channel, the scheduler, maintenance,
    one chat's updates), named by what it is for; it ends when its holder lets it go or
    stops renewing it. Only processes sharing a PostgreSQL database take leases."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), index=True)
    expires_at: Mapped[dt.datetime]


class SendPace(Base):
    """A channel's sending pace shared by every process: the time the next message may go
    (the theoretical arrival time of the generic cell rate algorithm)."""

    __tablename__ = "send_pace"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_at: Mapped[dt.datetime]


class AuditRecord(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Whose data the row concerns ("member:7", or "identity:12" for an account): what their
    # /mydata shows and their erasure anonymises, found without reading every row's details.
    subject: Mapped[str | None] = mapped_column(String(64), index=True)


class Entry(Base):
    """A report: an initiative, volunteer work or an economic model, with its answers."""

    __tablename__ = "entries"
    __table_args__ = (
        Index("ix_entries_reporter", "reporter_id", "submitted_at"),
        Index("ix_entries_unit_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    # NULL once the reporter has deleted their account (an approved entry stays, anonymised).
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    collective: Mapped[bool] = mapped_column(Boolean, default=False)
    # When it happened (the kind's date answer, else the day it was first sent): months,
    # periods and campaigns count by it.
    happened_on: Mapped[dt.date] = mapped_column(Date, index=True)
    # Whose secretaries decide it: the entry's unit, or a unit above when it is the work of
    # a secretary of that unit (see models.entries.review_unit_for); None: admins only.
    review_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    reject_reason: Mapped[str | None] = mapped_column(Text)


class EntryRevision(Base):
    """An entry as it was at each submission and decision: the history of a resubmitted one."""

    __tablename__ = "entry_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EntryFile(Base):
    """A piece of evidence of an entry: a file in the content-addressed store."""

    __tablename__ = "entry_files"
    __table_args__ = (UniqueConstraint("entry_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    original_name: Mapped[str | None] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer)


class EntryParticipant(Base):
    """A member who took part in a collective volunteer entry and joined it instead of
    reporting the activity again: their own hours, counted in their own results only (the
    entry's total already counts every participant)."""

    __tablename__ = "entry_participants"
    __table_args__ = (UniqueConstraint("entry_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    hours: Mapped[float] = mapped_column(Float)
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UnitChange(Base):
    """A member asking to move to another unit; the new unit's secretaries decide. Past
    entries stay with the unit they were reported in."""

    __tablename__ = "unit_changes"
    __table_args__ = (Index("ix_unit_changes_waiting", "status", "to_unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(String(16))  # waiting, approved, refused, withdrawn
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))


class ReviewDigest(Base):
    """When a reviewer was last told that entries wait for them, and up to which change."""

    __tablename__ = "review_digests"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), primary_key=True)
    sent_at: Mapped[dt.datetime]
    # Entries changed after this moment are news for the next digest.
    seen_until: Mapped[dt.datetime]


class Invite(Base):
    """A code a secretary shares (deep link or QR) so that young people join their unit."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    uses: Mapped[int] = mapped_column(Integer, default=0)


class Broadcast(Base):
    """A message a secretary or admin sends to many members, through the outbox."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    sender_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    text: Mapped[str] = mapped_column(Text)
    photo_path: Mapped[str | None] = mapped_column(String(200))  # in the evidence store
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # running, done, cancelled
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    # A reminder: which built-in text (translated for each recipient) and its values;
    # `text` then holds the admin's optional note.
    template: Mapped[str | None] = mapped_column(String(32))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Where the sender watches progress (an edited message), on the sender's channel.
    progress_chat_id: Mapped[str | None] = mapped_column(String(64))
    progress_message_id: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """One message to one recipient, waiting to be delivered by the delivery worker: a part
    of a broadcast, or a notice to one person (a review decision, a digest), which names its
    built-in text (bot/notices.py) and that text's values."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "channel", "status", "due_at"),
        # Notices are claimed before broadcasts: found without reading a broadcast's rows.
        Index(
            "ix_outbox_notices",
            "channel",
            "status",
            "due_at",
            sqlite_where=text("broadcast_id IS NULL"),
            postgresql_where=text("broadcast_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    locale: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(
        String(16)
    )  # pending, sent, unreachable, failed, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(String(200))
    template: Mapped[str | None] = mapped_column(String(40))  # a notice's text
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# The sums a row of stat_totals keeps (its columns below), in the order the indexes hold them.
_FIGURES = (
    "entries",
    "participants",
    "volunteer_hours",
    "beneficiaries",
    "jobs",
    "revenue",
    "budget",
    "mobilised",
    "models_replicated",
)


class StatTotal(Base):
    """Running totals per unit, local month, kind and status, changed in the transaction that
    changes an entry, so that statistics add up a few hundred rows instead of every entry."""

    __tablename__ = "stat_totals"
    __table_args__ = (
        UniqueConstraint("unit_id", "month", "kind", "status"),
        # Months of the whole province (this year, the chart) read from the index alone:
        # with a look-up of each row in the table, this year's figures took 17 ms on SQLite
        # (p50, 31 ms p95) in December; see BENCHMARKS.md.
        Index(
            "ix_stat_totals_month_figures",
            "month",
            "unit_id",
            "kind",
            "status",
            *_FIGURES,
        ),
        # The whole province's figures since the start, read in (kind, status) order from
        # the index alone: no table look-up and no sort of every row.
        Index(
            "ix_stat_totals_figures",
            "kind",
            "status",
            *_FIGURES,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    month: Mapped[str] = mapped_column(String(7))  # "2026-11", in local time
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    entries: Mapped[int] = mapped_column(Integer, default=0)
    participants: Mapped[int] = mapped_column(BigInteger, default=0)
    volunteer_hours: Mapped[float] = mapped_column(Float, default=0.0)
    beneficiaries: Mapped[int] = mapped_column(BigInteger, default=0)
    jobs: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue: Mapped[int] = mapped_column(BigInteger, default=0)  # đồng
    budget: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # đồng
    mobilised: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # đồng
    models_replicated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReporterMonth(Base):
    """That a member submitted something in a local month: "who has not reported" without
    reading the entries."""

    __tablename__ = "reporter_months"
    # A commune's reporters of a month counted from this index alone: a look-up per member
    # would cost a commune of a hundred thousand members about 100 ms.
    __table_args__ = (Index("ix_reporter_months_month_unit", "month", "unit_id"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    # The member's unit now (members.unit_id), whatever the unit of the entries: a move or a
    # merge of accounts files all their months under their new unit (models.stats.refile_reporter).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))


class UnitMonth(Base):
    """That an entry was sent in a unit in a local month: "units that have not reported"
    without reading the entries (the totals count the month things happened)."""

    __tablename__ = "unit_months"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True, index=True)


class Schedule(Base):
    """Something the bot sends by itself: news at a set time, a recurring reminder, or a
    campaign's deadline reminder. Armed as one scheduler job; each run fills the outbox."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_status", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # news, reminder, deadline
    # {"every": "once", "at": "2026-12-01T08:00"} | {"every": "week", "weekday": 0..6,
    # "time": "08:00"} | {"every": "month", "day": 1..31, "time": "08:00"}, in local time.
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"who": ..., "units": [ids] | None}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON)
    template: Mapped[str | None] = mapped_column(String(32))  # a reminder's built-in text
    text: Mapped[str] = mapped_column(Text, default="")  # the news, or a reminder's note
    photo_path: Mapped[str | None] = mapped_column(String(200))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # active, done, cancelled
    next_run_at: Mapped[dt.datetime | None]
    last_run_at: Mapped[dt.datetime | None]
    created_by_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScheduleRun(Base):
    """One run of a schedule: claimed once, whichever process gets there first."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id"))
    due_at: Mapped[dt.datetime]
    ran_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class Certificate(Base):
    """A certificate given to a person: their approved volunteer hours in a period, or an award
    decision. What it certifies is kept as it was printed; the code on it carries the random
    serial that finds this row and a signature over what it certifies (bot.certificates)."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # volunteer_hours, award
    # The holder, when a member (an award may go to a unit); None once they erased their data.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    holder: Mapped[str] = mapped_column(String(200))  # the name, as printed
    unit_name: Mapped[str] = mapped_column(String(200))  # as printed
    # What is certified: {"hours", "from", "to"} or {"award", "decision", "decided_on", ...}.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class Nomination(Base):
    """A unit's proposal of an award (an award form of the ladder, for a period) for a member
    or a unit, with the approved entries behind it. It waits at one level of its award's
    ladder at a time; each decision there names the revision it was taken on."""

    __tablename__ = "nominations"
    __table_args__ = (Index("ix_nominations_waiting", "status", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    award: Mapped[str] = mapped_column(String(64))  # a code of the ladder's awards
    # "year:2026", "campaign:3", or a named period of the ladder ("so-ket").
    period: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # proposing unit
    # The secretary who proposed it; NULL once they erased their account (it stays the unit's).
    proposer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    participant: Mapped[str] = mapped_column(String(32))  # individual, official, collective…
    nominee_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    nominee_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(64))  # where it waits, or was returned from
    version: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    return_reason: Mapped[str | None] = mapped_column(Text)
    # The decision, recorded at the last level.
    decided_award: Mapped[str | None] = mapped_column(String(64))
    decision_number: Mapped[str | None] = mapped_column(String(64))
    decision_date: Mapped[dt.date | None] = mapped_column(Date)
    signer: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))


class NominationEntry(Base):
    """An approved entry a nomination rests on."""

    __tablename__ = "nomination_entries"
    __table_args__ = (UniqueConstraint("nomination_id", "entry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nominations.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)


class NominationStep(Base):
    """What happened to a nomination at each level: sent, passed on, returned (with the
    reason), sent again, awarded or withdrawn; by whom (an audit actor)."""

    __tablename__ = "nomination_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    nomination_id: Mapped[int] = mapped_column(ForeignKey("nominations.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    acted_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Highlight(Base):
    """An approved entry or an award on the honour roll: a "gương điển hình" or a "mô hình
    tiêu biểu", marked by Tỉnh Đoàn. When it shows a person, it is public only once that
    person has agreed (and a minor is never shown by name)."""

    __tablename__ = "highlights"
    __table_args__ = (Index("ix_highlights_shown", "consent", "marked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(16))  # "example" or "model"
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"), unique=True)
    nomination_id: Mapped[int | None] = mapped_column(ForeignKey("nominations.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # the entry's kind, or "award"
    title: Mapped[str] = mapped_column(String(300))
    citation: Mapped[str] = mapped_column(Text)  # why it is exemplary, written by Tỉnh Đoàn
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    # The person it shows (whose consent it needs); NULL for a unit's work.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    consent: Mapped[str | None] = mapped_column(String(16))  # asked, given, refused; NULL: none
    consent_at: Mapped[dt.datetime | None]
    consent_version: Mapped[str | None] = mapped_column(String(32))
    marked_by: Mapped[str] = mapped_column(String(64))
    marked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ContactRequest(Base):
    """A young person asking to learn from a model on the honour roll; its unit's secretary
    is told, once per person and model."""

    __tablename__ = "contact_requests"
    __table_args__ = (UniqueConstraint("highlight_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    highlight_id: Mapped[int] = mapped_column(ForeignKey("highlights.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    with_phone: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A short-lived code that joins another account to a member's registration (/link):
    given in one chat, typed in the other; used once."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"))  # where it was given
    expires_at: Mapped[dt.datetime]


class ChannelToken(Base):
    """A channel's API tokens where the platform rotates them (a short-lived access token,
    and a refresh token that works once): kept here so that every process shares them and a
    restart loses neither. `version` grows with each change; a process refreshes only after
    taking the lease (`leased_until`) at the version it read, so one refreshes at a time."""

    __tablename__ = "channel_tokens"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text, default="")
    access_expires_at: Mapped[dt.datetime | None]
    refresh_token: Mapped[str] = mapped_column(Text)
    refreshed_at: Mapped[dt.datetime | None]
    leased_until: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=0)
