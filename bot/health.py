"""Health and readiness for a reverse proxy, a container's health check or a supervisor:
GET /healthz answers 200 while the process runs; GET /readyz answers 200 once its channels
are started and the database answers, else 503. Each names the process (bot.cluster)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import tornado.httpserver
import tornado.netutil
import tornado.web
from sqlalchemy import text

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["HealthServer"]

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 2.0  # seconds a readiness check waits for the database


class HealthServer:
    def __init__(self, app: App) -> None:
        self.app = app
        self.ready = False  # set once every channel started
        self.port = 0
        self._server: tornado.httpserver.HTTPServer | None = None

    def start(self, host: str, port: int) -> None:
        application = tornado.web.Application(
            [
                (r"/healthz", _Health, {"health": self}),
                (r"/readyz", _Ready, {"health": self}),
            ],
            log_function=lambda _handler: None,
        )
        sockets = tornado.netutil.bind_sockets(port, host)
        self._server = tornado.httpserver.HTTPServer(application)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("health on http://%s:%d/healthz and /readyz", host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    async def database_answers(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT), self.app.db.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True


class _Health(tornado.web.RequestHandler):
    def initialize(self, health: HealthServer) -> None:
        self.health = health

    async def get(self) -> None:
        self.write({"status": "alive", "process": self.health.app.cluster.name})


class _Ready(_Health):
    async def get(self) -> None:
        if not self.health.ready:
            self.set_status(503)
            self.write({"status": "starting", "process": self.health.app.cluster.name})
            return
        if not await self.health.database_answers():
            self.set_status(503)
            self.write({"status": "no database", "process": self.health.app.cluster.name})
            return
        self.write({"status": "ready", "process": self.health.app.cluster.name})
