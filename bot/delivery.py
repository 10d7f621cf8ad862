"""The delivery worker: drains one channel's outbox at the channel's pace: notices to one
person first, at the pace of replies, then the parts of broadcasts, leaving room for replies.

Messages are claimed with a short lease (their due time moves a minute ahead) in a short
transaction, sent outside any transaction, and marked sent one by one. A crash loses
nothing: unsent claims come due again when the lease ends, and at most the message in
flight at the crash is sent twice. On PostgreSQL several workers share an outbox, as the
claim skips rows another worker holds; there each claims a few messages at a time for a
short lease, renewed while it sends them, so that what a killed process held comes due
again within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import Choice
from bot.i18n import Translator, pick_locale
from bot.notices import render_notice
from bot.pacing import Pacer
from bot.reminders import render
from bot.text import escape
from domain.vocabulary import union_name
from models.outbox import broadcast_counts, due_messages, finish_done_broadcasts, mark
from models.tables import Broadcast, Identity, OutboxMessage, Unit, utcnow

if TYPE_CHECKING:
    from bot.app import App

__all__ = [
    "DeliveryError",
    "DeliveryWorker",
    "OutsideWindow",
    "QuotaExhausted",
    "RetryLater",
    "Sender",
    "Unreachable",
]

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=1)
SHARED_LEASE = dt.timedelta(seconds=15)
SHARED_BATCH = 10
MAX_ATTEMPTS = 5
PROGRESS_EVERY = 5.0  # seconds between edits of the sender's progress message


class Unreachable(Exception):
    """The person blocked the bot or deleted the chat: skip them from now on."""


@dataclass
class RetryLater(Exception):
    """The platform asked to slow down."""

    seconds: float


@dataclass
class QuotaExhausted(Exception):
    """The platform's quota of messages for the period is used up (or, `notice` says, the
    platform no longer accepts the bot's token): nothing goes on this channel for `seconds`,
    then one message tries again; the others wait in the outbox. The admins are told with
    the notice (bot.notices) of that name."""

    seconds: float
    notice: str = "quota_used_up"


class OutsideWindow(Unreachable):
    """The platform takes a message the bot writes first only for a while after the person
    last wrote, and that while is over (with no paid way set up): this message is skipped,
    but the account stays reachable, and is reached again once the person writes."""


class DeliveryError(Exception):
    """A server error or a timeout: worth another try later."""


class Sender(Protocol):
    channel: str
    pacer: Pacer

    async def deliver(
        self, chat_id: str, text: str, photo: str | None, choices: tuple[Choice, ...] = ()
    ) -> None:
        """Sends one message; `choices` are buttons where the channel has them (the text
        itself says what to type where it has none)."""

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool = False
    ) -> None: ...


@dataclass(frozen=True)
class _Job:
    id: int
    broadcast_id: int | None
    chat_id: str
    identity_id: int | None
    locale: str
    attempts: int
    template: str | None
    params: dict[str, Any] | None


class DeliveryWorker:
    def __init__(self, app: App, sender: Sender, *, batch: int = 60, shared: bool = False) -> None:
        self.app = app
        self.sender = sender
        self.batch = SHARED_BATCH if shared else batch
        self.lease = SHARED_LEASE if shared else LEASE
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._frames: dict[tuple[int, str], tuple[str, str | None]] = {}
        self._last_progress = 0.0
        self._resume_at = 0.0  # loop time; until then the platform's quota is used up
        self._lease_until = utcnow()  # the mark of the batch in hand (see _claim)

    def wake(self) -> None:
        """New messages are in the outbox."""
        self._wake.set()

    async def stop(self, task: asyncio.Task[None]) -> None:
        """Ends run_forever (running as `task`) after the batch in hand; cut off if that
        takes longer than a few seconds (what was claimed comes due again)."""
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_forever(self) -> None:
        """Delivers until stop(): the batch in hand is finished first, so no transaction is
        cut off."""
        while not self._stopping.is_set():
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("delivery failed; retrying shortly")
                sent = 0
            if not sent:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=2.0)

    async def run_once(self) -> int:
        """Claims and sends one batch; returns how many were attempted."""
        if self._held():
            return 0
        jobs = await self._claim()
        cancelled = await self._cancelled({job.broadcast_id for job in jobs})
        loop = asyncio.get_running_loop()
        claimed = loop.time()
        mine = {job.id for job in jobs}
        for index, job in enumerate(jobs):
            if self._held():
                break  # the rest of the batch comes due again when its lease ends
            if job.broadcast_id in cancelled:
                continue  # cancel_broadcast already marked it
            # Waiting for a slot may take long when processes share the pace: the lease is
            # renewed after the wait, right before the message goes, and a message whose
            # lease ran out and was claimed by another process meanwhile is theirs to send.
            await self._pace(job)
            if loop.time() - claimed > self.lease.total_seconds() / 3:
                mine = await self._extend([later.id for later in jobs[index:]])
                claimed = loop.time()
            if job.id not in mine:
                continue
            await self._deliver(job)
            await self._report_progress()
        await self._report_progress(final=not jobs)
        return len(jobs)

    def _held(self) -> bool:
        return asyncio.get_running_loop().time() < self._resume_at

    async def _claim(self) -> list[_Job]:
        now = utcnow()
        self._lease_until = now + self.lease  # the claim's mark: the rows hold it while ours
        async with self.app.db.write() as session:
            rows = await due_messages(session, self.sender.channel, now, limit=self.batch)
            for row in rows:
                row.due_at = self._lease_until
            return [
                _Job(
                    row.id,
                    row.broadcast_id,
                    row.chat_id,
                    row.identity_id,
                    row.locale,
                    row.attempts,
                    row.template,
                    row.params,
                )
                for row in rows
            ]

    async def _extend(self, ids: list[int]) -> set[int]:
        """Renews the lease on the messages of the batch still to send, and returns those
        still ours: a message whose lease ran out may have been claimed by another process
        (its lease mark is no longer this claim's)."""
        until = utcnow() + self.lease
        async with self.app.db.write() as session:
            kept = await session.scalars(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.status == "pending",
                    OutboxMessage.due_at == self._lease_until,
                )
                .values(due_at=until)
                .returning(OutboxMessage.id)
            )
            ids_kept = set(kept.all())
        self._lease_until = until
        return ids_kept

    async def _pace(self, job: _Job) -> None:
        """Waits for the channel's pace: a notice to one person as quick as a reply, a part
        of a broadcast leaving room for replies."""
        if job.broadcast_id is None:
            await self.sender.pacer.live()
        else:
            await self.sender.pacer.bulk()

    async def _cancelled(self, broadcast_ids: set[int | None]) -> set[int | None]:
        ids = {i for i in broadcast_ids if i is not None}
        if not ids:
            return set()
        async with self.app.db.read() as session:
            return {
                b.id
                for b in [await session.get(Broadcast, i) for i in ids]
                if b is not None and b.status == "cancelled"
            }

    async def _deliver(self, job: _Job) -> None:
        choices: tuple[Choice, ...] = ()
        if job.broadcast_id is None:  # a notice to one person: as quick as a reply
            t = self._translator(job.locale)
            text, choices = render_notice(t, job.template or "", job.params or {})
            photo = None
        else:
            text, photo = await self._text(job)
        try:
            await self.sender.deliver(job.chat_id, text, photo, choices)
        except QuotaExhausted as exhausted:
            self._resume_at = asyncio.get_running_loop().time() + exhausted.seconds
            due = utcnow() + dt.timedelta(seconds=exhausted.seconds)
            await self._mark(job.id, "pending", due_at=due)
        except RetryLater as later:
            self.sender.pacer.pause(later.seconds)
            await self._mark(
                job.id, "pending", due_at=utcnow() + dt.timedelta(seconds=later.seconds)
            )
        except OutsideWindow:
            await self._mark(job.id, "unreachable", error="window closed")
        except Unreachable:
            await self._mark(job.id, "unreachable", error="blocked")
            if job.identity_id is not None:
                async with self.app.db.write() as session:
                    await session.execute(
                        update(Identity)
                        .where(Identity.id == job.identity_id)
                        .values(unreachable_at=utcnow())
                    )
        except DeliveryError as error:
            attempts = job.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self._mark(job.id, "failed", error=str(error)[:200], attempts=attempts)
            else:
                backoff = dt.timedelta(seconds=2**attempts)
                await self._mark(
                    job.id,
                    "pending",
                    due_at=utcnow() + backoff,
                    attempts=attempts,
                    error=str(error)[:200],
                )
        else:
            await self._mark(job.id, "sent")

    async def _mark(
        self,
        message_id: int,
        status: str,
        *,
        error: str | None = None,
        due_at: dt.datetime | None = None,
        attempts: int | None = None,
    ) -> None:
        async with self.app.db.write() as session:
            await mark(session, message_id, status, error=error, due_at=due_at, attempts=attempts)

    async def _text(self, job: _Job) -> tuple[str, str | None]:
        """The broadcast in the bot's frame (a reminder: its built-in text) in the
        recipient's language, and its photo."""
        t = self._translator(job.locale)
        key = (job.broadcast_id or 0, t.locale)
        if key not in self._frames:
            async with self.app.db.read() as session:
                broadcast = await session.get_one(Broadcast, job.broadcast_id)
                unit = (
                    await session.get(Unit, broadcast.sender_unit_id)
                    if broadcast.sender_unit_id
                    else None
                )
            if broadcast.template is not None:
                text = render(t, broadcast.template, broadcast.params or {}, broadcast.text)
                self._frames[key] = (text, broadcast.photo_path)
                return self._frames[key]
            frame = (
                t.gettext("📢 <b>Announcement from {unit}</b>").format(
                    unit=escape(union_name(t.gettext, unit.name, unit.kind))
                )
                if unit
                else t.gettext("📢 <b>Announcement from the provincial Youth Union</b>")
            )
            self._frames[key] = (f"{frame}\n\n{escape(broadcast.text)}", broadcast.photo_path)
        return self._frames[key]

    def _translator(self, locale: str) -> Translator:
        """The recipient's language as stored with the message (else the default)."""
        chosen = pick_locale(None, locale or None, self.app.config.default_locale)
        return self.app.catalogs.translator(chosen, self.app.config.tz)

    async def _report_progress(self, *, final: bool = False) -> None:
        """Edits each sender's progress message every few seconds; a last report when done."""
        loop = asyncio.get_running_loop()
        if not final and loop.time() - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = loop.time()
        async with self.app.db.write() as session:
            finished = {b.id for b in await finish_done_broadcasts(session)}
            running = await _watched(session, self.sender.channel, self.app.config.default_locale)
        for broadcast, locale in running:
            async with self.app.db.read() as session:
                counts = await broadcast_counts(session, broadcast.id)
            t = self.app.catalogs.translator(locale, self.app.config.tz)
            sent, pending = counts.get("sent", 0), counts.get("pending", 0)
            done = broadcast.id in finished or broadcast.status != "running"
            if done:
                text = t.gettext(
                    "📢 Broadcast #{id} finished: sent {sent}, unreachable {unreachable}, "
                    "failed {failed}, cancelled {cancelled}."
                )
            else:
                text = t.gettext(
                    "📢 Broadcast #{id}: sent {sent} of {total}, unreachable {unreachable}, "
                    "failed {failed}. Expected to finish at {eta}. Type /broadcasts to cancel."
                )
            eta = utcnow() + dt.timedelta(seconds=pending / self.sender.pacer.bulk_per_second)
            await self.sender.show_progress(
                broadcast.id,
                broadcast.progress_chat_id or "",
                text.format(
                    id=broadcast.id,
                    sent=t.number(sent),
                    total=t.number(broadcast.total),
                    unreachable=t.number(counts.get("unreachable", 0)),
                    failed=t.number(counts.get("failed", 0)),
                    cancelled=t.number(counts.get("cancelled", 0)),
                    eta=t.datetime(eta),
                ),
                final=done,
            )
            if done:
                async with self.app.db.write() as session:
                    watched = await session.get_one(Broadcast, broadcast.id)
                    watched.progress_chat_id = None  # reported for the last time


async def _watched(
    session: AsyncSession, channel: str, default_locale: str
) -> list[tuple[Broadcast, str]]:
    """Broadcasts whose sender still waits for a progress report on this channel."""
    rows = (
        await session.execute(
            select(Broadcast, Identity)
            .join(Identity, Identity.id == Broadcast.sender_identity_id)
            .where(Broadcast.progress_chat_id.is_not(None), Identity.channel == channel)
        )
    ).all()
    return [
        (broadcast, pick_locale(identity.locale, identity.client_language, default_locale))
        for broadcast, identity in rows
    ]
