"""The sender-side routes (IAM-authorised): live tokens of a user or a phone, and provider feedback."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from push_registry.invalidation import Invalidation
from push_registry.presignup import PreSignupRecord
from push_registry.registration import Registration, iso
from push_registry.registry import DevicePage
from push_registry.validation import PushToken, parse

# Items per request and per SQS message. Sized to the time budget: after one batched read of every
# token's guards, an item found in both namespaces takes 3 reads and 2 transactions, 36 ms at 4 ms a
# read and 12 ms a transaction, so a full batch of 50 takes under 2 s of the ~7 s a request has for
# calls (15 s timeout less one call's 7.5 s worst case and 0.5 s to answer), a margin over 3x
# (tests/api/test_sender_side.py measures it). The SQS consumer takes one message per invocation
# (BatchSize 1 in template.yaml) for the same margin.
MAX_INVALIDATIONS = 50
# The keys of invalidation.REASONS (a test keeps the two in step).
Reason = Literal[
    "UNREGISTERED", "INVALID_ARGUMENT", "Unregistered", "410 Unregistered", "BadDeviceToken", "404", "410"
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LookupBody(_Body):
    phone: Annotated[str, Field(min_length=1, max_length=64)]


class InvalidationItem(_Body):
    token: PushToken
    reason: Reason


class InvalidationsBody(_Body):
    invalidations: Annotated[list[InvalidationItem], Field(min_length=1, max_length=MAX_INVALIDATIONS)]


def lookup_phone(body: dict[str, Any]) -> str:
    """The phone of a lookup, as sent (apis.presignup.e164 normalises it; only that function loads
    phonenumbers, so the other internal functions skip its cold-start cost)."""
    return parse(LookupBody, body).phone


def invalidations_of(body: dict[str, Any]) -> list[Invalidation]:
    return [Invalidation(item.token, item.reason) for item in parse(InvalidationsBody, body).invalidations]


def _token(registration: Registration) -> dict[str, Any]:
    info = registration.device_info
    return {
        "id": registration.id,
        "token": registration.token,
        "provider": registration.provider.value,
        "platform": registration.platform,
        "app_version": info.get("app_version"),
        "language": info.get("language"),
        "source": registration.source,
        "last_used_at": iso(registration.last_used_at),
    }


def user_tokens_body(page: DevicePage) -> dict[str, Any]:
    return {"tokens": [_token(r) for r in page.devices], "next_cursor": page.next_cursor}


def presignup_tokens_body(records: list[PreSignupRecord]) -> dict[str, Any]:
    return {
        "tokens": [
            {
                "id": r.id,
                "token": r.token,
                "provider": "fcm",
                "device_type": r.device_type,
                "device_id": r.device_id,
                "last_posted_at": iso(r.updated_at),
            }
            for r in records
        ]
    }
