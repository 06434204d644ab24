"""POST /internal/presignup-tokens/lookup: a phone's live pre-signup tokens, for the OTP sender (IAM)."""

from push_registry import catalog, runtime
from push_registry.apis import internal
from push_registry.apis.presignup import e164
from push_registry.dialects.internal import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.observability import count
from push_registry.settings import settings
from push_registry.telemetry import Metric

# Built at cold start, reused by every invocation of this execution environment.
presignup = runtime.presignup()


@endpoint(catalog.INTERNAL.name, dialect)
def handler(request: Request) -> Response:
    # The phone travels in the body so that it stays out of URLs and access logs.
    sent = internal.lookup_phone(request.required_json_object(settings().max_body_bytes))
    phone = e164(sent, settings().presignup_default_region)
    count(Metric.SENDER_LOOKUPS)
    return Response(200, internal.presignup_tokens_body(presignup.live_tokens(phone)))
