"""The parts of a registration's transactions: its Put, its guard's and list entry's Puts, Updates and
Deletes, each with its condition, and the leases they carry (see `registrations`). Nothing here calls
DynamoDB: the writes of `registrations`, `heartbeats`, `deactivations` and `roster` assemble these.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from push_registry.registration import Registration
from push_registry.storage.registration_items import (
    entry_key,
    id_keys,
    owner_key,
    pointer_key,
    registration_item,
    token_key,
)
from push_registry.storage.table import GUARD, ROSTER, Item, key_id, n, s, stamp


class Parts:
    """The transaction parts of one table's registrations, with `lease` and `entry_margin` in seconds."""

    def __init__(self, table_name: str, lease: timedelta, entry_margin: timedelta) -> None:
        self.table = table_name
        self._lease = int(lease.total_seconds())
        self._entry_margin = int(entry_margin.total_seconds())

    def lease_until(self, registration: Registration) -> int:
        return registration.expires_at + self._lease

    def entry_expiry(self, registration: Registration) -> int:
        """The list entry outlives the guard (ENTRY_MARGIN): erasure finds a stale guard through it."""
        return self.lease_until(registration) + self._entry_margin

    def registration_item(self, registration: Registration) -> Item:
        item = registration_item(registration)
        item["lease_until"] = n(self.lease_until(registration))
        return item

    def put_registration(self, registration: Registration) -> Item:
        """The Put of the registration, unconditioned (its guard's condition decides)."""
        return {"TableName": self.table, "Item": self.registration_item(registration)}

    def put_guard(self, registration: Registration, now: datetime) -> Item:
        return {
            "TableName": self.table,
            "Item": {
                "pk": s(token_key(registration.token_digest)),
                "sk": s(GUARD),
                "owner": s(registration.owner),
                "device_id": s(registration.id),
                "expires_at": n(self.lease_until(registration)),
                "held_until": n(registration.expires_at),
                "tenure": s(uuid.uuid4().hex),  # a free token taken: a new holding begins
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
            "ExpressionAttributeValues": {":now": n(int(now.timestamp()))},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def listing(self, registration: Registration) -> list[Item]:
        """Put the list entry and, for an id kept by an import, the pointer that finds it by id."""
        parts = [{"Put": self.put_entry(registration)}]
        if id_keys(registration.id) is None:
            pointer = {
                "pk": s(owner_key(registration.owner)),
                "sk": s(pointer_key(registration.id)),
                "token_digest": s(registration.token_digest),
                "created_at": s(stamp(registration.created_at)),
                "expires_at": n(self.entry_expiry(registration)),
            }
            parts.append({"Put": {"TableName": self.table, "Item": pointer}})
        return parts

    def unlisting(self, registration: Registration) -> list[Item]:
        """Delete the list entry and, for an id kept by an import, its pointer."""
        parts = [{"Delete": self.delete_entry(registration)}]
        if id_keys(registration.id) is None:
            key = {"pk": s(owner_key(registration.owner)), "sk": s(pointer_key(registration.id))}
            parts.append({"Delete": {"TableName": self.table, "Key": key}})
        return parts

    def relisting(self, current: Registration, updated: Registration) -> list[Item]:
        """List `updated` in place of `current`: what `current` alone had is deleted, the rest put."""
        parts = self.listing(updated)
        keys = {key_id(p["Put"]["Item"]) for p in parts}
        gone = [p for p in self.unlisting(current) if key_id(p["Delete"]["Key"]) not in keys]
        return gone + parts

    def put_entry(self, registration: Registration) -> Item:
        item: Item = {
            "pk": s(owner_key(registration.owner)),
            "sk": s(entry_key(registration.created_at, registration.id)),
            "id": s(registration.id),
            "token_digest": s(registration.token_digest),
            "expires_at": n(self.entry_expiry(registration)),
        }
        return {"TableName": self.table, "Item": item}

    def extend_entry(self, registration: Registration) -> Item:
        return {
            "TableName": self.table,
            "Key": {
                "pk": s(owner_key(registration.owner)),
                "sk": s(entry_key(registration.created_at, registration.id)),
            },
            "UpdateExpression": "SET expires_at = :lease",
            "ConditionExpression": "id = :id",
            "ExpressionAttributeValues": {
                ":lease": n(self.entry_expiry(registration)),
                ":id": s(registration.id),
            },
        }

    def delete_entry(self, registration: Registration) -> Item:
        key = {
            "pk": s(owner_key(registration.owner)),
            "sk": s(entry_key(registration.created_at, registration.id)),
        }
        return {"TableName": self.table, "Key": key}

    def extend_guard(self, registration: Registration) -> Item:
        return {
            "TableName": self.table,
            "Key": {"pk": s(token_key(registration.token_digest)), "sk": s(GUARD)},
            "UpdateExpression": "SET expires_at = :lease, held_until = :expires",
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {
                ":lease": n(self.lease_until(registration)),
                ":expires": n(registration.expires_at),
                ":id": s(registration.id),
            },
        }

    def release_guard(self, registration: Registration) -> Item:
        return {
            "TableName": self.table,
            "Key": {"pk": s(token_key(registration.token_digest)), "sk": s(GUARD)},
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {":id": s(registration.id)},
        }

    def put_registration_if_live(self, updated: Registration, current: Registration, now: datetime) -> Item:
        return {
            "TableName": self.table,
            "Item": self.registration_item(updated),
            **unchanged(current, now),
        }

    def delete_registration_if_live(self, current: Registration, now: datetime) -> Item:
        key = {"pk": s(owner_key(current.owner)), "sk": s(token_key(current.token_digest))}
        return {"TableName": self.table, "Key": key, **unchanged(current, now)}

    def deactivation(self, current: Registration, updated: Registration, now: datetime) -> list[Item]:
        """Store the deactivated `updated` if `current` is unchanged, free the token and unlist it."""
        return [
            {"Put": self.put_registration_if_live(updated, current, now)},
            {"Delete": self.release_guard(current)},
            *self.unlisting(current),
        ]


def roster_key(registration: Registration) -> Item:
    return {"pk": s(owner_key(registration.owner)), "sk": s(ROSTER)}


def unchanged(current: Registration, now: datetime) -> Item:
    """The condition that a registration read as `current` is still live and unchanged since.

    Every write stamps `updated_at` (to the microsecond), so a write based on an older read, which
    would put back fields a concurrent PATCH or heartbeat changed, fails and is decided again.
    """
    return {
        "ConditionExpression": "id = :id AND active = :true AND expires_at > :now AND updated_at = :seen",
        "ExpressionAttributeValues": {
            ":id": s(current.id),
            ":true": {"BOOL": True},
            ":now": n(int(now.timestamp())),
            ":seen": s(stamp(current.updated_at)),
        },
    }
