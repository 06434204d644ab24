"""The chat backoffice's request body, imported only by the route that takes it."""

from __future__ import annotations

from push_registry.catalog import PIGEONS
from push_registry.validation import LABEL, PUSH_TOKEN, field, object_of, one_of, optional, validator_of

# Laravel's validated() keeps only the declared fields: the rest is dropped, never stored. The seed's
# device fields are the registry's shared device_info keys, stored as they are.
_DEVICE_DETAILS = object_of("ignore", **{name.value: optional(LABEL) for name in PIGEONS.device_info})

REGISTER = validator_of(
    object_of(
        "ignore",
        token=field(PUSH_TOKEN),
        platform=field(one_of("android", "ios", "web")),
        device=optional(_DEVICE_DETAILS),
    )
)
