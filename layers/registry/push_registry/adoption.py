"""Adoption: a token record exported from an existing system becomes a registration, under the
registry's rules.

Bulk import (`push-registry import`) hands every exported record to `Adoption.adopt`, which keeps
"one live registration per token" with the store's own conditional writes (never a raw put):

- a record last used more than the registration lifetime ago is skipped (it would be expired);
- a token nobody holds is added as the record's registration, with the record's id, creation date
  and last use kept (its expiry is that last use + the lifetime: an import is not a use);
- a token held by the same record (same owner, source and id), imported before, is refreshed when the
  record was used more recently, and left alone otherwise: importing a file twice changes nothing;
- a token held by another registration (another source, another owner, or the same user's newer
  registration through the API) goes to the most recently used of the two; the other is reported;
- a record older than the owner's own deactivated registration of that token (a device deleted or a
  token invalidated since the export) is not brought back;
- nor, whoever it names, a record last used before a push provider declared the token dead (the
  token's tombstone, written by the invalidation): the registration the provider's answer
  deactivated may have been another owner's, and the record's owner may hold nothing to compare.
  An app registering the token through its API is not refused: the app has the token from the
  provider's SDK now, which outweighs an answer about the past; an export only repeats the past;
- an owner keeps at most the store's `max_devices_per_user` live registrations, as through an API: a
  record evicts the owner's least recently used, unless every one of the cap's was used after it; then
  the record is not imported (`capped`), so the order of the file never decides which devices stay.

Store calls: `RegistrationStorage.state_for_adoption`, `.get`, `.add` (its TokenTaken names the
holder, its BeyondTheCap the cap) and `.take_over`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from push_registry.errors import BeyondTheCap, DeviceNotFound, TokenTaken, Unavailable
from push_registry.registration import Registration, require_lifetime_beyond_lease, utc_now
from push_registry.registration_storage import RegistrationStorage
from push_registry.registry import NewDevice

# Ids made for records that had none: the same record always gets the same id, so an interrupted
# import that is run again writes what an uninterrupted one would have.
_ID_NAMESPACE = uuid.UUID("5b0c6f0e-8d8a-4b7e-9a55-0d6b1f1e2a71")
_ATTEMPTS = 8


class Adopted(StrEnum):
    """What adopting one record did."""

    IMPORTED = "imported"  # a new registration (the token was free)
    REFRESHED = "refreshed"  # the record's earlier import moved forward to its newer last use
    UNCHANGED = "unchanged"  # already imported, nothing newer: nothing written
    WON = "won"  # the token was held by a less recently used registration, which it replaced
    LOST = "lost"  # the token is held by a more recently used registration, which stays
    EXPIRED = "expired"  # last used longer ago than the lifetime: not imported
    RETIRED = "retired"  # deactivated here since this last use: declared dead, or the owner's own
    CAPPED = "capped"  # the owner keeps MaxDevicesPerUser registrations, all used since: not imported


@dataclass(frozen=True, slots=True)
class ExportedRecord:
    """One token record of an existing system, already validated by its API's request model."""

    owner: str
    device: NewDevice
    source: str
    last_used_at: datetime
    id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AdoptionResult:
    outcome: Adopted
    registration: Registration | None = None
    other: Registration | None = None  # on WON the replaced registration, on LOST the one that stays
    evicted: tuple[Registration, ...] = ()  # the owner's least recently used, beyond the store's cap


class Adoption:
    """Adopts exported records into a RegistrationStorage; `clock` is injectable for tests."""

    def __init__(
        self,
        store: RegistrationStorage,
        lifetime: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        require_lifetime_beyond_lease(lifetime, store.lease)
        self._store = store
        self._lifetime = lifetime
        self._clock = clock

    def adopt(self, record: ExportedRecord) -> AdoptionResult:
        now = self._clock()
        incoming = self.registration_of(record)
        if incoming.expires_at <= int(now.timestamp()):
            return AdoptionResult(Adopted.EXPIRED)
        digest = incoming.token_digest
        for _ in range(_ATTEMPTS):
            now = self._clock()
            state = self._store.state_for_adoption(record.owner, digest, now)
            mine = state.mine
            if state.declared_dead_at is not None and state.declared_dead_at >= incoming.last_used_at:
                return AdoptionResult(Adopted.RETIRED)
            if mine is not None and not mine.active and mine.updated_at >= incoming.last_used_at:
                return AdoptionResult(Adopted.RETIRED, other=mine)
            if mine is not None and mine.is_live(now):
                holder = mine
            else:
                try:
                    evicted = self._store.add(incoming, now, yield_to_newer=True, rosterless=state.rosterless)
                    return AdoptionResult(Adopted.IMPORTED, incoming, evicted=tuple(evicted))
                except BeyondTheCap:
                    return AdoptionResult(Adopted.CAPPED, incoming)
                except TokenTaken as taken:
                    if taken.holder is None:
                        continue
                    held = self._store.get(taken.holder[0], digest)
                    if held is None or held.id != taken.holder[1] or not held.is_live(now):
                        continue  # handed on meanwhile: decide again on fresh state
                    holder = held
            outcome = self._settle(holder, incoming, now)
            if outcome is not None:
                return outcome
        raise Unavailable()

    def _settle(self, holder: Registration, incoming: Registration, now: datetime) -> AdoptionResult | None:
        """Between the live holder and the record, the most recently used stays; None to decide again."""
        same_record = (holder.owner, holder.source, holder.id) == (
            incoming.owner,
            incoming.source,
            incoming.id,
        )
        if same_record and holder.last_used_at >= incoming.last_used_at:
            return AdoptionResult(Adopted.UNCHANGED, holder)
        if not same_record and _recency(holder) >= _recency(incoming):
            return AdoptionResult(Adopted.LOST, incoming, other=holder)
        # The token's channel type stays when the record names none, as through the APIs.
        incoming = replace(incoming, channel_type=incoming.channel_type or holder.channel_type)
        try:
            # The same owner's registration is replaced in place, another owner's deleted; either way
            # the guard moves to the record's registration in the same transaction.
            evicted = tuple(self._store.take_over(holder, incoming, now, yield_to_newer=True))
        except DeviceNotFound:
            return None
        except BeyondTheCap:
            return AdoptionResult(Adopted.CAPPED, incoming, other=holder)
        if same_record:
            return AdoptionResult(Adopted.REFRESHED, incoming, evicted=evicted)
        return AdoptionResult(Adopted.WON, incoming, other=holder, evicted=evicted)

    def registration_of(self, record: ExportedRecord) -> Registration:
        """The registration the record becomes: its own dates, its id or one derived from it."""
        device = record.device
        last_used = record.last_used_at
        return device.registration(
            registration_id=record.id
            or str(uuid.uuid5(_ID_NAMESPACE, f"{record.source}\n{record.owner}\n{device.token}")),
            owner=record.owner,
            source=record.source,
            used_at=last_used,
            lifetime=self._lifetime,
            created_at=min(record.created_at or last_used, last_used),
        )


def _recency(registration: Registration) -> tuple[datetime, str, str, str]:
    """Most recent use first; ties broken by fixed fields so that any import order gives one winner."""
    return registration.last_used_at, registration.source, registration.owner, registration.id
