"""The chat backoffice's request body (pydantic models), imported only by the route that takes it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from push_registry.validation import Label, PushToken


class _Laravel(BaseModel):
    # Laravel's validated() keeps only the declared fields: the rest is dropped, never stored.
    model_config = ConfigDict(extra="ignore", strict=True)


class DeviceDetails(_Laravel):
    type: Label | None = None
    os: Label | None = None
    os_version: Label | None = None
    app_version: Label | None = None
    model: Label | None = None
    browser: Label | None = None
    browser_version: Label | None = None


class RegisterBody(_Laravel):
    token: PushToken
    platform: Literal["android", "ios", "web"]
    device: DeviceDetails | None = None
