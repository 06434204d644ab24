"""An owner's data in the registrations' items: all of it exported, or all of it erased.

Reads the owner's partition (registrations, list entries, any other item) and the token guards that
name the owner; only this module and the registrations' store (`registrations` and the modules it
is made of) know those keys and conditions.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from push_registry.errors import Contention, Unavailable
from push_registry.storage.registration_items import LISTED, entry_of, names, owner_key, token_key
from push_registry.storage.table import (
    GUARD,
    Cancelled,
    Item,
    batch_get,
    call,
    code,
    delete_all,
    key_id,
    plain_item,
    query_partition,
    s,
    transact,
)

# Rounds of read-then-erase before an erasure racing with constant re-registration gives up (503,
# safe to repeat: every round only deletes).
_ERASURE_ROUNDS = 4


class OwnerData:
    """Export and erasure of everything the registrations' items hold about one owner."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def export_owner(self, owner: str) -> dict[str, list[dict[str, Any]]]:
        """Everything stored about the owner, every attribute as stored (raw tokens included).

        `registrations`: live or not, from every API; `token_guards`: the guards that name the owner;
        `other_items`: any other item of the owner's partition, whatever its kind.
        """
        registrations, others = split_partition(self._owner_partition(owner))
        guards = {key: g for key, g in self._guards_of(registrations).items() if names(g, owner)}
        guards.update((key_id(guard), guard) for guard in self._stale_guards(others, owner))
        # A list entry points at its registration, exported with it; a stale one is among the others.
        return {
            "registrations": sorted(
                (plain_item(item) for item in registrations), key=lambda r: (r["created_at"], r["id"])
            ),
            "token_guards": [
                {"token_digest": key[0].removeprefix("TOKEN#"), **plain_item(guard)}
                for key, guard in sorted(guards.items())
            ],
            "other_items": [{"sort_key": item["sk"]["S"], **plain_item(item)} for item in others],
        }

    def erase_owner(self, owner: str) -> dict[str, int]:
        """Delete every item of the owner's partition and the token guards the owner holds.

        Each registration goes in one transaction with its token's guard: the guard is deleted only if
        it still names this owner and registration, and otherwise checked not to, so a token handed to
        someone else meanwhile stays theirs and no guard is left naming a deleted registration. Any
        other item of the partition, of whatever kind, is deleted too. A registration that changed
        since it was read cancels only its own transaction; the partition is then read again.
        Counts what was deleted: `registrations`, `token_guards`, `other_items`.
        """
        counts = {"registrations": 0, "token_guards": 0, "other_items": 0}
        for _ in range(_ERASURE_ROUNDS):
            registrations, others = split_partition(self._owner_partition(owner))
            if not registrations and not others:
                return counts
            guards = self._guards_of(registrations)
            settled = True
            for registration in registrations:
                guard = guards.get((registration["sk"]["S"], GUARD))
                holds = guard is not None and names(guard, owner, registration["id"]["S"])
                try:
                    transact(self._client, self._erase_registration(registration, holds))
                except Cancelled:
                    settled = False  # changed meanwhile: read again in the next round
                    continue
                counts["registrations"] += 1
                counts["token_guards"] += int(holds)
            for guard in self._stale_guards(others, owner):
                counts["token_guards"] += self._delete_if_named(guard, owner)
            counts["other_items"] += delete_all(self._client, self._table, others)
            if settled:
                return counts
        raise Unavailable() from Contention()

    def _stale_guards(self, others: list[Item], owner: str) -> list[Item]:
        """The guards that still name the owner's registrations gone from the partition (expired, then
        deleted by TTL), found through their stale list entries, which live as long as they do."""
        entries = [item for item in others if item["sk"]["S"].startswith(LISTED) and "token_digest" in item]
        keys = [{"pk": s(token_key(item["token_digest"]["S"])), "sk": s(GUARD)} for item in entries]
        found = batch_get(self._client, self._table, keys)
        guards = []
        for entry, key in zip(entries, keys, strict=True):
            guard = found.get((key["pk"]["S"], GUARD))
            if guard is not None and names(guard, owner, entry["id"]["S"]):
                guards.append(guard)
        return guards

    def _delete_if_named(self, guard: Item, owner: str) -> int:
        """Delete a guard if it still names the owner and the same registration: 1 if deleted."""
        try:
            call(
                self._client,
                "delete_item",
                TableName=self._table,
                Key={"pk": guard["pk"], "sk": guard["sk"]},
                ConditionExpression="#owner = :owner AND device_id = :id",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": s(owner), ":id": guard["device_id"]},
            )
        except ClientError as error:
            if code(error) != "ConditionalCheckFailedException":
                raise
            return 0  # taken by someone else meanwhile: theirs now
        return 1

    def _owner_partition(self, owner: str) -> list[Item]:
        return query_partition(self._client, self._table, owner_key(owner))

    def _guards_of(self, registrations: list[Item]) -> dict[tuple[str, str], Item]:
        # A registration's sk is its token's guard pk (TOKEN#<digest>).
        keys = [{"pk": s(item["sk"]["S"]), "sk": s(GUARD)} for item in registrations]
        return batch_get(self._client, self._table, keys)

    def _erase_registration(self, registration: Item, holds_guard: bool) -> list[Item]:
        owner, device_id = registration["owner"]["S"], registration["id"]["S"]
        names_it = "#owner = :owner AND device_id = :id"
        values = {":owner": s(owner), ":id": s(device_id)}
        guard: Item = {
            "TableName": self._table,
            "Key": {"pk": s(registration["sk"]["S"]), "sk": s(GUARD)},
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": values,
        }
        if holds_guard:
            guard_part = {"Delete": {**guard, "ConditionExpression": names_it}}
        else:
            # Absent, expired-and-freed, or another holder's: checked, never touched.
            guard_part = {
                "ConditionCheck": {
                    **guard,
                    "ConditionExpression": f"attribute_not_exists(pk) OR NOT ({names_it})",
                }
            }
        return [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": registration["pk"], "sk": registration["sk"]},
                    "ConditionExpression": "id = :id",
                    "ExpressionAttributeValues": {":id": s(device_id)},
                }
            },
            guard_part,
            # Its list entry (present while it is active), with it: no entry outlives its registration.
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": registration["pk"], "sk": s(entry_of(registration))},
                }
            },
        ]


def split_partition(items: list[Item]) -> tuple[list[Item], list[Item]]:
    """(registrations, every other item) of an owner's partition.

    A registration's list entry goes with the registration (erased in its transaction, exported as
    it), so it is in neither list; an entry whose registration is gone counts among the others.
    """
    registrations = [item for item in items if item["sk"]["S"].startswith("TOKEN#")]
    entries = {entry_of(item) for item in registrations}
    others = [
        item for item in items if not item["sk"]["S"].startswith("TOKEN#") and item["sk"]["S"] not in entries
    ]
    return registrations, others
