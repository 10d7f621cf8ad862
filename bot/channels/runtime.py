"""The channel runtime: everything a channel does the same way whatever its platform.

A platform is an adapter (`Adapter`: bot/channels/telegram.py, zalo.py, console.py): it
declares what the platform can show and carry (bot.capabilities) and converts, platform
updates into Inbound events and Replies into platform messages. `Channel` does the rest once:

- the inbox: an update is stored before it is acknowledged (before the next long poll
  confirms it, before the webhook answers 200); on start, what a crash left unhandled is
  handled and replies left unsent are sent. An update of a shape nobody knows is stored,
  logged once and marked handled, with no reply: it never blocks a chat nor comes back;
- order: one chat's updates one at a time, in order, other chats alongside; the photos of an
  album handled together and answered once;
- flood control, evidence fetched (within the channel's limit) when a form waits for it,
  dispatch, then the replies sent, then the deferred work (an export) and its replies. The
  updates of one poll are stored and handled in one transaction, one commit for all (those
  of the chats one claim took, handled in one); an update that must wait first (a file to
  fetch, a person sending too quickly) is handled on its own, as are its chat's next ones;
- sending: one pace shared by replies and the outbox (bot.pacing), server errors retried, a
  platform's "slow down" obeyed, a used-up quota respected: that channel stops sending
  until the platform takes messages again, the admins are told once;
- the webhook server: the secret checked from the headers before any body is read (or, for
  a platform that signs each body, the signature once the capped body is read), bodies
  capped at what a platform sends; or long polling, with backoff on errors;
- connecting at start with backoff, one log line per attempt, while the platform cannot be
  reached;
- the outbox's delivery worker for this channel (bot.delivery; `Channel` is its Sender);
- shared work, when several processes share a PostgreSQL database (bot.cluster): one of
  them polls (the others take over within seconds if it dies), any of them may receive
  webhooks; each stores what it receives and claims chats with updates waiting that no
  other process is working on (what it stored first), and handles them in order; one that
  finds more waiting than it takes at once tells the others to look too. The pace of
  sending is the channel's for all processes together.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import itertools
import json
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application as WebApplication
from tornado.web import RequestHandler, stream_request_body

from bot.alerts import tell_admins
from bot.capabilities import MEGABYTE, Capabilities
from bot.delivery import (
    DeliveryError,
    DeliveryWorker,
    QuotaExhausted,
    RetryLater,
    Unreachable,
)
from bot.dispatch import Deferred, Response
from bot.events import Attachment, Choice, Inbound, Reply
from bot.evidence import EvidenceRejected, EvidenceStore, StoredFile, fetch_attachments
from bot.i18n import N_
from bot.pacing import Pace, Pacer, SharedPacer
from models.inbox import finish_update, mark_replied, store_updates, unfinished_updates
from models.leases import notify, open_updates
from models.tables import InboxUpdate, utcnow

if TYPE_CHECKING:
    from bot.app import App

__all__ = [
    "MAX_WEBHOOK_BODY",
    "Adapter",
    "Channel",
    "EndOfInput",
    "Refused",
    "SetupError",
    "TooLarge",
    "Unavailable",
    "Webhook",
]

log = logging.getLogger(__name__)

# An update is a few kilobytes of JSON (a message holds at most 4,096 characters); a webhook
# body larger than this is no platform's, and is refused before it is read.
MAX_WEBHOOK_BODY = 2 * MEGABYTE
SEND_ATTEMPTS = 4  # server errors and timeouts: retried after 0.5, 1 and 2 s
CONNECT_BACKOFF_MAX = 60.0  # seconds between attempts to reach a platform at start
POLL_BACKOFF_MAX = 30.0
# Telegram delivers an album as one update per photo; parts arriving within this many seconds
# of each other are handled together and answered once.
ALBUM_WAIT = 1.0
DEFERRED_AT_ONCE = 2  # slow work (exports, charts) running at the same time, per channel
# Shared work: chats claimed by one look, and how often a process looks for waiting chats
# when no notification woke it (one lost with a connection, a lease run out).
CLAIM_AT_ONCE = 8
LOOK_EVERY = 1.0
# Woken by another process's update, a process claims after this pause, so that one claim
# takes the chats of many updates when they come quickly (each claim is a statement every
# process runs; the process that stored the updates claims at once).
CLAIM_PAUSE = 0.02
Keyed = tuple[str, dict[str, Any]]  # an update under its key in the inbox
FAILED = N_("That file could not be received. Please send it again.")
TOO_LARGE = N_("That file is larger than {max_mb} MB. Please send a smaller one.")


class Unavailable(Exception):
    """The platform cannot be reached now (no network, a server error): worth trying again."""


class SetupError(Exception):
    """The platform refused a setting (a token); the message names it, in one line."""


class TooLarge(Exception):
    """A file is larger than the channel can fetch."""


class EndOfInput(Exception):
    """The channel has nothing more to read, ever (the console at end of input)."""


class Refused(DeliveryError):
    """The platform refused this message as it is (a bad request): never worth resending
    at once; the outbox still tries it again later, as any delivery error."""


class WebhookSettings(Protocol):
    """A channel's webhook settings (bot.config), as the runtime reads them."""

    @property
    def webhook_url(self) -> str | None: ...
    @property
    def webhook_listen(self) -> str: ...
    @property
    def webhook_port(self) -> int: ...
    @property
    def webhook_secret(self) -> str | None: ...


