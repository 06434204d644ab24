"""POST /user/setusertoken: register or refresh the camera app's push token of the signed-in user (000)."""

from push_registry import catalog, runtime
from push_registry.apis import camera
from push_registry.dialects.base_response import dialect, success
from push_registry.endpoint import endpoint
from push_registry.http import Request, Response
from push_registry.settings import settings

# Built at cold start, reused by every invocation of this execution environment.
registry = runtime.registry()
authenticator = runtime.authenticator()


@endpoint(catalog.CAMERA.name, dialect)
def handler(request: Request) -> Response:
    owner = authenticator.subject_of(request.headers)
    device = camera.token_entry(request.required_json_object(settings().max_body_bytes))
    registry.refresh_or_register(owner, device, source=camera.SOURCE)
    return success()
