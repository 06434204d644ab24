"""Who holds a token: the live registration a push token belongs to, for operators' support questions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from push_registry.registration import Registration, token_digest, utc_now
from push_registry.registration_storage import RegistrationStorage


class TokenHolders:
    """Reads a token's guard, then the registration it names (two strongly consistent GetItems, a third
    when that registration is not live: see `RegistrationStorage.holding`)."""

    def __init__(self, store: RegistrationStorage, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def holder_of(self, token: str) -> Registration | None:
        """The live registration holding `token`, or None when the token is free."""
        return self._store.holding(token_digest(token), self._clock())
