"""The accounts API (seed 004): `/api/accounts/{accountId}/devices` requests and success bodies."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from push_registry.catalog import ACCOUNTS, DeviceInfo
from push_registry.errors import Forbidden, InvalidRequest
from push_registry.http import Request
from push_registry.observability import identify_token
from push_registry.registration import Platform, Registration, iso
from push_registry.registry import DeviceChange, DevicePage, NewDevice

if TYPE_CHECKING:  # the internal user-tokens function shares page_limit and never loads pyjwt
    from push_registry.auth import Authenticator

SOURCE = ACCOUNTS.name

# What other APIs store, in the accounts API's words (seed 004 knows only android/ios and three
# device_info keys; a mobile client decoding `platform` as an enum must never see anything else).
# device_info: seed 004's key → the shared keys (catalog.DeviceInfo) it is read from, first match wins.
_SEED_004_INFO: dict[str, tuple[DeviceInfo, ...]] = {
    DeviceInfo.APP_VERSION: (DeviceInfo.APP_VERSION,),
    DeviceInfo.OS_VERSION: (DeviceInfo.OS_VERSION,),
    DeviceInfo.DEVICE_MODEL: (DeviceInfo.DEVICE_MODEL, DeviceInfo.MODEL),
}
# The operating system other APIs record in device_info["os"] (DeviceInfo.OS), for registrations stored
# without a platform.
_OS_PLATFORMS = {"android": Platform.ANDROID, "ios": Platform.IOS, "ipados": Platform.IOS}


def account_of(request: Request, authenticator: Authenticator) -> str:
    """The caller's account: the path's `accountId`, which must be the token's `sub`."""
    subject = authenticator.subject_of(request.headers)
    if request.path_parameters.get("accountId") != subject:
        raise Forbidden()
    return subject


def new_device(body: dict[str, Any]) -> NewDevice:
    # Imported here: only a request with a body loads pydantic-core (~20 ms of cold start); list,
    # deactivate and the PATCH heartbeat never do.
    from push_registry.apis.accounts_bodies import NEW_DEVICE  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    platform = body.get("platform")
    if isinstance(platform, str):
        # Clients send "Android" as often as "android"; the stored value is always lower-case, and a
        # blank platform is reported like a missing one, as the seed's error table does.
        body = {key: value for key, value in body.items() if key != "platform"}
        if platform.strip():
            body["platform"] = platform.strip().lower()
    parsed = parse(NEW_DEVICE, body)
    identify_token(parsed["device_token"])
    return NewDevice(
        token=parsed["device_token"], platform=parsed["platform"], device_info=dict(parsed["device_info"])
    )


def device_change(body: dict[str, Any] | None) -> DeviceChange:
    """An absent or empty body is the seed's heartbeat; explicit nulls are rejected like wrong types."""
    if not body:
        return DeviceChange()
    # Imported here, after the heartbeat's return: see new_device.
    from push_registry.apis.accounts_bodies import DEVICE_CHANGE  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    for name in ("device_token", "device_info"):
        if name in body and body[name] is None:
            raise InvalidRequest.single(name, "not_object" if name == "device_info" else "empty")
    parsed = parse(DEVICE_CHANGE, body)
    token, info = parsed.get("device_token"), parsed.get("device_info")
    if token is not None:
        identify_token(token)
    return DeviceChange(token=token, device_info=None if info is None else dict(info))


def page_limit(request: Request, default: int, maximum: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() is also true for "²" or "٣", which int() refuses or reads.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= maximum:
        raise InvalidRequest.single("limit", "invalid_format")
    return int(raw)


# Stored platforms this API shows as they are (`as_seen` changes nothing): a heartbeat on such a
# registration needs no read first.
SHOWN_AS_STORED = frozenset({Platform.ANDROID.value, Platform.IOS.value})


def platform_of(registration: Registration) -> str | None:
    """The registration's platform as seed 004 knows it (android/ios), or None if it has none.

    A stored platform decides (a chat backoffice `web` registration is a browser, whatever its OS);
    without one (user-push-tokens), the OS the other API recorded.
    """
    stored = (registration.platform or "").lower()
    if stored:
        return stored if stored in (Platform.ANDROID, Platform.IOS) else None
    os_name = registration.device_info.get(DeviceInfo.OS, "").strip().lower()
    return str(_OS_PLATFORMS[os_name]) if os_name in _OS_PLATFORMS else None


def describable(registration: Registration) -> bool:
    """Whether the accounts API can show the registration within seed 004's contract."""
    return platform_of(registration) is not None


def as_seen(registration: Registration) -> Registration | None:
    """The registration as this API shows it, platform included (a PATCH stores that platform, so a
    new device_info without the other API's `os` keeps it describable); None when it cannot be shown."""
    platform = platform_of(registration)
    return None if platform is None else replace(registration, platform=platform)


def device_info_of(registration: Registration) -> dict[str, str]:
    """Seed 004's three device_info keys, taken from the shared names every API stores."""
    info = registration.device_info
    described = {}
    for key, shared_names in _SEED_004_INFO.items():
        value = next((info[name] for name in shared_names if name in info), None)
        if value is not None:
            described[key] = value
    return described


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
    """A device as GET and PATCH show it: never the raw token; only what seed 004 can describe."""
    return {
        "id": registration.id,
        "platform": platform_of(registration),
        "device_info": device_info_of(registration),
        "active": registration.active,
        "created_at": iso(registration.created_at),
        "last_used_at": iso(registration.last_used_at),
    }


def page_body(page: DevicePage) -> dict[str, Any]:
    """A page of the account's registrations from every API, leaving out those seed 004 cannot describe.

    Filtered after paging (the registry pages every API's registrations alike), so a page can hold
    fewer than `limit` devices, even none, while `next_cursor` still leads on.
    """
    devices = [device_body(r) for r in page.devices if describable(r)]
    return {"devices": devices, "next_cursor": page.next_cursor}
