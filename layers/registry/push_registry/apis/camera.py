"""The camera app's API (seed 000): `POST /user/setusertoken` with a TokenEntry body."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from push_registry.observability import identify_token
from push_registry.registration import Platform, Provider
from push_registry.registry import NewDevice
from push_registry.validation import Label, PushToken, parse

SOURCE = "camera"

_PROVIDERS = {"FCM": Provider.FCM, "APNS": Provider.APNS}


class _Entry(BaseModel):
    # The app sends whole BaseEntry objects; fields this API does not know are ignored, never stored.
    model_config = ConfigDict(extra="ignore", strict=True)


class AppBean(_Entry):
    type: Label | None = None
    version: Label | None = None


class TokenEntry(_Entry):
    msgType: Literal["FCM", "APNS"]
    msgToken: PushToken
    app: AppBean | None = None
    countryNo: Label | None = None
    language: Label | None = None
    tenantId: Label | None = None


def token_entry(body: dict[str, Any]) -> NewDevice:
    """The registration a TokenEntry asks for; `msgType` is matched case-insensitively."""
    if isinstance(body.get("msgType"), str):
        body = {**body, "msgType": body["msgType"].strip().upper()}
    entry = parse(TokenEntry, body)
    identify_token(entry.msgToken)
    app = entry.app or AppBean()
    info = {
        "app_type": app.type,
        "app_version": app.version,
        "country": entry.countryNo,
        "language": entry.language,
    }
    platform = (app.type or "").lower()
    if platform not in (Platform.ANDROID, Platform.IOS):
        platform = Platform.IOS if entry.msgType == "APNS" else Platform.ANDROID
    return NewDevice(
        token=entry.msgToken,
        platform=platform,
        provider=_PROVIDERS[entry.msgType],
        device_info={key: value for key, value in info.items() if value is not None},
        tenant=entry.tenantId,
    )
