"""POST /internal/tokens/invalidations: retire tokens a push provider rejected, reporting each (IAM)."""

from push_registry import catalog, runtime
from push_registry.apis import internal
from push_registry.dialects.internal import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response

# Built at cold start, reused by every invocation of this execution environment.
invalidations = runtime.invalidations()


@endpoint(catalog.INTERNAL.name, dialect)
def handler(request: Request) -> Response:
    batch = internal.invalidations_of(request.required_json_object(256 * 1024))
    # A batch that cannot finish answers 503 listing each item's status, those not done `not_processed`.
    statuses = invalidations.apply_all(batch)
    results = [
        {"token": item.token, "status": status.value} for item, status in zip(batch, statuses, strict=True)
    ]
    return Response(200, {"results": results})
