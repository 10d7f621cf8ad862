"""One channel's sending rate, shared between live replies and bulk delivery.

python-telegram-bot's stock AIORateLimiter puts every request into one bucket, so a running
broadcast would make every reply wait its turn. Here both draw on one sliding one-second
window, but bulk delivery always leaves a slot free: a reply never waits behind a broadcast,
and a broadcast alone still uses all but one slot of the channel's rate.

A platform that counts per minute (a Zalo Official Account's API package) gets a window of a
minute, and keeps a share of it for replies rather than one slot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from models.leases import pause_sending, start_pace, take_send_slot

__all__ = ["Pace", "Pacer", "SharedPacer"]

WINDOW = 1.0
# Processes sharing a pace wake for their slots a little late or early (a busy machine): the
# slots are spaced this much wider than the rate, so that no window holds more.
SPACING_MARGIN = 1.02


@dataclass(frozen=True)
class Pace:
    """How fast a channel may send, as its adapter declares it: `limit` messages per `window`
    seconds, replies and the outbox together, `reserve` of them kept for replies."""

    limit: int
    window: float = WINDOW
    reserve: int = 1

    def pacer(self) -> Pacer:
        return Pacer(self.limit, window=self.window, reserve=self.reserve)


class Pacer:
    def __init__(self, limit: int, *, window: float = WINDOW, reserve: int = 1) -> None:
        self.limit = limit  # messages per window, replies and bulk together
        self.window = window
        self.bulk_limit = max(1, limit - reserve)  # what a broadcast may use of each window
        self._sent: deque[float] = deque()  # send times within the last window
        self._paused_until = 0.0
        self._replies_waiting = 0
        self._lock = asyncio.Lock()
        self._pausing: set[asyncio.Task[None]] = set()

    async def live(self) -> None:
        """Waits (rarely, and briefly) until a reply may go."""
        await self._acquire(self.limit, bulk=False)

    async def bulk(self) -> None:
        """Waits until a bulk message may go, keeping one slot of the window for replies."""
        await self._acquire(self.bulk_limit, bulk=True)

    @property
    def bulk_per_second(self) -> float:
        """How fast a broadcast goes out, at most."""
        return self.bulk_limit / self.window

    def pause(self, seconds: float) -> None:
        """The platform said "retry after": nothing bulk goes until then."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def _acquire(self, limit: int, *, bulk: bool) -> None:
        if not bulk:
            self._replies_waiting += 1
        try:
            while True:
                async with self._lock:
                    now = time.monotonic()
                    while self._sent and now - self._sent[0] >= self.window:
                        self._sent.popleft()
                    # A waiting reply takes the next free slot before any bulk message.
                    held = bulk and (now < self._paused_until or self._replies_waiting > 0)
                    if not held and len(self._sent) < limit:
                        self._sent.append(now)
                        return
                    if bulk and now < self._paused_until:
                        wait = self._paused_until - now
                    elif len(self._sent) >= limit:
                        wait = self.window - (now - self._sent[len(self._sent) - limit])
                    else:
                        wait = 0.005  # a reply is about to go
                await asyncio.sleep(max(wait, 0.001))
        finally:
            if not bulk:
                self._replies_waiting -= 1


class SharedPacer(Pacer):
    """One channel's pace for every process sharing a PostgreSQL database: each message
    takes the next slot of one clock in the database (models.leases.take_send_slot), the
    slots spaced 2 % wider than 1/rate. A reply takes the next slot, however far ahead; a
    bulk message only a slot due within one spacing, so replies pass ahead of broadcasts
    (waiting at most two slots behind them)."""

    def __init__(self, pace: Pace, channel: str, engine: AsyncEngine) -> None:
        super().__init__(pace.limit, window=pace.window, reserve=pace.reserve)
        self.channel = channel
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._started = False
        self._spacing = SPACING_MARGIN * pace.window / pace.limit
        # A process that wakes this late for its slot takes another: sends at most this late
        # keep any window within the limit, thanks to the margin.
        self._late = (SPACING_MARGIN - 1) * pace.window

    async def live(self) -> None:
        await self._slot(self._spacing, within=None)

    async def bulk(self) -> None:
        spacing = self._spacing
        while True:
            if await self._slot(spacing, within=spacing):
                return
            await asyncio.sleep(spacing)  # the next slot is a reply's, or a pause's

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        task = asyncio.get_running_loop().create_task(self._pause(seconds))
        self._pausing.add(task)
        task.add_done_callback(self._pausing.discard)

    async def _pause(self, seconds: float) -> None:
        async with self._engine.connect() as connection:
            await pause_sending(connection, self.channel, seconds)

    async def _slot(self, spacing: float, *, within: float | None) -> bool:
        """Waits for a slot of the shared clock; False when a bulk message finds none due.
        A slot this process wakes up too late for (a busy machine) is given up for the
        next: sent late, it would crowd the slots of the other processes."""
        loop = asyncio.get_running_loop()
        while True:
            async with self._engine.connect() as connection:
                if not self._started:
                    await start_pace(connection, self.channel)
                    self._started = True
                wait = await take_send_slot(connection, self.channel, spacing, within=within)
            if wait is None:
                return False
            if not wait:
                return True  # the clock was behind: nobody else's slot is near
            due = loop.time() + wait
            await asyncio.sleep(wait)
            if loop.time() - due <= self._late:
                return True
