"""Per-user flood control: a token bucket that slows a flooding user without dropping anything.

Kept in memory on purpose: it only paces the present, and losing it on restart loses nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["FloodGate"]


@dataclass
class _Bucket:
    tokens: float
    updated: float
    noticed: bool = False
    albums: set[str] = field(default_factory=set)


class FloodGate:
    """Allows `burst` messages at once, then `burst / per_seconds` a second, per user."""

    def __init__(self, burst: int, per_seconds: float) -> None:
        self.burst = burst
        self.rate = burst / per_seconds
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, user: str, album: str | None = None) -> tuple[float, bool]:
        """How long to hold this message, and whether to tell the user (once per flood)."""
        now = time.monotonic()
        bucket = self._buckets.get(user)
        if bucket is None:
            bucket = self._buckets[user] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if album is not None:
            # The photos of one album are one message.
            if album in bucket.albums:
                return 0.0, False
            bucket.albums = {*list(bucket.albums)[-4:], album}
        bucket.tokens -= 1
        if bucket.tokens >= 0:
            if bucket.tokens >= self.burst / 2:
                bucket.noticed = False
            return 0.0, False
        notify = not bucket.noticed
        bucket.noticed = True
        return -bucket.tokens / self.rate, notify

    def admit_at_once(self, user: str) -> bool:
        """Admits a message (as `admit`) if it need not wait; if it must, counts nothing and
        says False: it is then admitted in its turn, after the messages before it."""
        bucket = self._buckets.get(user)
        if bucket is not None:
            tokens = bucket.tokens + (time.monotonic() - bucket.updated) * self.rate
            if tokens < 1:
                return False
        self.admit(user)
        return True

    def forget_idle(self) -> None:
        """Drops buckets that are full again, so memory follows active users only."""
        now = time.monotonic()
        for user, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst:
                del self._buckets[user]
