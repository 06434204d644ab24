"""Pre-signup records and their token and device guards: the only code that knows their keys.

    record        pk=PHONE#<e164>                 sk=PRESIGNUP#<id>
    device guard  pk=PHONE#<e164>                 sk=DEVICE#<device id>      {record_id}
    token guard   pk=PRESIGNUP_TOKEN#<sha256>     sk=GUARD                   {record_id, phone}
    phone roster  pk=PHONE#<e164>                 sk=ROSTER                  {version}

All four carry an expires_at (the roster: its last arrival's). A phone's records are one Query; the
guards make "one live record per token" and "one per (phone, device id)" hold: every write conditions
on them being as read. The roster's version changes with every record added to the phone, so that
additions, which evict to keep the phone's cap, are serialised.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from push_registry.errors import Contention, Unavailable
from push_registry.presignup import PreSignupPost, PreSignupRecord, PreSignupSnapshot, Sighting
from push_registry.registration import token_digest
from push_registry.storage.table import (
    GUARD,
    Cancelled,
    Item,
    batch_get,
    call,
    code,
    delete_all,
    key_id,
    n,
    parse_time,
    plain_item,
    query_partition,
    s,
    stamp,
    transact,
)

# Rounds of read-then-erase before an erasure racing with constant re-posting gives up (503, safe to
# repeat: every round only deletes).
_ERASURE_ROUNDS = 4


class PreSignupStore:
    """Pre-signup records and their token and device guards."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def snapshot(self, post: PreSignupPost, now: datetime) -> PreSignupSnapshot:
        keys = [_presignup_token_key(post.token), _roster_key(post.phone)]
        if post.device_id is not None:
            keys.append(_device_key(post.phone, post.device_id))
        guards = self._batch_get(keys)
        roster = guards.get(key_id(keys[1]))
        token_guard = guards.get(key_id(keys[0]))
        device_guard = guards.get(key_id(keys[2])) if len(keys) > 2 else None
        wanted = []
        if token_guard:
            wanted.append(_record_key(token_guard["phone"]["S"], token_guard["record_id"]["S"]))
        if device_guard:
            wanted.append(_record_key(post.phone, device_guard["record_id"]["S"]))
        records = {item["id"]["S"]: _presignup(item) for item in self._batch_get(wanted).values()}

        def sighting(guard: Item | None) -> Sighting:
            if guard is None or int(guard["expires_at"]["N"]) <= int(now.timestamp()):
                return Sighting(None, None)
            phone = guard["phone"]["S"] if "phone" in guard else None  # token guards only
            return Sighting(guard["record_id"]["S"], records.get(guard["record_id"]["S"]), phone)

        by_device = sighting(device_guard) if post.device_id is not None else None
        version = roster["version"]["S"] if roster else None
        return PreSignupSnapshot(sighting(token_guard), by_device, version)

    def save(
        self,
        target: PreSignupRecord,
        seen: PreSignupSnapshot,
        previous: list[PreSignupRecord],
        now: datetime,
        evicted: list[PreSignupRecord] | None = None,
    ) -> bool:
        at_now = n(int(now.timestamp()))
        writes: dict[tuple[str, str], Item] = {}

        def guard_put(key: dict[str, Any], attributes: Item, sighting: Sighting) -> Item:
            if sighting.record_id is None:
                condition, values = "attribute_not_exists(pk) OR expires_at <= :now", {":now": at_now}
            elif sighting.phone is None:
                condition, values = "record_id = :seen", {":seen": s(sighting.record_id)}
            else:
                # A record keeps its id when it moves to another phone: the phone tells the two apart.
                condition = "record_id = :seen AND phone = :seen_phone"
                values = {":seen": s(sighting.record_id), ":seen_phone": s(sighting.phone)}
            item = {**key, **attributes, "record_id": s(target.id), "expires_at": n(target.expires_at)}
            return {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            }

        token_key = _presignup_token_key(target.token)
        writes[key_id(token_key)] = guard_put(token_key, {"phone": s(target.phone)}, seen.by_token)
        if target.device_id is not None:
            device_key = _device_key(target.phone, target.device_id)
            # A device id carried over from the kept record has its guard pointing at that record.
            sighting = seen.by_device or Sighting(target.id, None)
            writes[key_id(device_key)] = guard_put(device_key, {}, sighting)
        record_key = _record_key(target.phone, target.id)
        writes[key_id(record_key)] = {
            "Put": {"TableName": self._table, "Item": _presignup_item(target), **_as_read(target, previous)}
        }
        if evicted is not None:
            writes[key_id(_roster_key(target.phone))] = self._roster_update(target, seen.phone_version)
        for old in [*previous, *(evicted or [])]:
            # The record's previous key and guards (or an evicted one's), unless the target re-uses them.
            stale = [_record_key(old.phone, old.id), _presignup_token_key(old.token)]
            if old.device_id is not None:
                stale.append(_device_key(old.phone, old.device_id))
            for key in stale:
                if key_id(key) in writes:
                    continue
                is_record = key["sk"]["S"].startswith("PRESIGNUP#")
                writes[key_id(key)] = {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key,
                        "ConditionExpression": "updated_at = :seen" if is_record else "record_id = :seen",
                        "ExpressionAttributeValues": {
                            ":seen": s(stamp(old.updated_at)) if is_record else s(old.id)
                        },
                    }
                }
        try:
            transact(self._client, list(writes.values()))
        except Cancelled:
            return False
        return True

    def _roster_update(self, target: PreSignupRecord, seen_version: str | None) -> Item:
        """A record arrives on the target's phone: its roster gets a new version, if still as read."""
        update: Item = {
            "TableName": self._table,
            "Key": _roster_key(target.phone),
            "UpdateExpression": "SET #version = :version, expires_at = :expires",
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":version": s(uuid.uuid4().hex), ":expires": n(target.expires_at)},
        }
        if seen_version is None:
            update["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            update["ConditionExpression"] = "#version = :seen_version"
            update["ExpressionAttributeValues"][":seen_version"] = s(seen_version)
        return {"Update": update}

    def find_by_token(self, token: str, now: datetime) -> PreSignupRecord | None:
        """The live record a token identifies, if any."""
        guard = self._batch_get([_presignup_token_key(token)]).get(key_id(_presignup_token_key(token)))
        if guard is None or int(guard["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        key = _record_key(guard["phone"]["S"], guard["record_id"]["S"])
        item = self._batch_get([key]).get(key_id(key))
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
            seen = s(stamp(record.updated_at)) if is_record else s(record.id)
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
            transact(self._client, deletes)
        except Cancelled:
            return False
        return True

    def live_for_phone(self, phone: str, now: datetime) -> list[PreSignupRecord]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :records)",
            "ExpressionAttributeValues": {":pk": s(f"PHONE#{phone}"), ":records": s("PRESIGNUP#")},
            "ConsistentRead": True,
        }
        found = []
        while True:
            page = call(self._client, "query", **request)
            found += [record for item in page.get("Items", []) if (record := _presignup(item)).is_live(now)]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def guarded(self, tokens: list[str], now: datetime) -> set[str]:
        """The tokens, among many, that a live pre-signup record holds (one read per 100 tokens)."""
        keys = {token: _presignup_token_key(token) for token in tokens}
        found = self._batch_get(list(keys.values()))
        return {
            token
            for token, key in keys.items()
            if (guard := found.get(key_id(key))) is not None
            and int(guard["expires_at"]["N"]) > int(now.timestamp())
        }

    # ------------------------------------------------------------------ privacy: access and erasure

    def export_phone(self, phone: str) -> dict[str, list[dict[str, Any]]]:
        """Everything stored about the phone (E.164), every attribute as stored (tokens included).

        `records` (live or expired-not-yet-removed), `device_guards`, the `token_guards` that name the
        phone's records, and `other_items` of the phone's partition, whatever their kind.
        """
        records, devices, _, others = _split_phone_partition(self._phone_partition(phone))
        token_guards = self._token_guards_of(records)
        return {
            "records": sorted(
                (plain_item(item) for item in records), key=lambda r: (r["created_at"], r["id"])
            ),
            "device_guards": [
                {"device_id": item["sk"]["S"].removeprefix("DEVICE#"), **plain_item(item)} for item in devices
            ],
            "token_guards": [
                {"token_digest": key[0].removeprefix("PRESIGNUP_TOKEN#"), **plain_item(guard)}
                for key, guard in sorted(token_guards.items())
                if guard.get("phone", {}).get("S") == phone
            ],
            "other_items": [{"sort_key": item["sk"]["S"], **plain_item(item)} for item in others],
        }

    def erase_phone(self, phone: str) -> dict[str, int]:
        """Delete every item of the phone's partition and the token guards naming its records.

        Each record goes in one transaction with its guards: a guard is deleted only if it still names
        the record, and otherwise checked not to, so a token or device taken over by another record
        meanwhile stays with it. A record changed since it was read cancels only its own transaction;
        the partition is then read again. Counts: `records`, `device_guards`, `token_guards`,
        `other_items`.
        """
        counts = {"records": 0, "device_guards": 0, "token_guards": 0, "other_items": 0}
        for _ in range(_ERASURE_ROUNDS):
            records, devices, roster, others = _split_phone_partition(self._phone_partition(phone))
            if not records and not devices and not roster and not others:
                return counts
            token_guards = self._token_guards_of(records)
            device_guards = {key_id(item): item for item in devices}
            settled = True
            for record in records:
                token_key = _presignup_token_key(record["token"]["S"])
                token_guard = token_guards.get(key_id(token_key))
                holds_token = token_guard is not None and _guard_names(token_guard, record, with_phone=True)
                parts = [
                    _erase_record_part(self._table, record),
                    _guard_part(self._table, token_key, record, holds_token, with_phone=True),
                ]
                holds_device = False
                if "device_id" in record:
                    device_key = _device_key(phone, record["device_id"]["S"])
                    device_guard = device_guards.get(key_id(device_key))
                    holds_device = device_guard is not None and _guard_names(device_guard, record)
                    parts.append(_guard_part(self._table, device_key, record, holds_device))
                    if holds_device:
                        device_guards.pop(key_id(device_key))
                try:
                    transact(self._client, parts)
                except Cancelled:
                    settled = False  # changed meanwhile: read again in the next round
                    continue
                counts["records"] += 1
                counts["token_guards"] += int(holds_token)
                counts["device_guards"] += int(holds_device)
            for guard in device_guards.values():
                # A device guard no record of the phone claimed: deleted if it still names what it did.
                try:
                    call(
                        self._client,
                        "delete_item",
                        TableName=self._table,
                        Key={"pk": guard["pk"], "sk": guard["sk"]},
                        ConditionExpression="record_id = :seen",
                        ExpressionAttributeValues={":seen": guard["record_id"]},
                    )
                except ClientError as error:
                    if code(error) != "ConditionalCheckFailedException":
                        raise
                    settled = False
                    continue
                counts["device_guards"] += 1
            counts["other_items"] += delete_all(self._client, self._table, others)
            delete_all(self._client, self._table, roster)
            if settled:
                return counts
        raise Unavailable() from Contention()

    def _phone_partition(self, phone: str) -> list[Item]:
        return query_partition(self._client, self._table, f"PHONE#{phone}")

    def _token_guards_of(self, records: list[Item]) -> dict[tuple[str, str], Item]:
        return batch_get(self._client, self._table, [_presignup_token_key(r["token"]["S"]) for r in records])

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], Item]:
        return batch_get(self._client, self._table, keys)


