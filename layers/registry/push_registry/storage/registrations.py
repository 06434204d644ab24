"""Registrations, their list entries and token guards: the only code that knows their keys and conditions.

    registration  pk=OWNER#<owner>  sk=TOKEN#<sha256(token)>           the owner's registration of one token
    list entry    pk=OWNER#<owner>  sk=LIVE#<created_at>#<id>          a full copy of the registration,
                                                                       only while it is active
    token guard   pk=TOKEN#<sha256> sk=GUARD                           who holds the token: {owner, device_id,
                                                                       tenure}

A token is held while its guard exists and has not expired. Every write that creates, moves, refreshes
or retires a registration changes its guard and its list entry in the same transaction, so the three
share one expiry (the TTL attribute `expires_at`) and "one live registration per token" holds under
any interleaving of requests. A guard's `tenure` is set when a free token is taken and kept while
the token is handed from holder to holder: the same tenure means the token was never free meanwhile.

The list entries make an account's live registrations one Query in creation order (newest first),
whatever else the partition holds: a deactivated registration has none. A registration id issued here
names its keys (creation instant, token digest at creation, and 32 random bits, base64url), so a by-id
call reads or writes the registration without reading the partition first; an id from elsewhere
(imported) is looked for among the account's list entries.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from push_registry.errors import DeviceNotFound, TokenTaken
from push_registry.registration import Provider, Registration
from push_registry.storage.table import (
    GUARD,
    Cancelled,
    Item,
    batch_get,
    call,
    n,
    parse_time,
    s,
    stamp,
    transact,
)


def owner_key(owner: str) -> str:
    return f"OWNER#{owner}"


def token_key(digest: str) -> str:
    return f"TOKEN#{digest}"


def entry_key(created_at: datetime, registration_id: str) -> str:
    # ISO-8601 UTC stamps of one width sort as the instants they name: the sort key gives the order.
    return f"{LISTED}{stamp(created_at)}#{registration_id}"


LISTED = "LIVE#"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID_BYTES = 8 + 32 + 4  # microseconds since the epoch, token digest, random


def new_id(created_at: datetime, digest: str) -> str:
    """A registration id that names its keys: creation instant and token digest, plus 32 random bits."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    raw = micros.to_bytes(8, "big") + bytes.fromhex(digest) + os.urandom(4)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def id_keys(registration_id: str) -> tuple[datetime, str] | None:
    """(created_at, token digest at creation) named by an id issued here; None for any other string."""
    if len(registration_id) != 59:
        return None
    try:
        raw = base64.urlsafe_b64decode(registration_id + "=")
    except (ValueError, binascii.Error):
        return None
    if len(raw) != _ID_BYTES or base64.urlsafe_b64encode(raw).decode().rstrip("=") != registration_id:
        return None
    try:
        created_at = _EPOCH + timedelta(microseconds=int.from_bytes(raw[:8], "big"))
    except OverflowError:
        return None
    return created_at, raw[8:40].hex()


class RegistrationStore:
    """Registrations, their list entries and their token guards in one DynamoDB table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # ------------------------------------------------------------------ reads

    def listed(self, owner: str, after: tuple[datetime, str] | None, batch: int) -> Iterator[Registration]:
        """The owner's list entries, newest `created_at` first, from just after `after` (created_at, id).

        Entries exist only for active registrations; expired ones TTL has not deleted yet come too (the
        caller skips them). Read `batch` at a time, so a page reads about what it returns.
        """
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :listed)",
            "ExpressionAttributeValues": {":pk": s(owner_key(owner)), ":listed": s(LISTED)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": batch,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {"pk": s(owner_key(owner)), "sk": s(entry_key(*after))}
        while True:
            page = self.call("query", **request)
            for item in page.get("Items", []):
                yield _registration(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def by_id(self, owner: str, registration_id: str) -> Registration | None:
        """The owner's active registration with this id (expired or not), read from its list entry.

        One GetItem for an id issued here; an id from elsewhere is looked for among the owner's list
        entries (active registrations only, never the deactivated ones).
        """
        keys = id_keys(registration_id)
        if keys is None:
            return next((r for r in self.listed(owner, None, 100) if r.id == registration_id), None)
        key = {"pk": s(owner_key(owner)), "sk": s(entry_key(keys[0], registration_id))}
        item = self.call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return _registration(item) if item else None

    def new_id(self, created_at: datetime, digest: str) -> str:
        return new_id(created_at, digest)

    # ------------------------------------------------------------------ writes

    def add(self, registration: Registration, now: datetime) -> None:
        """Store a new registration and take its token; TokenTaken if a live registration holds it."""
        try:
            self.transact(
                [
                    {"Put": self._put_guard(registration, now)},
                    {"Put": {"TableName": self._table, "Item": _registration_item(registration)}},
                    {"Put": self._put_entry(registration)},
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
                    {"Put": self._put_entry(updated)},
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
                    {"Put": self._put_entry(updated)},  # same key: created_at and id are kept
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
                    {"Delete": self._delete_entry(current)},
                ]
            )
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
        moment = s(stamp(now))
        registration: Item = {
            "TableName": self._table,
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
        guard: Item = {
            "TableName": self._table,
            "Key": {"pk": s(token_key(digest)), "sk": s(GUARD)},
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {":id": s(registration_id)},
        }
        entry: Item = {
            "TableName": self._table,
            "Key": {"pk": s(owner_key(owner)), "sk": s(entry_key(created_at, registration_id))},
            "ConditionExpression": "attribute_exists(pk)",
        }
        try:
            self.transact([{"Update": registration}, {"Delete": guard}, {"Delete": entry}])
        except Cancelled:
            return False
        return True

    def holder(self, digest: str, now: datetime) -> tuple[str, str] | None:
        """(owner, device id) of the live registration holding the token with this digest, if any."""
        key = {"pk": s(token_key(digest)), "sk": s(GUARD)}
        item = self.call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if item is None or int(item["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        return item["owner"]["S"], item["device_id"]["S"]

    def holders(self, digests: list[str], now: datetime) -> dict[str, tuple[str, str]]:
        """holder() of many tokens by digest, those held only, in one read per 100 tokens."""
        keys = {digest: {"pk": s(token_key(digest)), "sk": s(GUARD)} for digest in digests}
        found = batch_get(self._client, self._table, list(keys.values()))
        held = {}
        for digest, key in keys.items():
            item = found.get((key["pk"]["S"], GUARD))
            if item is not None and int(item["expires_at"]["N"]) > int(now.timestamp()):
                held[digest] = (item["owner"]["S"], item["device_id"]["S"])
        return held

    def get(self, owner: str, digest: str) -> Registration | None:
        """The owner's registration of one token (by its digest), in any state."""
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(digest))}
        item = self.call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return _registration(item) if item else None

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
        if (current.owner, current.created_at, current.id) != (updated.owner, updated.created_at, updated.id):
            parts.append({"Delete": self._delete_entry(current)})
        parts.append({"Put": self._put_entry(updated)})
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

    def _put_entry(self, registration: Registration) -> Item:
        item = _registration_item(registration)
        item["sk"] = s(entry_key(registration.created_at, registration.id))
        return {"TableName": self._table, "Item": item}

    def _delete_entry(self, registration: Registration) -> Item:
        key = {
            "pk": s(owner_key(registration.owner)),
            "sk": s(entry_key(registration.created_at, registration.id)),
        }
        return {"TableName": self._table, "Key": key}

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
