"""The owner's cap: the roster that counts an owner's live registrations, and the eviction of the least
recently used beyond `max_devices_per_user` (the rules are described in `registrations`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from push_registry.errors import BeyondTheCap, Contention, Unavailable
from push_registry.registration import Registration
from push_registry.storage.registration_items import owner_key, registration_key, registration_of, token_key
from push_registry.storage.registration_parts import Parts, roster_key
from push_registry.storage.registration_reads import Reads
from push_registry.storage.table import Cancelled, Item, batch_get, key_id, n, transact

# Rounds of read-the-roster-then-write before a crowd of registrations for one owner answers 503.
_ADMISSION_ATTEMPTS = 6
# At most this many evicted by one registration (25 transaction items at 4 each, within DynamoDB's
# 100): after the cap is lowered, an owner above it shrinks by this much per registration.
_MAX_EVICTIONS = 20


class Roster:
    """Admits a new live registration within its owner's cap (0: no cap, no roster)."""

    def __init__(self, client: Any, parts: Parts, reads: Reads, max_devices_per_user: int) -> None:
        self._client = client
        self._parts = parts
        self._reads = reads
        self.max_devices_per_user = max_devices_per_user

    def admit(
        self,
        parts: list[Item],
        registration: Registration,
        now: datetime,
        yield_to_newer: bool = False,
        rosterless: bool = False,
    ) -> list[Registration]:
        """Run `parts`, which give `registration.owner` the new live `registration`, within the owner's
        cap: the registrations evicted for room.

        First one more is counted on the roster, in the parts' transaction; when there is no roster, or
        it is full, the owner's registrations are counted and the roster written as read. `rosterless`
        (the caller just read no roster) goes to the counting at once, saving the transaction that
        would fail; if a roster was written meanwhile, the counting's condition fails and reads it.

        Cancelled as the parts alone would raise it (their positions unchanged) when one of them failed.
        """
        if not self.max_devices_per_user:
            transact(self._client, parts)
            return []
        at = len(parts)
        roster: Item | None = None
        if not rosterless:
            try:
                transact(self._client, [*parts, {"Update": self._room(registration)}])
                return []
            except Cancelled as cancelled:
                if any(cancelled.failed[:at]):
                    raise
                roster = cancelled.items[at]  # None: no roster yet
        for _ in range(_ADMISSION_ATTEMPTS):
            put, evicted = self._admission(roster, registration, now, yield_to_newer)
            evictions = [part for gone in evicted for part in self._eviction(gone, now)]
            try:
                transact(self._client, [*parts, {"Put": put}, *evictions])
                return evicted
            except Cancelled as cancelled:
                if any(cancelled.failed[:at]):
                    raise
                # The roster changed meanwhile (its old image), or an evicted one did: count again.
                failed = cancelled.failed[at]
                roster = cancelled.items[at] if failed else self._reads.item(roster_key(registration))
        raise Unavailable(cause=Contention.__name__) from Contention()

    def _room(self, registration: Registration) -> Item:
        """The roster counts one more, if it exists and counts fewer than the cap."""
        return {
            "TableName": self._parts.table,
            "Key": roster_key(registration),
            "UpdateExpression": "SET #count = #count + :one, version = version + :one, expires_at = :expires",
            "ConditionExpression": "attribute_exists(pk) AND #count < :cap",
            "ExpressionAttributeNames": {"#count": "count"},
            "ExpressionAttributeValues": {
                ":one": n(1),
                ":cap": n(self.max_devices_per_user),
                ":expires": n(self._parts.entry_expiry(registration)),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _admission(
        self, roster: Item | None, registration: Registration, now: datetime, yield_to_newer: bool
    ) -> tuple[Item, list[Registration]]:
        """The roster's Put, conditioned on its version as read, and whom it evicts: of the owner's
        live registrations (found through the list entries), the least recently used beyond the cap.
        With `yield_to_newer`, BeyondTheCap when the cap's others were all used after `registration`."""
        others = self._other_live(registration, now)
        # A registration through an API is the request's own use, the latest: it stays, whatever the
        # others' clocks wrote. An import's record stays only among the cap's most recently used.
        newer = sum(member.last_used_at > registration.last_used_at for member in others)
        if yield_to_newer and newer >= self.max_devices_per_user:
            raise BeyondTheCap()
        others.sort(key=lambda member: (member.last_used_at, member.id))
        evicted = others[: min(max(0, len(others) + 1 - self.max_devices_per_user), _MAX_EVICTIONS)]
        kept = [*others[len(evicted) :], registration]
        put: Item = {
            "TableName": self._parts.table,
            "Item": {
                **roster_key(registration),
                "count": n(len(kept)),
                "version": n(int(roster["version"]["N"]) + 1 if roster is not None else 1),
                # As long as any kept one's list entry: a roster TTL deletes later is counted again.
                "expires_at": n(max(self._parts.entry_expiry(member) for member in kept)),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if roster is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :seen"
            put["ExpressionAttributeValues"] = {":seen": roster["version"]}
        return put, evicted

    def _other_live(self, registration: Registration, now: datetime) -> list[Registration]:
        """The owner's live registrations but `registration`, found through the list entries (one
        Query, one BatchGetItem)."""
        owner = registration.owner
        entries = list(self._reads.entries(owner))
        stored = batch_get(self._client, self._parts.table, [registration_key(owner, e) for e in entries])
        mine = (owner_key(owner), token_key(registration.token_digest))
        others = []
        for entry in entries:
            item = stored.get((owner_key(owner), token_key(entry["token_digest"]["S"])))
            if item is None or item["id"] != entry["id"] or key_id(item) == mine:
                continue  # gone, replaced, or the key the new registration is written to
            member = registration_of(item)
            if member.is_live(now) and member.id != registration.id:
                others.append(member)
        return others

    def _eviction(self, evicted: Registration, now: datetime) -> list[Item]:
        """Deactivate a registration as `deactivate` does: only if unchanged since read.

        `now` was read before the roster: a registration another request added meanwhile may have been
        used after it, and time on a registration only moves forward.
        """
        deactivated_at = max(now, evicted.updated_at, evicted.last_used_at)
        deactivated = replace(evicted, active=False, updated_at=deactivated_at)
        return self._parts.deactivation(evicted, deactivated, now)
