"""The chat backoffice's dialect (seed 001): Laravel bodies, messages from the request's language catalog."""

from __future__ import annotations

from collections.abc import Callable

from push_registry.errors import (
    DeviceNotFound,
    FieldProblem,
    Forbidden,
    InvalidRequest,
    MalformedBody,
    MissingBody,
    PayloadTooLarge,
    RateLimited,
    RegistryError,
    Unauthenticated,
    Unavailable,
    UnknownPlatformKey,
)
from push_registry.http import Request, Response
from push_registry.i18n import catalog, negotiate
from push_registry.registration import LABEL_MAX_LENGTH, TOKEN_MAX_LENGTH

DOMAIN = "pigeons"


def translator(request: Request | None) -> Callable[[str], str]:
    """gettext for the request's Accept-Language (pt-BR unless en or es is asked for)."""
    language = negotiate(request.headers.get("accept-language") if request else None)
    return catalog(DOMAIN, language).gettext


def _field_message(problem: FieldProblem, _: Callable[[str], str]) -> str:
    attribute = problem.field
    limit = TOKEN_MAX_LENGTH if attribute == "token" else LABEL_MAX_LENGTH
    templates = {
        "required": _("The {attribute} field is required."),
        "empty": _("The {attribute} field is required."),  # Laravel treats "" as missing
        "not_string": _("The {attribute} field must be a string."),
        "too_long": _("The {attribute} field must not be greater than {max} characters."),
        "invalid_choice": _("The selected {attribute} is invalid."),
        "not_object": _("The {attribute} field must be an array."),
    }
    template = templates.get(problem.problem, _("The {attribute} field format is invalid."))
    return template.format(attribute=attribute, max=limit)


def validation_errors(error: InvalidRequest, _: Callable[[str], str]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for problem in error.problems:
        errors.setdefault(problem.field, []).append(_field_message(problem, _))
    return errors


def message(status: int, text: str, **headers: str) -> Response:
    return Response(status, {"message": text}, headers)


class LaravelDialect:
    def render(self, error: RegistryError, request: Request | None = None) -> Response:
        _ = translator(request)
        match error:
            case InvalidRequest():
                body = {"message": _("The given data was invalid."), "errors": validation_errors(error, _)}
                return Response(422, body)
            case MissingBody() | MalformedBody():
                return message(400, _("Malformed JSON body."))
            case PayloadTooLarge():
                return message(413, _("Request body too large."))
            case Unauthenticated():
                return message(401, _("Unauthenticated."))
            case UnknownPlatformKey(missing=True):
                return message(401, _("The X-PUBLIC-KEY header is required."))
            case UnknownPlatformKey():
                return message(401, _("The public key is invalid."))
            case Forbidden():
                return message(403, _("This action is unauthorized."))
            case DeviceNotFound():
                return message(404, _("Device token not found."))
            case RateLimited(retry_after=seconds):
                return message(429, _("Too Many Attempts."), **{"Retry-After": str(seconds)})
            case Unavailable(retry_after=seconds):
                return message(503, _("Service temporarily unavailable."), **{"Retry-After": str(seconds)})
        return self.internal_error(request)

    def internal_error(self, request: Request | None = None) -> Response:
        return message(500, translator(request)("Server Error"))


dialect = LaravelDialect()
