"""SQS consumer: invalidation messages from fire-and-forget senders, with partial batch failures."""

import json
from typing import Any

from push_registry import catalog, runtime, time_budget
from push_registry.apis import internal
from push_registry.observability import logger, metrics
from push_registry.queue_batch import Message, partial_batch_response

# Built at cold start, reused by every invocation of this execution environment.
invalidations = runtime.invalidations()
metrics.set_default_dimensions(api=catalog.INTERNAL.name)


def invalidate(message: Message) -> None:
    """One message: `{"invalidations": [{"token", "reason"}, ...]}`; a failure retries it, then the DLQ."""
    invalidations.apply_all(internal.invalidations_of(json.loads(message["body"])))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Out of time, the remaining messages fail (Unavailable) and SQS delivers them again.
    with time_budget.of_invocation(context):
        return partial_batch_response(event, invalidate)
