"""The user-push-tokens API (seed 002): `POST /v1/user-push-tokens/register`, an upsert by push token."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from push_registry.observability import identify_token
from push_registry.registration import Registration, iso
from push_registry.registry import NewDevice
from push_registry.validation import Label, PushToken, parse

SOURCE = "user-push-tokens"

# The seed's field → the registry's device_info key (shared with the other APIs).
_FIELDS = {"device_os": "os", "app_ver": "app_version", "module": "module"}


class RegisterBody(BaseModel):
    # NestJS's whitelisting ValidationPipe: unknown fields are dropped, never stored.
    model_config = ConfigDict(extra="ignore", strict=True)

    push_token: PushToken
    device_os: Label | None = None
    app_ver: Label | None = None
    module: Label | None = None


def registration_request(body: dict[str, Any]) -> NewDevice:
    """Omitted or null fields are left out, so an update keeps their stored values."""
    parsed = parse(RegisterBody, body)
    identify_token(parsed.push_token)
    info = {
        key: getattr(parsed, field) for field, key in _FIELDS.items() if getattr(parsed, field) is not None
    }
    return NewDevice(token=parsed.push_token, platform=None, device_info=info)


def registration_body(registration: Registration) -> dict[str, Any]:
    info = registration.device_info
    return {
        "id": registration.id,
        "userid": registration.owner,
        "device_os": info.get("os"),
        "push_token": registration.token,
        "registered_date": iso(registration.created_at),
        "app_ver": info.get("app_version"),
        "module": info.get("module"),
    }
