"""Deactivations: a registration stored as inactive, its token freed and its list entry deleted, in one
transaction (a soft delete: the record stays until its expiry); and, for a token a push provider
declared dead, the token's tombstone in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from push_registry.errors import DeviceNotFound
from push_registry.registration import Registration
from push_registry.storage.registration_items import entry_key, id_keys, owner_key, token_key, tombstone_key
from push_registry.storage.registration_parts import Parts
from push_registry.storage.table import GUARD, Cancelled, Item, n, s, stamp, transact


class Deactivations:
    """Retires live registrations."""

    def __init__(self, client: Any, parts: Parts) -> None:
        self._client = client
        self._parts = parts

    def deactivate(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Store the deactivated registration and free its token at once."""
        try:
            transact(self._client, self._parts.deactivation(current, updated, now))
        except Cancelled:
            raise DeviceNotFound() from None

    def declare_dead(
        self, current: Registration, updated: Registration, now: datetime, remembered_until: int
    ) -> None:
        """`deactivate`, for a token a push provider declared dead: in the same transaction its
        tombstone says so (a later declaration replaces an earlier one) until `remembered_until`."""
        tombstone: Item = {
            "TableName": self._parts.table,
            "Item": {
                **tombstone_key(current.token_digest),
                "declared_dead_at": s(stamp(now)),
                "expires_at": n(remembered_until),
            },
        }
        try:
            transact(self._client, [*self._parts.deactivation(current, updated, now), {"Put": tombstone}])
        except Cancelled:
            raise DeviceNotFound() from None

    def deactivate_by_id(
        self, owner: str, registration_id: str, now: datetime, tenant: str | None = None
    ) -> bool:
        """Deactivate the owner's live registration with this id in one request, without reading it.

        False, writing nothing, when that cannot be done blind: an id from elsewhere, a token changed
        since the id was issued, no live registration with this id (under `tenant`, when given), or a
        later `updated_at` stored.
        """
        keys = id_keys(registration_id)
        if keys is None:
            return False
        created_at, digest = keys
        try:
            transact(
                self._client,
                [
                    {"Update": self._deactivated_by_id(owner, digest, registration_id, now, tenant)},
                    {"Delete": self._guard_released_by_id(digest, registration_id)},
                    {"Delete": self._entry_deleted_by_id(owner, created_at, registration_id)},
                ],
            )
        except Cancelled:
            return False
        return True

    def _deactivated_by_id(
        self, owner: str, digest: str, registration_id: str, now: datetime, tenant: str | None
    ) -> Item:
        """The Update that deactivates the registration under the id's keys, if it is that id's, live,
        written at or before `now`, and (when given) under `tenant`."""
        moment = s(stamp(now))
        registration: Item = {
            "TableName": self._parts.table,
            "Key": {"pk": s(owner_key(owner)), "sk": s(token_key(digest))},
            "UpdateExpression": "SET active = :false, updated_at = :stamp",
            "ConditionExpression": (
                "id = :id AND active = :true AND expires_at > :now AND updated_at <= :stamp"
            ),
            "ExpressionAttributeValues": {
                ":id": s(registration_id),
                ":true": {"BOOL": True},
                ":false": {"BOOL": False},
                ":now": n(int(now.timestamp())),
                ":stamp": moment,
            },
        }
        if tenant is not None:
            registration["ConditionExpression"] += " AND tenant = :tenant"
            registration["ExpressionAttributeValues"][":tenant"] = s(tenant)
        return registration

    def _guard_released_by_id(self, digest: str, registration_id: str) -> Item:
        """The Delete of the token's guard, if it names the id."""
        return {
            "TableName": self._parts.table,
            "Key": {"pk": s(token_key(digest)), "sk": s(GUARD)},
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {":id": s(registration_id)},
        }

    def _entry_deleted_by_id(self, owner: str, created_at: datetime, registration_id: str) -> Item:
        """The Delete of the list entry the id names, if it exists."""
        return {
            "TableName": self._parts.table,
            "Key": {"pk": s(owner_key(owner)), "sk": s(entry_key(created_at, registration_id))},
            "ConditionExpression": "attribute_exists(pk)",
        }
