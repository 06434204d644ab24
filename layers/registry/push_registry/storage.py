"""The DynamoDB adapter: the only module that knows the table's keys, conditions and error codes.

Layout of the single table (no secondary index; every read is strongly consistent):

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

import random
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from push_registry import time_budget
from push_registry.errors import Contention, DeviceNotFound, TokenTaken, Unavailable
from push_registry.presignup import PreSignupPost, PreSignupRecord, PreSignupSnapshot, Sighting
from push_registry.registration import Provider, Registration, token_digest

Item = dict[str, Any]

_GUARD = "GUARD"
_RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
_CONFLICT_ATTEMPTS = 4
# Kept back from the function's timeout for answering once the last call returns.
_ANSWER_RESERVE_SECONDS = 0.5


def owner_key(owner: str) -> str:
    return f"OWNER#{owner}"


def token_key(digest: str) -> str:
    return f"TOKEN#{digest}"


class _Cancelled(Exception):
    """A transaction whose conditions failed; `items` are the old images DynamoDB returned, by position."""

    def __init__(self, reasons: Sequence[Mapping[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
        self.items = [reason.get("Item") for reason in reasons]


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
            "ExpressionAttributeValues": {":pk": _s(owner_key(owner))},
            "ConsistentRead": True,
        }
        while True:
            page = self._call("query", **request)
            for item in page.get("Items", []):
                yield _registration(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ writes

    def add(self, registration: Registration, now: datetime) -> None:
        """Store a new registration and take its token; TokenTaken if a live registration holds it."""
        try:
            self._transact(
                [
                    {"Put": self._put_guard(registration, now)},
                    {"Put": {"TableName": self._table, "Item": _registration_item(registration)}},
                ]
            )
        except _Cancelled as cancelled:
            raise _taken(cancelled.items[0], registration.owner) from None

    def save(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Replace a live registration whose token is unchanged, extending its guard to the new expiry.

        DeviceNotFound when `current` is no longer live (deactivated, expired, moved meanwhile).
        """
        try:
            self._transact(
                [
                    {"Put": self._put_registration_if_live(updated, current, now)},
                    {"Update": self._extend_guard(updated)},
                ]
            )
        except _Cancelled:
            raise DeviceNotFound() from None

    def move_token(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Give a live registration a new token: the old token is freed and the new one taken atomically.

        TokenTaken when a live registration holds the new token; DeviceNotFound when `current` is gone.
        """
        try:
            self._transact(
                [
                    {"Delete": self._delete_registration_if_live(current, now)},
                    {"Delete": self._release_guard(current)},
                    {"Put": self._put_guard(updated, now)},
                    {"Put": {"TableName": self._table, "Item": _registration_item(updated)}},
                ]
            )
        except _Cancelled as cancelled:
            if cancelled.failed[2]:
                raise _taken(cancelled.items[2], updated.owner) from None
            raise DeviceNotFound() from None

    def deactivate(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Store the deactivated registration and free its token at once."""
        try:
            self._transact(
                [
                    {"Put": self._put_registration_if_live(updated, current, now)},
                    {"Delete": self._release_guard(current)},
                ]
            )
        except _Cancelled:
            raise DeviceNotFound() from None

    def holder(self, digest: str, now: datetime) -> tuple[str, str] | None:
        """(owner, device id) of the live registration holding the token with this digest, if any."""
        key = {"pk": _s(token_key(digest)), "sk": _s(_GUARD)}
        item = self._call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if item is None or int(item["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        return item["owner"]["S"], item["device_id"]["S"]

    def get(self, owner: str, digest: str) -> Registration | None:
        """The owner's registration of one token (by its digest), in any state."""
        key = {"pk": _s(owner_key(owner)), "sk": _s(token_key(digest))}
        item = self._call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get("Item")
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
            ":owner": _s(owner),
            ":expires": _n(expires_at),
            ":now": _n(int(now.timestamp())),
            ":true": {"BOOL": True},
            ":stamp": _s(_stamp(now)),
        }
        sets = ["expires_at = :expires", "last_used_at = :stamp", "updated_at = :stamp"]
        for index, (name, value) in enumerate(changes.items()):
            if value or not isinstance(value, dict):  # an empty map sets nothing, so names nothing
                names[f"#a{index}"] = name
            if isinstance(value, dict):
                for position, (key, text) in enumerate(value.items()):
                    names[f"#a{index}k{position}"] = key
                    values[f":a{index}k{position}"] = _s(text)
                    sets.append(f"#a{index}.#a{index}k{position} = :a{index}k{position}")
            else:
                values[f":a{index}"] = _s(value)
                sets.append(f"#a{index} = :a{index}")
        registration_update: Item = {
            "TableName": self._table,
            "Key": {"pk": _s(owner_key(owner)), "sk": _s(token_key(digest))},
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
            "Key": {"pk": _s(token_key(digest)), "sk": _s(_GUARD)},
            "UpdateExpression": "SET expires_at = :expires",
            "ConditionExpression": "#owner = :owner AND expires_at > :now",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {
                ":owner": _s(owner),
                ":expires": _n(expires_at),
                ":now": values[":now"],
            },
        }
        try:
            self._transact([{"Update": guard_update}, {"Update": registration_update}])
        except _Cancelled:
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
            "Key": {"pk": _s(token_key(updated.token_digest)), "sk": _s(_GUARD)},
            "UpdateExpression": "SET #owner = :owner, device_id = :new_id, expires_at = :expires",
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {
                ":id": _s(current.id),
                ":owner": _s(updated.owner),
                ":new_id": _s(updated.id),
                ":expires": _n(updated.expires_at),
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
            self._transact([{"Update": guard}, *parts])
        except _Cancelled:
            raise DeviceNotFound() from None

    # ------------------------------------------------------------------ transaction parts

    def _put_guard(self, registration: Registration, now: datetime) -> Item:
        return {
            "TableName": self._table,
            "Item": {
                "pk": _s(token_key(registration.token_digest)),
                "sk": _s(_GUARD),
                "owner": _s(registration.owner),
                "device_id": _s(registration.id),
                "expires_at": _n(registration.expires_at),
                "tenure": _s(uuid.uuid4().hex),  # a free token taken: a new holding begins
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
            "ExpressionAttributeValues": {":now": _n(int(now.timestamp()))},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _extend_guard(self, registration: Registration) -> Item:
        return {
            "TableName": self._table,
            "Key": {"pk": _s(token_key(registration.token_digest)), "sk": _s(_GUARD)},
            "UpdateExpression": "SET expires_at = :expires",
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {
                ":expires": _n(registration.expires_at),
                ":id": _s(registration.id),
            },
        }

    def _release_guard(self, registration: Registration) -> Item:
        return {
            "TableName": self._table,
            "Key": {"pk": _s(token_key(registration.token_digest)), "sk": _s(_GUARD)},
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {":id": _s(registration.id)},
        }

    def _put_registration_if_live(self, updated: Registration, current: Registration, now: datetime) -> Item:
        return {
            "TableName": self._table,
            "Item": _registration_item(updated),
            "ConditionExpression": "id = :id AND active = :true AND expires_at > :now",
            "ExpressionAttributeValues": {
                ":id": _s(current.id),
                ":true": {"BOOL": True},
                ":now": _n(int(now.timestamp())),
            },
        }

    def _delete_registration_if_live(self, current: Registration, now: datetime) -> Item:
        return {
            "TableName": self._table,
            "Key": {"pk": _s(owner_key(current.owner)), "sk": _s(token_key(current.token_digest))},
            "ConditionExpression": "id = :id AND active = :true AND expires_at > :now",
            "ExpressionAttributeValues": {
                ":id": _s(current.id),
                ":true": {"BOOL": True},
                ":now": _n(int(now.timestamp())),
            },
        }

    # ------------------------------------------------------------------ DynamoDB calls

    def _transact(self, items: list[Item]) -> None:
        _transact(self._client, items)

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        return _call(self._client, operation, **request)


class RequestCounter:
    """Fixed-window request counters (per user, per IP) in the same table, removed by TTL."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def count(self, key: str, window_start: int, limit: int, expires_at: int) -> bool:
        """Count one request in the window; False, counting nothing, when `limit` were already counted."""
        try:
            _call(
                self._client,
                "update_item",
                TableName=self._table,
                Key={"pk": _s(f"RATE#{key}"), "sk": _s(str(window_start))},
                UpdateExpression="ADD hits :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                ExpressionAttributeValues={":one": _n(1), ":limit": _n(limit), ":expires": _n(expires_at)},
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _transact(client: Any, items: list[Item]) -> None:
    """Run one transaction, retrying only when another transaction held one of its items."""
    for attempt in range(_CONFLICT_ATTEMPTS):
        _ensure_time_for_one_call(client)
        try:
            client.transact_write_items(TransactItems=items)
            return
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise _translate(error) from error
            reasons = error.response.get("CancellationReasons", [])
            codes = {reason.get("Code") for reason in reasons}
            if "ConditionalCheckFailed" in codes:
                raise _Cancelled(reasons) from None
            if not codes & {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
                raise
        except BotoCoreError as error:
            raise Unavailable() from error
        if attempt + 1 < _CONFLICT_ATTEMPTS:
            # Jittered backoff: colliding writers should not collide again on the next attempt.
            time.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311 - jitter, not crypto
    raise Unavailable() from Contention()


def _call(client: Any, operation: str, **request: Any) -> dict[str, Any]:
    """One DynamoDB call; throttling and faults that outlived botocore's retries become Unavailable."""
    _ensure_time_for_one_call(client)
    try:
        response: dict[str, Any] = getattr(client, operation)(**request)
        return response
    except ClientError as error:
        if _code(error) == "ConditionalCheckFailedException":
            raise
        raise _translate(error) from error
    except BotoCoreError as error:
        raise Unavailable() from error


def _ensure_time_for_one_call(client: Any) -> None:
    """Unavailable now, rather than a call that the function's timeout could cut off mid-way."""
    if time_budget.seconds_left() < _worst_case_seconds(client) + _ANSWER_RESERVE_SECONDS:
        raise Unavailable()


def _worst_case_seconds(client: Any) -> float:
    """One call with botocore's retries: every attempt timing out, every backoff at its maximum.

    Standard retry mode sleeps up to min(2**i, 20) s before retry i+1 (throttling's base scale, the
    largest) -- botocore.retries.standard.ExponentialBackoff.
    """
    config = client.meta.config
    retries = config.retries or {}
    attempts = int(retries.get("total_max_attempts") or retries.get("max_attempts", 2) + 1)
    waits = attempts * (float(config.connect_timeout) + float(config.read_timeout))
    return waits + sum(min(2.0**retry, 20.0) for retry in range(attempts - 1))


# ---------------------------------------------------------------------- marshalling


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _translate(error: ClientError) -> Exception:
    """Throttling and server faults that outlived botocore's retries become Unavailable; the rest are bugs."""
    if _code(error) in _RETRYABLE:
        return Unavailable()
    return cast(Exception, error)


def _taken(guard: Mapping[str, Any] | None, caller: str) -> TokenTaken:
    if guard is None:  # the holder changed between the failed condition and the read: still taken
        return TokenTaken(held_by_caller=False)
    owner, device_id = guard["owner"]["S"], guard["device_id"]["S"]
    tenure = guard.get("tenure", {}).get("S")  # absent on guards written before tenures existed
    if owner == caller:
        return TokenTaken(held_by_caller=True, device_id=device_id, holder=(owner, device_id), tenure=tenure)
    return TokenTaken(held_by_caller=False, holder=(owner, device_id), tenure=tenure)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _registration_item(registration: Registration) -> Item:
    item: Item = {
        "pk": _s(owner_key(registration.owner)),
        "sk": _s(token_key(registration.token_digest)),
        "id": _s(registration.id),
        "owner": _s(registration.owner),
        "token": _s(registration.token),
        "provider": _s(registration.provider.value),
        "active": {"BOOL": registration.active},
        "created_at": _s(_stamp(registration.created_at)),
        "updated_at": _s(_stamp(registration.updated_at)),
        "last_used_at": _s(_stamp(registration.last_used_at)),
        "expires_at": _n(registration.expires_at),
        "source": _s(registration.source),
        "device_info": {"M": {key: _s(value) for key, value in registration.device_info.items()}},
    }
    if registration.platform is not None:
        item["platform"] = _s(registration.platform)
    if registration.tenant is not None:
        item["tenant"] = _s(registration.tenant)
    return item


def _registration(item: Item) -> Registration:
    return Registration(
        id=item["id"]["S"],
        owner=item["owner"]["S"],
        token=item["token"]["S"],
        provider=Provider(item["provider"]["S"]),
        platform=item["platform"]["S"] if "platform" in item else None,
        active=item["active"]["BOOL"],
        created_at=_time(item["created_at"]["S"]),
        updated_at=_time(item["updated_at"]["S"]),
        last_used_at=_time(item["last_used_at"]["S"]),
        expires_at=int(item["expires_at"]["N"]),
        source=item["source"]["S"],
        device_info={key: value["S"] for key, value in item.get("device_info", {}).get("M", {}).items()},
        tenant=item["tenant"]["S"] if "tenant" in item else None,
    )


# ---------------------------------------------------------------------- pre-signup records
#
#   record        pk=PHONE#<e164>                 sk=PRESIGNUP#<id>
#   device guard  pk=PHONE#<e164>                 sk=DEVICE#<device id>      {record_id}
#   token guard   pk=PRESIGNUP_TOKEN#<sha256>     sk=GUARD                   {record_id, phone}
#
# All three carry the record's expires_at. A phone's records are one Query; the guards make "one live
# record per token" and "one per (phone, device id)" hold: every write conditions on them being as read.


class PreSignupStore:
    """Pre-signup records and their token and device guards."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def snapshot(self, post: PreSignupPost, now: datetime) -> PreSignupSnapshot:
        keys = [_presignup_token_key(post.token)]
        if post.device_id is not None:
            keys.append(_device_key(post.phone, post.device_id))
        guards = self._batch_get(keys)
        token_guard = guards.get(_key_id(keys[0]))
        device_guard = guards.get(_key_id(keys[1])) if len(keys) > 1 else None
        wanted = []
        if token_guard:
            wanted.append(_record_key(token_guard["phone"]["S"], token_guard["record_id"]["S"]))
        if device_guard:
            wanted.append(_record_key(post.phone, device_guard["record_id"]["S"]))
        records = {item["id"]["S"]: _presignup(item) for item in self._batch_get(wanted).values()}

        def sighting(guard: Item | None) -> Sighting:
            if guard is None or int(guard["expires_at"]["N"]) <= int(now.timestamp()):
                return Sighting(None, None)
            return Sighting(guard["record_id"]["S"], records.get(guard["record_id"]["S"]))

        by_device = sighting(device_guard) if post.device_id is not None else None
        return PreSignupSnapshot(sighting(token_guard), by_device)

    def save(
        self, target: PreSignupRecord, seen: PreSignupSnapshot, previous: list[PreSignupRecord], now: datetime
    ) -> bool:
        stamp = _n(int(now.timestamp()))
        writes: dict[tuple[str, str], Item] = {}

        def guard_put(key: dict[str, Any], attributes: Item, sighting: Sighting) -> Item:
            if sighting.record_id is None:
                condition, values = "attribute_not_exists(pk) OR expires_at <= :now", {":now": stamp}
            else:
                condition, values = "record_id = :seen", {":seen": _s(sighting.record_id)}
            item = {**key, **attributes, "record_id": _s(target.id), "expires_at": _n(target.expires_at)}
            return {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            }

        token_key = _presignup_token_key(target.token)
        writes[_key_id(token_key)] = guard_put(token_key, {"phone": _s(target.phone)}, seen.by_token)
        if target.device_id is not None:
            device_key = _device_key(target.phone, target.device_id)
            # A device id carried over from the kept record has its guard pointing at that record.
            sighting = seen.by_device or Sighting(target.id, None)
            writes[_key_id(device_key)] = guard_put(device_key, {}, sighting)
        record_key = _record_key(target.phone, target.id)
        writes[_key_id(record_key)] = {"Put": {"TableName": self._table, "Item": _presignup_item(target)}}
        for old in previous:
            # The record's previous key and guards, unless the target re-uses them.
            stale = [_record_key(old.phone, old.id), _presignup_token_key(old.token)]
            if old.device_id is not None:
                stale.append(_device_key(old.phone, old.device_id))
            for key in stale:
                if _key_id(key) in writes:
                    continue
                is_record = key["sk"]["S"].startswith("PRESIGNUP#")
                writes[_key_id(key)] = {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key,
                        "ConditionExpression": "updated_at = :seen" if is_record else "record_id = :seen",
                        "ExpressionAttributeValues": {
                            ":seen": _s(_stamp(old.updated_at)) if is_record else _s(old.id)
                        },
                    }
                }
        try:
            _transact(self._client, list(writes.values()))
        except _Cancelled:
            return False
        return True

    def find_by_token(self, token: str, now: datetime) -> PreSignupRecord | None:
        """The live record a token identifies, if any."""
        guard = self._batch_get([_presignup_token_key(token)]).get(_key_id(_presignup_token_key(token)))
        if guard is None or int(guard["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        key = _record_key(guard["phone"]["S"], guard["record_id"]["S"])
        item = self._batch_get([key]).get(_key_id(key))
        record = _presignup(item) if item else None
        return record if record is not None and record.is_live(now) and record.token == token else None

    def retire(self, record: PreSignupRecord) -> bool:
        """Delete a record and its guards, if it is still as read; False when it changed meanwhile."""
        keys = [_record_key(record.phone, record.id), _presignup_token_key(record.token)]
        if record.device_id is not None:
            keys.append(_device_key(record.phone, record.device_id))
        deletes = []
        for key in keys:
            is_record = key["sk"]["S"].startswith("PRESIGNUP#")
            seen = _s(_stamp(record.updated_at)) if is_record else _s(record.id)
            condition = "updated_at = :seen" if is_record else "record_id = :seen"
            deletes.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key,
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": {":seen": seen},
                    }
                }
            )
        try:
            _transact(self._client, deletes)
        except _Cancelled:
            return False
        return True

    def live_for_phone(self, phone: str, now: datetime) -> list[PreSignupRecord]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :records)",
            "ExpressionAttributeValues": {":pk": _s(f"PHONE#{phone}"), ":records": _s("PRESIGNUP#")},
            "ConsistentRead": True,
        }
        found = []
        while True:
            page = _call(self._client, "query", **request)
            found += [record for item in page.get("Items", []) if (record := _presignup(item)).is_live(now)]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], Item]:
        if not keys:
            return {}
        unique = list({_key_id(k): k for k in keys}.values())
        request = {self._table: {"Keys": unique, "ConsistentRead": True}}
        found: dict[tuple[str, str], Item] = {}
        for _ in range(5):
            response = _call(self._client, "batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                found[_key_id(item)] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.01)
        raise Unavailable()


def _key_id(item: Mapping[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def _presignup_token_key(token: str) -> dict[str, Any]:
    return {"pk": _s(f"PRESIGNUP_TOKEN#{token_digest(token)}"), "sk": _s(_GUARD)}


def _device_key(phone: str, device_id: str) -> dict[str, Any]:
    return {"pk": _s(f"PHONE#{phone}"), "sk": _s(f"DEVICE#{device_id}")}


def _record_key(phone: str, record_id: str) -> dict[str, Any]:
    return {"pk": _s(f"PHONE#{phone}"), "sk": _s(f"PRESIGNUP#{record_id}")}


def _presignup_item(record: PreSignupRecord) -> Item:
    item: Item = {
        **_record_key(record.phone, record.id),
        "id": _s(record.id),
        "phone": _s(record.phone),
        "token": _s(record.token),
        "created_at": _s(_stamp(record.created_at)),
        "updated_at": _s(_stamp(record.updated_at)),
        "expires_at": _n(record.expires_at),
    }
    optional = {
        "device_id": record.device_id,
        "device_type": record.device_type,
        "meta": record.meta,
        "source_ip": record.source_ip,
        "user_agent": record.user_agent,
    }
    item.update({name: _s(value) for name, value in optional.items() if value is not None})
    return item


def _presignup(item: Item) -> PreSignupRecord:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    return PreSignupRecord(
        id=item["id"]["S"],
        phone=item["phone"]["S"],
        token=item["token"]["S"],
        device_id=text("device_id"),
        device_type=text("device_type"),
        meta=text("meta"),
        source_ip=text("source_ip"),
        user_agent=text("user_agent"),
        created_at=_time(item["created_at"]["S"]),
        updated_at=_time(item["updated_at"]["S"]),
        expires_at=int(item["expires_at"]["N"]),
    )
