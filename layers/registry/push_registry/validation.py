"""Request-body validation shared by every API: pydantic field types and one translation of their errors.

Only the routes that validate a body import this module (pydantic costs ~100 ms of cold start);
`errors.describe` words a field problem for every route."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from push_registry.errors import FieldProblem, InvalidRequest
from push_registry.registration import LABEL_MAX_LENGTH, TOKEN_MAX_LENGTH, is_well_formed_token


def _push_token(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty", "empty")
    if len(value) > TOKEN_MAX_LENGTH:
        raise PydanticCustomError("too_long", "too long")
    if not is_well_formed_token(value):
        raise PydanticCustomError("invalid_format", "not a push token")
    return value


def _label(value: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise PydanticCustomError("invalid_format", "control characters")
    return value


PushToken = Annotated[str, AfterValidator(_push_token)]
"""A push token: 1..4096 printable ASCII characters."""

Label = Annotated[str, StringConstraints(max_length=LABEL_MAX_LENGTH), AfterValidator(_label)]
"""A short descriptive string (versions, models, languages): no control characters."""

_PROBLEMS = {
    "missing": "required",
    "string_type": "not_string",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "string_too_short": "empty",
    "empty": "empty",
    "extra_forbidden": "unknown_field",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
    "dict_type": "not_object",
    "model_type": "not_object",
    "model_attributes_type": "not_object",
    "invalid_format": "invalid_format",
}


def parse[M: BaseModel](model: type[M], data: dict[str, Any]) -> M:
    """Validate a decoded JSON object; InvalidRequest lists every failing field in body order."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as error:
        raise InvalidRequest([_problem(detail) for detail in error.errors(include_input=False)]) from None


def _problem(detail: Any) -> FieldProblem:
    location = [str(part) for part in detail["loc"]]
    kind = detail["type"]
    if kind == "literal_error" and len(location) >= 2 and location[-1] == "[key]":
        # A dict key outside the allowed set: report it as an unknown field of that object.
        return FieldProblem(".".join(location[:-1]), "unknown_field")
    return FieldProblem(".".join(location), _PROBLEMS.get(kind, "invalid_format"))
