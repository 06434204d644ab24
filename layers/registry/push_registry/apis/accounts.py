"""The accounts API (seed 004): `/api/accounts/{accountId}/devices` request models and success bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from push_registry.errors import Forbidden, InvalidRequest
from push_registry.http import Request
from push_registry.observability import identify_token
from push_registry.registration import Registration, iso
from push_registry.registry import DeviceChange, DevicePage, NewDevice
from push_registry.validation import Label, PushToken, parse

if TYPE_CHECKING:  # the internal user-tokens function shares page_limit and never loads pyjwt
    from push_registry.auth import Authenticator

SOURCE = "accounts"

DeviceInfoKey = Literal["app_version", "os_version", "device_model"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewDeviceBody(_Body):
    device_token: PushToken
    platform: Literal["android", "ios"]
    device_info: dict[DeviceInfoKey, Label] = {}


class DeviceChangeBody(_Body):
    device_token: PushToken | None = None
    device_info: dict[DeviceInfoKey, Label] | None = None


def account_of(request: Request, authenticator: Authenticator) -> str:
    """The caller's account: the path's `accountId`, which must be the token's `sub`."""
    subject = authenticator.subject_of(request.headers)
    if request.path_parameters.get("accountId") != subject:
        raise Forbidden()
    return subject


def new_device(body: dict[str, Any]) -> NewDevice:
    platform = body.get("platform")
    if isinstance(platform, str):
        # Clients send "Android" as often as "android"; the stored value is always lower-case, and a
        # blank platform is reported like a missing one, as the seed's error table does.
        body = {key: value for key, value in body.items() if key != "platform"}
        if platform.strip():
            body["platform"] = platform.strip().lower()
    parsed = parse(NewDeviceBody, body)
    identify_token(parsed.device_token)
    return NewDevice(
        token=parsed.device_token, platform=parsed.platform, device_info=_plain(parsed.device_info)
    )


def device_change(body: dict[str, Any] | None) -> DeviceChange:
    """An absent or empty body is the seed's heartbeat; explicit nulls are rejected like wrong types."""
    if not body:
        return DeviceChange()
    for name in ("device_token", "device_info"):
        if name in body and body[name] is None:
            raise InvalidRequest.single(name, "not_object" if name == "device_info" else "empty")
    parsed = parse(DeviceChangeBody, body)
    if parsed.device_token is not None:
        identify_token(parsed.device_token)
    info = None if parsed.device_info is None else _plain(parsed.device_info)
    return DeviceChange(token=parsed.device_token, device_info=info)


def _plain(info: dict[DeviceInfoKey, str]) -> dict[str, str]:
    return {str(key): value for key, value in info.items()}


def page_limit(request: Request, default: int, maximum: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() is also true for "²" or "٣", which int() refuses or reads.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= maximum:
        raise InvalidRequest.single("limit", "invalid_format")
    return int(raw)


def created_body(registration: Registration) -> dict[str, Any]:
    return {
        "id": registration.id,
        "device_token": registration.token,
        "platform": registration.platform,
        "device_info": registration.device_info,
        "active": registration.active,
        "created_at": iso(registration.created_at),
    }


def device_body(registration: Registration) -> dict[str, Any]:
    """A device as GET and PATCH show it: never the raw token."""
    return {
        "id": registration.id,
        "platform": registration.platform,
        "device_info": registration.device_info,
        "active": registration.active,
        "created_at": iso(registration.created_at),
        "last_used_at": iso(registration.last_used_at),
    }


def page_body(page: DevicePage) -> dict[str, Any]:
    return {"devices": [device_body(r) for r in page.devices], "next_cursor": page.next_cursor}
