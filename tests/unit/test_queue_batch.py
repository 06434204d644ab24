"""The SQS consumers' partial batch response: failed messages reported, the rest handled, nothing leaked."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from push_registry.errors import InvalidRequest, Unavailable
from push_registry.observability import logger
from push_registry.queue_batch import EntireBatchFailed, Message, partial_batch_response


def batch(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m-{i}", "body": body} for i, body in enumerate(bodies)]}


def test_every_message_is_handled_in_order_and_only_the_failed_ones_are_reported() -> None:
    handled: list[str] = []

    def handle(message: Message) -> None:
        handled.append(message["messageId"])
        if message["body"] != "ok":
            raise InvalidRequest.single("erase_user", "required")

    result = partial_batch_response(batch("ok", "bad", "ok", "bad"), handle)

    assert handled == ["m-0", "m-1", "m-2", "m-3"]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}


def test_a_batch_that_wholly_succeeds_reports_no_failure() -> None:
    assert partial_batch_response(batch("a", "b"), lambda message: None) == {"batchItemFailures": []}
    assert partial_batch_response({"Records": []}, lambda message: None) == {"batchItemFailures": []}


def test_when_every_message_fails_the_invocation_fails() -> None:
    def handle(message: Message) -> None:
        raise Unavailable(cause="ThrottlingException")

    with pytest.raises(EntireBatchFailed, match="all 2 messages failed"):
        partial_batch_response(batch("a", "b"), handle)


def test_a_failure_is_logged_by_message_id_and_error_class_never_by_content() -> None:
    written = io.StringIO()
    as_in_cloudwatch = logging.StreamHandler(written)
    as_in_cloudwatch.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(as_in_cloudwatch)

    def handle(message: Message) -> None:
        if message["body"] == "+919876543210":
            raise ValueError(f"cannot erase {message['body']}")
        if message["body"] == "late":
            raise Unavailable(cause="ThrottlingException")

    try:
        partial_batch_response(batch("late", "+919876543210", "ok"), handle)
    finally:
        logging.getLogger(logger.name).removeHandler(as_in_cloudwatch)

    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    failed = [line for line in lines if line.get("message") == "message failed"]
    assert [(line["message_id"], line["outcome"]) for line in failed] == [
        ("m-0", "Unavailable"),
        ("m-1", "ValueError"),
    ]
    assert failed[0]["cause"] == "ThrottlingException"
    assert "+919876543210" not in json.dumps(lines)
