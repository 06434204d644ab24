"""Faults: DynamoDB errors that outlive retries become 503 with Retry-After; anything else a bare 500."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from push_registry import time_budget
from push_registry.dialects.accounts import dialect
from push_registry.endpoint import endpoint
from push_registry.errors import Unavailable
from push_registry.http import Request, Response
from push_registry.observability import logger
from push_registry.registry import NewDevice, Registry
from push_registry.storage import RegistrationStore


class Context:
    function_name = "unit"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:unit"
    aws_request_id = "unit"


def stubbed_registry(config: Config | None = None) -> tuple[Registry, Stubber]:
    client = botocore.session.get_session().create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=config
    )
    stubber = Stubber(client)
    return Registry(RegistrationStore(client, "push-registry-unit")), stubber


def cancelled_by_conflict(stubber: Stubber) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
    )


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_throttling_and_server_faults_are_unavailable(code: str) -> None:
    registry, stubber = stubbed_registry()
    stubber.add_client_error("transact_write_items", service_error_code=code, http_status_code=400)
    with stubber, pytest.raises(Unavailable):
        registry.register_device("acct-1", NewDevice(token="tok", platform="android"), source="accounts")


def test_transaction_conflicts_are_retried_then_unavailable() -> None:
    registry, stubber = stubbed_registry()
    for _ in range(4):
        cancelled_by_conflict(stubber)
    with stubber, pytest.raises(Unavailable):
        registry.register_device("acct-1", NewDevice(token="tok", platform="android"), source="accounts")
    stubber.assert_no_pending_responses()


def test_a_conflict_that_clears_is_retried_to_success() -> None:
    registry, stubber = stubbed_registry()
    cancelled_by_conflict(stubber)
    stubber.add_response("transact_write_items", {})
    with stubber:
        created = registry.register_device("acct-1", NewDevice(token="tok", platform="android"), "accounts")
    assert created.owner == "acct-1"


class Remaining:
    """A Lambda context with a fixed remaining time."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


# One call's worst case: 3 attempts x (0.5 s + 1.0 s) + backoff up to 1 s + 2 s = 7.5 s; 0.5 s reserve.
BUDGETED = Config(
    retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=0.5, read_timeout=1.0
)


@pytest.mark.parametrize(("millis", "starts"), [(7_999, False), (8_001, True), (60_000, True)])
def test_a_call_starts_only_with_time_left_for_its_worst_case(millis: int, starts: bool) -> None:
    registry, stubber = stubbed_registry(BUDGETED)
    stubber.add_response("transact_write_items", {})
    device = NewDevice(token="tok", platform="android")
    with stubber, time_budget.of_invocation(Remaining(millis)):
        if starts:
            registry.register_device("acct-1", device, source="accounts")
        else:
            with pytest.raises(Unavailable):
                registry.register_device("acct-1", device, source="accounts")
    # The stubbed answer is consumed only by a call that was sent.
    if starts:
        stubber.assert_no_pending_responses()
    else:
        with pytest.raises(AssertionError):
            stubber.assert_no_pending_responses()


def test_outside_an_invocation_there_is_no_budget() -> None:
    registry, stubber = stubbed_registry(BUDGETED)
    stubber.add_response("transact_write_items", {})
    with stubber:
        registry.register_device("acct-1", NewDevice(token="tok", platform="android"), source="accounts")
    stubber.assert_no_pending_responses()


def run(use: Any) -> dict[str, Any]:
    handler = endpoint("accounts", dialect)(use)
    event = {"httpMethod": "POST", "headers": {}, "body": None, "requestContext": {"requestId": "r-1"}}
    return handler(event, Context())


def test_unavailable_is_503_with_retry_after_in_the_apis_format() -> None:
    def use(request: Request) -> Response:
        raise Unavailable(retry_after=2)

    result = run(use)

    assert result["statusCode"] == 503
    assert result["headers"]["Retry-After"] == "2"
    assert json.loads(result["body"]) == {
        "message": "Service temporarily unavailable",
        "code": "SERVICE_UNAVAILABLE",
    }


def test_an_unexpected_fault_is_a_generic_500_without_internals() -> None:
    def use(request: Request) -> Response:
        raise RuntimeError(f"table internals at {datetime.now(UTC)}")

    result = run(use)

    assert result["statusCode"] == 500
    assert json.loads(result["body"]) == {"message": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "internals" not in result["body"]


@pytest.fixture
def handled_lines() -> Iterator[io.StringIO]:
    """The service logger's JSON lines, as Powertools writes them to CloudWatch."""
    lines = io.StringIO()
    stream = logging.StreamHandler(lines)
    stream.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(stream)
    yield lines
    logging.getLogger(logger.name).removeHandler(stream)


def throttled() -> Registry:
    registry, stubber = stubbed_registry()
    stubber.add_client_error("transact_write_items", service_error_code="ThrottlingException")
    stubber.activate()
    return registry


def nothing_listening() -> Registry:
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = botocore.session.get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    return Registry(RegistrationStore(client, "push-registry-unit"))


@pytest.mark.parametrize(
    ("registry", "cause"),
    [(throttled, "ThrottlingException"), (nothing_listening, "EndpointConnectionError")],
)
def test_a_503_says_why_in_the_log_without_request_values(
    registry: Callable[[], Registry], cause: str, handled_lines: io.StringIO
) -> None:
    store = registry()

    def use(request: Request) -> Response:
        store.register_device("acct-1", NewDevice(token="raw-push-token-1", platform="android"), "accounts")
        return Response(201, {})

    assert run(use)["statusCode"] == 503
    lines = handled_lines.getvalue().splitlines()
    [handled] = [json.loads(line) for line in lines if "request handled" in line]
    assert (handled["outcome"], handled["cause"]) == ("Unavailable", cause)
    assert "raw-push-token-1" not in handled_lines.getvalue()
