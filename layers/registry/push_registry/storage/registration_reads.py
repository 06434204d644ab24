"""The reads of registrations: by token, by id, an owner's page of live ones, and a token's holder.

Every read is strongly consistent. How the list entries, pointers and guards lead to a registration is
described in `registrations`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from push_registry.errors import Contention, Unavailable
from push_registry.registration import Registration, is_keepable_id
from push_registry.registration_storage import AdoptionState
from push_registry.storage.registration_items import (
    LISTED,
    entry_key,
    entry_of,
    id_keys,
    owner_key,
    pointer_key,
    registration_key,
    registration_of,
    token_key,
    tombstone_key,
)
from push_registry.storage.table import GUARD, ROSTER, Item, batch_get, call, parse_time, s


class Reads:
    """The registrations of one table, read."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def item(self, key: Item) -> Item | None:
        """The item under `key`, if any (one GetItem)."""
        found = call(self._client, "get_item", TableName=self._table, Key=key, ConsistentRead=True)
        item: Item | None = found.get("Item")
        return item

    def _entries_query(self, owner: str) -> dict[str, Any]:
        """The Query of the owner's list entries, newest first, consistent."""
        return {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :listed)",
            "ExpressionAttributeValues": {":pk": s(owner_key(owner)), ":listed": s(LISTED)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }

    def entries(self, owner: str) -> Iterator[Item]:
        """Every list entry of the owner's, newest first: to find the entry of a replaced registration
        imported before pointers existed (`TokenWrites`), and to seed a missing roster (`Roster`)."""
        request = self._entries_query(owner)
        while True:
            page = call(self._client, "query", **request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def listed(
        self, owner: str, after: tuple[datetime, str] | None, limit: int, now: datetime
    ) -> tuple[list[Registration], int, bool]:
        """A page of the owner's live registrations, newest `created_at` first, from just after `after`
        (created_at, id): (registrations, list entries skipped, whether more entries follow).

        Entries exist only for active registrations; one whose registration expired (TTL has not
        deleted it yet, or its lease outlives the registration), or that is not under the
        registration's own created_at and id, is skipped and counted. A Query of
        `limit` + 1 entries, then one BatchGetItem of the first `limit` entries' registrations: the
        last entry only says whether more follow (it may turn out stale, and the next page empty).
        Reads again from the last entry only when skipped entries left the page short.
        """
        found: list[Registration] = []
        skipped = 0
        request = self._entries_query(owner)
        if after is not None:
            request["ExclusiveStartKey"] = {"pk": s(owner_key(owner)), "sk": s(entry_key(*after))}
        while True:
            need = limit - len(found)
            page = call(self._client, "query", **request, Limit=need + 1)
            entries = page.get("Items", [])
            looked, beyond = entries[:need], entries[need:]
            stored = batch_get(self._client, self._table, [registration_key(owner, e) for e in looked])
            for entry in looked:
                item = stored.get((owner_key(owner), token_key(entry["token_digest"]["S"])))
                # Only the entry under the registration's own created_at and id: one left by an earlier
                # creation date of the same id would list it twice.
                registration = (
                    registration_of(item) if item is not None and entry_of(item) == entry["sk"]["S"] else None
                )
                if registration is not None and registration.is_live(now):
                    found.append(registration)
                else:
                    skipped += 1  # stale: its registration expired, or was replaced after expiring
            more = bool(beyond) or "LastEvaluatedKey" in page
            if len(found) == limit or not more or not looked:
                return found, skipped, more and len(found) == limit
            request["ExclusiveStartKey"] = {"pk": looked[-1]["pk"], "sk": looked[-1]["sk"]}

    def by_id(self, owner: str, registration_id: str) -> Registration | None:
        """The owner's registration with this id, if it is active (expired or not).

        One GetItem for an id issued here whose token has not changed since; after a token change, its
        list entry says where the registration is now (two more). An id kept by an import is found
        through its pointer (two), and any other string names nothing: None, nothing read.
        """
        keys = id_keys(registration_id)
        if keys is None:
            if not is_keepable_id(registration_id):
                return None
            entry = self.item({"pk": s(owner_key(owner)), "sk": s(pointer_key(registration_id))})
        else:
            created_at, digest = keys
            found = self.item({"pk": s(owner_key(owner)), "sk": s(token_key(digest))})
            if found is not None and found["id"]["S"] == registration_id:
                return registration_of(found) if found["active"]["BOOL"] else None
            entry = self.item({"pk": s(owner_key(owner)), "sk": s(entry_key(created_at, registration_id))})
        if entry is None:
            return None
        found = self.item(registration_key(owner, entry))
        if found is None or found["id"]["S"] != registration_id or not found["active"]["BOOL"]:
            return None
        return registration_of(found)

    def get(self, owner: str, digest: str) -> Registration | None:
        """The owner's registration of one token (by its digest), in any state."""
        item = self.item({"pk": s(owner_key(owner)), "sk": s(token_key(digest))})
        return registration_of(item) if item else None

    def state_for_adoption(
        self, owner: str, digest: str, now: datetime, *, with_roster: bool
    ) -> AdoptionState:
        """`get`, when a push provider last declared the token dead (None: no live tombstone) and, when
        `with_roster`, whether the owner has no roster, in one request: the import asks them of every row
        it may write. A roster is read whatever its expiry, as the writes' conditions see it."""
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(digest))}
        tombstone = tombstone_key(digest)
        roster = {"pk": s(owner_key(owner)), "sk": s(ROSTER)}
        found = batch_get(self._client, self._table, [key, tombstone, *([roster] if with_roster else [])])
        item = found.get((key["pk"]["S"], key["sk"]["S"]))
        dead = found.get((tombstone["pk"]["S"], tombstone["sk"]["S"]))
        if dead is not None and int(dead["expires_at"]["N"]) <= int(now.timestamp()):
            dead = None  # expired, not yet deleted by TTL
        return AdoptionState(
            mine=registration_of(item) if item else None,
            declared_dead_at=parse_time(dead["declared_dead_at"]["S"]) if dead else None,
            rosterless=with_roster and (owner_key(owner), ROSTER) not in found,
        )

    def holder(self, digest: str, now: datetime) -> tuple[str, str] | None:
        """(owner, device id) a token's guard names, if its lease is live: the registration it names
        may have expired since (see `holding`)."""
        item = self.item({"pk": s(token_key(digest)), "sk": s(GUARD)})
        if item is None or int(item["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        return item["owner"]["S"], item["device_id"]["S"]

    def holders(self, digests: list[str], now: datetime) -> dict[str, tuple[str, str]]:
        """holder() of many tokens by digest, those with a guard only, in one read per 100 tokens."""
        keys = {digest: {"pk": s(token_key(digest)), "sk": s(GUARD)} for digest in digests}
        found = batch_get(self._client, self._table, list(keys.values()))
        held = {}
        for digest, key in keys.items():
            item = found.get((key["pk"]["S"], GUARD))
            if item is not None and int(item["expires_at"]["N"]) > int(now.timestamp()):
                held[digest] = (item["owner"]["S"], item["device_id"]["S"])
        return held

    def holding(self, digest: str, now: datetime, attempts: int = 4) -> Registration | None:
        """The live registration holding the token with this digest, or None when the token is free.

        Reads the guard, then the registration it names. When that is not live, the guard is read
        again: unchanged, it is stale (the token is free); changed, the token changed hands between the
        two reads, and the pair is read again (Unavailable after `attempts`).
        """
        holder = self.holder(digest, now)
        for _ in range(attempts):
            if holder is None:
                return None
            current = self.get(holder[0], digest)
            if current is not None and current.id == holder[1] and current.is_live(now):
                return current
            again = self.holder(digest, now)
            if again == holder:
                return None
            holder = again
        raise Unavailable() from Contention()
