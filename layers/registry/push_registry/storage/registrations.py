"""Registrations and their token guards: the only code that knows their keys and conditions.

    registration  pk=OWNER#<owner>  sk=TOKEN#<sha256(token)>   the owner's registration of one token
    token guard   pk=TOKEN#<sha256> sk=GUARD                   who holds the token: {owner, device_id,
                                                               tenure}

A token is held while its guard exists and has not expired. Every write that creates, moves, refreshes
or retires a registration changes its guard in the same transaction, so the guard and the registration
share one expiry (the TTL attribute `expires_at`) and "one live registration per token" holds under
any interleaving of requests. A guard's `tenure` is set when a free token is taken and kept while
the token is handed from holder to holder: the same tenure means the token was never free meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from push_registry.errors import Contention, DeviceNotFound, TokenTaken, Unavailable
from push_registry.registration import Provider, Registration
from push_registry.storage.table import (
    GUARD,
    Cancelled,
    Item,
    call,
    delete_all,
    get_all,
    n,
    parse_time,
    plain_item,
    query_partition,
    s,
    stamp,
    transact,
)

# Rounds of read-then-erase before an erasure racing with constant re-registration gives up (503,
# safe to repeat: every round only deletes).
_ERASURE_ROUNDS = 4


def owner_key(owner: str) -> str:
    return f"OWNER#{owner}"


def token_key(digest: str) -> str:
    return f"TOKEN#{digest}"


class RegistrationStore:
    """Registrations and their token guards in one DynamoDB table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # ------------------------------------------------------------------ reads

    def owned_by(self, owner: str) -> Iterator[Registration]:
        """Every registration stored under the owner, live or not, in no particular order."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(owner_key(owner))},
            "ConsistentRead": True,
        }
        while True:
            page = self.call("query", **request)
            for item in page.get("Items", []):
                yield _registration(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ writes

    def add(self, registration: Registration, now: datetime) -> None:
        """Store a new registration and take its token; TokenTaken if a live registration holds it."""
        try:
            self.transact(
                [
                    {"Put": self._put_guard(registration, now)},
                    {"Put": {"TableName": self._table, "Item": _registration_item(registration)}},
                ]
            )
        except Cancelled as cancelled:
            raise _taken(cancelled.items[0], registration.owner) from None

    def save(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Replace a live registration whose token is unchanged, extending its guard to the new expiry.

        DeviceNotFound when `current` is no longer live (deactivated, expired, moved meanwhile).
        """
        try:
            self.transact(
                [
                    {"Put": self._put_registration_if_live(updated, current, now)},
                    {"Update": self._extend_guard(updated)},
                ]
            )
        except Cancelled:
            raise DeviceNotFound() from None

    def move_token(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Give a live registration a new token: the old token is freed and the new one taken atomically.

        TokenTaken when a live registration holds the new token; DeviceNotFound when `current` is gone.
        """
        try:
            self.transact(
                [
                    {"Delete": self._delete_registration_if_live(current, now)},
                    {"Delete": self._release_guard(current)},
                    {"Put": self._put_guard(updated, now)},
                    {"Put": {"TableName": self._table, "Item": _registration_item(updated)}},
                ]
            )
        except Cancelled as cancelled:
            if cancelled.failed[2]:
                raise _taken(cancelled.items[2], updated.owner) from None
            raise DeviceNotFound() from None

    def deactivate(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Store the deactivated registration and free its token at once."""
        try:
            self.transact(
                [
                    {"Put": self._put_registration_if_live(updated, current, now)},
                    {"Delete": self._release_guard(current)},
                ]
            )
        except Cancelled:
            raise DeviceNotFound() from None

    def holder(self, digest: str, now: datetime) -> tuple[str, str] | None:
        """(owner, device id) of the live registration holding the token with this digest, if any."""
        key = {"pk": s(token_key(digest)), "sk": s(GUARD)}
        item = self.call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if item is None or int(item["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        return item["owner"]["S"], item["device_id"]["S"]

    def get(self, owner: str, digest: str) -> Registration | None:
        """The owner's registration of one token (by its digest), in any state."""
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(digest))}
        item = self.call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return _registration(item) if item else None

    def refresh(
        self, owner: str, digest: str, expires_at: int, changes: Mapping[str, Any], now: datetime
    ) -> bool:
        """Extend the caller's live registration of a token and set `changes` on it, in one request.

        `changes` maps attribute names to values (str, or dict[str, str] merged key by key into a map).
        False when the caller holds no live registration of that token; nothing is written then.
        """
        names: dict[str, str] = {}
        values: dict[str, Any] = {
            ":owner": s(owner),
            ":expires": n(expires_at),
            ":now": n(int(now.timestamp())),
            ":true": {"BOOL": True},
            ":stamp": s(stamp(now)),
        }
        sets = ["expires_at = :expires", "last_used_at = :stamp", "updated_at = :stamp"]
        for index, (name, value) in enumerate(changes.items()):
            if value or not isinstance(value, dict):  # an empty map sets nothing, so names nothing
                names[f"#a{index}"] = name
            if isinstance(value, dict):
                for position, (key, text) in enumerate(value.items()):
                    names[f"#a{index}k{position}"] = key
                    values[f":a{index}k{position}"] = s(text)
                    sets.append(f"#a{index}.#a{index}k{position} = :a{index}k{position}")
            else:
                values[f":a{index}"] = s(value)
                sets.append(f"#a{index} = :a{index}")
        registration_update: Item = {
            "TableName": self._table,
            "Key": {"pk": s(owner_key(owner)), "sk": s(token_key(digest))},
            "UpdateExpression": "SET " + ", ".join(sets),
            # A concurrent use stamped later wins; this one then goes the read-and-save way, which
            # keeps time on the registration moving forward (ISO-8601 UTC stamps sort as times).
            "ConditionExpression": "active = :true AND expires_at > :now AND updated_at <= :stamp",
            "ExpressionAttributeValues": {k: v for k, v in values.items() if k != ":owner"},
        }
        if names:
            registration_update["ExpressionAttributeNames"] = names
        guard_update: Item = {
            "TableName": self._table,
            "Key": {"pk": s(token_key(digest)), "sk": s(GUARD)},
            "UpdateExpression": "SET expires_at = :expires",
            "ConditionExpression": "#owner = :owner AND expires_at > :now",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {
                ":owner": s(owner),
                ":expires": n(expires_at),
                ":now": values[":now"],
            },
        }
        try:
            self.transact([{"Update": guard_update}, {"Update": registration_update}])
        except Cancelled:
            return False
        return True

    def take_over(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Hand a live registration's token to `updated` (another owner, or a new id for the same one).

        The old registration disappears and the guard names the new holder, atomically; the guard's
        tenure is kept (the token is handed on, never free). DeviceNotFound when `current` no longer
        holds the token.
        """
        guard: Item = {
            "TableName": self._table,
            "Key": {"pk": s(token_key(updated.token_digest)), "sk": s(GUARD)},
            "UpdateExpression": "SET #owner = :owner, device_id = :new_id, expires_at = :expires",
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {
                ":id": s(current.id),
                ":owner": s(updated.owner),
                ":new_id": s(updated.id),
                ":expires": n(updated.expires_at),
            },
        }
        if current.owner == updated.owner:
            parts = [{"Put": self._put_registration_if_live(updated, current, now)}]
        else:
            parts = [
                {"Delete": self._delete_registration_if_live(current, now)},
                {"Put": {"TableName": self._table, "Item": _registration_item(updated)}},
            ]
        try:
            self.transact([{"Update": guard}, *parts])
        except Cancelled:
            raise DeviceNotFound() from None

    # ------------------------------------------------------------------ transaction parts

    def _put_guard(self, registration: Registration, now: datetime) -> Item:
        return {
            "TableName": self._table,
            "Item": {
                "pk": s(token_key(registration.token_digest)),
                "sk": s(GUARD),
                "owner": s(registration.owner),
                "device_id": s(registration.id),
                "expires_at": n(registration.expires_at),
                "tenure": s(uuid.uuid4().hex),  # a free token taken: a new holding begins
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
            "ExpressionAttributeValues": {":now": n(int(now.timestamp()))},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _extend_guard(self, registration: Registration) -> Item:
        return {
            "TableName": self._table,
            "Key": {"pk": s(token_key(registration.token_digest)), "sk": s(GUARD)},
            "UpdateExpression": "SET expires_at = :expires",
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {
                ":expires": n(registration.expires_at),
                ":id": s(registration.id),
            },
        }

    def _release_guard(self, registration: Registration) -> Item:
        return {
            "TableName": self._table,
            "Key": {"pk": s(token_key(registration.token_digest)), "sk": s(GUARD)},
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {":id": s(registration.id)},
        }

    def _put_registration_if_live(self, updated: Registration, current: Registration, now: datetime) -> Item:
        return {
            "TableName": self._table,
            "Item": _registration_item(updated),
            "ConditionExpression": "id = :id AND active = :true AND expires_at > :now",
            "ExpressionAttributeValues": {
                ":id": s(current.id),
                ":true": {"BOOL": True},
                ":now": n(int(now.timestamp())),
            },
        }

    def _delete_registration_if_live(self, current: Registration, now: datetime) -> Item:
        return {
            "TableName": self._table,
            "Key": {"pk": s(owner_key(current.owner)), "sk": s(token_key(current.token_digest))},
            "ConditionExpression": "id = :id AND active = :true AND expires_at > :now",
            "ExpressionAttributeValues": {
                ":id": s(current.id),
                ":true": {"BOOL": True},
                ":now": n(int(now.timestamp())),
            },
        }

    # ------------------------------------------------------------------ DynamoDB calls

    def transact(self, items: list[Item]) -> None:
        transact(self._client, items)

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        return call(self._client, operation, **request)

    # ------------------------------------------------------------------ privacy: access and erasure

    def export_owner(self, owner: str) -> dict[str, list[dict[str, Any]]]:
        """Everything stored about the owner, every attribute as stored (raw tokens included).

        `registrations`: live or not, from every API; `token_guards`: the guards that name the owner;
        `other_items`: any other item of the owner's partition, whatever its kind.
        """
        registrations, others = _split_partition(self._owner_partition(owner))
        guards = self._guards_of(registrations)
        return {
            "registrations": sorted(
                (plain_item(item) for item in registrations), key=lambda r: (r["created_at"], r["id"])
            ),
            "token_guards": [
                {"token_digest": key[0].removeprefix("TOKEN#"), **plain_item(guard)}
                for key, guard in sorted(guards.items())
                if _names(guard, owner)
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
            registrations, others = _split_partition(self._owner_partition(owner))
            if not registrations and not others:
                return counts
            guards = self._guards_of(registrations)
            settled = True
            for registration in registrations:
                guard = guards.get((registration["sk"]["S"], GUARD))
                holds = guard is not None and _names(guard, owner, registration["id"]["S"])
                try:
                    self.transact(self._erase_registration(registration, holds))
                except Cancelled:
                    settled = False  # changed meanwhile: read again in the next round
                    continue
                counts["registrations"] += 1
                counts["token_guards"] += int(holds)
            counts["other_items"] += delete_all(self._client, self._table, others)
            if settled:
                return counts
        raise Unavailable() from Contention()

    def _owner_partition(self, owner: str) -> list[Item]:
        return query_partition(self._client, self._table, owner_key(owner))

    def _guards_of(self, registrations: list[Item]) -> dict[tuple[str, str], Item]:
        # A registration's sk is its token's guard pk (TOKEN#<digest>).
        keys = [{"pk": s(item["sk"]["S"]), "sk": s(GUARD)} for item in registrations]
        return get_all(self._client, self._table, keys)

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
        ]


def _split_partition(items: list[Item]) -> tuple[list[Item], list[Item]]:
    """(registrations, every other item) of an owner's partition."""
    registrations = [item for item in items if item["sk"]["S"].startswith("TOKEN#")]
    others = [item for item in items if not item["sk"]["S"].startswith("TOKEN#")]
    return registrations, others


def _names(guard: Item, owner: str, device_id: str | None = None) -> bool:
    """Whether a token guard names this owner (and, when given, this registration)."""
    if guard.get("owner", {}).get("S") != owner:
        return False
    return device_id is None or guard.get("device_id", {}).get("S") == device_id


def _taken(guard: Mapping[str, Any] | None, caller: str) -> TokenTaken:
    if guard is None:  # the holder changed between the failed condition and the read: still taken
        return TokenTaken(held_by_caller=False)
    owner, device_id = guard["owner"]["S"], guard["device_id"]["S"]
    tenure = guard.get("tenure", {}).get("S")  # absent on guards written before tenures existed
    if owner == caller:
        return TokenTaken(held_by_caller=True, device_id=device_id, holder=(owner, device_id), tenure=tenure)
    return TokenTaken(held_by_caller=False, holder=(owner, device_id), tenure=tenure)


def _registration_item(registration: Registration) -> Item:
    item: Item = {
        "pk": s(owner_key(registration.owner)),
        "sk": s(token_key(registration.token_digest)),
        "id": s(registration.id),
        "owner": s(registration.owner),
        "token": s(registration.token),
        "provider": s(registration.provider.value),
        "active": {"BOOL": registration.active},
        "created_at": s(stamp(registration.created_at)),
        "updated_at": s(stamp(registration.updated_at)),
        "last_used_at": s(stamp(registration.last_used_at)),
        "expires_at": n(registration.expires_at),
        "source": s(registration.source),
        "device_info": {"M": {key: s(value) for key, value in registration.device_info.items()}},
    }
    if registration.platform is not None:
        item["platform"] = s(registration.platform)
    if registration.tenant is not None:
        item["tenant"] = s(registration.tenant)
    return item


def _registration(item: Item) -> Registration:
    return Registration(
        id=item["id"]["S"],
        owner=item["owner"]["S"],
        token=item["token"]["S"],
        provider=Provider(item["provider"]["S"]),
        platform=item["platform"]["S"] if "platform" in item else None,
        active=item["active"]["BOOL"],
        created_at=parse_time(item["created_at"]["S"]),
        updated_at=parse_time(item["updated_at"]["S"]),
        last_used_at=parse_time(item["last_used_at"]["S"]),
        expires_at=int(item["expires_at"]["N"]),
        source=item["source"]["S"],
        device_info={key: value["S"] for key, value in item.get("device_info", {}).get("M", {}).items()},
        tenant=item["tenant"]["S"] if "tenant" in item else None,
    )
