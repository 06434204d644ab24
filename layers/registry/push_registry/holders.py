"""Who holds a token: the live registration a push token belongs to, for operators' support questions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from push_registry.errors import Contention, Unavailable
from push_registry.registration import Registration, token_digest, utc_now
from push_registry.storage import RegistrationStore

_ATTEMPTS = 4


class TokenHolders:
    """Reads a token's guard, then the registration it names (two strongly consistent GetItems)."""

    def __init__(self, store: RegistrationStore, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def holder_of(self, token: str) -> Registration | None:
        """The live registration holding `token`, or None when the token is free."""
        digest = token_digest(token)
        for _ in range(_ATTEMPTS):
            now = self._clock()
            holder = self._store.holder(digest, now)
            if holder is None:
                return None
            current = self._store.get(holder[0], digest)
            if current is not None and current.id == holder[1] and current.is_live(now):
                return current
            # The token changed hands between the two reads: read the guard again.
        raise Unavailable() from Contention()