def _as_read(target: PreSignupRecord, previous: list[PreSignupRecord]) -> Item:
    """The condition that the target's record item is still as it was read.

    The record kept in place (same phone, same id) must not have changed since (`updated_at`); a record
    at a new key (a new record, or one moving to another phone) must not exist. Without this, a post
    that read the record on P1 while another moved it to P2 would re-create it on P1: the guards,
    which name only the record id, would not notice, and one token would be live under two phones.
    """
    kept = next((r for r in previous if (r.phone, r.id) == (target.phone, target.id)), None)
    if kept is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    return {
        "ConditionExpression": "updated_at = :read_at",
        "ExpressionAttributeValues": {":read_at": s(stamp(kept.updated_at))},
    }


def _split_phone_partition(items: list[Item]) -> tuple[list[Item], list[Item], list[Item], list[Item]]:
    """(records, device guards, the roster, every other item) of a phone's partition.

    The roster is the phone's bookkeeping (a version number, no personal data): erased with the
    phone, neither exported nor counted.
    """
    records = [item for item in items if item["sk"]["S"].startswith("PRESIGNUP#")]
    devices = [item for item in items if item["sk"]["S"].startswith("DEVICE#")]
    roster = [item for item in items if item["sk"]["S"] == "ROSTER"]
    others = [
        item
        for item in items
        if not item["sk"]["S"].startswith(("PRESIGNUP#", "DEVICE#")) and item["sk"]["S"] != "ROSTER"
    ]
    return records, devices, roster, others


