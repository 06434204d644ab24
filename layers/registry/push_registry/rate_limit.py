"""Request rate limits (per user, per source IP): one fixed-window counter, atomic in DynamoDB."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from push_registry.errors import RateLimited
from push_registry.registration import utc_now

# The per-user limit's scope (the chat backoffice's, keyed by the JWT `sub`): erasing a user erases it.
USER_SCOPE = "user"


def counter_key(scope: str, key: str) -> str:
    """The stored name of one caller's counter.

    Keys are hashed: counters must not become a second copy of user ids or IP addresses.
    """
    return f"{scope}#{hashlib.sha256(f'{scope}:{key}'.encode()).hexdigest()[:32]}"


class RequestCounting(Protocol):
    """What the limiter needs from the counters' store (implemented by storage.RequestCounter)."""

    def count(self, key: str, window_start: int, limit: int, expires_at: int) -> bool:
        """Count one request in the window; False, counting nothing, when `limit` were already counted."""
        ...


class RateLimiter:
    """At most `limit` requests per key in each `window_seconds` window; the 1st over gets RateLimited."""

    def __init__(
        self,
        counter: RequestCounting,
        limit: int,
        window_seconds: int = 60,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._counter = counter
        self._limit = limit
        self._window = window_seconds
        self._clock = clock

    def check(self, scope: str, key: str) -> None:
        now = int(self._clock().timestamp())
        window_start = now - now % self._window
        window_end = window_start + self._window
        # The counter outlives its window by one window, then DynamoDB's TTL removes it.
        if not self._counter.count(
            counter_key(scope, key), window_start, self._limit, window_end + self._window
        ):
            raise RateLimited(retry_after=max(1, window_end - now))