@dataclass(frozen=True)
class Webhook:
    """Where the platform posts updates, and how a post proves it comes from the platform:
    a shared secret sent back in a header (checked before the body is read), or, for a
    platform that signs each body instead, `verify` (checked once the capped body is read)."""

    url: str
    listen: str
    port: int
    secret: str = ""
    header: str = ""  # carries the secret
    verify: Callable[[Mapping[str, str], bytes], bool] | None = None  # (headers, body)

    @classmethod
    def configured(cls, settings: WebhookSettings, header: str) -> Webhook | None:
        """The webhook a channel's settings describe; None for long polling."""
        if not settings.webhook_url:
            return None
        return cls(
            url=settings.webhook_url,
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            secret=settings.webhook_secret or "",
            header=header,
        )


class Adapter(Protocol):
    """What a platform adds to the runtime. Messages (`render`, `send`) are the adapter's
    own type; the runtime only passes them on."""

    name: str  # the channel's name in the database: identities, inbox, outbox
    title: str  # the platform's name as people know it ("Zalo")
    capabilities: Capabilities
    pace: Pace  # replies and the outbox together
    webhook: Webhook | None  # None: long polling
    # One update at a time, the next read after the last was answered and the outbox
    # delivered (a person at a terminal): no flood control, no background delivery.
    interactive: bool

    async def connect(self) -> None:
        """Checks the platform can be reached and accepts the token (Unavailable: try again;
        SetupError: never)."""

    async def listen(self, webhook: Webhook | None) -> None:
        """Asks the platform to post updates to the webhook, or (None) to keep them for
        long polling."""

    async def close(self) -> None: ...

    async def poll(self) -> list[dict[str, Any]]:
        """The next updates by long polling; [] when none came. Updates returned before are
        confirmed by the next call (the runtime stores them first)."""

    def from_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        """The update in a webhook's JSON body."""

    def identify(self, update: dict[str, Any]) -> tuple[str, str] | None:
        """The update's dedupe key and the chat it belongs to; None for a shape not known."""

    def to_inbound(self, key: str, update: dict[str, Any]) -> Inbound | None:
        """The Inbound event, or None for what is not for the bot (a group, an edit)."""

    async def received(self, update: dict[str, Any], inbound: Inbound | None) -> None:
        """Platform chores before handling (answering a pressed button)."""

    async def download(self, attachment: Attachment, limit: int) -> bytes:
        """The file's bytes, at most `limit` of them; EvidenceRejected when it cannot be."""

    def render(self, chat_id: str, reply: Reply) -> Sequence[Any]:
        """The messages that show a reply, in order."""

    def announcement(
        self, text: str, photo: str | None, choices: tuple[Choice, ...]
    ) -> Sequence[Any]:
        """The messages of an outbox message: HTML text, a photo in the evidence store, and
        buttons where the platform has them."""

    async def send(self, chat_id: str, message: Any) -> None:
        """Sends one message; raises RetryLater, QuotaExhausted, Unreachable, Refused or
        DeliveryError when it did not go."""

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool
    ) -> None:
        """Shows the sender how their broadcast goes (an edited message where possible)."""

    def routes(self, path: str) -> list[Any]:
        """More web routes beside the webhook at `path` (tornado rules)."""


