"""The internal (sender-side) routes' dialect: `{"message": ...}`, for backends signed with SigV4."""

from __future__ import annotations

from push_registry.errors import (
    IncompleteBatch,
    InvalidRequest,
    MalformedBody,
    MissingBody,
    PayloadTooLarge,
    RegistryError,
    Unavailable,
    describe,
)
from push_registry.http import Request, Response


def _message(status: int, message: str, **headers: str) -> Response:
    return Response(status, {"message": message}, headers)


class InternalDialect:
    def render(self, error: RegistryError, request: Request | None = None) -> Response:
        match error:
            case InvalidRequest():
                return _message(400, describe(error.first))
            case MissingBody() | MalformedBody():
                return _message(400, "request body must be a JSON object")
            case PayloadTooLarge():
                return _message(413, "request body is too large")
            case IncompleteBatch(retry_after=seconds, results=results):
                # Still a 503 (retry later), and which items were done: never a success for those not.
                body = {
                    "message": "temporarily unavailable, retry later",
                    "results": [{"token": token, "status": status} for token, status in results],
                }
                return Response(503, body, {"Retry-After": str(seconds)})
            case Unavailable(retry_after=seconds):
                return _message(503, "temporarily unavailable, retry later", **{"Retry-After": str(seconds)})
        return self.internal_error()

    def internal_error(self, request: Request | None = None) -> Response:
        return _message(500, "internal server error")


dialect = InternalDialect()
