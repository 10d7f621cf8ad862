"""The scheduler: every active schedule in the database is one APScheduler job, armed for its
next run. A run claims itself in the database, then fills the outbox; the delivery workers
send. Schedules added or changed elsewhere (another process, the CLI) are picked up by a
periodic sync, which also re-arms what a run moved on.

Missed runs: APScheduler is told the grace period and to coalesce, and the sync decides
before arming: a run missed by less than the grace period runs once on start; an older one
is skipped and logged. The claim makes sure a run happens once, whoever else is running.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.digests import send_review_digests
from bot.reminders import send_now
from domain.vocabulary import SCHEDULER
from models.people import audit
from models.schedules import active_schedules, claim_run, skip_run
from models.tables import Schedule, utcnow

__all__ = ["SYNC_EVERY", "Scheduler"]

log = logging.getLogger(__name__)

SYNC_EVERY = dt.timedelta(seconds=30)
DIGEST_EVERY = dt.timedelta(minutes=1)  # how often digests are looked for (each has its period)
_JOB = "schedule:{}"


class Scheduler:
    def __init__(
        self,
        app: App,
        *,
        wake: Callable[[], None] | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.app = app
        self.wake = wake or (lambda: None)
        self.now = now
        grace = app.config.schedules.misfire_grace
        self.jobs = AsyncIOScheduler(
            timezone=app.config.tz,
            job_defaults={
                # Our sync decides what a late run does; APScheduler must never drop one we
                # armed, so its grace is ours plus the time a sync may take to come round.
                "misfire_grace_time": int((grace + 2 * SYNC_EVERY).total_seconds()),
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self._armed: dict[int, dt.datetime] = {}

    async def start(self) -> None:
        self.jobs.start()
        await self.sync()
        self.jobs.add_job(
            self.sync, "interval", seconds=SYNC_EVERY.total_seconds(), id="sync", coalesce=True
        )
        self.jobs.add_job(
            self.digest,
            "interval",
            seconds=DIGEST_EVERY.total_seconds(),
            id="digests",
            coalesce=True,
        )

    def stop(self) -> None:
        if self.jobs.running:
            self.jobs.shutdown(wait=False)

    async def sync(self) -> None:
        """Arms a job for each active schedule at its next run, drops the others, and skips
        runs missed by more than the grace period."""
        now = self.now()
        grace = self.app.config.schedules.misfire_grace
        tz = self.app.config.tz
        async with self.app.db.write() as session:
            wanted: dict[int, dt.datetime] = {}
            for schedule in await active_schedules(session):
                due = schedule.next_run_at
                if due is None:
                    continue
                if due < now - grace:
                    following = await skip_run(session, schedule, due, now, tz)
                    log.warning("schedule %d missed its run at %s; skipped", schedule.id, due)
                    await audit(
                        session,
                        SCHEDULER,
                        "schedule.missed",
                        schedule_id=schedule.id,
                        due_at=due.isoformat(),
                    )
                    if following is None:
                        continue
                    due = following
                wanted[schedule.id] = due
        for schedule_id in set(self._armed) - set(wanted):
            self._disarm(schedule_id)
        for schedule_id, due in wanted.items():
            if self._armed.get(schedule_id) != due:
                self._arm(schedule_id, due)

    async def digest(self) -> int:
        """Tells reviewers that work waits for them (bot.digests); how many were told."""
        async with self.app.db.write() as session:
            told = await send_review_digests(session, self.app.config, self.now())
        if told:
            log.info("review digests queued for %d reviewers", told)
            self.wake()
        return told

    def _arm(self, schedule_id: int, due: dt.datetime) -> None:
        self.jobs.add_job(
            self.run,
            "date",
            run_date=due,
            args=[schedule_id, due],
            id=_JOB.format(schedule_id),
            replace_existing=True,
        )
        self._armed[schedule_id] = due

    def _disarm(self, schedule_id: int) -> None:
        self._armed.pop(schedule_id, None)
        job = self.jobs.get_job(_JOB.format(schedule_id))
        if job is not None:
            job.remove()

    async def run(self, schedule_id: int, due: dt.datetime) -> int | None:
        """One run: claimed, then the outbox filled, in one transaction. Returns how many
        messages were queued, or None when the run was not ours to make."""
        self._armed.pop(schedule_id, None)
        config = self.app.config
        async with self.app.db.write() as session:
            schedule = await session.get(Schedule, schedule_id)
            run = None if schedule is None else await claim_run(session, schedule, due, config.tz)
            if schedule is None or run is None:
                return None
            broadcast = await send_now(
                session,
                config,
                who=schedule.audience["who"],
                units=_units(schedule),
                text=schedule.text,
                photo_path=schedule.photo_path,
                template=schedule.template,
                campaign_id=schedule.campaign_id,
                sender_identity_id=schedule.created_by_identity_id,
                now=self.now(),
            )
            run.broadcast_id, run.recipients = broadcast.id, broadcast.total
            if schedule.kind == "news":  # news held or timed: the audit says when it went
                await audit(
                    session,
                    SCHEDULER,
                    "news.sent",
                    broadcast_id=broadcast.id,
                    recipients=broadcast.total,
                    schedule_id=schedule.id,
                )
        log.info("schedule %d ran: %d messages queued", schedule_id, broadcast.total)
        self.wake()
        await self.sync()  # arms the next run, if any
        return broadcast.total


def _units(schedule: Schedule) -> set[int] | None:
    units = schedule.audience.get("units")
    return None if units is None else {int(unit) for unit in units}
