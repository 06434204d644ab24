"""SQS consumer: invalidation messages from fire-and-forget senders, with partial batch failures."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from push_registry import runtime, time_budget
from push_registry.apis import internal
from push_registry.observability import logger, metrics

# Built at cold start, reused by every invocation of this execution environment.
invalidations = runtime.invalidations()
processor = BatchProcessor(event_type=EventType.SQS)
metrics.set_default_dimensions(api="internal")


def invalidate(record: SQSRecord) -> None:
    """One message: `{"invalidations": [{"token", "reason"}, ...]}`; a failure retries it, then the DLQ."""
    invalidations.apply_all(internal.invalidations_of(json.loads(record.body)))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Out of time, the remaining messages fail (Unavailable) and SQS delivers them again.
    with time_budget.of_invocation(context):
        return process_partial_response(
            event=event, record_handler=invalidate, processor=processor, context=context
        )
