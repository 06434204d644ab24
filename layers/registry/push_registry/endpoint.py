"""The wrapper every handler shares: event in, one use case, the API's own dialect out, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from aws_lambda_powertools.logging import correlation_paths

from push_registry import time_budget
from push_registry.errors import (
    Forbidden,
    IncompleteBatch,
    InvalidRequest,
    MalformedBody,
    MissingBody,
    PayloadTooLarge,
    RateLimited,
    RegistryError,
    TokenTaken,
    Unauthenticated,
    Unavailable,
    UnknownPlatformKey,
)
from push_registry.http import Request, Response
from push_registry.observability import count, logger, metrics
from push_registry.telemetry import Metric

_ERROR_METRICS: dict[type[RegistryError], Metric] = {
    InvalidRequest: Metric.VALIDATION_FAILURES,
    MissingBody: Metric.VALIDATION_FAILURES,
    MalformedBody: Metric.VALIDATION_FAILURES,
    PayloadTooLarge: Metric.VALIDATION_FAILURES,
    Unauthenticated: Metric.AUTH_FAILURES,
    Forbidden: Metric.AUTH_FAILURES,
    UnknownPlatformKey: Metric.AUTH_FAILURES,
    TokenTaken: Metric.TOKEN_CONFLICTS,
    RateLimited: Metric.RATE_LIMITED,
    Unavailable: Metric.DEPENDENCY_FAILURES,
    IncompleteBatch: Metric.DEPENDENCY_FAILURES,
}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Dialect(Protocol):
    """One API's response format for errors."""

    def render(self, error: RegistryError, request: Request) -> Response: ...

    def internal_error(self, request: Request) -> Response: ...


def endpoint(api: str, dialect: Dialect) -> Callable[[Callable[[Request], Response]], Handler]:
    """Turn `use(request) -> Response` into a Lambda handler for API Gateway REST proxy events."""

    def wrap(use: Callable[[Request], Response]) -> Handler:
        # One function serves one API, so the dimension is set once per execution environment.
        metrics.set_default_dimensions(api=api)

        @logger.inject_lambda_context(
            correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True
        )
        @metrics.log_metrics(capture_cold_start_metric=False)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            logger.append_keys(api=api)
            request = Request.from_event(event)
            details: dict[str, str] = {}
            try:
                with time_budget.of_invocation(context):
                    response = use(request)
                outcome = "ok"
            except RegistryError as error:
                response = dialect.render(error, request)
                outcome = type(error).__name__
                if isinstance(error, Unavailable):
                    # Why, so that a wrong endpoint or a missing parameter is told apart from throttling.
                    details["cause"] = error.cause or type(error.__cause__ or error).__name__
                if metric := _ERROR_METRICS.get(type(error)):
                    count(metric)
            except Exception:
                # Unexpected: the traceback goes to the log (it holds no request values), the client
                # gets the dialect's generic 500.
                logger.exception("unhandled error")
                response = dialect.internal_error(request)
                outcome = "InternalError"
                count(Metric.UNHANDLED_ERRORS)
            logger.info("request handled", extra={"status": response.status, "outcome": outcome, **details})
            return response.to_proxy_result()

        return cast(Handler, handler)

    return wrap
