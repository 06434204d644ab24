"""The accounts API's request bodies (pydantic models), imported only by the routes that take a body."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from push_registry.validation import Label, PushToken

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
