"""POST /api/public/fcm-token: store a phone's FCM token before signup, for OTP delivery (seed 003)."""

from push_registry import catalog, runtime
from push_registry.apis import presignup as presignup_api
from push_registry.dialects.public import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
presignup = runtime.presignup()
limiter = runtime.per_ip_limiter()


@endpoint(catalog.PRESIGNUP.name, dialect)
def handler(request: Request) -> Response:
    limiter.check("ip", request.source_ip or "unknown")
    body = request.required_json_object(settings().max_body_bytes)
    record, _ = presignup.register(presignup_api.post_of(body, request, settings().presignup_default_region))
    return Response(201, {"status": "ok", "id": record.id})
