"""SQS consumer: erasure requests from account-deletion workflows (fire and forget), batch failures."""

import json
from typing import Any

from push_registry import catalog, runtime, time_budget
from push_registry.apis import internal
from push_registry.apis.presignup import e164
from push_registry.observability import logger, metrics
from push_registry.privacy import Subject
from push_registry.queue_batch import Message, partial_batch_response
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
privacy = runtime.privacy()
metrics.set_default_dimensions(api=catalog.INTERNAL.name)


def erase(message: Message) -> None:
    """One message: `{"erase_user": "<userId>"}` or `{"erase_phone": "<phone>"}`; a failure retries it,
    then the dead-letter queue. Erasing is idempotent, so a repeated delivery changes nothing."""
    subject, value = internal.erasure_of(json.loads(message["body"]))
    # The audit names the sending principal (its IAM unique id), as the API's audit names the signer.
    caller = f"sqs:{message['attributes']['SenderId']}"
    if subject is Subject.USER:
        privacy.erase_user(value, caller)
    else:
        privacy.erase_phone(e164(value, settings().presignup_default_region), caller)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Out of time, the remaining messages fail (Unavailable) and SQS delivers them again.
    with time_budget.of_invocation(context):
        return partial_batch_response(event, erase)
