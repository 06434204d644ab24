"""Registration items: their keys, the ids that name them, and their attributes, both ways.

Shared by the registrations store and the owner's data (export and erasure): nothing here calls
DynamoDB.
"""

from __future__ import annotations

import base64
import binascii
import os
from datetime import UTC, datetime, timedelta

from push_registry.registration import ChannelType, Provider, Registration
from push_registry.storage.table import Item, n, parse_time, s, stamp


def owner_key(owner: str) -> str:
    return f"OWNER#{owner}"


def token_key(digest: str) -> str:
    return f"TOKEN#{digest}"


def entry_key(created_at: datetime, registration_id: str) -> str:
    # ISO-8601 UTC stamps of one width sort as the instants they name: the sort key gives the order.
    return f"{LISTED}{stamp(created_at)}#{registration_id}"


LISTED = "LIVE#"
# A pointer finds, by id, the registration of an id kept by an import (not issued here, so naming no
# keys): OWNER#<owner>/ID#<id> -> {token_digest, created_at}, written and deleted with the list entry.
POINTER = "ID#"


def pointer_key(registration_id: str) -> str:
    return f"{POINTER}{registration_id}"


# The sort key of a token's tombstone, beside its guard in the token's partition (`tombstone_key`).
TOMBSTONE = "TOMBSTONE"
# How far a guard and a list entry may outlive their registration's expiry: a device in daily use
# renews them (one heartbeat in two requests) once a week; an expired registration's stale guard and
# entry stay at most that long, beside DynamoDB's own TTL delay.
LEASE = timedelta(days=7)
# How much longer a list entry lives than its guard. The entry is the only item in the owner's
# partition that leads an erasure or export to a stale guard once TTL has deleted the registration;
# TTL deletes expired items in no set order, "typically within two days of expiration" (DynamoDB API
# reference, UpdateTimeToLive). Outliving the guard by seven times that keeps the path while the guard
# may still be stored, at the cost of stale entries that readers skip.
ENTRY_MARGIN = timedelta(days=14)
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


def tombstone_key(digest: str) -> Item:
    """Where a token's tombstone is: when a push provider last declared the token dead, and nothing
    about who held it."""
    return {"pk": s(token_key(digest)), "sk": s(TOMBSTONE)}


def registration_key(owner: str, entry: Item) -> Item:
    """The key of the registration a list entry points at."""
    return {"pk": s(owner_key(owner)), "sk": s(token_key(entry["token_digest"]["S"]))}


def registration_item(registration: Registration) -> Item:
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
    if registration.channel_type is not None:
        item["channel_type"] = s(registration.channel_type.value)
    return item


def registration_of(item: Item) -> Registration:
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
        channel_type=ChannelType(item["channel_type"]["S"]) if "channel_type" in item else None,
    )


def entry_of(registration: Item) -> str:
    """The sort key of a stored registration's list entry."""
    return entry_key(parse_time(registration["created_at"]["S"]), registration["id"]["S"])


def names(guard: Item, owner: str, device_id: str | None = None) -> bool:
    """Whether a token guard names this owner (and, when given, this registration)."""
    if guard.get("owner", {}).get("S") != owner:
        return False
    return device_id is None or guard.get("device_id", {}).get("S") == device_id
