"""POST /api/accounts/{accountId}/devices: register a push token for the signed-in account (seed 004)."""

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
    device = accounts.new_device(request.required_json_object(settings().max_body_bytes))
    registration = registry.register_device(owner, device, source=accounts.SOURCE)
    return Response(201, accounts.created_body(registration))
