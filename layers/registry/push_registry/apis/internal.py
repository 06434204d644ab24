"""The sender-side routes (IAM-authorised): live tokens of a user or a phone, who holds a token, and
provider feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from push_registry.bounds import MAX_USER_ID_BYTES, key_id
from push_registry.catalog import DeviceInfo
from push_registry.errors import InvalidRequest
from push_registry.http import Request
from push_registry.invalidation import Invalidation
from push_registry.presignup import PreSignupRecord
from push_registry.privacy import Subject
from push_registry.registration import Registration, channel_type_of, iso
from push_registry.registry import DevicePage

# The functions below that validate a body import its validator when called: pydantic-core costs ~20 ms
# of cold start, which the routes without a body (user tokens, export, erase) never pay.


def lookup_phone(body: dict[str, Any]) -> str:
    """The phone of a lookup, as sent (apis.presignup.e164 normalises it; only that function loads
    phonenumbers, so the other internal functions skip its cold-start cost)."""
    from push_registry.apis.internal_bodies import LOOKUP  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    return str(parse(LOOKUP, body)["phone"])


def subject_phone(body: dict[str, Any]) -> str:
    """The phone of a privacy request (erase, export), as sent: the body is a lookup's, `{"phone"}`."""
    from push_registry.apis.internal_bodies import LOOKUP  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    return str(parse(LOOKUP, body)["phone"])


def user_id_of(request: Request) -> str:
    """The path's `userId`: 1 to 1024 bytes of UTF-8 (a partition key holds at most 2048)."""
    return key_id(request.path_parameters.get("userId", ""), "userId", MAX_USER_ID_BYTES)


def erasure_of(body: dict[str, Any]) -> tuple[Subject, str]:
    """The subject of an erasure message, `{"erase_user": id}` or `{"erase_phone": phone as sent}`."""
    from push_registry.apis.internal_bodies import ERASURE  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    message = parse(ERASURE, body)
    user, phone = message.get("erase_user"), message.get("erase_phone")
    if (user is None) == (phone is None):
        raise InvalidRequest.single("erase_user", "required", "or erase_phone is required, not both")
    if user is not None:
        # Bounded in bytes, as the routes' userId: the schema's bound counts characters.
        return Subject.USER, key_id(str(user), "erase_user", MAX_USER_ID_BYTES)
    return Subject.PHONE, str(phone)


def erased_body(counts: dict[str, int]) -> dict[str, Any]:
    return {"erased": counts}


def holder_token(body: dict[str, Any]) -> str:
    from push_registry.apis.internal_bodies import HOLDER  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    return str(parse(HOLDER, body)["token"])


def invalidations_of(body: dict[str, Any]) -> list[Invalidation]:
    from push_registry.apis.internal_bodies import INVALIDATIONS  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    items = parse(INVALIDATIONS, body)["invalidations"]
    return [Invalidation(item["token"], item["reason"], item.get("status_message")) for item in items]


def _token(registration: Registration) -> dict[str, Any]:
    info = registration.device_info
    return {
        "id": registration.id,
        "token": registration.token,
        "provider": registration.provider.value,
        "channel_type": channel_type_of(registration),
        "platform": registration.platform,
        "app_version": info.get(DeviceInfo.APP_VERSION),
        "language": info.get(DeviceInfo.LANGUAGE),
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
