"""GET /internal/users/{userId}/tokens: a user's live tokens across every client API, for senders (IAM)."""

from push_registry import catalog, runtime
from push_registry.apis import accounts, internal
from push_registry.dialects.internal import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.observability import count
from push_registry.settings import settings
from push_registry.telemetry import Metric

# Built at cold start, reused by every invocation of this execution environment.
registry = runtime.registry()


@endpoint(catalog.INTERNAL.name, dialect)
def handler(request: Request) -> Response:
    limit = accounts.page_limit(request, settings().list_default_limit, settings().list_max_limit)
    page = registry.list_devices(internal.user_id_of(request), limit, request.query.get("cursor"))
    count(Metric.SENDER_LOOKUPS)
    return Response(200, internal.user_tokens_body(page))
