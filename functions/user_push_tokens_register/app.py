"""POST /v1/user-push-tokens/register: upsert the caller's push token, answering the record (seed 002)."""

from push_registry import catalog, runtime
from push_registry.apis import user_push_tokens
from push_registry.dialects.nest import dialect
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
registry = runtime.registry()
authenticator = runtime.authenticator()


@endpoint(catalog.USER_PUSH_TOKENS.name, dialect)
def handler(request: Request) -> Response:
    # A valid token without `sub` is the seed's 400 "User not authenticated".
    user = authenticator.subject_of(request.headers, without_subject="no_subject")
    device = user_push_tokens.registration_request(request.required_json_object(settings().max_body_bytes))
    registration, _ = registry.upsert_device(user, device, source=user_push_tokens.SOURCE)
    return Response(200, user_push_tokens.registration_body(registration))
