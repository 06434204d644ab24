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

from push_registry.presignup import PreSignupPost, PreSignupRecord, PreSignupSnapshot, Sighting
from push_registry.registration import token_digest
from push_registry.storage.table import (
    GUARD,
    Cancelled,
    Item,
    batch_get,
    call,
    key_id,
    n,
    parse_time,
    s,
    stamp,
    transact,
)


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
