"""The user-push-tokens API (seed 002): `POST /v1/user-push-tokens/register`, an upsert by push token."""

from __future__ import annotations

from typing import Any

from push_registry.catalog import USER_PUSH_TOKENS, DeviceInfo
from push_registry.observability import identify_token
from push_registry.registration import Registration, iso
from push_registry.registry import NewDevice
from push_registry.validation import LABEL, PUSH_TOKEN, field, object_of, optional, parse, validator_of

SOURCE = USER_PUSH_TOKENS.name

# The seed's field → the registry's device_info key (shared with the other APIs).
_FIELDS: dict[str, str] = {
    "device_os": DeviceInfo.OS,
    "app_ver": DeviceInfo.APP_VERSION,
    "module": DeviceInfo.MODULE,
}


# NestJS's whitelisting ValidationPipe: unknown fields are dropped, never stored.
REGISTER = validator_of(
    object_of("ignore", push_token=field(PUSH_TOKEN), **{name: optional(LABEL) for name in _FIELDS})
)


def registration_request(body: dict[str, Any]) -> NewDevice:
    """Omitted or null fields are left out, so an update keeps their stored values."""
    parsed = parse(REGISTER, body)
    identify_token(parsed["push_token"])
    info = {key: parsed[name] for name, key in _FIELDS.items() if parsed.get(name) is not None}
    return NewDevice(token=parsed["push_token"], platform=None, device_info=info)


def registration_body(registration: Registration) -> dict[str, Any]:
    info = registration.device_info
    return {
        "id": registration.id,
        "userid": registration.owner,
        "device_os": info.get(DeviceInfo.OS),
        "push_token": registration.token,
        "registered_date": iso(registration.created_at),
        "app_ver": info.get(DeviceInfo.APP_VERSION),
        "module": info.get(DeviceInfo.MODULE),
    }
