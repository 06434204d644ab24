"""The registry's invariants over a full dump of the table, for tests that race requests against it.

A test may Scan (the service never does). Items whose `expires_at` is in the past are absent, as every
read and condition of the service treats them; RATE# counters are not part of the registry's state.

Registrations, their token guards and list entries (OWNER#<owner>/LIVE#<created_at>#<id>):
- a registration's lease covers it: expires_at <= lease_until <= expires_at + LEASE;
- every live, active registration is named by the guard of its token (so one per token digest), whose
  expiry is the registration's lease_until and whose held_until is at most the registration's expiry;
- every live, active registration has its list entry, under its created_at and id, pointing at its
  token digest, whose expiry is the registration's lease_until + ENTRY_MARGIN;
- a live guard or list entry names a registration of its owner and token that is live, or one that
  has expired (stale: readers treat it as absent), and only once that may have happened (no earlier than
  LEASE before the guard's own expiry, LEASE + ENTRY_MARGIN before the entry's): never a deactivated
  registration, never one missing
  while its lease says it must be live;
- a registration id issued here names its creation instant, which is the registration's created_at;
- a token's tombstone (TOKEN#<sha256>/TOMBSTONE) holds when a push provider declared it dead and its
  expiry, that instant + the registration lifetime, and nothing else (no owner: it names no one);
- an owner's roster (OWNER#<owner>/ROSTER) counts at least the owner's live, active registrations; no
  owner has more of them than MaxDevicesPerUser (when it is not 0);
Pre-signup records and their guards:
- every live PRESIGNUP_TOKEN guard names a live record of its phone holding that token;
- every live record is named by its token's guard and, when it has a device id, by its device guard;
- every live DEVICE guard names a live record of its phone with that device id;
- a live pre-signup token is under one phone (stated on its own, as "one live registration per token");
and every item of a known kind is well formed (keys derived from its fields, known values, expiry
consistent with the last use and the configured lifetime).

Reports name items by key: token digests, never raw tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from ops.sources import PINPOINT
from push_registry import catalog
from push_registry.registration import (
    ChannelType,
    Platform,
    Provider,
    is_keepable_id,
    is_well_formed_token,
    token_digest,
)
from push_registry.settings import settings
from push_registry.storage.registration_items import ENTRY_MARGIN, LEASE, id_keys

Item = dict[str, Any]
Key = tuple[str, str]

# The registrations' `source`: a client API of the catalog, or the Pinpoint import (ops/).
SOURCES = frozenset({api.name for api in catalog.CLIENT_APIS} | {PINPOINT})
PRESIGNUP_DEVICE_TYPES = frozenset({"android", "ios", "web"})
_DIGEST = re.compile(r"[0-9a-f]{64}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")

FieldSpec = dict[str, dict[str, tuple[str, ...]]]

_REGISTRATION_FIELDS: FieldSpec = {
    "required": {
        "S": ("id", "owner", "token", "provider", "created_at", "updated_at", "last_used_at", "source"),
        "BOOL": ("active",),
        "N": ("expires_at", "lease_until"),
        "M": ("device_info",),
    },
    "optional": {"S": ("platform", "tenant", "channel_type")},
}
# The registration attributes of a fixed vocabulary (required or optional: see above).
_REGISTRATION_VALUES: dict[str, frozenset[str]] = {
    "provider": frozenset(Provider),
    "platform": frozenset(Platform),
    "channel_type": frozenset(ChannelType),
    "source": SOURCES,
}
_REGISTRATION_GUARD_FIELDS: FieldSpec = {
    "required": {"S": ("owner", "device_id", "tenure"), "N": ("expires_at", "held_until")}
}
_ENTRY_FIELDS: FieldSpec = {"required": {"S": ("id", "token_digest"), "N": ("expires_at",)}}
_POINTER_FIELDS: FieldSpec = {"required": {"S": ("token_digest", "created_at"), "N": ("expires_at",)}}
_TOMBSTONE_FIELDS: FieldSpec = {"required": {"S": ("declared_dead_at",), "N": ("expires_at",)}}
_LEASE = int(LEASE.total_seconds())
_ENTRY_MARGIN = int(ENTRY_MARGIN.total_seconds())
_RECORD_FIELDS: FieldSpec = {
    "required": {"S": ("id", "phone", "token", "created_at", "updated_at"), "N": ("expires_at",)},
    "optional": {"S": ("device_id", "device_type", "meta", "source_ip", "user_agent")},
}
_DEVICE_GUARD_FIELDS: FieldSpec = {"required": {"S": ("record_id",), "N": ("expires_at",)}}
_PRESIGNUP_GUARD_FIELDS: FieldSpec = {"required": {"S": ("record_id", "phone"), "N": ("expires_at",)}}
_ROSTER_FIELDS: FieldSpec = {"required": {"S": ("version",), "N": ("expires_at",)}}
_OWNER_ROSTER_FIELDS: FieldSpec = {"required": {"N": ("count", "version", "expires_at")}}


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    key: Key  # the offending item (or the missing one)
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.key[0]} | {self.key[1]}: {self.detail}"


# A Scan segment per this many bytes of table: about one page (1 MB) each.
_SEGMENT_BYTES = 1_000_000
# DynamoDB Local's wire protocol, which the dumps read directly (see `scan`).
_SCAN_HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.Scan",
    # DynamoDB Local (-sharedDb) checks no signature; the header only has to be there.
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0",
}
_wire = requests.Session()


def scan(client: Any, table_name: str) -> list[Item]:
    """Every item of the table of the DynamoDB Local `client` points at, read with strong consistency,
    segment by segment and page by page.

    DynamoDB Local sorts a whole segment again for each page of a Scan, so a table read as one segment
    costs it the square of the table's size (80,000 items: 11 s of its CPU as one segment, 1.3 s as 16).
    A segment per megabyte of the table (`TableSizeBytes`, which DynamoDB Local keeps current; a stale
    figure only makes fewer segments) keeps each about one page. The segments together are the whole
    table, as the pages of one are; a Scan's order is unspecified, and callers key or sort the items.

    The pages are read as DynamoDB's JSON, without botocore: its parsing of every attribute cost five
    times the JSON decoding (5,000 items: 0.26 s of Python against 0.05 s). The items are what botocore
    returns (`{"S": ...}`, numbers as strings) but for binary values, left base64: the registry stores none.
    """
    size = int(client.describe_table(TableName=table_name)["Table"].get("TableSizeBytes", 0))
    segments = size // _SEGMENT_BYTES + 1
    items: list[Item] = []
    for segment in range(segments):
        request: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
        if segments > 1:
            request |= {"Segment": segment, "TotalSegments": segments}
        while True:
            answer = _wire.post(
                client.meta.endpoint_url, data=json.dumps(request), headers=_SCAN_HEADERS, timeout=60
            )
            answer.raise_for_status()
            page = answer.json()
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def violations(
    items: Iterable[Item],
    now: int,
    registration_lifetime: timedelta = timedelta(days=30),
    presignup_lifetime: timedelta = timedelta(hours=24),
    max_devices_per_user: int = 0,
) -> list[Violation]:
    """Every broken invariant of this dump, as seen at epoch second `now`."""
    audit = _Audit(list(items), now, registration_lifetime, presignup_lifetime)
    audit.max_devices_per_user = max_devices_per_user
    return audit.run()


def audit(ddb_local: Any, table_name: str | None = None) -> tuple[list[Item], list[Violation]]:
    """The whole table and its violations now, with the lifetimes the handlers run with."""
    items = scan(ddb_local.client, table_name or ddb_local.table_name)
    config = settings()
    found = violations(
        items,
        int(time.time()),
        timedelta(days=config.registration_ttl_days),
        timedelta(hours=config.presignup_ttl_hours),
        config.max_devices_per_user,
    )
    return items, found


def check_invariants(
    ddb_local: Any, *, table_name: str | None = None, tolerated: Iterable[Violation] = ()
) -> list[Item]:
    """Scan the whole table and raise AssertionError listing every violation not in `tolerated`.

    `ddb_local` is the session's Database (client and table). Returns the dump, so that a test can
    look at its own items in the same snapshot.
    """
    table = table_name or ddb_local.table_name
    items, found = audit(ddb_local, table)
    known = set(tolerated)
    new = [v for v in found if v not in known]
    if new:
        listing = "\n".join(f"  - {v}" for v in new)
        raise AssertionError(
            f"{len(new)} registry invariant violation(s) in table {table} ({len(items)} items scanned):\n"
            f"{listing}"
        )
    return items


def is_live(item: Item, now: int) -> bool:
    """Not expired (expired items still stored are absent); registrations must also be active."""
    try:
        alive = int(item["expires_at"]["N"]) > now
    except (KeyError, ValueError):
        return False
    if item["pk"]["S"].startswith("OWNER#") and item["sk"]["S"].startswith("TOKEN#"):
        return alive and item.get("active") == {"BOOL": True}
    return alive


def text(item: Item | None, name: str) -> str | None:
    if item is None:
        return None
    value = item.get(name, {})
    return value.get("S") if isinstance(value, dict) else None


def id_created_at(registration_id: str) -> str | None:
    """The creation stamp an id issued by the registry names (8 bytes of epoch microseconds first)."""
    try:
        raw = base64.urlsafe_b64decode(registration_id + "=" * (-len(registration_id) % 4))
    except (ValueError, binascii.Error):
        return None
    if len(registration_id) != 59 or len(raw) != 44:
        return None
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int.from_bytes(raw[:8], "big"))
    except OverflowError:
        return None
    return moment.isoformat(timespec="microseconds")


def kind_of(key: Key) -> str:
    pk, sk = key
    if pk.startswith("OWNER#") and sk.startswith("TOKEN#"):
        return "registration"
    if pk.startswith("OWNER#") and sk.startswith("LIVE#"):
        return "entry"
    if pk.startswith("OWNER#") and sk.startswith("ID#"):
        return "pointer"
    if pk.startswith("TOKEN#") and sk == "TOMBSTONE":
        return "tombstone"
    if pk.startswith("OWNER#") and sk == "ROSTER":
        return "owner-roster"
    if pk.startswith("TOKEN#"):
        return "guard"
    if pk.startswith("PHONE#") and sk.startswith("PRESIGNUP#"):
        return "record"
    if pk.startswith("PHONE#") and sk.startswith("DEVICE#"):
        return "device-guard"
    if pk.startswith("PHONE#") and sk == "ROSTER":
        return "phone-roster"
    if pk.startswith("PRESIGNUP_TOKEN#"):
        return "presignup-guard"
    if pk.startswith("RATE#"):
        return "rate"
    return "unknown"


class _Audit:
    def __init__(
        self, items: list[Item], now: int, registration_lifetime: timedelta, presignup_lifetime: timedelta
    ) -> None:
        self.now = now
        self.registration_lifetime = int(registration_lifetime.total_seconds())
        self.presignup_lifetime = int(presignup_lifetime.total_seconds())
        self.found: list[Violation] = []
        self.max_devices_per_user = 0
        self.items: dict[Key, Item] = {}
        for item in items:
            pk, sk = item.get("pk", {}).get("S"), item.get("sk", {}).get("S")
            if not isinstance(pk, str) or not isinstance(sk, str):
                self.report("malformed-key", (str(pk), str(sk)), "pk and sk must be strings")
                continue
            self.items[pk, sk] = item

    def report(self, rule: str, key: Key, detail: str) -> None:
        self.found.append(Violation(rule, key, detail))

    def live(self, key: Key) -> Item | None:
        item = self.items.get(key)
        return item if item is not None and is_live(item, self.now) else None

    def run(self) -> list[Violation]:
        shapes: dict[str, Callable[[Key, Item], bool]] = {
            "registration": self.registration,
            "entry": self.entry,
            "pointer": self.pointer,
            "guard": self.registration_guard,
            "tombstone": self.tombstone,
            "record": self.record,
            "device-guard": self.device_guard,
            "presignup-guard": self.presignup_guard,
            "phone-roster": lambda key, item: self.fields(key, item, _ROSTER_FIELDS),
            "owner-roster": self.owner_roster,
        }
        links: dict[str, Callable[[Key, Item], None]] = {
            "registration": self.registration_is_guarded_and_listed,
            "entry": self.entry_points_at_registration,
            "pointer": self.pointer_names_registration,
            "guard": self.guard_names_registration,
            "tombstone": lambda key, item: None,  # names no registration: nothing to follow
            "record": self.record_is_guarded,
            "device-guard": self.device_guard_names_record,
            "presignup-guard": self.token_guard_names_record,
            "phone-roster": lambda key, item: None,  # a version only: nothing to follow
            "owner-roster": lambda key, item: None,  # followed below, expired or not
        }
        usable: dict[Key, Item] = {}
        for key, item in self.items.items():
            kind = kind_of(key)
            if kind == "rate":
                continue
            if kind == "unknown":
                self.report("unknown-item", key, "no item of the registry has this key shape")
            elif shapes[kind](key, item):
                usable[key] = item
        # Cross-references are followed between usable items only (the others are already reported).
        self.items = usable
        for key, item in usable.items():
            if is_live(item, self.now):
                links[kind_of(key)](key, item)
        self.no_shared_tokens()
        self.owners_within_the_cap()
        return sorted(self.found)

    def owner_roster(self, key: Key, item: Item) -> bool:
        return self.fields(key, item, _OWNER_ROSTER_FIELDS)

    def owners_within_the_cap(self) -> None:
        """A roster, stored (the service counts one that expired but is not yet deleted), counts at least
        the live, active registrations of its owner; and no owner is above the cap."""
        by_owner: dict[str, list[Item]] = {}
        for k, item in self.items.items():
            if kind_of(k) == "registration" and is_live(item, self.now):
                by_owner.setdefault(k[0], []).append(item)
        for pk, live in by_owner.items():
            if self.max_devices_per_user and len(live) > self.max_devices_per_user:
                self.report(
                    "over-the-cap",
                    (pk, "*"),
                    f"{len(live)} live registrations, cap {self.max_devices_per_user}",
                )
            roster = self.items.get((pk, "ROSTER"))
            if roster is not None and int(roster["count"]["N"]) < len(live):
                count = roster["count"]["N"]
                self.report("roster-under-counts", (pk, "ROSTER"), f"count {count}, {len(live)} live")

    # ------------------------------------------------------------------ shapes

    def fields(self, key: Key, item: Item, spec: FieldSpec) -> bool:
        allowed = {"pk", "sk"}
        ok = True
        for presence, by_type in spec.items():
            for kind, names in by_type.items():
                for name in names:
                    allowed.add(name)
                    value = item.get(name)
                    if value is None:
                        if presence == "required":
                            self.report("missing-field", key, f"no {name}")
                            ok = False
                    elif not isinstance(value, dict) or set(value) != {kind}:
                        self.report("field-type", key, f"{name} is not of type {kind}")
                        ok = False
        extra = sorted(set(item) - allowed)
        if extra:  # reported, but the item can still be followed
            self.report("unknown-field", key, f"unexpected attributes {extra}")
        if ok and "expires_at" in item:
            try:
                int(item["expires_at"]["N"])
            except ValueError:
                self.report("field-type", key, "expires_at is not an integer")
                ok = False
        return ok

    def stamps(self, key: Key, item: Item, names: tuple[str, ...]) -> list[datetime] | None:
        parsed = []
        for name in names:
            try:
                moment = datetime.fromisoformat(item[name]["S"])
            except ValueError:
                self.report("bad-timestamp", key, f"{name} is not ISO 8601")
                return None
            if moment.tzinfo is None:
                self.report("bad-timestamp", key, f"{name} has no time zone")
                return None
            parsed.append(moment.astimezone(UTC))
        return parsed

    def registration(self, key: Key, item: Item) -> bool:
        """Well formed; False when it cannot be followed (wrong types, key not its owner's and token's)."""
        if not self.fields(key, item, _REGISTRATION_FIELDS):
            return False
        owner, token = item["owner"]["S"], item["token"]["S"]
        if key[0] != f"OWNER#{owner}":
            self.report("key-mismatch", key, f"pk does not name the owner {owner!r}")
            return False
        if not is_well_formed_token(token):
            self.report("bad-token", key, "the stored token is not 1-4096 printable ASCII characters")
            return False
        if key[1] != f"TOKEN#{token_digest(token)}":
            self.report("key-mismatch", key, "sk is not TOKEN#<sha256 of the stored token>")
            return False
        # A UUID, an id issued here (naming its created_at), or an id kept from an imported system
        # (seed 002's UUIDs, seed 004's and 001's MongoDB ObjectIds): URL-safe either way, since
        # clients put it in paths.
        created_by_id = id_created_at(item["id"]["S"])
        if not is_keepable_id(item["id"]["S"]):
            self.report("bad-id", key, "id is neither a UUID nor a URL-safe id kept from an import")
        elif created_by_id is not None and created_by_id != item["created_at"]["S"]:
            self.report("bad-id", key, "the id does not name the registration's created_at")
        for name, known in _REGISTRATION_VALUES.items():
            if name in item and item[name]["S"] not in known:
                self.report("bad-value", key, f"{name} {item[name]['S']!r} is unknown")
        if any(set(v) != {"S"} for v in item["device_info"]["M"].values()):
            self.report("field-type", key, "device_info values must be strings")
        moments = self.stamps(key, item, ("created_at", "last_used_at", "updated_at"))
        if moments is not None:
            created, used, updated = moments
            if not created <= used <= updated:
                self.report("bad-timestamp", key, "not created_at <= last_used_at <= updated_at")
            self.expiry(key, item, "last_used_at", used, self.registration_lifetime)
        self.lease(key, item)
        return True

    def lease(self, key: Key, registration: Item) -> None:
        expires, lease = int(registration["expires_at"]["N"]), int(registration["lease_until"]["N"])
        if not expires <= lease <= expires + _LEASE:
            self.report("bad-lease", key, f"lease_until {lease} not within [expires_at, + {_LEASE} s]")

    def expiry(self, key: Key, item: Item, basis: str, moment: datetime, lifetime: int) -> None:
        """The TTL attribute is `basis` + the configured lifetime, to the second."""
        expected = int(moment.timestamp()) + lifetime
        if int(item["expires_at"]["N"]) != expected:
            self.report(
                "bad-expiry", key, f"expires_at {item['expires_at']['N']} != {basis} + lifetime {expected}"
            )

    def entry(self, key: Key, item: Item) -> bool:
        """A list entry is LIVE#<created_at>#<id> of the id it holds, pointing at a token digest."""
        if not self.fields(key, item, _ENTRY_FIELDS):
            return False
        stamp, _, entry_id = key[1].removeprefix("LIVE#").rpartition("#")
        if entry_id != item["id"]["S"] or not stamp:
            self.report("key-mismatch", key, "not OWNER#<owner>/LIVE#<created_at>#<id> of its own id")
            return False
        if not _DIGEST.fullmatch(item["token_digest"]["S"]):
            self.report("bad-value", key, "token_digest is not a sha256")
            return False
        return True

    def pointer(self, key: Key, item: Item) -> bool:
        """A pointer is ID#<id> of an id kept by an import (never one issued here), pointing at a digest."""
        if not self.fields(key, item, _POINTER_FIELDS):
            return False
        pointer_id = key[1].removeprefix("ID#")
        if not is_keepable_id(pointer_id) or id_keys(pointer_id) is not None:
            self.report("key-mismatch", key, "a pointer is OWNER#<owner>/ID#<id> of an id kept by an import")
            return False
        if not _DIGEST.fullmatch(item["token_digest"]["S"]):
            self.report("bad-value", key, "token_digest is not a sha256")
            return False
        return True

    def registration_guard(self, key: Key, item: Item) -> bool:
        if not self.fields(key, item, _REGISTRATION_GUARD_FIELDS):
            return False
        if key[1] != "GUARD" or not _DIGEST.fullmatch(key[0].removeprefix("TOKEN#")):
            self.report("key-mismatch", key, "a token guard is TOKEN#<sha256>/GUARD")
            return False
        return True

    def tombstone(self, key: Key, item: Item) -> bool:
        if not self.fields(key, item, _TOMBSTONE_FIELDS):
            return False
        if not _DIGEST.fullmatch(key[0].removeprefix("TOKEN#")):
            self.report("key-mismatch", key, "a tombstone is TOKEN#<sha256>/TOMBSTONE")
            return False
        moments = self.stamps(key, item, ("declared_dead_at",))
        if moments is not None:
            self.expiry(key, item, "declared_dead_at", moments[0], self.registration_lifetime)
        return True

    def record(self, key: Key, item: Item) -> bool:
        if not self.fields(key, item, _RECORD_FIELDS):
            return False
        phone, token = item["phone"]["S"], item["token"]["S"]
        if key != (f"PHONE#{phone}", f"PRESIGNUP#{item['id']['S']}"):
            self.report("key-mismatch", key, "not PHONE#<phone>/PRESIGNUP#<id> of its own fields")
            return False
        if not is_well_formed_token(token):
            self.report("bad-token", key, "the stored token is not 1-4096 printable ASCII characters")
            return False
        if not _E164.fullmatch(phone):
            self.report("bad-value", key, "phone is not E.164")
        device_type = text(item, "device_type")
        if device_type is not None and device_type not in PRESIGNUP_DEVICE_TYPES:
            self.report("bad-value", key, f"device_type {device_type!r} is unknown")
        if text(item, "device_id") == "":
            self.report("bad-value", key, "device_id is empty")
        meta = text(item, "meta")
        if meta is not None:
            try:
                if not isinstance(json.loads(meta), dict):
                    self.report("bad-value", key, "meta is not a JSON object")
            except ValueError:
                self.report("bad-value", key, "meta is not JSON")
        moments = self.stamps(key, item, ("created_at", "updated_at"))
        if moments is not None:
            created, updated = moments
            if created > updated:
                self.report("bad-timestamp", key, "created_at is after updated_at")
            self.expiry(key, item, "updated_at", updated, self.presignup_lifetime)
        return True

    def device_guard(self, key: Key, item: Item) -> bool:
        if not self.fields(key, item, _DEVICE_GUARD_FIELDS):
            return False
        if key[1] == "DEVICE#":
            self.report("key-mismatch", key, "a device guard names an empty device id")
            return False
        return True

    def presignup_guard(self, key: Key, item: Item) -> bool:
        if not self.fields(key, item, _PRESIGNUP_GUARD_FIELDS):
            return False
        if key[1] != "GUARD" or not _DIGEST.fullmatch(key[0].removeprefix("PRESIGNUP_TOKEN#")):
            self.report("key-mismatch", key, "a pre-signup token guard is PRESIGNUP_TOKEN#<sha256>/GUARD")
            return False
        return True

    # ------------------------------------------------------------------ cross-references

    def registration_is_guarded_and_listed(self, key: Key, registration: Item) -> None:
        self.registration_is_guarded(key, registration)
        entry_key = (key[0], f"LIVE#{text(registration, 'created_at')}#{text(registration, 'id')}")
        entry = self.live(entry_key)
        if entry is None:
            self.report(
                "unlisted-registration", key, f"live and active, but its list entry {entry_key[1]} is absent"
            )
            return
        if f"TOKEN#{text(entry, 'token_digest')}" != key[1]:
            self.report(
                "stale-entry", entry_key, f"points at TOKEN#{text(entry, 'token_digest')}, not {key[1]}"
            )
        if id_keys(text(registration, "id")) is None:
            pointer_key = (key[0], f"ID#{text(registration, 'id')}")
            pointer = self.live(pointer_key)
            if pointer is None:
                self.report(
                    "unpointed-registration",
                    key,
                    f"an imported id, but its pointer {pointer_key[1]} is absent",
                )
            elif (
                f"TOKEN#{text(pointer, 'token_digest')}" != key[1]
                or pointer["expires_at"] != entry["expires_at"]
            ):
                self.report("stale-pointer", pointer_key, "does not agree with the registration's list entry")
        if int(entry["expires_at"]["N"]) != int(registration["lease_until"]["N"]) + _ENTRY_MARGIN:
            self.report(
                "stale-entry",
                entry_key,
                f"expires {entry['expires_at']['N']}, its lease {registration['lease_until']['N']}"
                f" + {_ENTRY_MARGIN} s",
            )

    def pointer_names_registration(self, key: Key, pointer: Item) -> None:
        target = (key[0], f"TOKEN#{text(pointer, 'token_digest')}")
        registration = self.items.get(target)
        pointer_id = key[1].removeprefix("ID#")
        if registration is None or text(registration, "id") != pointer_id:
            if (registration is not None and is_live(registration, self.now)) or not self.may_have_expired(
                pointer, margin=_ENTRY_MARGIN
            ):
                self.report("dangling-pointer", key, f"finds {pointer_id} at {target[1]}, which is not it")
            return
        if registration.get("active") != {"BOOL": True}:
            self.report("dangling-pointer", key, f"finds {pointer_id}, which is deactivated")
        elif text(pointer, "created_at") != text(registration, "created_at"):
            self.report("stale-pointer", key, "names another created_at than its registration's")

    def may_have_expired(self, item: Item, margin: int = 0) -> bool:
        """A guard's (or, with ENTRY_MARGIN, an entry's) registration may have expired by now: the item
        lives at most LEASE (+ margin) longer."""
        return self.now >= int(item["expires_at"]["N"]) - _LEASE - margin

    def entry_points_at_registration(self, key: Key, entry: Item) -> None:
        target = (key[0], f"TOKEN#{text(entry, 'token_digest')}")
        registration = self.items.get(target)
        entry_id = text(entry, "id")
        if registration is None or text(registration, "id") != entry_id:
            other = None if registration is None else text(registration, "id")
            if (registration is not None and is_live(registration, self.now)) or not self.may_have_expired(
                entry, margin=_ENTRY_MARGIN
            ):
                self.report("dangling-entry", key, f"lists {entry_id}: {target[1]} is registration {other}")
            return
        if registration.get("active") != {"BOOL": True}:
            self.report("dangling-entry", key, f"lists {entry_id}, which is deactivated")
        elif key[1] != f"LIVE#{text(registration, 'created_at')}#{entry_id}":
            self.report("key-mismatch", key, f"lists {entry_id} under another created_at than its own")

    def registration_is_guarded(self, key: Key, registration: Item) -> None:
        guard_key = (key[1], "GUARD")  # TOKEN#<digest>
        guard = self.live(guard_key)
        if guard is None:
            why = "missing" if guard_key not in self.items else "expired"
            self.report(
                "unguarded-registration", key, f"live and active, but its guard {guard_key[0]} is {why}"
            )
        elif (text(guard, "owner"), text(guard, "device_id")) != (
            text(registration, "owner"),
            text(registration, "id"),
        ):
            self.report(
                "unguarded-registration",
                key,
                f"live and active, but its guard names {text(guard, 'owner')}/{text(guard, 'device_id')}, "
                f"not {text(registration, 'owner')}/{text(registration, 'id')}",
            )
        elif guard["expires_at"] != registration["lease_until"] or int(guard["held_until"]["N"]) > int(
            registration["expires_at"]["N"]
        ):
            self.report(
                "expiry-mismatch",
                guard_key,
                f"guard expires {guard['expires_at']['N']} (held until {guard['held_until']['N']}), "
                f"registration {registration['expires_at']['N']} (lease {registration['lease_until']['N']})",
            )

    def guard_names_registration(self, key: Key, guard: Item) -> None:
        owner, device_id = text(guard, "owner"), text(guard, "device_id")
        target = (f"OWNER#{owner}", key[0])
        registration = self.items.get(target)
        if registration is None or text(registration, "id") != device_id:
            other = None if registration is None else text(registration, "id")
            if (registration is not None and is_live(registration, self.now)) or not self.may_have_expired(
                guard
            ):
                self.report(
                    "dangling-guard", key, f"names {owner}/{device_id}: {target[1]} is registration {other}"
                )
            return
        if registration.get("active") != {"BOOL": True}:
            self.report("dangling-guard", key, f"names {owner}/{device_id}: the registration is deactivated")
        elif not is_live(registration, self.now) and guard["expires_at"] != registration["lease_until"]:
            self.report(
                "expiry-mismatch",
                key,
                f"stale guard expires {guard['expires_at']['N']}, not its registration's lease "
                f"{registration['lease_until']['N']}",
            )

    def record_is_guarded(self, key: Key, record: Item) -> None:
        record_id, phone = text(record, "id"), text(record, "phone")
        guard_key = (f"PRESIGNUP_TOKEN#{token_digest(record['token']['S'])}", "GUARD")
        guard = self.live(guard_key)
        if guard is None:
            self.report(
                "unguarded-record", key, f"live, but its token guard {guard_key[0]} is missing/expired"
            )
        elif (text(guard, "record_id"), text(guard, "phone")) != (record_id, phone):
            self.report(
                "unguarded-record",
                key,
                f"its token guard {guard_key[0]} names {text(guard, 'phone')}/{text(guard, 'record_id')}",
            )
        device_id = text(record, "device_id")
        if device_id is None:
            return
        device_key = (key[0], f"DEVICE#{device_id}")
        device = self.live(device_key)
        if device is None:
            self.report(
                "unguarded-record", key, f"live, but its device guard {device_key[1]} is missing/expired"
            )
        elif text(device, "record_id") != record_id:
            self.report(
                "unguarded-record",
                key,
                f"its device guard {device_key[1]} names record {text(device, 'record_id')}",
            )

    def token_guard_names_record(self, key: Key, guard: Item) -> None:
        record_key = (f"PHONE#{text(guard, 'phone')}", f"PRESIGNUP#{text(guard, 'record_id')}")
        record = self.items.get(record_key)
        if record is None or not is_live(record, self.now):
            state = "missing" if record is None else "expired"
            self.report("dangling-guard", key, f"names {record_key[0]}/{record_key[1]}, which is {state}")
        elif f"PRESIGNUP_TOKEN#{token_digest(record['token']['S'])}" != key[0]:
            self.report("dangling-guard", key, f"names {record_key[1]}, which holds another token")
        elif record["expires_at"] != guard["expires_at"]:
            self.report(
                "expiry-mismatch",
                key,
                f"guard expires {guard['expires_at']['N']}, record {record['expires_at']['N']}",
            )

    def device_guard_names_record(self, key: Key, guard: Item) -> None:
        record_key = (key[0], f"PRESIGNUP#{text(guard, 'record_id')}")
        record = self.items.get(record_key)
        device_id = key[1].removeprefix("DEVICE#")
        if record is None or not is_live(record, self.now):
            state = "missing" if record is None else "expired"
            self.report("dangling-guard", key, f"names {record_key[1]}, which is {state}")
        elif text(record, "device_id") != device_id:
            self.report(
                "dangling-guard", key, f"names {record_key[1]}, whose device is {text(record, 'device_id')}"
            )
        elif record["expires_at"] != guard["expires_at"]:
            self.report(
                "expiry-mismatch",
                key,
                f"guard expires {guard['expires_at']['N']}, record {record['expires_at']['N']}",
            )

    def no_shared_tokens(self) -> None:
        """Implied by the guard checks; stated on its own so that a report says it in these words."""
        registrations = Counter(
            k[1] for k, item in self.items.items() if kind_of(k) == "registration" and is_live(item, self.now)
        )
        records = Counter(
            token_digest(item["token"]["S"])
            for k, item in self.items.items()
            if k[1].startswith("PRESIGNUP#") and is_live(item, self.now)
        )
        for digest_key, count in registrations.items():
            if count > 1:
                self.report("shared-token", (digest_key, "*"), f"{count} live active registrations")
        for digest, count in records.items():
            if count > 1:
                self.report("shared-token", (f"PRESIGNUP_TOKEN#{digest}", "*"), f"{count} live records")
        phones: dict[str, set[str]] = {}
        for k, item in self.items.items():
            if k[1].startswith("PRESIGNUP#") and is_live(item, self.now):
                phones.setdefault(token_digest(item["token"]["S"]), set()).add(item["phone"]["S"])
        for digest, under in phones.items():
            if len(under) > 1:
                where = (f"PRESIGNUP_TOKEN#{digest}", "*")
                self.report("token-on-two-phones", where, f"live under {len(under)} phones")
        devices = Counter(
            (k[0], text(item, "device_id"))
            for k, item in self.items.items()
            if k[1].startswith("PRESIGNUP#") and text(item, "device_id") and is_live(item, self.now)
        )
        for (phone_key, device_id), count in devices.items():
            if count > 1:
                self.report("shared-device", (phone_key, f"DEVICE#{device_id}"), f"{count} live records")
