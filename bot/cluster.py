"""Several processes, one bot: the same `bot run` started N times on PostgreSQL.

Each process has a name (BOT_PROCESS_NAME, else host:pid), shown in its log lines. Roles that
only one process may play at a time (polling a channel, the scheduler, maintenance) and the
chats a process is working on are leases in the database (models.leases): a process renews
all of its leases in one statement every RENEW_EVERY; a lease not renewed for LEASE_TTL
(the process was killed, or lost the database) is taken over by another process. A process
that finds it lost a role (it could not renew in time) stops playing it at once.

Processes wake each other through PostgreSQL's LISTEN/NOTIFY: an update stored by one is
handled at once by whichever process claims its chat; the periodic look every process takes
anyway (bot.channels.runtime) covers a notification lost with a connection.

On SQLite there is one process: it plays every role from the start, and a second `run` on
the same file refuses to start (`single_process`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import functools
import logging
import os
import socket
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import Database
from models.leases import (
    NOTIFY_CHANNEL,
    chat_lease,
    claim_chats,
    notify,
    open_updates,
    release_leases,
    renew_leases,
    take_lease,
)
from models.tables import InboxUpdate

__all__ = ["LEASE_TTL", "AlreadyRunning", "Cluster", "process_name", "single_process"]

log = logging.getLogger(__name__)

LEASE_TTL = dt.timedelta(seconds=6)
RENEW_EVERY = 2.0  # seconds: a lease survives two missed renewals
TRY_EVERY = 1.0  # seconds between attempts to take a role another process holds
LISTEN_RETRY = 5.0

Work = Callable[[], Coroutine[Any, Any, None]]


def process_name() -> str:
    """This process's name in leases and log lines."""
    return os.environ.get("BOT_PROCESS_NAME") or f"{socket.gethostname()}:{os.getpid()}"


class AlreadyRunning(Exception):
    """Another `bot run` uses this SQLite file."""


