"""The SQS consumers' partial batch response (`ReportBatchItemFailures`), shared by both queues.

Not Powertools' batch utility: importing it loads asyncio and every event data class (Kafka, Kinesis,
DynamoDB streams...), ~45 ms of a shipped cold start, for what a standard queue needs here: handle each
message, report the ones that failed. Its one rule kept: when every message fails, the invocation fails
(the function's Errors metric counts it); SQS delivers the failed messages again either way, then
moves them to the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from push_registry.errors import Unavailable
from push_registry.observability import logger

Message = dict[str, Any]
"""One record of an SQS event: `messageId`, `body` (a string), `attributes` (`SenderId`...)."""


class EntireBatchFailed(Exception):
    """Every message of the batch failed."""


def partial_batch_response(event: dict[str, Any], handle: Callable[[Message], None]) -> dict[str, Any]:
    """Handle every message in order; the ids of those that raised, for SQS to deliver again."""
    messages: list[Message] = event.get("Records") or []
    failures = []
    for message in messages:
        try:
            handle(message)
        except Exception as error:  # whatever one message raises fails that message only
            failures.append({"itemIdentifier": message["messageId"]})
            # The error's class, never its text or the body: a message names users and phones.
            details = {"message_id": message["messageId"], "outcome": type(error).__name__}
            if isinstance(error, Unavailable):
                details["cause"] = error.cause or type(error.__cause__ or error).__name__
            logger.warning("message failed", extra=details)
    if messages and len(failures) == len(messages):
        raise EntireBatchFailed(f"all {len(messages)} messages failed")
    return {"batchItemFailures": failures}
