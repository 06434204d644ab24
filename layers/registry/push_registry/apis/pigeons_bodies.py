"""The chat backoffice's request body, imported only by the route that takes it."""

from __future__ import annotations

from push_registry.validation import LABEL, PUSH_TOKEN, field, object_of, one_of, optional, validator_of

# Laravel's validated() keeps only the declared fields: the rest is dropped, never stored.
_DEVICE_DETAILS = object_of(
    "ignore",
    **{
        name: optional(LABEL)
        for name in ("type", "os", "os_version", "app_version", "model", "browser", "browser_version")
    },
)

REGISTER = validator_of(
    object_of(
        "ignore",
        token=field(PUSH_TOKEN),
        platform=field(one_of("android", "ios", "web")),
        device=optional(_DEVICE_DETAILS),
    )
)
