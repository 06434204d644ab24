"""GET /api/accounts/{accountId}/devices: the account's live registrations, newest first (seed 004)."""

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
    limit = accounts.page_limit(request, settings().list_default_limit, settings().list_max_limit)
    page = registry.list_devices(owner, limit, request.query.get("cursor"))
    return Response(200, accounts.page_body(page))
