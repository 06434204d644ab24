"""POST /internal/tokens/holder: the live registration holding a push token, for operators (IAM)."""

from push_registry import catalog, runtime
from push_registry.apis import internal
from push_registry.dialects.internal import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.observability import identify_token
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
holders = runtime.holders()


@endpoint(catalog.INTERNAL.name, dialect)
def handler(request: Request) -> Response:
    # The token travels in the body so that it stays out of URLs and access logs.
    token = internal.holder_token(request.required_json_object(settings().max_body_bytes))
    identify_token(token)
    return Response(200, internal.holder_body(holders.holder_of(token)))
