"""Registrations, their list entries and token guards: the only code that knows their keys and conditions.

    registration  pk=OWNER#<owner>  sk=TOKEN#<sha256(token)>     the owner's registration of one token,
                                                                  in any state: the record of truth
    list entry    pk=OWNER#<owner>  sk=LIVE#<created_at>#<id>    points at an active registration
                                                                  {id, token_digest}
    token guard   pk=TOKEN#<sha256> sk=GUARD                     who holds the token: {owner, device_id,
                                                                  tenure, held_until}
    tombstone     pk=TOKEN#<sha256> sk=TOMBSTONE                 a push provider declared the token dead:
                                                                  {declared_dead_at}, no owner
    owner roster  pk=OWNER#<owner>  sk=ROSTER                    how many live registrations the owner
                                                                  may have, for the cap: {count, version}

A registration's `expires_at` (the TTL attribute) is its true expiry; every read checks it. Its list entry
and its token's guard carry a lease instead: the guard's `expires_at` is the registration's `lease_until`,
at least the registration's expiry and at most `lease` beyond it, and the entry's is `entry_margin` later
still, so that an erasure finds a stale guard through it whatever order TTL deletes them in. So a
heartbeat, which only moves the registration's last use and expiry, is one UpdateItem that returns the
stored record, for as long as the new expiry stays within the lease; the heartbeat that would pass it
renews the lease of all three in one transaction (once per `lease` for a device in use). Every other
write that creates, moves or retires a registration writes its guard and list entry in the same
transaction, so "one live registration per token" holds under any interleaving of requests.

A guard can outlive its registration by at most the lease: a registration that expires leaves a stale
guard and list entry until their own TTL. Readers treat them as absent: a list entry counts only with
its registration live, and a guard is the token's holder only if the registration it names is live.
Taking a token whose guard is stale is one transaction that checks, atomically, that the registration
it names is not live. `held_until` (the registration's expiry when the guard was last written) spares
that check while it is in the future: the holder is then certainly live. A guard's `tenure` is set when
a free token is taken and kept while the token is handed from holder to holder: the same tenure means
the token was never free meanwhile.

The list entries make an account's live registrations one Query in creation order (newest first),
whatever else the partition holds (a deactivated registration has none), then one BatchGetItem of the
registrations they point at. A registration id issued here names its keys (creation instant, token
digest at creation, and 32 random bits, base64url), so a by-id call reads or writes the registration
without reading anything first; an id an import kept is found through its pointer (ID#<id>, written and
deleted with the list entry), and an id of neither shape names nothing, without a read.

The roster keeps an owner within `max_devices_per_user` live registrations (0: no cap, no roster).
It is a count, never less than the owner's live registrations, and a version. Only a write that gives
the owner one more live registration (`add`, the stale-guard take, `take_over` from another owner)
touches it, in its own transaction: deactivations, heartbeats, refreshes, token moves and the owner's
own take-overs do not, so they cost what they did. A registration counted may have stopped being live
since (deactivated, expired, taken by another owner): the count over-counts, never under-counts, as
long as every new live registration passes through it. So the common case is one more Update of a
small item in the transaction, conditioned on room (`count < cap`); when there is none, the owner's
list entries (the authoritative list of active registrations) and their registrations are read, the
live ones counted, and the least recently used evicted (deactivated as `deactivate` does) in the
transaction that adds the new one and puts the new count, conditioned on the roster's version as
read. Concurrent additions for one owner serialise on the roster item. A roster missing (a new owner,
an account from before the cap, a roster TTL deleted while heartbeats kept its registrations alive)
is counted the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from push_registry.errors import BeyondTheCap, Contention, DeviceNotFound, TokenTaken, Unavailable
from push_registry.registration import Registration, RegistrationFields, is_keepable_id
from push_registry.storage.owner_data import OwnerData
from push_registry.storage.registration_items import (
    ENTRY_MARGIN,
    LEASE,
    LISTED,
    entry_key,
    entry_of,
    id_keys,
    new_id,
    owner_key,
    pointer_key,
    registration_item,
    registration_key,
    registration_of,
    token_key,
    tombstone_key,
)
from push_registry.storage.table import (
    GUARD,
    ROSTER,
    Cancelled,
    Item,
    batch_get,
    call,
    code,
    key_id,
    n,
    parse_time,
    s,
    stamp,
    transact,
)

# Rounds of read-the-roster-then-write before a crowd of registrations for one owner answers 503.
_ADMISSION_ATTEMPTS = 6
# At most this many evicted by one registration (25 transaction items at 4 each, within DynamoDB's
# 100): after the cap is lowered, an owner above it shrinks by this much per registration.
_MAX_EVICTIONS = 20


class RegistrationStore:
    """Registrations, their list entries and their token guards in one DynamoDB table.

    `lease`: how far beyond a registration's expiry its guard and list entry may live (see above).
    `max_devices_per_user`: live registrations an owner keeps; 0 for no cap (see the owner roster).
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        lease: timedelta = LEASE,
        entry_margin: timedelta = ENTRY_MARGIN,
        max_devices_per_user: int = 0,
    ) -> None:
        self._client = client
        self._table = table_name
        self.max_devices_per_user = max_devices_per_user
        self.lease = lease
        self._lease = int(lease.total_seconds())
        self._entry_margin = int(entry_margin.total_seconds())
        self._owner_data = OwnerData(client, table_name)

    # ------------------------------------------------------------------ reads

    def listed(
        self, owner: str, after: tuple[datetime, str] | None, limit: int, now: datetime
    ) -> tuple[list[Registration], int, bool]:
        """A page of the owner's live registrations, newest `created_at` first, from just after `after`
        (created_at, id): (registrations, list entries skipped, whether more entries follow).

        Entries exist only for active registrations; one whose registration expired (TTL has not
        deleted it yet, or its lease outlives the registration), or that is not under the
        registration's own created_at and id, is skipped and counted. A Query of
        `limit` + 1 entries, then one BatchGetItem of the first `limit` entries' registrations: the
        last entry only says whether more follow (it may turn out stale, and the next page empty).
        Reads again from the last entry only when skipped entries left the page short.
        """
        found: list[Registration] = []
        skipped = 0
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :listed)",
            "ExpressionAttributeValues": {":pk": s(owner_key(owner)), ":listed": s(LISTED)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {"pk": s(owner_key(owner)), "sk": s(entry_key(*after))}
        while True:
            need = limit - len(found)
            page = self.call("query", **request, Limit=need + 1)
            entries = page.get("Items", [])
            looked, beyond = entries[:need], entries[need:]
            stored = batch_get(self._client, self._table, [registration_key(owner, e) for e in looked])
            for entry in looked:
                item = stored.get((owner_key(owner), token_key(entry["token_digest"]["S"])))
                # Only the entry under the registration's own created_at and id: one left by an earlier
                # creation date of the same id would list it twice.
                registration = (
                    registration_of(item) if item is not None and entry_of(item) == entry["sk"]["S"] else None
                )
                if registration is not None and registration.is_live(now):
                    found.append(registration)
                else:
                    skipped += 1  # stale: its registration expired, or was replaced after expiring
            more = bool(beyond) or "LastEvaluatedKey" in page
            if len(found) == limit or not more or not looked:
                return found, skipped, more and len(found) == limit
            request["ExclusiveStartKey"] = {"pk": looked[-1]["pk"], "sk": looked[-1]["sk"]}

    def by_id(self, owner: str, registration_id: str) -> Registration | None:
        """The owner's registration with this id, if it is active (expired or not).

        One GetItem for an id issued here whose token has not changed since; after a token change, its
        list entry says where the registration is now (two more). An id kept by an import is found
        through its pointer (two), and any other string names nothing: None, nothing read.
        """
        keys = id_keys(registration_id)
        if keys is None:
            if not is_keepable_id(registration_id):
                return None
            entry = self._get({"pk": s(owner_key(owner)), "sk": s(pointer_key(registration_id))})
        else:
            created_at, digest = keys
            found = self._get({"pk": s(owner_key(owner)), "sk": s(token_key(digest))})
            if found is not None and found["id"]["S"] == registration_id:
                return registration_of(found) if found["active"]["BOOL"] else None
            entry = self._get({"pk": s(owner_key(owner)), "sk": s(entry_key(created_at, registration_id))})
        if entry is None:
            return None
        found = self._get(registration_key(owner, entry))
        if found is None or found["id"]["S"] != registration_id or not found["active"]["BOOL"]:
            return None
        return registration_of(found)

    def new_id(self, created_at: datetime, digest: str) -> str:
        return new_id(created_at, digest)

    # ------------------------------------------------------------------ writes

    def add(
        self, registration: Registration, now: datetime, *, yield_to_newer: bool = False
    ) -> list[Registration]:
        """Store a new registration and take its token; TokenTaken if a live registration holds it.

        A token whose guard names a registration that is no longer live is taken in a second
        transaction, which checks that atomically. The owner's registrations evicted to keep the cap;
        `yield_to_newer` (an import's record): BeyondTheCap instead when all the cap's are used later.
        """
        try:
            return self._admit(
                [
                    {"Put": self._put_guard(registration, now)},
                    {"Put": {"TableName": self._table, "Item": self._registration_item(registration)}},
                    *self._listing(registration),
                ],
                registration,
                now,
                yield_to_newer=yield_to_newer,
            )
        except Cancelled as cancelled:
            guard = cancelled.items[0]
        if guard is None or int(guard.get("held_until", {"N": "0"})["N"]) > int(now.timestamp()):
            raise _taken(guard, registration.owner)  # its holder is certainly live
        return self._take_from_stale(registration, guard, now, yield_to_newer)

    def _take_from_stale(
        self, registration: Registration, guard: Item, now: datetime, yield_to_newer: bool = False
    ) -> list[Registration]:
        """Take the token from a guard whose registration may have expired: atomically, only if the
        registration the guard names is not live; TokenTaken otherwise.

        The owner's own expired registration is replaced, and its list entry deleted with it when the
        new one's is another (a new id, or an import's row whose creation date is its last use): left,
        it would list the registration twice, to the accounts GET and to senders, until its lease ends.
        """
        taken, checks = self._stale_take(registration, guard, now)
        try:
            return self._admit(
                [taken, *checks, *self._listing(registration)],
                registration,
                now,
                yield_to_newer=yield_to_newer,
            )
        except Cancelled as cancelled:
            raise _stale_take_refused(cancelled, 0, guard, registration.owner) from None

    def _stale_take(self, registration: Registration, guard: Item, now: datetime) -> tuple[Item, list[Item]]:
        """The parts that take a stale guard for `registration`: the guard's Put, conditioned on naming
        the registration it named when read, then the Put of `registration` and, when that holder is
        another item, a ConditionCheck that it is not live (the same item: the Put carries the check)."""
        holder, holder_id = guard["owner"]["S"], guard["device_id"]["S"]
        not_live = "attribute_not_exists(pk) OR id <> :holder_id OR active = :false OR expires_at <= :now"
        values = {":holder_id": s(holder_id), ":false": {"BOOL": False}, ":now": n(int(now.timestamp()))}
        mine: Item = {"TableName": self._table, "Item": self._registration_item(registration)}
        if holder == registration.owner:  # the same item: the Put itself carries the check
            checks = [{"Put": {**mine, "ConditionExpression": not_live, "ExpressionAttributeValues": values}}]
            checks += self._delete_replaced_entry(registration, holder_id)
        else:
            checks = [
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": {"pk": s(owner_key(holder)), "sk": s(token_key(registration.token_digest))},
                        "ConditionExpression": not_live,
                        "ExpressionAttributeValues": values,
                    }
                },
                {"Put": mine},
            ]
        taken = self._put_guard(registration, now)
        taken["ConditionExpression"] = "device_id = :holder_id"
        taken["ExpressionAttributeValues"] = {":holder_id": s(holder_id)}
        return {"Put": taken}, checks

    def _delete_replaced_entry(self, registration: Registration, replaced_id: str) -> list[Item]:
        """The Deletes of the list entry of the owner's registration `replaced_id` of the same token,
        which `registration` replaces, unless the two share one key (the Put then overwrites it).

        An id issued here names the creation instant its entry is keyed by; an id kept by an import, its
        pointer (one GetItem: the registration itself may be gone already, deleted by TTL while its
        entry and pointer live on). Only a kept id imported before pointers existed is looked for among
        the owner's entries (one Query). A Delete goes only for an entry of this token: any other would
        be another registration's, and cancels the write.
        """
        keys = id_keys(replaced_id)
        pointer = None
        if keys is None:
            pointer = self._get({"pk": s(owner_key(registration.owner)), "sk": s(pointer_key(replaced_id))})
        if keys is not None:
            replaced = [entry_key(keys[0], replaced_id)]
        elif pointer is not None and pointer["token_digest"]["S"] == registration.token_digest:
            replaced = [entry_key(parse_time(pointer["created_at"]["S"]), replaced_id)]
        else:
            replaced = [
                entry["sk"]["S"]
                for entry in self._entries(registration.owner)
                if entry["id"]["S"] == replaced_id and entry["token_digest"]["S"] == registration.token_digest
            ]
        if keys is None and replaced_id != registration.id:
            replaced.append(pointer_key(replaced_id))  # a kept id's pointer goes with its entry
        kept = entry_key(registration.created_at, registration.id)
        return [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": s(owner_key(registration.owner)), "sk": s(sort_key)},
                    "ConditionExpression": "attribute_not_exists(pk) OR token_digest = :digest",
                    "ExpressionAttributeValues": {":digest": s(registration.token_digest)},
                }
            }
            for sort_key in replaced
            if sort_key != kept
        ]

    def touch(
        self,
        owner: str,
        registration_id: str,
        now: datetime,
        expires_at: int,
        platforms: frozenset[str] | None,
    ) -> Registration | None:
        """A heartbeat without reading first: last use and expiry moved to `now` and `expires_at`.

        One UpdateItem that returns the stored record, while the new expiry stays within the lease;
        beyond it, the lease of the registration, its guard and its list entry is renewed in one
        transaction. Only for an active, live registration of an id issued here whose token has not
        changed, last used before `now`, with a stored platform among `platforms` when given. None,
        writing nothing, otherwise: the caller then reads the registration and decides.
        """
        keys = id_keys(registration_id)
        if keys is None:
            return None
        moment = s(stamp(now))
        condition = (
            "id = :id AND active = :true AND expires_at > :now AND updated_at <= :stamp"
            " AND last_used_at <= :stamp"
        )
        values: dict[str, Any] = {
            ":id": s(registration_id),
            ":true": {"BOOL": True},
            ":now": n(int(now.timestamp())),
            ":stamp": moment,
            ":expires": n(expires_at),
        }
        if platforms is not None:
            condition += f" AND platform IN ({', '.join(f':p{i}' for i in range(len(platforms)))})"
            values.update({f":p{i}": s(platform) for i, platform in enumerate(sorted(platforms))})
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(keys[1]))}
        try:
            updated = self.call(
                "update_item",
                TableName=self._table,
                Key=key,
                UpdateExpression="SET last_used_at = :stamp, updated_at = :stamp, expires_at = :expires",
                ConditionExpression=condition + " AND lease_until >= :expires",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return registration_of(updated["Attributes"])
        except ClientError as error:
            if code(error) != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item")  # absent: nothing stored under the id's key
        if old is None or old["id"]["S"] != registration_id:
            return None
        current = registration_of(old)
        if not (
            current.is_live(now)
            and max(current.updated_at, current.last_used_at) <= now
            and (platforms is None or current.platform in platforms)
            and int(old.get("lease_until", n(0))["N"]) < expires_at
        ):
            return None  # not for the lease that it failed: the caller reads and decides
        touched = replace(current, last_used_at=now, updated_at=now, expires_at=expires_at)
        lease = self._lease_until(touched)
        renewal: Item = {
            "TableName": self._table,
            "Key": key,
            "UpdateExpression": (
                "SET last_used_at = :stamp, updated_at = :stamp, expires_at = :expires, lease_until = :lease"
            ),
            "ConditionExpression": condition + " AND lease_until = :old_lease",
            "ExpressionAttributeValues": {
                **values,
                ":lease": n(lease),
                ":old_lease": old.get("lease_until", n(0)),
            },
        }
        try:
            self.transact(
                [
                    {"Update": renewal},
                    {"Update": self._extend_guard(touched)},
                    {"Update": self._extend_entry(touched)},
                ]
            )
        except Cancelled:
            return None
        return touched

    def refresh(
        self,
        owner: str,
        digest: str,
        now: datetime,
        expires_at: int,
        *,
        source: str,
        given: RegistrationFields,
    ) -> tuple[Registration | None, Registration | None]:
        """The owner's registration of this token used now through `source`, in one UpdateItem that
        returns it: (refreshed, None). `given` fields replace stored ones (device_info key by key).

        Only for an active, live registration last written through `source`, last used before `now`,
        whose new expiry stays within its lease. Otherwise nothing is written: (None, the stored
        registration or None), from the refused request's old image, so the caller reads nothing more.
        """
        names = {"#source": "source"}
        values: dict[str, Any] = {
            ":true": {"BOOL": True},
            ":now": n(int(now.timestamp())),
            ":stamp": s(stamp(now)),
            ":expires": n(expires_at),
            ":source": s(source),
        }
        sets = ["last_used_at = :stamp", "updated_at = :stamp", "expires_at = :expires"]
        for i, (name, value) in enumerate(sorted(given.device_info.items())):
            names[f"#info{i}"], values[f":info{i}"] = name, s(value)
            sets.append(f"device_info.#info{i} = :info{i}")
        fields = {"platform": given.platform, "provider": given.provider, "tenant": given.tenant}
        for field_name, replacement in fields.items():
            if replacement is not None:
                names[f"#{field_name}"], values[f":{field_name}"] = field_name, s(replacement)
                sets.append(f"#{field_name} = :{field_name}")
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(digest))}
        try:
            updated = self.call(
                "update_item",
                TableName=self._table,
                Key=key,
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=(
                    "active = :true AND expires_at > :now AND updated_at <= :stamp AND last_used_at <= :stamp"
                    " AND #source = :source AND lease_until >= :expires"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return registration_of(updated["Attributes"]), None
        except ClientError as error:
            if code(error) != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item")  # absent: no registration of this token is stored
        return None, (registration_of(old) if old is not None else None)

    def save(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Replace a live registration whose token is unchanged, renewing its guard's and entry's lease.

        DeviceNotFound when `current` is no longer live (deactivated, expired, moved meanwhile).
        """
        try:
            self.transact(
                [
                    {"Put": self._put_registration_if_live(updated, current, now)},
                    {"Update": self._extend_guard(updated)},
                    *self._listing(updated),
                ]
            )
        except Cancelled:
            raise DeviceNotFound() from None

    def move_token(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Give a live registration a new token: the old token is freed and the new one taken atomically.

        TokenTaken when a live registration holds the new token; DeviceNotFound when `current` is gone.
        A new token whose guard outlives its expired holder (the lease) is taken as `add` takes it.
        """
        leaving = [
            {"Delete": self._delete_registration_if_live(current, now)},
            {"Delete": self._release_guard(current)},
        ]
        try:
            self.transact(
                [
                    *leaving,
                    {"Put": self._put_guard(updated, now)},
                    {"Put": {"TableName": self._table, "Item": self._registration_item(updated)}},
                    *self._listing(updated),  # same keys: created_at and id are kept
                ]
            )
            return
        except Cancelled as cancelled:
            if not cancelled.failed[2]:
                raise DeviceNotFound() from None
            guard = cancelled.items[2]
        if guard is None or int(guard.get("held_until", {"N": "0"})["N"]) > int(now.timestamp()):
            raise _taken(guard, updated.owner)  # its holder is certainly live
        taken, checks = self._stale_take(updated, guard, now)
        try:
            self.transact([*leaving, taken, *checks, *self._listing(updated)])
        except Cancelled as cancelled:
            if any(cancelled.failed[: len(leaving)]):
                raise DeviceNotFound() from None
            raise _stale_take_refused(cancelled, len(leaving), guard, updated.owner) from None

    def deactivate(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Store the deactivated registration and free its token at once."""
        try:
            self.transact(self._deactivation(current, updated, now))
        except Cancelled:
            raise DeviceNotFound() from None

    def declare_dead(
        self, current: Registration, updated: Registration, now: datetime, remembered_until: int
    ) -> None:
        """`deactivate`, for a token a push provider declared dead: in the same transaction its
        tombstone says so (a later declaration replaces an earlier one) until `remembered_until`."""
        tombstone: Item = {
            "TableName": self._table,
            "Item": {
                **tombstone_key(current.token_digest),
                "declared_dead_at": s(stamp(now)),
                "expires_at": n(remembered_until),
            },
        }
        try:
            self.transact([*self._deactivation(current, updated, now), {"Put": tombstone}])
        except Cancelled:
            raise DeviceNotFound() from None

    def _deactivation(self, current: Registration, updated: Registration, now: datetime) -> list[Item]:
        return [
            {"Put": self._put_registration_if_live(updated, current, now)},
            {"Delete": self._release_guard(current)},
            *self._unlisting(current),
        ]

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
        """(owner, device id) a token's guard names, if its lease is live: the registration it names
        may have expired since (see `holding`)."""
        item = self._get({"pk": s(token_key(digest)), "sk": s(GUARD)})
        if item is None or int(item["expires_at"]["N"]) <= int(now.timestamp()):
            return None
        return item["owner"]["S"], item["device_id"]["S"]

    def holders(self, digests: list[str], now: datetime) -> dict[str, tuple[str, str]]:
        """holder() of many tokens by digest, those with a guard only, in one read per 100 tokens."""
        keys = {digest: {"pk": s(token_key(digest)), "sk": s(GUARD)} for digest in digests}
        found = batch_get(self._client, self._table, list(keys.values()))
        held = {}
        for digest, key in keys.items():
            item = found.get((key["pk"]["S"], GUARD))
            if item is not None and int(item["expires_at"]["N"]) > int(now.timestamp()):
                held[digest] = (item["owner"]["S"], item["device_id"]["S"])
        return held

    def holding(self, digest: str, now: datetime, attempts: int = 4) -> Registration | None:
        """The live registration holding the token with this digest, or None when the token is free.

        Reads the guard, then the registration it names. When that is not live, the guard is read
        again: unchanged, it is stale (the token is free); changed, the token changed hands between the
        two reads, and the pair is read again (Unavailable after `attempts`).
        """
        holder = self.holder(digest, now)
        for _ in range(attempts):
            if holder is None:
                return None
            current = self.get(holder[0], digest)
            if current is not None and current.id == holder[1] and current.is_live(now):
                return current
            again = self.holder(digest, now)
            if again == holder:
                return None
            holder = again
        raise Unavailable() from Contention()

    def get_and_declared_dead(
        self, owner: str, digest: str, now: datetime
    ) -> tuple[Registration | None, datetime | None]:
        """`get`, and when a push provider last declared the token dead (None: no live tombstone), in
        one request: the import asks both of every row it may write."""
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(digest))}
        tombstone = tombstone_key(digest)
        found = batch_get(self._client, self._table, [key, tombstone])
        item = found.get((key["pk"]["S"], key["sk"]["S"]))
        dead = found.get((tombstone["pk"]["S"], tombstone["sk"]["S"]))
        if dead is not None and int(dead["expires_at"]["N"]) <= int(now.timestamp()):
            dead = None  # expired, not yet deleted by TTL
        return (
            registration_of(item) if item else None,
            parse_time(dead["declared_dead_at"]["S"]) if dead else None,
        )

    def get(self, owner: str, digest: str) -> Registration | None:
        """The owner's registration of one token (by its digest), in any state."""
        item = self._get({"pk": s(owner_key(owner)), "sk": s(token_key(digest))})
        return registration_of(item) if item else None

    def take_over(
        self, current: Registration, updated: Registration, now: datetime, *, yield_to_newer: bool = False
    ) -> list[Registration]:
        """Hand a live registration's token to `updated` (another owner, or a new id for the same one).

        The old registration disappears and the guard names the new holder, atomically; the guard's
        tenure is kept (the token is handed on, never free). DeviceNotFound when `current` no longer
        holds the token. The new holder's registrations evicted to keep its cap.
        """
        guard: Item = {
            "TableName": self._table,
            "Key": {"pk": s(token_key(updated.token_digest)), "sk": s(GUARD)},
            "UpdateExpression": (
                "SET #owner = :owner, device_id = :new_id, expires_at = :lease, held_until = :expires"
            ),
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {
                ":id": s(current.id),
                ":owner": s(updated.owner),
                ":new_id": s(updated.id),
                ":lease": n(self._lease_until(updated)),
                ":expires": n(updated.expires_at),
            },
        }
        if current.owner == updated.owner:
            parts = [{"Put": self._put_registration_if_live(updated, current, now)}]
        else:
            parts = [
                {"Delete": self._delete_registration_if_live(current, now)},
                {"Put": {"TableName": self._table, "Item": self._registration_item(updated)}},
            ]
        parts = [{"Update": guard}, *parts, *self._relisting(current, updated)]
        try:
            if current.owner != updated.owner:
                return self._admit(parts, updated, now, yield_to_newer=yield_to_newer)
            # The owner's own live registration, replaced (a new id) or used again: no more live ones.
            self.transact(parts)
        except Cancelled:
            raise DeviceNotFound() from None
        return []

    # ------------------------------------------------------------------ the owner's cap

    def _admit(
        self, parts: list[Item], registration: Registration, now: datetime, yield_to_newer: bool = False
    ) -> list[Registration]:
        """Run `parts`, which give `registration.owner` the new live `registration`, within the owner's
        cap: the registrations evicted for room.

        Cancelled as the parts alone would raise it (their positions unchanged) when one of them failed.
        """
        if not self.max_devices_per_user:
            self.transact(parts)
            return []
        at = len(parts)
        try:
            self.transact([*parts, {"Update": self._roster_room(registration)}])
            return []
        except Cancelled as cancelled:
            if any(cancelled.failed[:at]):
                raise
            roster = cancelled.items[at]  # None: no roster yet
        for _ in range(_ADMISSION_ATTEMPTS):
            put, evicted = self._admission(roster, registration, now, yield_to_newer)
            evictions = [part for gone in evicted for part in self._eviction(gone, now)]
            try:
                self.transact([*parts, {"Put": put}, *evictions])
                return evicted
            except Cancelled as cancelled:
                if any(cancelled.failed[:at]):
                    raise
                # The roster changed meanwhile (its old image), or an evicted one did: count again.
                roster = cancelled.items[at] if cancelled.failed[at] else self._get(_roster_key(registration))
        raise Unavailable(cause=Contention.__name__) from Contention()

    def _roster_room(self, registration: Registration) -> Item:
        """The roster counts one more, if it exists and counts fewer than the cap."""
        return {
            "TableName": self._table,
            "Key": _roster_key(registration),
            "UpdateExpression": "SET #count = #count + :one, version = version + :one, expires_at = :expires",
            "ConditionExpression": "attribute_exists(pk) AND #count < :cap",
            "ExpressionAttributeNames": {"#count": "count"},
            "ExpressionAttributeValues": {
                ":one": n(1),
                ":cap": n(self.max_devices_per_user),
                ":expires": n(self._entry_expiry(registration)),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _admission(
        self, roster: Item | None, registration: Registration, now: datetime, yield_to_newer: bool
    ) -> tuple[Item, list[Registration]]:
        """The roster's Put, conditioned on its version as read, and whom it evicts: of the owner's
        live registrations (found through the list entries), the least recently used beyond the cap.
        With `yield_to_newer`, BeyondTheCap when the cap's others were all used after `registration`."""
        owner = registration.owner
        entries = list(self._entries(owner))
        stored = batch_get(self._client, self._table, [registration_key(owner, e) for e in entries])
        mine = (owner_key(owner), token_key(registration.token_digest))
        others = []
        for entry in entries:
            item = stored.get((owner_key(owner), token_key(entry["token_digest"]["S"])))
            if item is None or item["id"] != entry["id"] or key_id(item) == mine:
                continue  # gone, replaced, or the key the new registration is written to
            member = registration_of(item)
            if member.is_live(now) and member.id != registration.id:
                others.append(member)
        # A registration through an API is the request's own use, the latest: it stays, whatever the
        # others' clocks wrote. An import's record stays only among the cap's most recently used.
        newer = sum(member.last_used_at > registration.last_used_at for member in others)
        if yield_to_newer and newer >= self.max_devices_per_user:
            raise BeyondTheCap()
        others.sort(key=lambda member: (member.last_used_at, member.id))
        evicted = others[: min(max(0, len(others) + 1 - self.max_devices_per_user), _MAX_EVICTIONS)]
        kept = [*others[len(evicted) :], registration]
        put: Item = {
            "TableName": self._table,
            "Item": {
                **_roster_key(registration),
                "count": n(len(kept)),
                "version": n(int(roster["version"]["N"]) + 1 if roster is not None else 1),
                # As long as any kept one's list entry: a roster TTL deletes later is counted again.
                "expires_at": n(max(self._entry_expiry(member) for member in kept)),
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if roster is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :seen"
            put["ExpressionAttributeValues"] = {":seen": roster["version"]}
        return put, evicted

    def _eviction(self, evicted: Registration, now: datetime) -> list[Item]:
        """Deactivate a registration as `deactivate` does: only if unchanged since read.

        `now` was read before the roster: a registration another request added meanwhile may have been
        used after it, and time on a registration only moves forward.
        """
        deactivated_at = max(now, evicted.updated_at, evicted.last_used_at)
        return [
            {
                "Put": self._put_registration_if_live(
                    replace(evicted, active=False, updated_at=deactivated_at), evicted, now
                )
            },
            {"Delete": self._release_guard(evicted)},
            *self._unlisting(evicted),
        ]

    # ------------------------------------------------------------------ transaction parts

    def _lease_until(self, registration: Registration) -> int:
        return registration.expires_at + self._lease

    def _entry_expiry(self, registration: Registration) -> int:
        """The list entry outlives the guard (ENTRY_MARGIN): erasure finds a stale guard through it."""
        return self._lease_until(registration) + self._entry_margin

    def _registration_item(self, registration: Registration) -> Item:
        item = registration_item(registration)
        item["lease_until"] = n(self._lease_until(registration))
        return item

    def _put_guard(self, registration: Registration, now: datetime) -> Item:
        return {
            "TableName": self._table,
            "Item": {
                "pk": s(token_key(registration.token_digest)),
                "sk": s(GUARD),
                "owner": s(registration.owner),
                "device_id": s(registration.id),
                "expires_at": n(self._lease_until(registration)),
                "held_until": n(registration.expires_at),
                "tenure": s(uuid.uuid4().hex),  # a free token taken: a new holding begins
            },
            "ConditionExpression": "attribute_not_exists(pk) OR expires_at <= :now",
            "ExpressionAttributeValues": {":now": n(int(now.timestamp()))},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _listing(self, registration: Registration) -> list[Item]:
        """Put the list entry and, for an id kept by an import, the pointer that finds it by id."""
        parts = [{"Put": self._put_entry(registration)}]
        if id_keys(registration.id) is None:
            pointer = {
                "pk": s(owner_key(registration.owner)),
                "sk": s(pointer_key(registration.id)),
                "token_digest": s(registration.token_digest),
                "created_at": s(stamp(registration.created_at)),
                "expires_at": n(self._entry_expiry(registration)),
            }
            parts.append({"Put": {"TableName": self._table, "Item": pointer}})
        return parts

    def _unlisting(self, registration: Registration) -> list[Item]:
        """Delete the list entry and, for an id kept by an import, its pointer."""
        parts = [{"Delete": self._delete_entry(registration)}]
        if id_keys(registration.id) is None:
            key = {"pk": s(owner_key(registration.owner)), "sk": s(pointer_key(registration.id))}
            parts.append({"Delete": {"TableName": self._table, "Key": key}})
        return parts

    def _relisting(self, current: Registration, updated: Registration) -> list[Item]:
        """List `updated` in place of `current`: what `current` alone had is deleted, the rest put."""
        parts = self._listing(updated)
        keys = {key_id(p["Put"]["Item"]) for p in parts}
        gone = [p for p in self._unlisting(current) if key_id(p["Delete"]["Key"]) not in keys]
        return gone + parts

    def _put_entry(self, registration: Registration) -> Item:
        item: Item = {
            "pk": s(owner_key(registration.owner)),
            "sk": s(entry_key(registration.created_at, registration.id)),
            "id": s(registration.id),
            "token_digest": s(registration.token_digest),
            "expires_at": n(self._entry_expiry(registration)),
        }
        return {"TableName": self._table, "Item": item}

    def _extend_entry(self, registration: Registration) -> Item:
        return {
            "TableName": self._table,
            "Key": {
                "pk": s(owner_key(registration.owner)),
                "sk": s(entry_key(registration.created_at, registration.id)),
            },
            "UpdateExpression": "SET expires_at = :lease",
            "ConditionExpression": "id = :id",
            "ExpressionAttributeValues": {
                ":lease": n(self._entry_expiry(registration)),
                ":id": s(registration.id),
            },
        }

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
            "UpdateExpression": "SET expires_at = :lease, held_until = :expires",
            "ConditionExpression": "device_id = :id",
            "ExpressionAttributeValues": {
                ":lease": n(self._lease_until(registration)),
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
            "Item": self._registration_item(updated),
            **_unchanged(current, now),
        }

    def _delete_registration_if_live(self, current: Registration, now: datetime) -> Item:
        key = {"pk": s(owner_key(current.owner)), "sk": s(token_key(current.token_digest))}
        return {"TableName": self._table, "Key": key, **_unchanged(current, now)}

    def _get(self, key: Item) -> Item | None:
        item: Item | None = self.call("get_item", TableName=self._table, Key=key, ConsistentRead=True).get(
            "Item"
        )
        return item

    def _entries(self, owner: str) -> Iterator[Item]:
        """Every list entry of the owner's, newest first: to find the entry of a replaced registration
        imported before pointers existed (`_delete_replaced_entry`), and to seed a missing roster."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :listed)",
            "ExpressionAttributeValues": {":pk": s(owner_key(owner)), ":listed": s(LISTED)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        while True:
            page = self.call("query", **request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ DynamoDB calls

    def transact(self, items: list[Item]) -> None:
        transact(self._client, items)

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        return call(self._client, operation, **request)

    # ------------------------------------------------------------------ privacy: access and erasure

    def export_owner(self, owner: str) -> dict[str, list[dict[str, Any]]]:
        return self._owner_data.export_owner(owner)

    def erase_owner(self, owner: str) -> dict[str, int]:
        return self._owner_data.erase_owner(owner)


def _roster_key(registration: Registration) -> Item:
    return {"pk": s(owner_key(registration.owner)), "sk": s(ROSTER)}


def _unchanged(current: Registration, now: datetime) -> Item:
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


def _stale_take_refused(cancelled: Cancelled, at: int, guard: Item, caller: str) -> TokenTaken:
    """Why taking a stale guard (its Put at position `at`) failed: the guard changed meanwhile (decide
    again on fresh state), or the registration it names turned out live after all."""
    if cancelled.failed[at]:
        return TokenTaken(held_by_caller=False)
    return _taken(guard, caller)


def _taken(guard: Mapping[str, Any] | None, caller: str) -> TokenTaken:
    if guard is None:  # the holder changed between the failed condition and the read: still taken
        return TokenTaken(held_by_caller=False)
    owner, device_id = guard["owner"]["S"], guard["device_id"]["S"]
    tenure = guard.get("tenure", {}).get("S")  # absent on guards written before tenures existed
    if owner == caller:
        return TokenTaken(held_by_caller=True, device_id=device_id, holder=(owner, device_id), tenure=tenure)
    return TokenTaken(held_by_caller=False, holder=(owner, device_id), tenure=tenure)
