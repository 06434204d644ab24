"""The writes that give a token a holder: a new registration (`add`, and the take of a stale guard), a
registration written back (`save`), given a new token (`move_token`) or handed to another owner or id
(`take_over`). Each writes the registration, its token's guard and its list entry in one transaction
(see `registrations`); those that give an owner one more live registration go through the `Roster`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from push_registry.errors import DeviceNotFound, TokenTaken
from push_registry.registration import Registration
from push_registry.storage.registration_items import entry_key, id_keys, owner_key, pointer_key, token_key
from push_registry.storage.registration_parts import Parts
from push_registry.storage.registration_reads import Reads
from push_registry.storage.roster import Roster
from push_registry.storage.table import GUARD, Cancelled, Item, n, parse_time, s, transact


class TokenWrites:
    """Writes a registration with its token's guard and list entry."""

    def __init__(self, client: Any, parts: Parts, reads: Reads, roster: Roster) -> None:
        self._client = client
        self._parts = parts
        self._reads = reads
        self._roster = roster

    def add(
        self,
        registration: Registration,
        now: datetime,
        *,
        yield_to_newer: bool = False,
        rosterless: bool = False,
    ) -> list[Registration]:
        """Store a new registration and take its token; TokenTaken if a live registration holds it.

        A token whose guard names a registration that is no longer live is taken in a second
        transaction, which checks that atomically. The owner's registrations evicted to keep the cap;
        `yield_to_newer` (an import's record): BeyondTheCap instead when all the cap's are used later.
        `rosterless`: the caller read no roster for the owner (see `Roster.admit`).
        """
        try:
            return self._roster.admit(
                [
                    {"Put": self._parts.put_guard(registration, now)},
                    {"Put": self._parts.put_registration(registration)},
                    *self._parts.listing(registration),
                ],
                registration,
                now,
                yield_to_newer=yield_to_newer,
                rosterless=rosterless,
            )
        except Cancelled as cancelled:
            guard = cancelled.items[0]
        if guard is None or int(guard.get("held_until", {"N": "0"})["N"]) > int(now.timestamp()):
            raise _taken(guard, registration.owner)  # its holder is certainly live
        return self._take_from_stale(registration, guard, now, yield_to_newer, rosterless)

    def _take_from_stale(
        self,
        registration: Registration,
        guard: Item,
        now: datetime,
        yield_to_newer: bool = False,
        rosterless: bool = False,
    ) -> list[Registration]:
        """Take the token from a guard whose registration may have expired: atomically, only if the
        registration the guard names is not live; TokenTaken otherwise.

        The owner's own expired registration is replaced, and its list entry deleted with it when the
        new one's is another (a new id, or an import's row whose creation date is its last use): left,
        it would list the registration twice, to the accounts GET and to senders, until its lease ends.
        """
        taken, checks = self._stale_take(registration, guard, now)
        try:
            return self._roster.admit(
                [taken, *checks, *self._parts.listing(registration)],
                registration,
                now,
                yield_to_newer=yield_to_newer,
                rosterless=rosterless,
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
        mine: Item = self._parts.put_registration(registration)
        if holder == registration.owner:  # the same item: the Put itself carries the check
            checks = [{"Put": {**mine, "ConditionExpression": not_live, "ExpressionAttributeValues": values}}]
            checks += self._delete_replaced_entry(registration, holder_id)
        else:
            checks = [
                {
                    "ConditionCheck": {
                        "TableName": self._parts.table,
                        "Key": {"pk": s(owner_key(holder)), "sk": s(token_key(registration.token_digest))},
                        "ConditionExpression": not_live,
                        "ExpressionAttributeValues": values,
                    }
                },
                {"Put": mine},
            ]
        taken = self._parts.put_guard(registration, now)
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
            pointer = self._reads.item(
                {"pk": s(owner_key(registration.owner)), "sk": s(pointer_key(replaced_id))}
            )
        if keys is not None:
            replaced = [entry_key(keys[0], replaced_id)]
        elif pointer is not None and pointer["token_digest"]["S"] == registration.token_digest:
            replaced = [entry_key(parse_time(pointer["created_at"]["S"]), replaced_id)]
        else:
            replaced = [
                entry["sk"]["S"]
                for entry in self._reads.entries(registration.owner)
                if entry["id"]["S"] == replaced_id and entry["token_digest"]["S"] == registration.token_digest
            ]
        if keys is None and replaced_id != registration.id:
            replaced.append(pointer_key(replaced_id))  # a kept id's pointer goes with its entry
        kept = entry_key(registration.created_at, registration.id)
        return [
            {
                "Delete": {
                    "TableName": self._parts.table,
                    "Key": {"pk": s(owner_key(registration.owner)), "sk": s(sort_key)},
                    "ConditionExpression": "attribute_not_exists(pk) OR token_digest = :digest",
                    "ExpressionAttributeValues": {":digest": s(registration.token_digest)},
                }
            }
            for sort_key in replaced
            if sort_key != kept
        ]

    def save(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Replace a live registration whose token is unchanged, renewing its guard's and entry's lease.

        DeviceNotFound when `current` is no longer live (deactivated, expired, moved meanwhile).
        """
        try:
            transact(
                self._client,
                [
                    {"Put": self._parts.put_registration_if_live(updated, current, now)},
                    {"Update": self._parts.extend_guard(updated)},
                    *self._parts.listing(updated),
                ],
            )
        except Cancelled:
            raise DeviceNotFound() from None

    def move_token(self, current: Registration, updated: Registration, now: datetime) -> None:
        """Give a live registration a new token: the old token is freed and the new one taken atomically.

        TokenTaken when a live registration holds the new token; DeviceNotFound when `current` is gone.
        A new token whose guard outlives its expired holder (the lease) is taken as `add` takes it.
        """
        leaving = [
            {"Delete": self._parts.delete_registration_if_live(current, now)},
            {"Delete": self._parts.release_guard(current)},
        ]
        try:
            transact(
                self._client,
                [
                    *leaving,
                    {"Put": self._parts.put_guard(updated, now)},
                    {"Put": self._parts.put_registration(updated)},
                    *self._parts.listing(updated),  # same keys: created_at and id are kept
                ],
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
            transact(self._client, [*leaving, taken, *checks, *self._parts.listing(updated)])
        except Cancelled as cancelled:
            if any(cancelled.failed[: len(leaving)]):
                raise DeviceNotFound() from None
            raise _stale_take_refused(cancelled, len(leaving), guard, updated.owner) from None

    def take_over(
        self, current: Registration, updated: Registration, now: datetime, *, yield_to_newer: bool = False
    ) -> list[Registration]:
        """Hand a live registration's token to `updated` (another owner, or a new id for the same one).

        The old registration disappears and the guard names the new holder, atomically; the guard's
        tenure is kept (the token is handed on, never free). DeviceNotFound when `current` no longer
        holds the token. The new holder's registrations evicted to keep its cap.
        """
        if current.owner == updated.owner:
            parts = [{"Put": self._parts.put_registration_if_live(updated, current, now)}]
        else:
            parts = [
                {"Delete": self._parts.delete_registration_if_live(current, now)},
                {"Put": self._parts.put_registration(updated)},
            ]
        guard = {"Update": self._handed_guard(current, updated)}
        parts = [guard, *parts, *self._parts.relisting(current, updated)]
        try:
            if current.owner != updated.owner:
                return self._roster.admit(parts, updated, now, yield_to_newer=yield_to_newer)
            # The owner's own live registration, replaced (a new id) or used again: no more live ones.
            transact(self._client, parts)
        except Cancelled:
            raise DeviceNotFound() from None
        return []

    def _handed_guard(self, current: Registration, updated: Registration) -> Item:
        """The Update that hands the token's guard from `current` to `updated`, keeping its tenure."""
        return {
            "TableName": self._parts.table,
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
                ":lease": n(self._parts.lease_until(updated)),
                ":expires": n(updated.expires_at),
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
