"""The pre-signup API's dialect (seed 003): `{"error": <code>, "message": <text>}`."""

from __future__ import annotations

from push_registry.errors import (
    InvalidRequest,
    MalformedBody,
    MissingBody,
    PayloadTooLarge,
    RateLimited,
    RegistryError,
    Unavailable,
    describe,
)
from push_registry.http import Request, Response


def _error(status: int, code: str, message: str, **headers: str) -> Response:
    return Response(status, {"error": code, "message": message}, headers)


class PublicDialect:
    def render(self, error: RegistryError, request: Request | None = None) -> Response:
        match error:
            case InvalidRequest():
                return _error(400, "invalid_request", describe(error.first))
            case MissingBody():
                return _error(400, "invalid_request", "request body is required")
            case MalformedBody():
                return _error(400, "invalid_request", "request body must be a JSON object")
            case PayloadTooLarge():
                return _error(413, "payload_too_large", "request body is too large")
            case RateLimited(retry_after=seconds):
                return _error(
                    429, "rate_limited", "too many requests, retry later", **{"Retry-After": str(seconds)}
                )
            case Unavailable(retry_after=seconds):
                return _error(
                    503,
                    "unavailable",
                    "temporarily unavailable, retry later",
                    **{"Retry-After": str(seconds)},
                )
        return self.internal_error()

    def internal_error(self, request: Request | None = None) -> Response:
        return _error(500, "internal_error", "internal server error")


dialect = PublicDialect()
