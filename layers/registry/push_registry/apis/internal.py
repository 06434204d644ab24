"""The sender-side routes (IAM-authorised): live tokens of a user or a phone, who holds a token, and
provider feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from push_registry.invalidation import Invalidation
from push_registry.presignup import PreSignupRecord
from push_registry.registration import Registration, iso
from push_registry.registry import DevicePage
from push_registry.validation import PushToken, parse

MAX_INVALIDATIONS = 500
# The keys of invalidation.REASONS (a test keeps the two in step).
Reason = Literal[
    "UNREGISTERED", "INVALID_ARGUMENT", "Unregistered", "410 Unregistered", "BadDeviceToken", "404", "410"
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LookupBody(_Body):
    phone: Annotated[str, Field(min_length=1, max_length=64)]


class HolderBody(_Body):
    token: PushToken


class InvalidationItem(_Body):
    token: PushToken
    reason: Reason


class InvalidationsBody(_Body):
    invalidations: Annotated[list[InvalidationItem], Field(min_length=1, max_length=MAX_INVALIDATIONS)]


def lookup_phone(body: dict[str, Any]) -> str:
    """The phone of a lookup, as sent (apis.presignup.e164 normalises it; only that function loads
    phonenumbers, so the other internal functions skip its cold-start cost)."""
    return parse(LookupBody, body).phone


def holder_token(body: dict[str, Any]) -> str:
    return parse(HolderBody, body).token


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


def holder_body(registration: Registration | None) -> dict[str, Any]:
    """`{"holder": null}` when the token is free: "nobody" is an answer, not an error."""
    if registration is None:
        return {"holder": None}
    return {
        "holder": {
            "user_id": registration.owner,
            "id": registration.id,
            "source": registration.source,
            "provider": registration.provider.value,
            "platform": registration.platform,
            "tenant": registration.tenant,
            "created_at": iso(registration.created_at),
            "last_used_at": iso(registration.last_used_at),
            "expires_at": iso(datetime.fromtimestamp(registration.expires_at, UTC)),
        }
    }
