"""The accounts API's dialect (seed 004): `{"message", "code"}` with DEVICE_TOKEN_* / ACCESS_TOKEN_* codes."""

from __future__ import annotations

from push_registry.errors import (
    DeviceNotFound,
    FieldProblem,
    Forbidden,
    InvalidRequest,
    MalformedBody,
    MissingBody,
    PayloadTooLarge,
    RateLimited,
    RegistryError,
    TokenTaken,
    Unauthenticated,
    Unavailable,
    describe,
)
from push_registry.http import Request, Response

BAD_REQUEST = "DEVICE_TOKEN_ERR_03"
INVALID_PLATFORM = "DEVICE_TOKEN_ERR_02"


def _error(status: int, message: str, code: str, **extra: object) -> Response:
    return Response(status, {"message": message, "code": code, **extra})


def _invalid(problem: FieldProblem) -> Response:
    field, kind = problem.field, problem.problem
    if field == "platform" and kind in ("invalid_choice", "not_string"):
        return _error(400, "Invalid platform (must be 'android' or 'ios')", INVALID_PLATFORM)
    if kind in ("required", "empty") and field in ("device_token", "platform"):
        return _error(400, f"Missing or empty {field}", BAD_REQUEST)
    return _error(400, describe(problem), BAD_REQUEST)


class AccountsDialect:
    """Renders domain errors the way seed 004 specifies."""

    def render(self, error: RegistryError, request: Request | None = None) -> Response:
        match error:
            case InvalidRequest():
                return _invalid(error.first)
            case MissingBody():
                return _error(400, "Missing request body", BAD_REQUEST)
            case MalformedBody():
                return _error(400, "Request body must be a JSON object", BAD_REQUEST)
            case PayloadTooLarge():
                return _error(413, "Request body too large", BAD_REQUEST)
            case Unauthenticated(reason="missing"):
                return _error(401, "Authorization header is missing", "ACCESS_TOKEN_ERR_03")
            case Unauthenticated():
                return _error(401, "Invalid access token", "ACCESS_TOKEN_ERR_05")
            case Forbidden():
                return _error(401, "Unauthorized access", "ACCESS_TOKEN_ERR_01")
            case DeviceNotFound():
                return _error(404, "Device token not found", "DEVICE_TOKEN_ERR_01")
            case TokenTaken(held_by_caller=True, device_id=device_id):
                return _error(
                    409, "Device token already registered", "DEVICE_TOKEN_ERR_04", device_id=device_id
                )
            case TokenTaken():
                return _error(409, "Device token already registered", "DEVICE_TOKEN_ERR_04")
            case RateLimited(retry_after=seconds):
                return Response(
                    429,
                    {"message": "Too many requests", "code": "RATE_LIMITED"},
                    {"Retry-After": str(seconds)},
                )
            case Unavailable(retry_after=seconds):
                return Response(
                    503,
                    {"message": "Service temporarily unavailable", "code": "SERVICE_UNAVAILABLE"},
                    {"Retry-After": str(seconds)},
                )
        return self.internal_error()

    def internal_error(self, request: Request | None = None) -> Response:
        return _error(500, "Internal server error", "INTERNAL_ERROR")


dialect = AccountsDialect()
