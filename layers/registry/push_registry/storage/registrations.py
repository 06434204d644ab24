"""Registrations, their list entries and token guards: with the modules the store is made of (see
`RegistrationStore`), the only code that knows their keys and conditions.

    registration  pk=OWNER#<owner>  sk=TOKEN#<sha256(token)>     the owner's registration of one token,
                                                                  in any state: the record of truth
    list entry    pk=OWNER#<owner>  sk=LIVE#<created_at>#<id>    points at an active registration
                                                                  {id, token_digest}
    token guard   pk=TOKEN#<sha256> sk=GUARD                     who holds the token: {owner, device_id,
                                                                  tenure, held_until}
    tombstone     pk=TOKEN#<sha256> sk=TOMBSTONE                 a push provider declared the token dead:
                                                                  {declared_dead_at}, no owner
    owner roster  pk=OWNER#<owner>  sk=ROSTER                    how many live registrations the owner
                                                                  may have, for the cap: {count, version}

A registration's `expires_at` (the TTL attribute) is its true expiry; every read checks it. Its list entry
and its token's guard carry a lease instead: the guard's `expires_at` is the registration's `lease_until`,
at least the registration's expiry and at most `lease` beyond it, and the entry's is `entry_margin` later
still, so that an erasure finds a stale guard through it whatever order TTL deletes them in. So a
heartbeat, which only moves the registration's last use and expiry, is one UpdateItem that returns the
stored record, for as long as the new expiry stays within the lease; the heartbeat that would pass it
renews the lease of all three in one transaction (once per `lease` for a device in use). Every other
write that creates, moves or retires a registration writes its guard and list entry in the same
transaction, so "one live registration per token" holds under any interleaving of requests.

A guard can outlive its registration by at most the lease: a registration that expires leaves a stale
guard and list entry until their own TTL. Readers treat them as absent: a list entry counts only with
its registration live, and a guard is the token's holder only if the registration it names is live.
Taking a token whose guard is stale is one transaction that checks, atomically, that the registration
it names is not live. `held_until` (the registration's expiry when the guard was last written) spares
that check while it is in the future: the holder is then certainly live. A guard's `tenure` is set when
a free token is taken and kept while the token is handed from holder to holder: the same tenure means
the token was never free meanwhile.

The list entries make an account's live registrations one Query in creation order (newest first),
whatever else the partition holds (a deactivated registration has none), then one BatchGetItem of the
registrations they point at. A registration id issued here names its keys (creation instant, token
digest at creation, and 32 random bits, base64url), so a by-id call reads or writes the registration
without reading anything first; an id an import kept is found through its pointer (ID#<id>, written and
deleted with the list entry), and an id of neither shape names nothing, without a read.

The roster keeps an owner within `max_devices_per_user` live registrations (0: no cap, no roster).
It is a count, never less than the owner's live registrations, and a version. Only a write that gives
the owner one more live registration (`add`, the stale-guard take, `take_over` from another owner)
touches it, in its own transaction: deactivations, heartbeats, refreshes, token moves and the owner's
own take-overs do not, so they cost what they did. A registration counted may have stopped being live
since (deactivated, expired, taken by another owner): the count over-counts, never under-counts, as
long as every new live registration passes through it. So the common case is one more Update of a
small item in the transaction, conditioned on room (`count < cap`); when there is none, the owner's
list entries (the authoritative list of active registrations) and their registrations are read, the
live ones counted, and the least recently used evicted (deactivated as `deactivate` does) in the
transaction that adds the new one and puts the new count, conditioned on the roster's version as
read. Concurrent additions for one owner serialise on the roster item. A roster missing (a new owner,
an account from before the cap, a roster TTL deleted while heartbeats kept its registrations alive)
is counted the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from push_registry.registration import Registration, RegistrationFields
from push_registry.registration_storage import AdoptionState
from push_registry.storage.deactivations import Deactivations
from push_registry.storage.heartbeats import Heartbeats
from push_registry.storage.owner_data import OwnerData
from push_registry.storage.registration_items import ENTRY_MARGIN, LEASE, new_id
from push_registry.storage.registration_parts import Parts
from push_registry.storage.registration_reads import Reads
from push_registry.storage.roster import Roster
from push_registry.storage.table import Item, call, transact
from push_registry.storage.token_writes import TokenWrites


class RegistrationStore:
    """Registrations, their list entries and their token guards in one DynamoDB table.

    `lease`: how far beyond a registration's expiry its guard and list entry may live (see above).
    `max_devices_per_user`: live registrations an owner keeps; 0 for no cap (see the owner roster).

    The registry's port (`registration_storage.RegistrationStorage`), over one module per kind of
    request: `registration_reads`, `token_writes` (with `roster` for the cap), `heartbeats`,
    `deactivations`, and `owner_data` for privacy; `registration_parts` builds their transactions' parts.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        lease: timedelta = LEASE,
        entry_margin: timedelta = ENTRY_MARGIN,
        max_devices_per_user: int = 0,
    ) -> None:
        self._client = client
        self.lease = lease
        parts = Parts(table_name, lease, entry_margin)
        self._reads = Reads(client, table_name)
        self._roster = Roster(client, parts, self._reads, max_devices_per_user)
        self._writes = TokenWrites(client, parts, self._reads, self._roster)
        self._heartbeats = Heartbeats(client, parts)
        self._deactivations = Deactivations(client, parts)
        self._owner_data = OwnerData(client, table_name)

    @property
    def max_devices_per_user(self) -> int:
        return self._roster.max_devices_per_user

    @max_devices_per_user.setter
    def max_devices_per_user(self, cap: int) -> None:
        """The cap of the adds from now on (the bench measures an account of 1,000 without one)."""
        self._roster.max_devices_per_user = cap

    # ------------------------------------------------------------------ reads

    def listed(
        self, owner: str, after: tuple[datetime, str] | None, limit: int, now: datetime
    ) -> tuple[list[Registration], int, bool]:
        return self._reads.listed(owner, after, limit, now)

    def by_id(self, owner: str, registration_id: str) -> Registration | None:
        return self._reads.by_id(owner, registration_id)

    def get(self, owner: str, digest: str) -> Registration | None:
        return self._reads.get(owner, digest)

    def state_for_adoption(self, owner: str, digest: str, now: datetime) -> AdoptionState:
        return self._reads.state_for_adoption(owner, digest, now, with_roster=self.max_devices_per_user > 0)

    def holder(self, digest: str, now: datetime) -> tuple[str, str] | None:
        return self._reads.holder(digest, now)

    def holders(self, digests: list[str], now: datetime) -> dict[str, tuple[str, str]]:
        return self._reads.holders(digests, now)

    def holding(self, digest: str, now: datetime, attempts: int = 4) -> Registration | None:
        return self._reads.holding(digest, now, attempts)

    def new_id(self, created_at: datetime, digest: str) -> str:
        return new_id(created_at, digest)

    # ------------------------------------------------------------------ writes that take a token

    def add(
        self,
        registration: Registration,
        now: datetime,
        *,
        yield_to_newer: bool = False,
        rosterless: bool = False,
    ) -> list[Registration]:
        return self._writes.add(registration, now, yield_to_newer=yield_to_newer, rosterless=rosterless)

    def save(self, current: Registration, updated: Registration, now: datetime) -> None:
        self._writes.save(current, updated, now)

    def move_token(self, current: Registration, updated: Registration, now: datetime) -> None:
        self._writes.move_token(current, updated, now)

    def take_over(
        self, current: Registration, updated: Registration, now: datetime, *, yield_to_newer: bool = False
    ) -> list[Registration]:
        return self._writes.take_over(current, updated, now, yield_to_newer=yield_to_newer)

    # ------------------------------------------------------------------ heartbeats and refreshes

    def touch(
        self,
        owner: str,
        registration_id: str,
        now: datetime,
        expires_at: int,
        platforms: frozenset[str] | None,
    ) -> Registration | None:
        return self._heartbeats.touch(owner, registration_id, now, expires_at, platforms)

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
        return self._heartbeats.refresh(owner, digest, now, expires_at, source=source, given=given)

    # ------------------------------------------------------------------ deactivations

    def deactivate(self, current: Registration, updated: Registration, now: datetime) -> None:
        self._deactivations.deactivate(current, updated, now)

    def declare_dead(
        self, current: Registration, updated: Registration, now: datetime, remembered_until: int
    ) -> None:
        self._deactivations.declare_dead(current, updated, now, remembered_until)

    def deactivate_by_id(
        self, owner: str, registration_id: str, now: datetime, tenant: str | None = None
    ) -> bool:
        return self._deactivations.deactivate_by_id(owner, registration_id, now, tenant=tenant)

    # ------------------------------------------------------------------ DynamoDB calls

    def transact(self, items: list[Item]) -> None:
        transact(self._client, items)

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        return call(self._client, operation, **request)

    # ------------------------------------------------------------------ privacy: access and erasure

    def export_owner(self, owner: str) -> dict[str, list[dict[str, Any]]]:
        return self._owner_data.export_owner(owner)

    def erase_owner(self, owner: str) -> dict[str, int]:
        return self._owner_data.erase_owner(owner)
