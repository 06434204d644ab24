"""The accounts API's request bodies, imported only by the routes that take a body."""

from __future__ import annotations

from push_registry.catalog import ACCOUNTS
from push_registry.validation import (
    LABEL,
    PUSH_TOKEN,
    field,
    mapping,
    object_of,
    one_of,
    optional,
    validator_of,
)

DEVICE_INFO_KEYS = tuple(key.value for key in ACCOUNTS.device_info)
_DEVICE_INFO = mapping(one_of(*DEVICE_INFO_KEYS), LABEL)

NEW_DEVICE = validator_of(
    object_of(
        "forbid",
        device_token=field(PUSH_TOKEN),
        platform=field(one_of("android", "ios")),
        device_info=optional(_DEVICE_INFO, nullable=False, default=dict),
    )
)

# Explicit nulls are refused before validation (accounts.device_change); absent fields stay absent.
DEVICE_CHANGE = validator_of(
    object_of(
        "forbid",
        device_token=optional(PUSH_TOKEN),
        device_info=optional(_DEVICE_INFO),
    )
)
