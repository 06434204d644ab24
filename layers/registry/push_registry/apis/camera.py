"""The camera app's API (seed 000): `POST /user/setusertoken` with a TokenEntry body."""

from __future__ import annotations

from typing import Any

from push_registry.catalog import CAMERA, DeviceInfo
from push_registry.observability import identify_token
from push_registry.registration import Platform, Provider
from push_registry.registry import NewDevice
from push_registry.validation import (
    LABEL,
    PUSH_TOKEN,
    field,
    object_of,
    one_of,
    optional,
    parse,
    validator_of,
)

SOURCE = CAMERA.name

_PROVIDERS = {"FCM": Provider.FCM, "APNS": Provider.APNS}


# The app sends whole BaseEntry objects; fields this API does not know are ignored, never stored.
TOKEN_ENTRY = validator_of(
    object_of(
        "ignore",
        msgType=field(one_of(*_PROVIDERS)),
        msgToken=field(PUSH_TOKEN),
        app=optional(object_of("ignore", type=optional(LABEL), version=optional(LABEL))),
        countryNo=optional(LABEL),
        language=optional(LABEL),
        tenantId=optional(LABEL),
    )
)


def token_entry(body: dict[str, Any]) -> NewDevice:
    """The registration a TokenEntry asks for; `msgType` is matched case-insensitively."""
    if isinstance(body.get("msgType"), str):
        body = {**body, "msgType": body["msgType"].strip().upper()}
    entry = parse(TOKEN_ENTRY, body)
    identify_token(entry["msgToken"])
    app = entry.get("app") or {}
    info = {
        DeviceInfo.APP_TYPE: app.get("type"),
        DeviceInfo.APP_VERSION: app.get("version"),
        DeviceInfo.COUNTRY: entry.get("countryNo"),
        DeviceInfo.LANGUAGE: entry.get("language"),
    }
    platform = (app.get("type") or "").lower()
    if platform not in (Platform.ANDROID, Platform.IOS):
        platform = Platform.IOS if entry["msgType"] == "APNS" else Platform.ANDROID
    return NewDevice(
        token=entry["msgToken"],
        platform=platform,
        provider=_PROVIDERS[entry["msgType"]],
        device_info={key: value for key, value in info.items() if value is not None},
        tenant=entry.get("tenantId"),
    )
