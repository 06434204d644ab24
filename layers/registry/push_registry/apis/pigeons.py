"""The chat backoffice's API (seed 001): `POST /api/v1/pigeons/chat/devices` and its delete."""

from __future__ import annotations

from typing import Any

from push_registry.auth import Authenticator
from push_registry.catalog import PIGEONS
from push_registry.dialects.laravel import translator
from push_registry.errors import Forbidden, Unauthenticated
from push_registry.http import Request
from push_registry.observability import identify_token
from push_registry.platform_keys import PlatformKeys
from push_registry.rate_limit import USER_SCOPE, RateLimiter
from push_registry.registration import Registration
from push_registry.registry import NewDevice

SOURCE = PIGEONS.name
ABILITIES = frozenset({"backoffice", "*"})


def caller_of(
    request: Request, authenticator: Authenticator, keys: PlatformKeys, limiter: RateLimiter
) -> tuple[str, str]:
    """(user, platform tenant): a JWT with the backoffice ability, a known X-PUBLIC-KEY, within the rate."""
    principal = authenticator.authenticate(request.headers)
    if principal.subject is None:
        raise Unauthenticated("invalid")
    tenant = keys.tenant_of(request.headers.get("x-public-key"))
    abilities = principal.claims.get("abilities")
    if not isinstance(abilities, list) or not ABILITIES.intersection(
        a for a in abilities if isinstance(a, str)
    ):
        raise Forbidden()
    limiter.check(USER_SCOPE, principal.subject)
    return principal.subject, tenant


def device_request(body: dict[str, Any] | None, tenant: str) -> NewDevice:
    """A missing body is validated like an empty one (every required field reported), as Laravel does."""
    # Imported here: only the register route loads pydantic-core (~20 ms of cold start); delete never does.
    from push_registry.apis.pigeons_bodies import REGISTER  # noqa: PLC0415
    from push_registry.validation import parse  # noqa: PLC0415

    parsed = parse(REGISTER, body or {})
    identify_token(parsed["token"])
    details = {name: value for name, value in (parsed.get("device") or {}).items() if value is not None}
    return NewDevice(token=parsed["token"], platform=parsed["platform"], device_info=details, tenant=tenant)


def registered_body(registration: Registration, request: Request) -> dict[str, Any]:
    return {
        "message": translator(request)("Device token registered"),
        "data": {"id": registration.id, "token": registration.token, "platform": registration.platform},
    }
