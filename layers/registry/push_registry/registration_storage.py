"""The registration store's port: what the use cases (`registry`, `holders`, `adoption`) need from the
store of registrations, implemented by `storage.RegistrationStore` (the DynamoDB adapter), which only
the composition roots (`runtime`, the import in `ops/`) name.

Each write is conditional on the state its caller read: DeviceNotFound when the registration it was
based on is no longer live or has changed since, TokenTaken when a live registration holds the token
it takes. The leases, the owner's cap and the number of requests of each method are the adapter's
(see `storage/registrations.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from push_registry.registration import Registration, RegistrationFields


@dataclass(frozen=True, slots=True)
class AdoptionState:
    """What an import reads before it adopts a record of a token (`state_for_adoption`)."""

    mine: Registration | None  # the record's owner's registration of the token, in any state
    declared_dead_at: datetime | None  # when a push provider last declared the token dead, if remembered
    # The owner has no roster (the count of its live registrations under the cap): the owner's first
    # registration here, or one from before the cap. `add(..., rosterless=True)` then counts the owner's
    # registrations at once, instead of first trying to count one more on a roster that is not there.
    rosterless: bool = False


@runtime_checkable
class RegistrationStorage(Protocol):
    """What the use cases need from the registrations store (implemented by storage.RegistrationStore)."""

    @property
    def lease(self) -> timedelta:
        """How far beyond a registration's expiry its guard and list entry may live: a registration's
        lifetime must exceed it (`registration.require_lifetime_beyond_lease`)."""
        ...

    # ------------------------------------------------------------------ reads

    def new_id(self, created_at: datetime, digest: str) -> str:
        """An id for a new registration of the token with this digest, created at `created_at`."""
        ...

    def get(self, owner: str, digest: str) -> Registration | None:
        """The owner's registration of one token (by its digest), in any state."""
        ...

    def state_for_adoption(self, owner: str, digest: str, now: datetime) -> AdoptionState:
        """`get`, when a push provider last declared the token dead, and whether the owner has a roster
        (always False without a cap), in one request: the import asks them of every row it may write."""
        ...

    def by_id(self, owner: str, registration_id: str) -> Registration | None:
        """The owner's registration with this id, if it is active (expired or not)."""
        ...

    def listed(
        self, owner: str, after: tuple[datetime, str] | None, limit: int, now: datetime
    ) -> tuple[list[Registration], int, bool]:
        """A page of the owner's live registrations, newest `created_at` first, from just after `after`
        (created_at, id): (registrations, stale entries skipped, whether more follow)."""
        ...

    def holders(self, digests: list[str], now: datetime) -> dict[str, tuple[str, str]]:
        """(owner, registration id) each token's guard names, by digest, for the tokens guarded: the
        registration named may have expired since."""
        ...

    def holding(self, digest: str, now: datetime) -> Registration | None:
        """The live registration holding the token with this digest, or None when the token is free."""
        ...

    # ------------------------------------------------------------------ writes

    def add(
        self,
        registration: Registration,
        now: datetime,
        *,
        yield_to_newer: bool = False,
        rosterless: bool = False,
    ) -> list[Registration]:
        """Store a new registration and take its token: the owner's registrations evicted to keep the
        cap. TokenTaken if a live registration holds the token; with `yield_to_newer` (an import's
        record), BeyondTheCap when all the cap's registrations were used after it. `rosterless`: the
        caller read no roster for the owner (`AdoptionState`); a hint only, right when it is stale."""
        ...

    def save(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Replace a live registration whose token is unchanged."""
        ...

    def move_token(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Give a live registration a new token: the old one freed, the new one taken, atomically."""
        ...

    def take_over(
        self, current: Registration, updated: Registration, now: datetime, *, yield_to_newer: bool = False
    ) -> list[Registration]:
        """Hand a live registration's token to `updated` (another owner, or a new id for the same one),
        never freeing it: the new holder's registrations evicted to keep its cap."""
        ...

    def touch(
        self,
        owner: str,
        registration_id: str,
        now: datetime,
        expires_at: int,
        platforms: frozenset[str] | None,
    ) -> Registration | None:
        """A heartbeat without reading first (last use `now`, expiry `expires_at`), for a live
        registration stored on one of `platforms` when given: the stored record; None, writing
        nothing, when it cannot be done blind (the caller reads and decides)."""
        ...

    def refresh(
        self,
        owner: str,
        digest: str,
        now: datetime,
        expires_at: int,
        *,
        source: str,
        given: RegistrationFields,
    ) -> tuple[Registration | None, Registration | None]:
        """The owner's live registration of this token used now through `source`, `given` fields
        replacing stored ones: (refreshed, None); or, nothing written, (None, the stored registration
        or None)."""
        ...

    def deactivate(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Store the deactivated registration and free its token at once."""
        ...

    def declare_dead(
        self, current: Registration, updated: Registration, now: datetime, remembered_until: int
    ) -> None:
        """`deactivate`, for a token a push provider declared dead, remembered until `remembered_until`."""
        ...

    def deactivate_by_id(
        self, owner: str, registration_id: str, now: datetime, tenant: str | None = None
    ) -> bool:
        """Deactivate the owner's live registration with this id (under `tenant`, when given) without
        reading it; False, writing nothing, when that cannot be done blind."""
        ...