def _guard_names(guard: Item, record: Item, with_phone: bool = False) -> bool:
    if guard.get("record_id") != record["id"]:
        return False
    return not with_phone or guard.get("phone") == record["phone"]


def _erase_record_part(table: str, record: Item) -> Item:
    return {
        "Delete": {
            "TableName": table,
            "Key": {"pk": record["pk"], "sk": record["sk"]},
            "ConditionExpression": "updated_at = :seen",
            "ExpressionAttributeValues": {":seen": record["updated_at"]},
        }
    }


def _guard_part(table: str, key: dict[str, Any], record: Item, holds: bool, with_phone: bool = False) -> Item:
    """Delete the guard if it names the record (as read), else check that it still does not."""
    names_it = "record_id = :id AND phone = :phone" if with_phone else "record_id = :id"
    values = {":id": record["id"], ":phone": record["phone"]} if with_phone else {":id": record["id"]}
    if holds:
        return {
            "Delete": {
                "TableName": table,
                "Key": key,
                "ConditionExpression": names_it,
                "ExpressionAttributeValues": values,
            }
        }
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": key,
            "ConditionExpression": f"attribute_not_exists(pk) OR NOT ({names_it})",
            "ExpressionAttributeValues": values,
        }
    }


def _presignup_token_key(token: str) -> dict[str, Any]:
    return {"pk": s(f"PRESIGNUP_TOKEN#{token_digest(token)}"), "sk": s(GUARD)}


