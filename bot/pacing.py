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

__all__ = ["Pace", "Pacer"]

WINDOW = 1.0


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
