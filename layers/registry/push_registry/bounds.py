"""Bounds on ids that become part of DynamoDB keys: DynamoDB counts a key in UTF-8 bytes, not characters."""

from __future__ import annotations

from push_registry.errors import InvalidRequest

# A user's keys (OWNER#…) must stay within DynamoDB's 2,048 bytes of a partition key.
MAX_USER_ID_BYTES = 1024


def utf8_size(text: str) -> int | None:
    """The string's size in UTF-8 bytes; None when it has no UTF-8 form (a lone surrogate, which JSON's
    `\\ud800` escapes can carry)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def key_id(value: str, field: str, max_bytes: int) -> str:
    """`value` when it is 1 to `max_bytes` bytes of UTF-8; otherwise InvalidRequest naming `field`."""
    size = utf8_size(value)
    if size is None or not 0 < size <= max_bytes:
        raise InvalidRequest.single(field, "invalid_format", f"must be 1 to {max_bytes} bytes")
    return value
