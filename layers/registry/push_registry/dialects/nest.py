"""The user-push-tokens dialect (seed 002): NestJS exception bodies `{"statusCode", "message", "error"}`."""

from __future__ import annotations

from push_registry.errors import (
    InvalidRequest,
    MalformedBody,
    MissingBody,
    PayloadTooLarge,
    RateLimited,
    RegistryError,
    Unauthenticated,
    Unavailable,
)
from push_registry.http import Request, Response


def _exception(status: int, message: str, error: str, **headers: str) -> Response:
    return Response(status, {"statusCode": status, "message": message, "error": error}, headers)


class NestDialect:
    def render(self, error: RegistryError, request: Request | None = None) -> Response:
        match error:
            case InvalidRequest() | MissingBody() | MalformedBody():
                return _exception(400, "Validation failed", "Bad Request")
            case Unauthenticated(reason="no_subject"):
                return _exception(400, "User not authenticated", "Bad Request")
            case Unauthenticated():
                return _exception(401, "Unauthorized", "Unauthorized")
            case PayloadTooLarge():
                return _exception(413, "Payload Too Large", "Payload Too Large")
            case RateLimited(retry_after=seconds):
                return _exception(
                    429,
                    "ThrottlerException: Too Many Requests",
                    "Too Many Requests",
                    **{"Retry-After": str(seconds)},
                )
            case Unavailable(retry_after=seconds):
                return _exception(
                    503, "Service Unavailable", "Service Unavailable", **{"Retry-After": str(seconds)}
                )
        return self.internal_error()

    def internal_error(self, request: Request | None = None) -> Response:
        return Response(500, {"statusCode": 500, "message": "Internal server error"})


dialect = NestDialect()
