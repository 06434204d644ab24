"""GET /internal/users/{userId}/export: everything stored about a user, every field, in one document (IAM)."""

from push_registry import catalog, runtime
from push_registry.apis import internal
from push_registry.dialects.internal import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response

# Built at cold start, reused by every invocation of this execution environment.
privacy = runtime.privacy()


@endpoint(catalog.INTERNAL.name, dialect)
def handler(request: Request) -> Response:
    return Response(200, privacy.export_user(internal.user_id_of(request), request.caller_arn))
