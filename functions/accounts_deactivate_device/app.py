"""DELETE /api/accounts/{accountId}/devices/{deviceId}: soft delete that frees the token (seed 004)."""

from push_registry import catalog, runtime
from push_registry.apis import accounts
from push_registry.dialects.accounts import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response

# Built at cold start, reused by every invocation of this execution environment.
registry = runtime.registry()
authenticator = runtime.authenticator()


@endpoint(catalog.ACCOUNTS.name, dialect)
def handler(request: Request) -> Response:
    owner = accounts.account_of(request, authenticator)
    registry.deactivate_device(owner, request.path_parameters.get("deviceId", ""))
    return Response(204)
