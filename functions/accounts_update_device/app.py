"""PATCH /api/accounts/{accountId}/devices/{deviceId}: heartbeat, new device info or new token (seed 004)."""

from push_registry import catalog, runtime
from push_registry.apis import accounts
from push_registry.dialects.accounts import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
registry = runtime.registry()
authenticator = runtime.authenticator()


@endpoint(catalog.ACCOUNTS.name, dialect)
def handler(request: Request) -> Response:
    owner = accounts.account_of(request, authenticator)
    change = accounts.device_change(request.json_object(settings().max_body_bytes))
    device_id = request.path_parameters.get("deviceId", "")
    registration = registry.update_device(
        owner, device_id, change, seen_as=accounts.as_seen, shown_platforms=accounts.SHOWN_AS_STORED
    )
    return Response(200, accounts.device_body(registration))
