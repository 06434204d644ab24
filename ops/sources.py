"""Each existing system's export row, mapped onto the request its own API would have received.

A row becomes an `ExportedRecord` only through that API's request model in the layer
(`push_registry.apis.<api>`), so an imported token obeys exactly the rules a live registration does
(token shape, platform, device_info keys and lengths). Anything else is a `Rejected` with its reason,
or a `Skipped` row (retired at its source, opted out, nobody's, not a push channel) counted by kind.
The mapping of every source is documented in docs/adoption.md; Amazon Pinpoint's, whose endpoints no
client API here received, goes through the layer's validation rules directly and is documented in
docs/migrating-from-pinpoint.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from push_registry.adoption import ExportedRecord
from push_registry.apis import accounts, camera, pigeons, user_push_tokens
from push_registry.errors import InvalidRequest, describe
from push_registry.registration import CHANNEL_TYPES, ChannelType, Platform, Provider, is_keepable_id
from push_registry.registry import NewDevice
from push_registry.validation import LABEL, PUSH_TOKEN, field, object_of, optional, parse, validator_of

_OWNER_MAX_LENGTH = 256
# An export taken a moment ago on a host whose clock runs a little ahead is still fine.
_CLOCK_SKEW = timedelta(minutes=5)
_INT64 = re.compile(r"-?[0-9]{1,19}")


class Rejected(Exception):
    """A row that cannot be imported; `reason` names the field and the problem, never the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Skipped(Exception):
    """A row with nothing to import, counted as `kind` (a field of the import's Counts)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Inactive(Skipped):
    """A row its system had already retired (soft-deleted, or Pinpoint's INACTIVE): nothing to import."""

    def __init__(self) -> None:
        super().__init__("inactive")


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    owner_field: str  # a dotted path for a nested field (Pinpoint's User.UserId)
    read: Callable[[Mapping[str, Any]], tuple[NewDevice, str | None, datetime | None, datetime]]
    # Raises Skipped (or Rejected) before the owner is read, for rows that are nobody's business here.
    screen: Callable[[Mapping[str, Any]], None] | None = None
    # The records of a file holding one JSON document rather than JSON Lines; None: not such a document.
    records_in: Callable[[Any], list[Any] | None] | None = None


def record_of(source: Source, row: Any, now: datetime) -> ExportedRecord:
    """The row as an ExportedRecord; Rejected or Skipped otherwise."""
    if not isinstance(row, dict):
        raise Rejected("the line is not a JSON object")
    if source.screen is not None:
        source.screen(row)
    owner = _text(row, source.owner_field)
    if owner is None or not owner.strip():
        raise Rejected(f"{source.owner_field} is required")
    if len(owner) > _OWNER_MAX_LENGTH or not owner.isprintable():
        raise Rejected(f"{source.owner_field} is not a printable string of at most {_OWNER_MAX_LENGTH}")
    try:
        device, kept_id, created, last_used = source.read(row)
    except InvalidRequest as invalid:
        raise Rejected("; ".join(describe(problem) for problem in invalid.problems)) from None
    if kept_id is not None and not is_keepable_id(kept_id):
        raise Rejected("id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -")
    if last_used > now + _CLOCK_SKEW:
        raise Rejected("the last use is in the future")
    return ExportedRecord(
        owner=owner,
        device=device,
        source=source.name,
        last_used_at=last_used,
        id=kept_id,
        created_at=created,
    )


# ---------------------------------------------------------------------- per source


def _accounts(row: Mapping[str, Any]) -> tuple[NewDevice, str | None, datetime | None, datetime]:
    """Seed 004's `device_tokens` collection (mongoexport): the device id its clients hold is `_id`."""
    if row.get("active") is False:
        raise Inactive()
    body = {key: row[key] for key in ("device_token", "platform", "device_info") if key in row}
    if body.get("device_info") is None:
        body.pop("device_info", None)
    device = accounts.new_device(body)
    return device, _id(row, "_id"), _moment(row, "created_at"), _last_use(row, "last_used_at", "updated_at")


def _camera(row: Mapping[str, Any]) -> tuple[NewDevice, str | None, datetime | None, datetime]:
    """Seed 000's push-token table: the TokenEntry the app sent, its user and times. No id is exposed."""
    fields = ("msgType", "msgToken", "app", "countryNo", "language", "tenantId")
    device = camera.token_entry({key: row[key] for key in fields if row.get(key) is not None})
    return device, None, _moment(row, "createTime"), _last_use(row, "updateTime", "createTime")


def _user_push_tokens(row: Mapping[str, Any]) -> tuple[NewDevice, str | None, datetime | None, datetime]:
    """Seed 002's UserPushTokens table: `id` and `registered_date` are in its answers, so both are kept."""
    body = {key: row[key] for key in ("push_token", "device_os", "app_ver", "module") if key in row}
    device = user_push_tokens.registration_request(body)
    created = _moment(row, "registered_date")
    return device, _id(row, "id"), created, _last_use(row, "updated_date", "registered_date")


def _pigeons(row: Mapping[str, Any]) -> tuple[NewDevice, str | None, datetime | None, datetime]:
    """Seed 001's device-token documents: `_id` is what its DELETE takes; `tenant` is the platform."""
    tenant = _text(row, "tenant")
    if not tenant:
        raise Rejected("tenant is required (the platform whose X-PUBLIC-KEY registered the token)")
    body = {key: row[key] for key in ("token", "platform", "device") if key in row}
    if body.get("device") is None:
        body.pop("device", None)
    device = pigeons.device_request(body, tenant)
    return device, _id(row, "_id"), _moment(row, "created_at"), _last_use(row, "last_used_at", "updated_at")


# ---------------------------------------------------------------------- Amazon Pinpoint

PINPOINT = "pinpoint"
# The push channels this registry serves, and the provider each one's tokens belong to.
_PINPOINT_PROVIDERS = {kind: provider for provider, kinds in CHANNEL_TYPES.items() for kind in kinds}
# Push channels of Pinpoint's that no provider here delivers through: rejected, so that they are seen.
_UNSERVED_PUSH = {"ADM": "Amazon Device Messaging", "BAIDU": "Baidu Cloud Push"}
_NOT_PUSH = frozenset({"EMAIL", "SMS", "VOICE", "IN_APP", "CUSTOM"})
# Demographic → the registry's shared device_info keys. Make, ModelVersion and Timezone have no key
# there and no use to a sender: they are left out.
PINPOINT_DEMOGRAPHIC = {
    "AppVersion": "app_version",
    "Platform": "os",
    "PlatformVersion": "os_version",
    "Model": "model",
    "Locale": "language",
}
_ENDPOINT = validator_of(
    object_of(
        "ignore",
        Address=field(PUSH_TOKEN),
        Demographic=optional(object_of("ignore", **{name: optional(LABEL) for name in PINPOINT_DEMOGRAPHIC})),
    )
)


def _pinpoint_screen(row: Mapping[str, Any]) -> None:
    """Skips endpoints that are not push, opted out, inactive or nobody's; rejects unserved channels."""
    channel = _upper(row, "ChannelType")
    if channel is None:
        raise Rejected("ChannelType is required")
    if channel in _NOT_PUSH:
        raise Skipped("not_push")
    if channel in _UNSERVED_PUSH:
        raise Rejected(f"ChannelType {channel}: {_UNSERVED_PUSH[channel]} is a push channel not served here")
    if channel == "PUSH":
        raise Rejected("ChannelType PUSH names no push service (GCM or APNS...) to deliver through")
    if channel not in _PINPOINT_PROVIDERS:
        raise Rejected(f"ChannelType {json.dumps(channel)} is not one of Pinpoint's")
    # A person who opted out is never imported as reachable: any value but NONE is not taken as consent.
    opt_out = _upper(row, "OptOut")
    if opt_out == "ALL":
        raise Skipped("opted_out")
    if opt_out not in (None, "NONE"):
        raise Rejected("OptOut must be ALL or NONE")
    status = _upper(row, "EndpointStatus")
    if status == "INACTIVE":
        raise Inactive()
    if status not in (None, "ACTIVE"):
        raise Rejected("EndpointStatus must be ACTIVE or INACTIVE")
    user = row.get("User")
    if user is not None and not isinstance(user, dict):
        raise Rejected("User must be an object")
    owner = (user or {}).get("UserId")
    if owner is None or (isinstance(owner, str) and not owner.strip()):
        raise Skipped("anonymous")  # not guessed: an endpoint without a user is no one's device here


def _pinpoint(row: Mapping[str, Any]) -> tuple[NewDevice, str | None, datetime | None, datetime]:
    """A Pinpoint endpoint definition (export job or get-user-endpoints): the channel type is kept."""
    body = {key: row[key] for key in ("Address", "Demographic") if row.get(key) is not None}
    endpoint = parse(_ENDPOINT, body)
    channel_type = ChannelType(str(_upper(row, "ChannelType")))
    provider = _PINPOINT_PROVIDERS[channel_type]
    demographic = endpoint.get("Demographic") or {}
    info = {key: demographic[name] for name, key in PINPOINT_DEMOGRAPHIC.items() if demographic.get(name)}
    ios = provider is Provider.APNS or info.get("os", "").strip().lower() in ("ios", "ipados")
    device = NewDevice(
        token=endpoint["Address"],
        platform=Platform.IOS if ios else Platform.ANDROID,
        device_info=info,
        provider=provider,
        channel_type=channel_type,
    )
    kept_id = row.get("Id")
    kept_id = kept_id if isinstance(kept_id, str) and is_keepable_id(kept_id) else None
    return device, kept_id, _moment(row, "CreationDate"), _last_use(row, "EffectiveDate", "CreationDate")


def _endpoints_response(document: Any) -> list[Any] | None:
    """The endpoints of `aws pinpoint get-user-endpoints` output; None for anything else."""
    response = document.get("EndpointsResponse") if isinstance(document, dict) else None
    endpoints = response.get("Item") if isinstance(response, dict) else None
    return endpoints if isinstance(endpoints, list) else None


SOURCES = {
    accounts.SOURCE: Source(accounts.SOURCE, "account_id", _accounts),
    camera.SOURCE: Source(camera.SOURCE, "userId", _camera),
    user_push_tokens.SOURCE: Source(user_push_tokens.SOURCE, "user_id", _user_push_tokens),
    pigeons.SOURCE: Source(pigeons.SOURCE, "user_id", _pigeons),
    PINPOINT: Source(
        PINPOINT, "User.UserId", _pinpoint, screen=_pinpoint_screen, records_in=_endpoints_response
    ),
}


# ---------------------------------------------------------------------- field readers


def _text(row: Mapping[str, Any], name: str) -> str | None:
    """A string field; `name` may be a dotted path into nested objects."""
    value: Any = row
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected(f"{name} must be a string")
    return value


def _upper(row: Mapping[str, Any], name: str) -> str | None:
    """A string field of a fixed vocabulary, in upper case."""
    value = _text(row, name)
    return None if value is None else value.strip().upper()


def _id(row: Mapping[str, Any], name: str) -> str | None:
    """A string id, or MongoDB Extended JSON's `{"$oid": "..."}`."""
    value = row.get(name)
    if isinstance(value, dict) and isinstance(value.get("$oid"), str):
        return str(value["$oid"])
    if value is None or isinstance(value, str):
        return value or None
    raise Rejected(f"{name} must be a string or {{'$oid': ...}}")


def _last_use(row: Mapping[str, Any], *names: str) -> datetime:
    for name in names:
        moment = _moment(row, name)
        if moment is not None:
            return moment
    raise Rejected(f"{' or '.join(names)} is required (the token's last use decides expiry and conflicts)")


def _moment(row: Mapping[str, Any], name: str) -> datetime | None:
    """ISO 8601 (a `Z` or an offset; none means UTC), epoch seconds or milliseconds, or `{"$date": ...}`."""
    value = row.get(name)
    if isinstance(value, dict) and "$date" in value:
        value = value["$date"]
        if isinstance(value, dict) and "$numberLong" in value:
            value = _number_long(name, value["$numberLong"])
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            # Java and JavaScript exports count milliseconds; anything past 1e11 s is year 5138.
            seconds = value / 1000 if abs(value) >= 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    raise Rejected(f"{name} is not a date (ISO 8601, epoch seconds or milliseconds)")


def _number_long(name: str, value: Any) -> int:
    """Extended JSON's 64-bit integer: a decimal string (canonical mode), or a plain JSON integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # Not int() alone: it also takes " 17", "1_7" and other scripts' digits, and raises ValueError
    # (which the importer would have to tell from a line that is not JSON) for the rest.
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    raise Rejected(f"{name}: $date.$numberLong {json.dumps(value)} is not a 64-bit integer")
