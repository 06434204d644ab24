"""The writes of a registration in use: a heartbeat (`touch`) and an upsert's refresh, each one
UpdateItem that returns the stored record while the new expiry stays within the lease (see
`registrations`); the heartbeat that would pass it renews the lease of the registration, its guard and
its list entry in one transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from push_registry.registration import Registration, RegistrationFields
from push_registry.storage.registration_items import id_keys, owner_key, registration_of, token_key
from push_registry.storage.registration_parts import Parts
from push_registry.storage.table import Cancelled, Item, call, code, n, s, stamp, transact


class Heartbeats:
    """Moves a live registration's last use and expiry forward, without reading it first."""

    def __init__(self, client: Any, parts: Parts) -> None:
        self._client = client
        self._parts = parts

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
        condition, values = _touch_condition(registration_id, now, expires_at, platforms)
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(keys[1]))}
        written, old = self._update(
            TableName=self._parts.table,
            Key=key,
            UpdateExpression="SET last_used_at = :stamp, updated_at = :stamp, expires_at = :expires",
            ConditionExpression=condition + " AND lease_until >= :expires",
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if written is not None:
            return registration_of(written)
        if old is None:
            return None  # nothing stored under the id's key
        current = _refused_for_its_lease(old, registration_id, now, expires_at, platforms)
        if current is None:
            return None  # not for the lease that it failed: the caller reads and decides
        touched = replace(current, last_used_at=now, updated_at=now, expires_at=expires_at)
        return self._renew_lease(touched, key, condition, values, old.get("lease_until", n(0)))

    def _renew_lease(
        self, touched: Registration, key: Item, condition: str, values: dict[str, Any], old_lease: Item
    ) -> Registration | None:
        """The heartbeat beyond the lease: the registration, its guard and its list entry written with
        the next lease in one transaction, if the registration's lease is still `old_lease`."""
        renewal: Item = {
            "TableName": self._parts.table,
            "Key": key,
            "UpdateExpression": (
                "SET last_used_at = :stamp, updated_at = :stamp, expires_at = :expires, lease_until = :lease"
            ),
            "ConditionExpression": condition + " AND lease_until = :old_lease",
            "ExpressionAttributeValues": {
                **values,
                ":lease": n(self._parts.lease_until(touched)),
                ":old_lease": old_lease,
            },
        }
        try:
            transact(
                self._client,
                [
                    {"Update": renewal},
                    {"Update": self._parts.extend_guard(touched)},
                    {"Update": self._parts.extend_entry(touched)},
                ],
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
        sets, names, values = _refresh_expression(now, expires_at, source, given)
        key = {"pk": s(owner_key(owner)), "sk": s(token_key(digest))}
        written, old = self._update(
            TableName=self._parts.table,
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
        if written is not None:
            return registration_of(written), None
        return None, (registration_of(old) if old is not None else None)  # old absent: none stored

    def _update(self, **request: Any) -> tuple[Item | None, Item | None]:
        """One conditional UpdateItem that returns ALL_NEW: (the item written, None), or, refused, (None,
        the old image its ALL_OLD returned: None when nothing is stored under the key)."""
        try:
            written: Item = call(self._client, "update_item", **request)["Attributes"]
            return written, None
        except ClientError as error:
            if code(error) != "ConditionalCheckFailedException":
                raise
            return None, error.response.get("Item")


def _touch_condition(
    registration_id: str, now: datetime, expires_at: int, platforms: frozenset[str] | None
) -> tuple[str, dict[str, Any]]:
    """What a heartbeat's writes require of the registration, but its lease: the id's registration,
    active, live, last written and used at or before `now`, on one of `platforms` when given."""
    condition = (
        "id = :id AND active = :true AND expires_at > :now AND updated_at <= :stamp"
        " AND last_used_at <= :stamp"
    )
    values: dict[str, Any] = {
        ":id": s(registration_id),
        ":true": {"BOOL": True},
        ":now": n(int(now.timestamp())),
        ":stamp": s(stamp(now)),
        ":expires": n(expires_at),
    }
    if platforms is not None:
        condition += f" AND platform IN ({', '.join(f':p{i}' for i in range(len(platforms)))})"
        values.update({f":p{i}": s(platform) for i, platform in enumerate(sorted(platforms))})
    return condition, values


def _refused_for_its_lease(
    old: Item, registration_id: str, now: datetime, expires_at: int, platforms: frozenset[str] | None
) -> Registration | None:
    """The registration a heartbeat's UpdateItem found (its old image), when only the lease refused it:
    the new expiry is beyond the stored lease and every other condition held. None otherwise."""
    if old["id"]["S"] != registration_id:
        return None
    current = registration_of(old)
    if not (
        current.is_live(now)
        and max(current.updated_at, current.last_used_at) <= now
        and (platforms is None or current.platform in platforms)
        and int(old.get("lease_until", n(0))["N"]) < expires_at
    ):
        return None
    return current


def _refresh_expression(
    now: datetime, expires_at: int, source: str, given: RegistrationFields
) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """An upsert's refresh: the SET clauses (last use, expiry, and each field `given`), with their
    attribute names and values."""
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
    return sets, names, values
