"""The application factory: everything the bot is, built from one Config."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import select

from bot.channels.console import ConsoleAdapter
from bot.channels.runtime import Adapter, Channel
from bot.channels.telegram import TelegramAdapter
from bot.channels.zalo import ZaloAdapter
from bot.channels.zalo_oa import ZaloOAAdapter
from bot.cluster import Cluster
from bot.config import Config, shipped_file
from bot.dispatch import Dispatcher
from bot.evidence import EvidenceStore
from bot.i18n import Catalogs
from bot.router import Router
from handlers import register_all
from models import Database
from models.dialogues import prune_dialogues
from models.inbox import prune_inbox
from models.tables import Broadcast, EntryFile, Schedule
from models.units import count_units, ensure_default_campaign, import_units, parse_units_csv

__all__ = ["App", "build_app", "shipped_units_file"]

log = logging.getLogger(__name__)

INBOX_RETENTION = dt.timedelta(days=2)  # Telegram keeps undelivered updates for 24 hours
DIALOGUE_RETENTION = dt.timedelta(days=30)
MAINTENANCE_INTERVAL = dt.timedelta(hours=1)


@dataclass
class App:
    config: Config
    db: Database
    catalogs: Catalogs
    router: Router
    dispatcher: Dispatcher
    cluster: Cluster  # the other processes on the same database, and the roles held here
    # The platforms the configuration turns on, by name, in the order they start.
    channels: dict[str, Channel] = field(default_factory=dict)
    # The console chat: always there, run only when asked (`chat`, or `run` with no token).
    console: Channel | None = None

    def add_channel(self, adapter: Adapter) -> Channel:
        """Puts a platform's adapter to work: the runtime around it, and its capabilities
        declared to the dispatcher (the factory does this for every configured platform)."""
        channel = Channel(self, adapter)
        self.dispatcher.channels[adapter.name] = dataclasses.replace(
            adapter.capabilities, bulk_per_minute=channel.pacer.bulk_per_second * 60
        )
        if adapter.interactive:
            self.console = channel
        else:
            self.channels[adapter.name] = channel
        return channel

    async def prepare(self) -> None:
        """Migrates the schema; on an empty database imports the units and the campaign."""
        await self.db.migrate()
        async with self.db.write() as session:
            await self.db.one_at_a_time(session)
            if await count_units(session) == 0:
                path = self.config.units_file or shipped_units_file()
                added, _ = await import_units(
                    session, parse_units_csv(path.read_text(encoding="utf-8"))
                )
                log.info("imported %d units from %s", added, path.name)
            today = dt.datetime.now(self.config.tz).date()
            if await ensure_default_campaign(session, today):
                log.info("created the movement-wide campaign")
        await self.db.checkpoint()  # an erasure cut short by a crash is gone from the log too

    async def maintain(self) -> None:
        """Forgets what is no longer needed: answered updates past the redelivery window,
        forms abandoned for a month, and flood counters of users who went quiet; then empties
        the database's write-ahead log, where deleted rows would otherwise linger."""
        now = dt.datetime.now(dt.UTC)
        async with self.db.write() as session:
            updates = await prune_inbox(session, now - INBOX_RETENTION)
            dialogues = await prune_dialogues(session, now - DIALOGUE_RETENTION)
        files = await self._prune_files(now - DIALOGUE_RETENTION)
        self.dispatcher.flood.forget_idle()
        if not await self.db.checkpoint():
            log.warning("readers kept part of the write-ahead log; it is emptied next time")
        if updates or dialogues or files:
            log.info(
                "pruned %d answered updates, %d abandoned forms, %d unused files",
                updates,
                dialogues,
                files,
            )

    async def _prune_files(self, before: dt.datetime) -> int:
        """Files sent in forms that were never submitted: older than any open form."""
        store = EvidenceStore(self.config.data_dir / "files")
        candidates = await asyncio.to_thread(store.older_than, before)
        if not candidates:
            return 0
        used: set[str | None] = set()
        async with self.db.read() as session:
            # Evidence of entries, and photos of news still to be sent or being sent.
            for column in (EntryFile.path, Broadcast.photo_path, Schedule.photo_path):
                found = await session.scalars(select(column).where(column.in_(candidates)))
                used.update(found.all())
        unused = [path for path in candidates if path not in used]
        for path in unused:
            store.delete(path)
        return len(unused)

    async def maintain_forever(self) -> None:
        while True:
            await self.maintain()
            await asyncio.sleep(MAINTENANCE_INTERVAL.total_seconds())

    async def close(self) -> None:
        await self.dispatcher.settle()
        await self.db.close()


def shipped_units_file() -> Path:
    """The unit tree shipped with the project (data/ in a checkout, bot/shipped installed)."""
    return shipped_file("lang-son-units-2025.csv")


def build_app(config: Config, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> App:
    """Assembles database, catalogs, handlers, dispatcher and channels (not yet started)."""
    db = Database(config.database.url, busy_timeout_ms=config.database.busy_timeout_ms)
    catalogs = Catalogs(cache_dir=config.data_dir / "locales")
    router = Router()
    register_all(router)
    app = App(config, db, catalogs, router, Dispatcher(config, db, catalogs, router), Cluster(db))
    for adapter in _adapters(app, stdin, stdout):
        app.add_channel(adapter)
    return app


def _adapters(app: App, stdin: TextIO | None, stdout: TextIO | None) -> list[Adapter]:
    """Every platform the configuration turns on, then the console. A new platform is one
    adapter module (see bot.channels.runtime.Adapter) and one line here."""
    adapters: list[Adapter] = []
    if app.config.telegram.enabled:
        adapters.append(TelegramAdapter(app))
    if app.config.zalo.enabled:
        adapters.append(ZaloAdapter(app))
    if app.config.zalo_oa.enabled:
        adapters.append(ZaloOAAdapter(app))
    adapters.append(ConsoleAdapter(app, stdin, stdout))
    return adapters
