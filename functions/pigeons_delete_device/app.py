"""DELETE /api/v1/pigeons/chat/devices/{id}: remove the caller's device token (seed 001)."""

from push_registry import catalog, runtime
from push_registry.apis import pigeons
from push_registry.dialects.laravel import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response

# Built at cold start, reused by every invocation of this execution environment.
registry = runtime.registry()
authenticator = runtime.authenticator()
platform_keys = runtime.platform_keys()
limiter = runtime.per_user_limiter()


@endpoint(catalog.PIGEONS.name, dialect)
def handler(request: Request) -> Response:
    user, tenant = pigeons.caller_of(request, authenticator, platform_keys, limiter)
    # Scoped to the platform key: another tenant's registration of the same user is not found.
    registry.deactivate_device(user, request.path_parameters.get("id", ""), tenant=tenant)
    return Response(204)
