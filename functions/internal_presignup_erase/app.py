"""POST /internal/presignup-tokens/erase: erase every pre-signup record and guard of a phone (IAM)."""

from push_registry import catalog, runtime
from push_registry.apis import internal
from push_registry.apis.presignup import e164
from push_registry.dialects.internal import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
privacy = runtime.privacy()


@endpoint(catalog.INTERNAL.name, dialect)
def handler(request: Request) -> Response:
    # The phone travels in the body so that it stays out of URLs and access logs.
    sent = internal.subject_phone(request.required_json_object(settings().max_body_bytes))
    phone = e164(sent, settings().presignup_default_region)
    return Response(200, internal.erased_body(privacy.erase_phone(phone, request.caller_arn)))
