"""Request-body validation shared by every API: pydantic's validation engine, one translation of its errors.

Bodies are declared as pydantic-core schemas (`object_of`, `field`, `text`...) and validated by
`pydantic_core.SchemaValidator`, the Rust validator that pydantic's BaseModel runs too: the same checks
and the same error types. BaseModel itself is not used: its import and class building cost a shipped
cold start ~90 ms that no request needs (docs/performance.md). A validated body is a plain dict holding
the fields that were sent (and the declared defaults).

Only the routes that validate a body import this module; `errors.describe` words a field problem for
every route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import PydanticCustomError, SchemaValidator, ValidationError
from pydantic_core import core_schema as schema

from push_registry.errors import FieldProblem, InvalidRequest
from push_registry.registration import LABEL_MAX_LENGTH, TOKEN_MAX_LENGTH, is_well_formed_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic_core.core_schema import CoreSchema, TypedDictField


def text(min_length: int | None = None, max_length: int | None = None) -> CoreSchema:
    """A JSON string, within the given lengths (characters)."""
    return schema.str_schema(min_length=min_length, max_length=max_length)


def one_of(*values: str) -> CoreSchema:
    """One of the given strings, exactly."""
    return schema.literal_schema(list(values))


def mapping(keys: CoreSchema, values: CoreSchema) -> CoreSchema:
    """A JSON object whose keys and values each match a schema."""
    return schema.dict_schema(keys, values)


def any_object() -> CoreSchema:
    """Any JSON object (its contents are checked by the caller)."""
    return schema.dict_schema(schema.str_schema(), schema.any_schema())


def items(of: CoreSchema, min_length: int, max_length: int) -> CoreSchema:
    """A JSON array of `min_length` to `max_length` items, each matching `of`."""
    return schema.list_schema(of, min_length=min_length, max_length=max_length)


def field(of: CoreSchema) -> TypedDictField:
    """A field the body must have."""
    return schema.typed_dict_field(of)


def optional(
    of: CoreSchema, *, nullable: bool = True, default: Callable[[], Any] | None = None
) -> TypedDictField:
    """A field the body may leave out (then absent, or `default()`); it may be null if `nullable`."""
    if nullable:
        of = schema.nullable_schema(of)
    if default is not None:
        of = schema.with_default_schema(of, default_factory=default)
    return schema.typed_dict_field(of, required=False)


def object_of(extra: Literal["forbid", "ignore"], **fields: TypedDictField) -> CoreSchema:
    """A JSON object with the given fields; unknown ones are refused (`forbid`) or dropped (`ignore`)."""
    return schema.typed_dict_schema(fields, extra_behavior=extra)


def validator_of(of: CoreSchema) -> SchemaValidator:
    """The validator of a request body, built once when its API module is imported."""
    return SchemaValidator(of, schema.CoreConfig(strict=True))


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


PUSH_TOKEN = schema.no_info_after_validator_function(_push_token, schema.str_schema())
"""A push token: 1..4096 printable ASCII characters."""

LABEL = schema.no_info_after_validator_function(_label, schema.str_schema(max_length=LABEL_MAX_LENGTH))
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


def parse(validator: SchemaValidator, data: dict[str, Any]) -> dict[str, Any]:
    """Validate a decoded JSON object; InvalidRequest lists every failing field in declaration order."""
    try:
        parsed: dict[str, Any] = validator.validate_python(data, strict=True)
    except ValidationError as error:
        raise InvalidRequest([_problem(detail) for detail in error.errors(include_input=False)]) from None
    return parsed


def _problem(detail: Any) -> FieldProblem:
    location = [str(part) for part in detail["loc"]]
    kind = detail["type"]
    if kind == "literal_error" and len(location) >= 2 and location[-1] == "[key]":
        # A dict key outside the allowed set: report it as an unknown field of that object.
        return FieldProblem(".".join(location[:-1]), "unknown_field")
    return FieldProblem(".".join(location), _PROBLEMS.get(kind, "invalid_format"))
