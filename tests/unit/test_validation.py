"""The body-validation vocabulary on pydantic-core: what each declaration accepts, refuses and reports."""

from __future__ import annotations

from typing import Any

import pytest

from push_registry.errors import FieldProblem, InvalidRequest
from push_registry.validation import (
    LABEL,
    PUSH_TOKEN,
    field,
    items,
    mapping,
    object_of,
    one_of,
    optional,
    parse,
    text,
    validator_of,
)

DEVICE = validator_of(
    object_of(
        "forbid",
        token=field(PUSH_TOKEN),
        platform=field(one_of("android", "ios")),
        info=optional(mapping(one_of("app_version", "model"), LABEL), nullable=False, default=dict),
        name=optional(text(min_length=1, max_length=8)),
    )
)
LAX = validator_of(object_of("ignore", token=field(PUSH_TOKEN), tags=optional(items(text(), 1, 2))))


def problems(validator: Any, data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRequest) as raised:
        parse(validator, data)
    return [(problem.field, problem.problem) for problem in raised.value.problems]


def test_a_valid_body_keeps_what_was_sent_and_the_declared_defaults_only() -> None:
    parsed = parse(DEVICE, {"token": "tok-1", "platform": "ios"})

    assert parsed == {"token": "tok-1", "platform": "ios", "info": {}}
    assert "name" not in parsed


def test_each_default_is_a_new_object() -> None:
    first = parse(DEVICE, {"token": "tok-1", "platform": "ios"})
    first["info"]["model"] = "changed"

    assert parse(DEVICE, {"token": "tok-2", "platform": "ios"})["info"] == {}


def test_every_failing_field_is_reported_in_declaration_order() -> None:
    reported = problems(DEVICE, {"name": "", "platform": "web", "extra": 1})

    assert reported == [
        ("token", "required"),
        ("platform", "invalid_choice"),
        ("name", "empty"),
        ("extra", "unknown_field"),
    ]


def test_types_are_strict() -> None:
    assert problems(DEVICE, {"token": 123, "platform": "ios", "info": []}) == [
        ("token", "not_string"),
        ("info", "not_object"),
    ]


def test_optional_fields_take_null_unless_declared_not_nullable() -> None:
    assert parse(DEVICE, {"token": "t", "platform": "ios", "name": None})["name"] is None
    assert problems(DEVICE, {"token": "t", "platform": "ios", "info": None}) == [("info", "not_object")]


def test_a_key_outside_the_allowed_set_is_an_unknown_field_of_its_object() -> None:
    reported = problems(DEVICE, {"token": "t", "platform": "ios", "info": {"colour": "red"}})

    assert reported == [("info.colour", "unknown_field")]


def test_the_shared_field_types_report_their_own_problems() -> None:
    assert problems(DEVICE, {"token": "  ", "platform": "ios"}) == [("token", "empty")]
    assert problems(DEVICE, {"token": "t" * 4097, "platform": "ios"}) == [("token", "too_long")]
    assert problems(DEVICE, {"token": "t\n", "platform": "ios"}) == [("token", "invalid_format")]
    assert problems(DEVICE, {"token": "t", "platform": "ios", "info": {"model": "a\x07"}}) == [
        ("info.model", "invalid_format")
    ]


def test_ignored_fields_are_dropped_and_lists_are_bounded() -> None:
    assert parse(LAX, {"token": "t", "unknown": {"x": 1}}) == {"token": "t"}
    assert problems(LAX, {"token": "t", "tags": []}) == [("tags", "invalid_format")]
    assert problems(LAX, {"token": "t", "tags": ["a", "b", "c"]}) == [("tags", "too_long")]
    assert problems(LAX, {"token": "t", "tags": ["a", 1]}) == [("tags.1", "not_string")]


def test_a_problem_carries_no_input_value() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse(DEVICE, {"token": "secret-token\n", "platform": "ios"})

    assert raised.value.problems == [FieldProblem("token", "invalid_format")]
    assert "secret-token" not in str(raised.value)
