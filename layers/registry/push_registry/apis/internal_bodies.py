"""The internal routes' request bodies and erasure messages, imported only by the functions that take one."""

from __future__ import annotations

from push_registry.bounds import MAX_USER_ID_BYTES
from push_registry.invalidation import (
    DELIVERY_STATUSES,
    MAX_INVALIDATIONS,
    REASONS,
    STATUS_MESSAGE_MAX_LENGTH,
)
from push_registry.validation import PUSH_TOKEN, field, items, object_of, one_of, optional, text, validator_of

_PHONE = text(min_length=1, max_length=64)

LOOKUP = validator_of(object_of("forbid", phone=field(_PHONE)))

HOLDER = validator_of(object_of("forbid", token=field(PUSH_TOKEN)))

INVALIDATIONS = validator_of(
    object_of(
        "forbid",
        invalidations=field(
            items(
                object_of(
                    "forbid",
                    token=field(PUSH_TOKEN),
                    reason=field(one_of(*REASONS, *DELIVERY_STATUSES)),
                    status_message=optional(text(max_length=STATUS_MESSAGE_MAX_LENGTH)),
                ),
                min_length=1,
                max_length=MAX_INVALIDATIONS,
            )
        ),
    )
)

# A message of the erasure queue: exactly one of the two subjects (checked by internal.erasure_of).
ERASURE = validator_of(
    object_of(
        "forbid",
        erase_user=optional(text(min_length=1, max_length=MAX_USER_ID_BYTES)),
        erase_phone=optional(_PHONE),
    )
)