@contextlib.contextmanager
def single_process(db: Database) -> Iterator[None]:
    """Holds the SQLite file's run lock while the bot runs (nothing to hold on PostgreSQL);
    AlreadyRunning when another process holds it. The lock goes with the process, however
    it ends."""
    database = db.url.database
    if not db.is_sqlite or database in (None, "", ":memory:"):
        yield
        return
    path = Path(f"{database}.run-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(str(database)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Cluster:
    """This process among the others sharing its database."""

    def __init__(self, db: Database, name: str | None = None) -> None:
        self.db = db
        self.name = name or process_name()
        self.shared = not db.is_sqlite
        self._roles: dict[str, asyncio.Task[None]] = {}  # held roles, by lease name
        self._leading: list[asyncio.Task[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        self._renewed = 0.0  # loop time of the last renewal that went through
        self._announcing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if not self.shared:
            return
        self._renewed = asyncio.get_running_loop().time()
        self._heartbeat = asyncio.create_task(self._beat(), name="leases")
        self._listener = asyncio.create_task(self._listen(), name="listen")

    def lead(self, role: str, work: Work) -> None:
        """Runs `work` while this process holds `role`: on SQLite at once; on PostgreSQL
        once the role's lease is taken, stopped when it is lost, and taken again when free."""
        task = asyncio.create_task(self._lead(role, work), name=f"lead:{role}")
        self._leading.append(task)

    def holds(self, role: str) -> bool:
        task = self._roles.get(role)
        return task is not None and not task.done()

    async def stop_roles(self) -> None:
        """Stops playing every role (the leases stay until `close`, so no other process
        starts one while this one winds down)."""
        for task in [*self._leading, *self._roles.values()]:
            task.cancel()
        for task in [*self._leading, *self._roles.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._leading.clear()
        self._roles.clear()

    async def close(self) -> None:
        """Stops every role and lets every lease go: others take over at once."""
        await self.stop_roles()
        for task in (self._heartbeat, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.shared:
            try:
                async with self.db.write() as session:
                    await release_leases(session, self.name)
            except Exception as error:
                log.warning("could not let the leases go (%s); they expire by themselves", error)

    # -- chats ---------------------------------------------------------------------------

    async def claim_chats(self, channel: str, limit: int) -> dict[str, list[InboxUpdate]]:
        """Chats with updates waiting that no other process works on, now this one's, with
        their updates still to handle or answer (oldest first); one transaction. When it
        takes as many as it may, more may be waiting: the other processes are told to look."""
        async with self.db.write() as session:
            chats = await claim_chats(session, channel, self.name, LEASE_TTL, limit=limit)
            if len(chats) == limit:
                await notify(session, f"inbox:{channel}")  # on commit
            waiting: dict[str, list[InboxUpdate]] = {chat: [] for chat in chats}
            for row in await open_updates(session, channel, chats) if chats else []:
                chat = str(row.payload.get("_chat_id", ""))
                if chat in waiting:
                    waiting[chat].append(row)
        return waiting

    async def release_chat(self, session: AsyncSession, channel: str, chat_id: str) -> None:
        await release_leases(session, self.name, [chat_lease(channel, chat_id)])

    # -- notifications -------------------------------------------------------------------

    def subscribe(self, topic: str, wake: Callable[[], None]) -> None:
        """Calls `wake` when any process notifies `topic` (models.leases.notify)."""
        self._subscribers.setdefault(topic, []).append(wake)

    async def _listen(self) -> None:
        """Listens for notifications on a connection of its own, reconnecting when lost."""
        import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415 (the "postgres" extra)

        url = self.db.url.set(drivername="postgresql")
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(url.render_as_string(hide_password=False))
                lost = asyncio.Event()
                connection.add_termination_listener(functools.partial(_set, lost))
                await connection.add_listener(NOTIFY_CHANNEL, self._notified)
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("cannot listen for other processes' work (%s); retrying", error)
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(LISTEN_RETRY)

    def announce(self, topic: str) -> None:
        """Notifies `topic` to every process (this one too), in the background."""
        if not self.shared:
            return
        task = asyncio.get_running_loop().create_task(self._announce(topic))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _announce(self, topic: str) -> None:
        try:
            async with self.db.write() as session:
                await notify(session, topic)
        except Exception as error:
            log.warning("could not tell the other processes about %s (%s)", topic, error)

    def _notified(self, _connection: Any, _pid: int, _channel: str, topic: str) -> None:
        for wake in self._subscribers.get(topic, []):
            wake()

    # -- leases --------------------------------------------------------------------------

    async def _lead(self, role: str, work: Work) -> None:
        if not self.shared:
            await work()
            return
        while True:
            try:
                async with self.db.write() as session:
                    taken = await take_lease(session, role, self.name, LEASE_TTL)
            except Exception as error:
                log.warning("could not ask for %s (%s)", role, error)
                taken = False
            if taken:
                log.info("this process now holds %s", role)
                task = asyncio.create_task(work(), name=role)
                self._roles[role] = task
                try:
                    await asyncio.wait([task])  # ends with the role; a stop cancels both
                finally:
                    if self._roles.get(role) is task:
                        del self._roles[role]
                    log.info("this process no longer holds %s", role)
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s failed", role, exc_info=task.exception())
            await asyncio.sleep(TRY_EVERY)

    async def _beat(self) -> None:
        """Renews every lease this process holds; stops the roles it no longer holds, and
        every role once the leases may have run out unrenewed."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                async with self.db.write() as session:
                    held = await renew_leases(session, self.name, LEASE_TTL)
                self._renewed = loop.time()
            except Exception as error:
                log.warning("could not renew this process's leases (%s)", error)
                if loop.time() - self._renewed < LEASE_TTL.total_seconds() - RENEW_EVERY:
                    continue
                held = set()
            for role, task in list(self._roles.items()):
                if role not in held and not task.done():
                    log.warning("%s was taken over by another process; stopping it here", role)
                    task.cancel()


def _set(event: asyncio.Event, *_args: Any) -> None:
    event.set()
