"""POST /api/v1/pigeons/chat/devices: (re)create the caller's device token for a platform (seed 001)."""

from push_registry import catalog, runtime
from push_registry.apis import pigeons
from push_registry.dialects.laravel import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
registry = runtime.registry()
authenticator = runtime.authenticator()
platform_keys = runtime.platform_keys()
limiter = runtime.per_user_limiter()


@endpoint(catalog.PIGEONS.name, dialect)
def handler(request: Request) -> Response:
    user, tenant = pigeons.caller_of(request, authenticator, platform_keys, limiter)
    device = pigeons.device_request(request.json_object(settings().max_body_bytes), tenant)
    registration, _ = registry.replace_device(user, device, source=pigeons.SOURCE)
    return Response(201, pigeons.registered_body(registration, request))
