"""The pre-signup API (seed 003): `POST /api/public/fcm-token`, unauthenticated, keyed by phone and token."""

from __future__ import annotations

import json
from typing import Any

import phonenumbers

from push_registry.bounds import key_id, utf8_size
from push_registry.errors import InvalidRequest
from push_registry.http import Request
from push_registry.observability import identify_token
from push_registry.presignup import PreSignupPost
from push_registry.validation import (
    PUSH_TOKEN,
    any_object,
    field,
    object_of,
    one_of,
    optional,
    parse,
    text,
    validator_of,
)

META_MAX_BYTES = 2048
# The device's key holds its id in a sort key (DEVICE#…, at most 1,024 bytes): 256 characters of up to 4
# bytes each would not fit.
DEVICE_ID_MAX_BYTES = 1000
META_MAX_DEPTH = 3
USER_AGENT_MAX = 512

# Unknown fields are ignored, never stored.
REGISTER = validator_of(
    object_of(
        "ignore",
        phone=field(text(min_length=1, max_length=64)),
        fcmToken=field(PUSH_TOKEN),  # the seed's field names
        deviceType=optional(one_of("android", "ios", "web")),
        deviceId=optional(text(min_length=1, max_length=256)),
        meta=optional(any_object()),
    )
)


def e164(raw: str, region: str) -> str:
    """The phone number in E.164; local formats are read in the configured region."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidRequest.single("phone", "invalid_format", "is not a valid phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidRequest.single("phone", "invalid_format", "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _nested_deeper_than(levels: int, value: dict[str, Any] | list[Any]) -> bool:
    """Whether objects and arrays nest more than `levels` deep, `value` itself being the first level.

    Counted with an explicit stack, stopping at the first level too many: json.loads reads about
    10,000 levels (a 16 KiB body holds 8,000), far past what a recursive walk survives."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > levels:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _meta(meta: dict[str, Any] | None) -> str | None:
    if meta is None:
        return None
    if _nested_deeper_than(META_MAX_DEPTH, meta):
        raise InvalidRequest.single(
            "meta", "invalid_format", f"must be nested at most {META_MAX_DEPTH} levels deep"
        )
    serialised = json.dumps(meta, separators=(",", ":"), ensure_ascii=False)
    size = utf8_size(serialised)
    if size is None:
        raise InvalidRequest.single("meta", "invalid_format", "must hold Unicode text only")
    if size > META_MAX_BYTES:
        raise InvalidRequest.single("meta", "too_long", f"must be at most {META_MAX_BYTES} bytes as JSON")
    return serialised


def post_of(body: dict[str, Any], request: Request, region: str) -> PreSignupPost:
    if isinstance(body.get("deviceType"), str):
        body = {**body, "deviceType": body["deviceType"].strip().lower()}
    parsed = parse(REGISTER, body)
    identify_token(parsed["fcmToken"])
    device_id = parsed.get("deviceId")
    user_agent = request.headers.get("user-agent")
    return PreSignupPost(
        phone=e164(parsed["phone"], region),
        token=parsed["fcmToken"],
        device_id=None if device_id is None else key_id(device_id, "deviceId", DEVICE_ID_MAX_BYTES),
        device_type=parsed.get("deviceType"),
        meta=_meta(parsed.get("meta")),
        # The TCP peer as API Gateway saw it, never a client-supplied header such as X-Forwarded-For.
        source_ip=request.source_ip,
        user_agent=user_agent[:USER_AGENT_MAX] if user_agent else None,
    )
