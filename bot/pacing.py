"""One channel's sending rate, shared between live replies and bulk delivery.

python-telegram-bot's stock AIORateLimiter puts every request into one bucket, so a running
broadcast would make every reply wait its turn. Here both draw on one sliding one-second
window, but bulk delivery always leaves a slot free: a reply never waits behind a broadcast,
and a broadcast alone still uses all but one slot of the channel's rate.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

__all__ = ["Pacer"]

WINDOW = 1.0


class Pacer:
    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._sent: deque[float] = deque()  # send times within the last window
        self._paused_until = 0.0
        self._replies_waiting = 0
        self._lock = asyncio.Lock()

    async def live(self) -> None:
        """Waits (rarely, and briefly) until a reply may go."""
        await self._acquire(self.per_second)

    async def bulk(self) -> None:
        """Waits until a bulk message may go, keeping one slot of the window for replies."""
        await self._acquire(max(1, self.per_second - 1))

    def pause(self, seconds: float) -> None:
        """The platform said "retry after": nothing bulk goes until then."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def _acquire(self, limit: int) -> None:
        bulk = limit < self.per_second
        if not bulk:
            self._replies_waiting += 1
        try:
            while True:
                async with self._lock:
                    now = time.monotonic()
                    while self._sent and now - self._sent[0] >= WINDOW:
                        self._sent.popleft()
                    # A waiting reply takes the next free slot before any bulk message.
                    held = bulk and (now < self._paused_until or self._replies_waiting > 0)
                    if not held and len(self._sent) < limit:
                        self._sent.append(now)
                        return
                    if bulk and now < self._paused_until:
                        wait = self._paused_until - now
                    elif len(self._sent) >= limit:
                        wait = WINDOW - (now - self._sent[len(self._sent) - limit])
                    else:
                        wait = 0.005  # a reply is about to go
                await asyncio.sleep(max(wait, 0.001))
        finally:
            if not bulk:
                self._replies_waiting -= 1