def _device_key(phone: str, device_id: str) -> dict[str, Any]:
    return {"pk": s(f"PHONE#{phone}"), "sk": s(f"DEVICE#{device_id}")}


def _roster_key(phone: str) -> dict[str, Any]:
    return {"pk": s(f"PHONE#{phone}"), "sk": s("ROSTER")}


def _record_key(phone: str, record_id: str) -> dict[str, Any]:
    return {"pk": s(f"PHONE#{phone}"), "sk": s(f"PRESIGNUP#{record_id}")}


def _presignup_item(record: PreSignupRecord) -> Item:
    item: Item = {
        **_record_key(record.phone, record.id),
        "id": s(record.id),
        "phone": s(record.phone),
        "token": s(record.token),
        "created_at": s(stamp(record.created_at)),
        "updated_at": s(stamp(record.updated_at)),
        "expires_at": n(record.expires_at),
    }
    optional = {
        "device_id": record.device_id,
        "device_type": record.device_type,
        "meta": record.meta,
        "source_ip": record.source_ip,
        "user_agent": record.user_agent,
    }
    item.update({name: s(value) for name, value in optional.items() if value is not None})
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
        created_at=parse_time(item["created_at"]["S"]),
        updated_at=parse_time(item["updated_at"]["S"]),
        expires_at=int(item["expires_at"]["N"]),
    )
