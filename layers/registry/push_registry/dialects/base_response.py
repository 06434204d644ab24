"""The camera app's dialect (seed 000): every body is a BaseResponse `{"result", "msg"}`; result < 0 fails."""

from __future__ import annotations

from push_registry.errors import (
    FieldProblem,
    InvalidRequest,
    MalformedBody,
    MissingBody,
    PayloadTooLarge,
    RateLimited,
    RegistryError,
    Unauthenticated,
    Unavailable,
    describe,
)
from push_registry.http import Request, Response

REQUEST_ERROR = -1
AUTH_ERROR = -2


def base_response(status: int, result: int, msg: str, **headers: str) -> Response:
    return Response(status, {"result": result, "msg": msg}, headers)


def success() -> Response:
    return base_response(200, 0, "Success")


def _message(problem: FieldProblem) -> str:
    if problem.field == "msgType" and problem.problem in ("invalid_choice", "empty"):
        return "msgType must be FCM or APNS"
    if problem.problem == "not_object":
        return f"{problem.field} must be an object"
    return describe(problem)


class BaseResponseDialect:
    def render(self, error: RegistryError, request: Request | None = None) -> Response:
        match error:
            case InvalidRequest():
                return base_response(400, REQUEST_ERROR, _message(error.first))
            case MissingBody() | MalformedBody():
                return base_response(400, REQUEST_ERROR, "Request body must be a JSON object")
            case PayloadTooLarge():
                return base_response(413, REQUEST_ERROR, "Request body too large")
            case Unauthenticated(reason="missing"):
                return base_response(401, AUTH_ERROR, "Authorization required")
            case Unauthenticated():
                return base_response(401, AUTH_ERROR, "Invalid access token")
            case RateLimited(retry_after=seconds):
                return base_response(429, REQUEST_ERROR, "Too many requests", **{"Retry-After": str(seconds)})
            case Unavailable(retry_after=seconds):
                return base_response(
                    503,
                    REQUEST_ERROR,
                    "Error setting push token, retry later",
                    **{"Retry-After": str(seconds)},
                )
        return self.internal_error()

    def internal_error(self, request: Request | None = None) -> Response:
        return base_response(500, REQUEST_ERROR, "Error setting push token")


dialect = BaseResponseDialect()