class Channel:
    """One channel at work: its adapter, inbox, order, sending and outbox. See the module."""

    def __init__(self, app: App, adapter: Adapter, *, concurrency: int = 64) -> None:
        self.app = app
        self.adapter = adapter
        self.channel = adapter.name  # bot.delivery.Sender
        self.evidence = EvidenceStore(app.config.data_dir / "files")
        # Several processes share this channel's work (and its pace) on PostgreSQL.
        self.shared = app.cluster.shared and not adapter.interactive
        self.pacer: Pacer = (
            SharedPacer(adapter.pace, adapter.name, app.db.engine)
            if self.shared
            else adapter.pace.pacer()
        )
        self.worker = DeliveryWorker(app, self, shared=self.shared)
        self.webhook_port: int | None = None
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()  # the poll loop ended for good (end of input)
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._queued: dict[str, int] = {}  # work waiting per chat, to drop idle locks
        self._one_by_one: dict[str, int] = {}  # updates per chat handled on their own, waiting
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._working: set[str] = set()  # chats claimed by this process (shared work)
        self._work_wake = asyncio.Event()  # updates stored here, or a chat let go
        self._elsewhere = asyncio.Event()  # another process found more than it took
        self._work_task: asyncio.Task[None] | None = None
        self._slow = asyncio.Semaphore(DEFERRED_AT_ONCE)
        self._albums: dict[tuple[str, str], list[tuple[str, dict[str, Any], Inbound]]] = {}
        self._album_timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._quiet: set[str] = set()  # album parts whose answers are not sent
        self._quota_until = 0.0  # loop time until which the platform's quota is used up
        self._told: set[str] = set()  # what the admins were told (a notice's name)
        self._poller: asyncio.Task[None] | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._server: HTTPServer | None = None

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connects (waiting for the platform as long as it takes), finishes what a crash
        left, then listens for updates and delivers the outbox."""
        await self._reach(self.adapter.connect)
        if not self.shared:
            await self.recover()  # shared: what is left is claimed like any waiting chat
        webhook = self.adapter.webhook
        if webhook is not None:
            self._server = self._serve(webhook)
        await self._reach(lambda: self.adapter.listen(webhook))
        if webhook is None and self.shared:
            self.app.cluster.lead(f"intake:{self.name}", self._poll)
        elif webhook is None:
            self._poller = asyncio.create_task(self._poll(), name=f"{self.name}-poll")
        if self.shared:
            self.app.cluster.subscribe(f"inbox:{self.name}", self._elsewhere.set)
            self._work_task = asyncio.create_task(self._work(), name=f"{self.name}-work")
        if not self.adapter.interactive:
            self._worker_task = asyncio.create_task(
                self.worker.run_forever(), name=f"{self.name}-delivery"
            )
        log.info("%s channel started (%s)", self.name, "webhook" if webhook else "polling")

    async def stop(self) -> None:
        self._stopping.set()
        if self._worker_task is not None:
            await self.worker.stop(self._worker_task)
        for task in (self._poller, self._work_task):
            if task is not None:
                task.cancel()  # an update being stored, a chat claimed: tasks of their own
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
        await self.drain()
        await self.adapter.close()

    async def finished(self) -> None:
        """Waits until the channel has nothing more to read (the console at end of input)."""
        await self._finished.wait()

    async def drain(self) -> None:
        """Waits until every update received so far has been handled and answered."""
        for key in list(self._album_timers):
            self._album_timers.pop(key).cancel()
            self._flush_album(key)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.app.dispatcher.settle()

    async def _reach(self, step: Callable[[], Awaitable[None]]) -> None:
        """Runs a step that talks to the platform (connecting, setting the webhook) until it
        goes through: while the platform cannot be reached, one line per attempt and a
        growing wait. A refused token (SetupError) ends it at once."""
        attempt = 0
        while True:
            try:
                await step()
                return
            except Unavailable as error:
                attempt += 1
                delay = min(CONNECT_BACKOFF_MAX, 0.5 * 2**attempt)
                log.warning(
                    "%s: cannot reach the platform (%s); trying again in %.0f s (attempt %d)",
                    self.name,
                    error,
                    delay,
                    attempt,
                )
                await asyncio.sleep(delay)

    async def recover(self) -> None:
        """Handles updates stored before a crash, and resends replies that were not sent."""
        async with self.app.db.read() as session:
            rows = await unfinished_updates(session, self.name)
        for row in rows:
            chat = str(row.payload.get("_chat_id", ""))
            if row.handled_at is not None and row.replies is not None:
                replies = [Reply.from_json(item) for item in row.replies["items"]]
                await self.send_replies(chat, replies)
                self.app.dispatcher.replied(self.name, row.update_key)
            else:
                payload = dict(row.payload)
                self._spawn(row.update_key, payload, self._inbound(row.update_key, payload))
        if rows:
            log.info("%s: recovered %d unfinished updates", self.name, len(rows))

    # -- receiving -----------------------------------------------------------------------

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await self.adapter.poll()
                failures = 0
            except EndOfInput:
                break
            except RetryLater as later:
                await asyncio.sleep(later.seconds)
                continue
            except Exception as error:
                failures += 1
                delay = min(POLL_BACKOFF_MAX, 0.5 * 2**failures)
                log.warning("%s: polling failed (%s); retrying in %.1f s", self.name, error, delay)
                await asyncio.sleep(delay)
                continue
            if not updates:
                continue
            # Only once they are stored may the next poll confirm them.
            await self._store_until_done(updates)
            if self.adapter.interactive:
                await self.drain()
                while await self.worker.run_once():
                    pass
        self._finished.set()

    async def _store_until_done(self, updates: list[dict[str, Any]]) -> None:
        """Stores updates, trying again while the database is unavailable: the next poll,
        which would confirm them, must wait."""
        failures = 0
        while True:
            try:
                await self.receive(updates)
                return
            except Exception:
                failures += 1
                log.exception("%s: could not store updates (attempt %d)", self.name, failures)
                await asyncio.sleep(min(POLL_BACKOFF_MAX, 0.5 * 2**failures))

    async def receive(self, updates: list[dict[str, Any]]) -> None:
        """Stores the updates, then handles those not seen before. Both are a task of their
        own that stop() waits for: stopping the poll or the web server never cuts the
        inbox's transaction off, nor leaves a stored update unhandled until the next start."""
        storing = asyncio.create_task(self._accept_and_spawn(updates))
        self._tasks.add(storing)
        storing.add_done_callback(self._tasks.discard)
        await asyncio.shield(storing)

    async def _accept_and_spawn(self, updates: list[dict[str, Any]]) -> None:
        if self.shared:
            await self.accept(updates)
            self._work_wake.set()  # claimed like any waiting chat, here or elsewhere
        elif self.adapter.interactive:
            for key, update in await self.accept(updates):
                self._spawn(key, update, self._inbound(key, update))
        else:
            await self._take_together(updates)

    async def accept(self, updates: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """Stores updates durably; returns the (key, update) pairs not seen before."""
        known, unknown = self._sort(updates)
        async with self.app.db.write() as session:
            new = await self._store(session, known, unknown)
        self._skipped(unknown, new)
        return [(key, update) for key, update in known if key in new]

    def _sort(self, updates: list[dict[str, Any]]) -> tuple[list[Keyed], list[Keyed]]:
        """The updates by key, with the chat they belong to; and those of an unknown shape,
        by their digest."""
        known: list[Keyed] = []
        unknown: list[Keyed] = []
        for update in updates:
            found = self._identify(update)
            if found is None:
                unknown.append((_digest(update), update))
                continue
            key, chat = found
            known.append((key, {**update, "_chat_id": chat}))
        return known, unknown

    async def _store(
        self, session: AsyncSession, known: list[Keyed], unknown: list[Keyed]
    ) -> set[str]:
        """Stores the updates not seen before, and returns their keys. An update of unknown
        shape is stored marked handled."""
        new = set(await store_updates(session, self.name, [*known, *unknown]))
        for key, _ in unknown:
            if key in new:
                await finish_update(session, self.name, key)
        if self.shared and new and len(self._working) >= self._concurrency:
            # This process claims what it stored first; the others are told only when it has
            # no room (or, claiming, finds more than it takes: bot.cluster), as waking every
            # process for every update costs each of them a claim that mostly finds nothing.
            await notify(session, f"inbox:{self.name}")  # on commit
        return new

    def _skipped(self, unknown: list[Keyed], new: set[str]) -> None:
        for key, update in unknown:
            if key in new:
                log.warning(
                    "%s: an update of an unknown shape was stored and skipped (%s)",
                    self.name,
                    _shape(update),
                )

    async def _take_together(self, updates: list[dict[str, Any]]) -> None:
        """Stores the updates of one poll and handles them in the same transaction, one
        commit for all; then sends their replies, each chat's in order.

        An update that must wait for something first is handled on its own, as are its
        chat's next ones: a file to fetch, a person sending too quickly, an update not for
        the bot, a chat with such an update still waiting. If the transaction fails, nothing
        of it is kept and every update is handled on its own (where a handler that fails is
        rolled back alone, and its person told so).
        """
        known, unknown = self._sort(updates)
        read = {key: self._read(key, update) for key, update in known}
        parsed = [(key, update, read[key][0]) for key, update in known]
        together: list[Inbound] = []
        waiting = set(self._one_by_one)
        for _, update, inbound in parsed:
            chat = inbound.chat_id if inbound is not None else str(update["_chat_id"])
            if chat in waiting or not self._goes_together(inbound):
                waiting.add(chat)
                continue
            together.append(inbound)
        stored: set[str] = set()

        async def store(session: AsyncSession) -> set[str]:
            stored.update(await self._store(session, known, unknown))
            return stored

        responses = await self._respond_together(together, store)
        if responses is None:
            for key, update in await self.accept(updates):
                self._spawn(key, update, self._inbound(key, update))  # read again, and logged
            return
        self._skipped(unknown, stored)
        for key, (_, problem) in read.items():
            if problem is not None and key in stored:
                self._unreadable(key, problem)  # once: not when delivered again
        answered: dict[str, list[tuple[dict[str, Any], Inbound, Response]]] = {}
        for key, update, inbound in parsed:
            if key in responses and inbound is not None:
                answered.setdefault(inbound.chat_id, []).append((update, inbound, responses[key]))
        for key, update, inbound in parsed:
            if key in responses and inbound is not None:
                if inbound.chat_id in answered:  # a chat's first: its answers in one task
                    self._track(self._answer(inbound.chat_id, answered.pop(inbound.chat_id)))
            elif key in stored:
                self._spawn(key, update, inbound)

    async def _answer(
        self, chat: str, handled: list[tuple[dict[str, Any], Inbound, Response]]
    ) -> None:
        """Sends the replies of a chat's updates handled together, in order."""
        async with self._in_turn(chat):
            for key in await self._send_done(chat, handled):
                self.app.dispatcher.replied(self.name, key)

    def _goes_together(self, inbound: Inbound | None) -> TypeGuard[Inbound]:
        """Whether an update may be handled with others now: it is for the bot, has no file
        to fetch first, and its person is not sending too quickly."""
        return (
            inbound is not None
            and not inbound.attachments
            and not inbound.media_group
            and self.app.dispatcher.admit_at_once(inbound)
        )

    async def _respond_together(
        self,
        inbounds: list[Inbound],
        store: Callable[[AsyncSession], Awaitable[set[str]]],
    ) -> dict[str, Response] | None:
        """Dispatcher.respond_together; None (logged) when it failed and nothing was kept."""
        try:
            return await self.app.dispatcher.respond_together(inbounds, store)
        except Exception as error:
            log.warning(
                "%s: %d updates could not be handled together (%s); one by one instead",
                self.name,
                len(inbounds),
                type(error).__name__,
            )
            return None

    def _identify(self, update: dict[str, Any]) -> tuple[str, str] | None:
        try:
            found = self.adapter.identify(update)
        except Exception:
            return None
        if found is None or not found[0] or len(found[0]) > 64:
            return None
        return found

    async def receive_webhook(self, raw: bytes) -> None:
        """A webhook's body: its update stored (anything unreadable under its digest), then
        handled."""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"_unreadable": raw[:2000].decode("utf-8", "replace")}
        await self.receive([self.adapter.from_webhook(body)])

    def _inbound(self, key: str, update: dict[str, Any]) -> Inbound | None:
        """The update as an Inbound event; None for what is not for the bot, and for what
        cannot be read (logged once: the update is then marked handled)."""
        inbound, error = self._read(key, update)
        if error is not None:
            self._unreadable(key, error)
        return inbound

    def _read(self, key: str, update: dict[str, Any]) -> tuple[Inbound | None, str | None]:
        """The Inbound event, or None with the error's type when it cannot be read."""
        try:
            platform = {k: v for k, v in update.items() if not k.startswith("_")}
            inbound = self.adapter.to_inbound(key, platform)
        except Exception as error:
            return None, type(error).__name__
        if inbound is not None and inbound.update_key != key:
            inbound = replace(inbound, update_key=key)  # one key for the inbox, always
        return inbound, None

    def _unreadable(self, key: str, error: str) -> None:
        # The error's type only: its message may quote what the person sent.
        log.warning("%s: update %s could not be read and was skipped (%s)", self.name, key, error)

    def _spawn(self, key: str, update: dict[str, Any], inbound: Inbound | None) -> None:
        """Handles one update on its own, after the chat's earlier ones."""
        chat = inbound.chat_id if inbound is not None else str(update.get("_chat_id", key))
        self._one_by_one[chat] = self._one_by_one.get(chat, 0) + 1
        album = inbound.media_group if inbound is not None else None
        if inbound is None or album is None:
            self._track(self._process(key, update, inbound))
            return
        group = (inbound.chat_id, album)
        self._albums.setdefault(group, []).append((key, update, inbound))
        timer = self._album_timers.pop(group, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._album_timers[group] = loop.call_later(ALBUM_WAIT, self._flush_album, group)

    def _flush_album(self, group: tuple[str, str]) -> None:
        """Handles an album's parts in order; only the last part's answer is sent."""
        self._album_timers.pop(group, None)
        parts = self._albums.pop(group, [])
        self._quiet.update(key for key, _, _ in parts[:-1])

        async def run() -> None:
            for key, update, inbound in parts:
                await self._process(key, update, inbound)

        self._track(run())

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- shared work (several processes on PostgreSQL) ----------------------------------

    async def _work(self) -> None:
        """Claims chats with updates waiting that no process is working on, while this
        process has room; looks again when woken (an update stored here or elsewhere, a chat
        let go) and every LOOK_EVERY seconds."""
        while not self._stopping.is_set():
            if self._elsewhere.is_set() and not self._work_wake.is_set():
                if self._working:
                    # Busy: it claims again when one of its chats is let go.
                    self._elsewhere.clear()
                    await self._wait_for_work()
                    continue
                await asyncio.sleep(CLAIM_PAUSE)
            self._work_wake.clear()
            self._elsewhere.clear()
            room = min(CLAIM_AT_ONCE, self._concurrency - len(self._working))
            waiting: dict[str, list[InboxUpdate]] = {}
            if room > 0:
                try:
                    waiting = await self.app.cluster.claim_chats(self.name, room)
                except Exception:
                    log.exception("%s: could not claim waiting chats", self.name)
            self._working.update(waiting)
            handled = await self._handle_claimed(waiting)
            for chat, rows in waiting.items():
                self._track(self._work_chat(chat, rows, handled.get(chat, [])))
            if waiting and len(waiting) == room:
                continue  # more may be waiting
            await self._wait_for_work()

    async def _handle_claimed(
        self, waiting: dict[str, list[InboxUpdate]]
    ) -> dict[str, list[tuple[dict[str, Any], Inbound, Response]]]:
        """Handles the claimed chats' first updates in one transaction, as `_take_together`
        does with a poll's; what it handled is taken off `waiting`. The rest of a chat
        (from an update that must wait for something, or was handled by a process that
        stopped before answering) is handled on its own."""
        together: list[tuple[str, dict[str, Any], Inbound]] = []
        for chat, rows in waiting.items():
            for row in rows:
                update = dict(row.payload)
                inbound, _ = self._read(row.update_key, update)
                if row.handled_at is not None or not self._goes_together(inbound):
                    break
                together.append((chat, update, inbound))
        if not together:
            return {}
        keys = {inbound.update_key for _, _, inbound in together}

        async def stored(_session: AsyncSession) -> set[str]:
            return keys

        responses = await self._respond_together([inbound for _, _, inbound in together], stored)
        if responses is None:
            return {}
        handled: dict[str, list[tuple[dict[str, Any], Inbound, Response]]] = {}
        for chat, update, inbound in together:
            handled.setdefault(chat, []).append((update, inbound, responses[inbound.update_key]))
        for chat, done in handled.items():
            waiting[chat] = waiting[chat][len(done) :]
        return handled

    async def _wait_for_work(self) -> None:
        """Until woken (here or by another process), or LOOK_EVERY seconds."""
        woken = [asyncio.ensure_future(e.wait()) for e in (self._work_wake, self._elsewhere)]
        await asyncio.wait(woken, timeout=LOOK_EVERY, return_when=asyncio.FIRST_COMPLETED)
        for pending in woken:
            pending.cancel()

    async def _work_chat(
        self,
        chat: str,
        rows: list[InboxUpdate],
        done: list[tuple[dict[str, Any], Inbound, Response]],
    ) -> None:
        """Sends the replies of a claimed chat's updates handled together, handles its other
        waiting updates in order (and sends the replies of any a stopped process handled but
        did not answer), then lets the chat go; what came meanwhile is handled first. An
        update that failed is left for a later claim."""
        tried = {inbound.update_key for _, inbound, _ in done}
        released = False
        try:
            answered = await self._send_done(chat, done)
            while rows or answered:
                if rows and not self._stopping.is_set():
                    for row, inbound in await self._whole_albums(chat, rows, tried):
                        tried.add(row.update_key)
                        try:
                            if await self._handle_stored(chat, row, inbound):
                                answered.append(row.update_key)
                        except Exception:
                            log.exception(
                                "%s: processing update %s failed", self.name, row.update_key
                            )
                rows, released = await self._answered(chat, answered, tried)
                answered = []
                if self._stopping.is_set():
                    break
        except Exception:
            log.exception("%s: working on a chat failed", self.name)
        finally:
            if not released:
                with contextlib.suppress(Exception):
                    async with self.app.db.write() as session:
                        await self.app.cluster.release_chat(session, self.name, chat)
            self._working.discard(chat)
            self._work_wake.set()

    async def _send_done(
        self, chat: str, done: list[tuple[dict[str, Any], Inbound, Response]]
    ) -> list[str]:
        """Sends the replies of a chat's updates handled together, in order; their keys."""
        for update, inbound, response in done:
            await self._chores(update, inbound)
            await self.send_replies(chat, response.replies)
            self._defer(chat, response.deferred)
        return [inbound.update_key for _, inbound, _ in done]

    async def _whole_albums(
        self, chat: str, rows: list[InboxUpdate], tried: set[str]
    ) -> list[tuple[InboxUpdate, Inbound | None]]:
        """The rows with their Inbound events; when the last is part of an album that may
        still be arriving, after waiting for its other parts. Only an album's last part
        is answered."""
        while True:
            parts = [(row, self._inbound(row.update_key, dict(row.payload))) for row in rows]
            last = parts[-1][1]
            age = (utcnow() - parts[-1][0].received_at).total_seconds()
            if last is None or last.media_group is None or age >= ALBUM_WAIT:
                break
            await asyncio.sleep(ALBUM_WAIT - age)
            async with self.app.db.read() as session:
                found = await open_updates(session, self.name, [chat])
            rows = [row for row in found if row.update_key not in tried] or rows
        for (row, inbound), (_, following) in itertools.pairwise(parts):
            group = inbound.media_group if inbound is not None else None
            if group is not None and following is not None and following.media_group == group:
                self._quiet.add(row.update_key)
        return parts

    async def _handle_stored(self, chat: str, row: InboxUpdate, inbound: Inbound | None) -> bool:
        """One stored update of a claimed chat: handled, or (handled by a process that
        stopped before answering) its replies sent; whether it is answered now."""
        if row.handled_at is None:
            return await self._handle(row.update_key, dict(row.payload), inbound)
        if row.replies is not None:
            replies = [Reply.from_json(item) for item in row.replies["items"]]
            await self.send_replies(chat, replies)
        return True

    async def _answered(
        self, chat: str, answered: list[str], tried: set[str]
    ) -> tuple[list[InboxUpdate], bool]:
        """Marks the updates answered; the chat's updates that came meanwhile, or (none
        came) the chat let go, in the same transaction: no update is left unclaimed."""
        async with self.app.db.write() as session:
            if answered:
                await mark_replied(session, self.name, answered)
            found = await open_updates(session, self.name, [chat])
            rows = [row for row in found if row.update_key not in tried]
            if not rows:
                await self.app.cluster.release_chat(session, self.name, chat)
        return rows, not rows

    @contextlib.asynccontextmanager
    async def _in_turn(self, chat: str) -> AsyncIterator[None]:
        """One chat's work one at a time, in the order it came; other chats alongside."""
        lock = self._chat_locks.setdefault(chat, asyncio.Lock())
        self._queued[chat] = self._queued.get(chat, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._queued[chat] -= 1
            if not self._queued[chat]:
                del self._queued[chat], self._chat_locks[chat]

    async def _process(self, key: str, update: dict[str, Any], inbound: Inbound | None) -> None:
        chat = inbound.chat_id if inbound is not None else str(update.get("_chat_id", key))
        try:
            async with self._in_turn(chat):
                if await self._handle(key, update, inbound):
                    self.app.dispatcher.replied(self.name, key)
        except Exception:
            log.exception("%s: processing update %s failed", self.name, key)
        finally:
            self._one_by_one[chat] -= 1
            if not self._one_by_one[chat]:
                del self._one_by_one[chat]

    async def _handle(self, key: str, update: dict[str, Any], inbound: Inbound | None) -> bool:
        """Handles one update and sends its replies; whether they went out (to be marked:
        an update not for the bot is marked done at once)."""
        await self._chores(update, inbound)
        dispatcher = self.app.dispatcher
        if inbound is None:
            # Not for us (a group, an edit), or unreadable: handled, with nothing to say.
            await dispatcher.ignore(self.name, key)
            return False
        if not self.adapter.interactive:
            delay, notice = dispatcher.admit(inbound)
            if notice is not None:
                await self.send_replies(inbound.chat_id, [notice])
            if delay:
                await asyncio.sleep(delay)  # pacing a flooding user; their chat alone waits
        async with self._slots:
            if inbound.attachments and await dispatcher.wants_files(inbound):
                inbound = await fetch_attachments(inbound, self._download)
            response = await dispatcher.respond(inbound)
            if response is None:
                return False  # handled before: a redelivery changes nothing, sends nothing
            if key in self._quiet:
                self._quiet.discard(key)
            else:
                await self.send_replies(inbound.chat_id, response.replies)
        if self.adapter.interactive:
            await self._run_deferred(inbound.chat_id, response.deferred)
        else:
            self._defer(inbound.chat_id, response.deferred)
        return True

    async def _chores(self, update: dict[str, Any], inbound: Inbound | None) -> None:
        try:
            await self.adapter.received(update, inbound)
        except Exception as error:
            log.warning("%s: chores before handling failed: %s", self.name, error)

    def _defer(self, chat_id: str, deferred: list[Deferred]) -> None:
        """The slow work of an update, answering when it is done; the chat goes on
        meanwhile."""
        if deferred:
            self._track(self._run_deferred(chat_id, deferred))

    async def _run_deferred(self, chat_id: str, deferred: list[Deferred]) -> None:
        async with self._slow:
            for work in deferred:
                await self.send_replies(chat_id, await work())

    async def _download(self, attachment: Attachment) -> StoredFile:
        """The file checked and stored in the evidence store; refused (with the reason the
        person reads) when larger than the channel can fetch or not acceptable evidence."""
        capabilities = self.adapter.capabilities
        limit = capabilities.max_download_mb * MEGABYTE
        too_big = EvidenceRejected(TOO_LARGE, {"max_mb": capabilities.max_download_mb})
        if attachment.size is not None and attachment.size > limit:
            raise too_big
        try:
            data = await self.adapter.download(attachment, limit)
        except TooLarge:
            raise too_big from None
        except EvidenceRejected:
            raise
        except Exception as error:
            log.warning("%s: could not fetch a file: %s", self.name, type(error).__name__)
            raise EvidenceRejected(FAILED) from None
        if len(data) > limit:
            raise too_big
        return await asyncio.to_thread(
            self.evidence.save, data, original_name=attachment.file_name
        )

    # -- sending -------------------------------------------------------------------------

    async def send_replies(self, chat_id: str, replies: Iterable[Reply]) -> None:
        """Sends each reply (to its own chat when it names one), message by message; what
        cannot go is logged, and the rest of that reply dropped."""
        for reply in replies:
            target = reply.chat_id or chat_id
            for message in self.adapter.render(target, reply):
                if not await self._send_live(target, message):
                    break

    async def _send_live(self, chat_id: str, message: Any) -> bool:
        """One message of a reply: retried on server errors and when asked to slow down;
        False if it cannot go."""
        for attempt in range(SEND_ATTEMPTS):
            if self._quota_used_up():
                return False
            await self.pacer.live()
            try:
                await self.adapter.send(chat_id, message)
                return True
            except QuotaExhausted as exhausted:
                self._exhausted(exhausted)
                return False
            except RetryLater as later:
                self.pacer.pause(later.seconds)
                await asyncio.sleep(later.seconds)
                continue
            except Unreachable:
                log.info("%s: a chat cannot be reached (blocked?); reply dropped", self.name)
                return False
            except Refused as error:
                log.error("%s: the platform refused a reply: %s", self.name, error)
                return False
            except DeliveryError as error:
                if attempt == SEND_ATTEMPTS - 1:
                    log.error("%s: a reply could not be sent: %s", self.name, error)
                    return False
                delay = 0.5 * 2**attempt
                log.warning("%s: sending failed (%s); retrying in %.1f s", self.name, error, delay)
                await asyncio.sleep(delay)
        return False

    # -- outbox delivery (bot.delivery.Sender) ---------------------------------------------

    async def deliver(
        self, chat_id: str, text: str, photo: str | None, choices: tuple[Choice, ...] = ()
    ) -> None:
        """Sends one outbox message (raising what bot.delivery understands); `choices` are
        buttons where the channel has them (the text says what to type where it has none)."""
        if self._quota_used_up():
            raise QuotaExhausted(self._quota_until - asyncio.get_running_loop().time())
        for index, message in enumerate(self.adapter.announcement(text, photo, choices)):
            if index:
                await self.pacer.bulk()
            try:
                await self.adapter.send(chat_id, message)
            except QuotaExhausted as exhausted:
                self._exhausted(exhausted)
                raise

    async def show_progress(
        self, broadcast_id: int, chat_id: str, text: str, *, final: bool = False
    ) -> None:
        if self._quota_used_up():
            return
        await self.pacer.live()
        await self.adapter.show_progress(broadcast_id, chat_id, text, final=final)

    # -- the platform's quota ------------------------------------------------------------

    def _quota_used_up(self) -> bool:
        return asyncio.get_running_loop().time() < self._quota_until

    def _exhausted(self, exhausted: QuotaExhausted) -> None:
        """Nothing more is sent on this channel until the quota allows one more try; the
        admins hear of it once."""
        self._quota_until = asyncio.get_running_loop().time() + exhausted.seconds
        log.error(
            "%s: the platform takes no more messages (%s); sending stops for %.0f minutes",
            self.name,
            exhausted.notice,
            exhausted.seconds / 60,
        )
        if exhausted.notice not in self._told:
            self._told.add(exhausted.notice)
            self._track(self._tell_admins(exhausted.notice))

    async def _tell_admins(self, notice: str) -> None:
        try:
            await tell_admins(
                self.app, self.name, self.adapter.title, dt.datetime.now(dt.UTC), notice
            )
        except Exception:
            log.exception("%s: could not tell the admins (%s)", self.name, notice)

    # -- webhook -------------------------------------------------------------------------

    def _serve(self, webhook: Webhook) -> HTTPServer:
        path = urlsplit(webhook.url).path or "/"
        web = WebApplication(
            [(path, _WebhookHandler, {"channel": self}), *self.adapter.routes(path)],
            log_function=_quiet_log,
        )
        server = HTTPServer(web, max_body_size=MAX_WEBHOOK_BODY)
        # Several processes of one bot on one machine share the port; the kernel spreads
        # the connections among them (SO_REUSEPORT).
        sockets = bind_sockets(webhook.port, webhook.listen, reuse_port=True)
        server.add_sockets(sockets)
        self.webhook_port = sockets[0].getsockname()[1]  # the real one when configured as 0
        return server

    def secret_matches(self, headers: Mapping[str, str]) -> bool:
        """Constant-time comparison of the webhook's secret header; true when the platform
        signs bodies instead (verified once the body is read)."""
        webhook = self.adapter.webhook
        if webhook is None:
            return False
        if webhook.verify is not None:
            # Signed bodies: the header that carries the signature must at least be there.
            return not webhook.header or bool(headers.get(webhook.header, "").strip())
        expected = webhook.secret.encode()
        try:
            given = headers.get(webhook.header, "").encode("ascii")
        except UnicodeEncodeError:
            return False
        return bool(expected) and hmac.compare_digest(given, expected)

    def signature_matches(self, headers: Mapping[str, str], body: bytes) -> bool:
        webhook = self.adapter.webhook
        return webhook is not None and (webhook.verify is None or webhook.verify(headers, body))


@stream_request_body
class _WebhookHandler(RequestHandler):
    """Stores a webhook update durably, then answers 200. The secret and the body's type and
    size are checked from the headers, before the body is read: anything unauthenticated
    gets 403 and its body is never read; a body larger than any update, 413. A signed body
    is checked once read (at most MAX_WEBHOOK_BODY)."""

    def initialize(self, channel: Channel) -> None:
        self.channel = channel
        self.body = bytearray()

    def prepare(self) -> None:
        if self.channel.stopping:
            self._refuse(503)  # the platform delivers it again, to the next run
            return
        content_type = self.request.headers.get("Content-Type", "")
        if (
            self.request.method != "POST"
            or not self.channel.secret_matches(self.request.headers)
            or content_type.split(";")[0].strip().lower() != "application/json"
        ):
            self._refuse(403)
            return
        try:
            declared = int(self.request.headers.get("Content-Length", "0"))
        except ValueError:
            declared = MAX_WEBHOOK_BODY + 1
        if declared > MAX_WEBHOOK_BODY:
            self._refuse(413)

    def _refuse(self, status: int) -> None:
        """Answers at once; the connection closes without reading the body."""
        self.set_status(status)
        self.finish()

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk  # the server caps the total at MAX_WEBHOOK_BODY

    async def post(self) -> None:
        body = bytes(self.body)
        if not self.channel.signature_matches(self.request.headers, body):
            self.set_status(403)
            return
        await self.channel.receive_webhook(body)
        self.set_status(200)


def _quiet_log(handler: RequestHandler) -> None:
    """Webhook requests are not logged one by one; refusals and errors are."""
    if handler.get_status() >= 400:
        log.info("webhook answered %d", handler.get_status())


def _digest(update: dict[str, Any]) -> str:
    """A dedupe key for an update that has none of its own (64 characters, as keys are)."""
    text = json.dumps(update, sort_keys=True, default=str, ensure_ascii=False)
    return "~" + hashlib.sha256(text.encode()).hexdigest()[:63]


def _shape(update: dict[str, Any]) -> str:
    """What an unknown update looks like, without its content (it may hold personal data)."""
    return "keys: " + ", ".join(sorted(str(key) for key in update)[:12])
