"""Any JSON body on every route of the template: a 2xx or 4xx in the route's own dialect, never a 5xx.

Schemathesis (`test_fuzz.py`) writes bodies from the request schemas of docs/openapi.yaml, so it seldom
sends what no schema describes: a lone surrogate escape (`"\\ud800"`) in a free-form object, or arrays
nested hundreds deep, both 500s of the pre-signup route (issue 21). Here Hypothesis writes bodies with
no regard for the schemas:

- any JSON value (objects mostly), with any code point in keys and strings, lone surrogates among them;
- a value inside up to 8,000 lists and objects (what `json.loads` reads of a 16 KiB body);
- the route's own request example from docs/openapi.yaml with one value replaced, or one key added, by
  such a value: valid in every other field, so it reaches the code that reads the free-form ones.

The text is what a client's `json.dumps` writes: mostly `ensure_ascii=True`, so a surrogate travels as a
`\\ud800` escape that `json.loads` accepts, otherwise raw UTF-8 (a surrogate then as bytes no UTF-8
decoder accepts); NaN and Infinity as Python writes them. The example's tokens and phone numbers are
made fresh for every request, so that each reaches the storage path rather than another's 409, and no
other test's phone or token is looked up, evicted or erased. Every answer must be below 500, with a
status the document declares for the operation and a body of that status's schema: the route's own
dialect, as components/schemas defines it.

Derandomized (`derandomize=True`, no example database): every run, in CI or here, sends the same bodies,
so a failure reproduces with the same command.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.devtoken import DEVELOPMENT_PLATFORM_KEY
from local.template import Route, load_template, routes
from tests.api.helpers import TOKEN_FIELDS, new_client, new_push_token, new_user

pytestmark = pytest.mark.integration

DOCUMENT = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml")
ROUTES = routes(load_template())
MAX_EXAMPLES = 150
MAX_DEPTH = 8_000  # a 16 KiB body of arrays; json.loads reads about 10,000 levels

# Any code point, the surrogates Hypothesis leaves out by default (category Cs) among them. Half the
# strings are drawn a character at a time from all code points or the surrogates alone: st.text() weighs
# an alphabet's ranges by size, which makes the 2,048 surrogates about one string in a hundred.
CHARACTERS = st.characters(codec=None, exclude_categories=())
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.text(CHARACTERS, max_size=24) | st.lists(CHARACTERS | SURROGATES, max_size=24).map("".join)
# A short text repeated: the bodies of several KiB that generated text alone seldom reaches.
LONG_TEXT = st.builds(
    lambda text, times: text * times,
    st.lists(CHARACTERS | SURROGATES, min_size=1, max_size=4).map("".join),
    st.integers(1, 500),
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT | LONG_TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(TEXT, inner, max_size=6),
    max_leaves=30,
)


@dataclass(frozen=True)
class Nested:
    """`leaf` inside `depth` lists and one-key objects, in the repeating order of `objects` (True: an
    object). Built only when written as JSON, so that Hypothesis reports it in one line."""

    depth: int
    objects: tuple[bool, ...]
    key: str
    leaf: Any

    def value(self) -> Any:
        value = self.leaf
        for level in range(self.depth):
            value = {self.key: value} if self.objects[level % len(self.objects)] else [value]
        return value


NESTED = st.builds(
    Nested,
    st.integers(0, MAX_DEPTH),
    st.lists(st.booleans(), min_size=1, max_size=3).map(tuple),
    TEXT,
    SCALARS,
)
VALUES = JSON_VALUES | NESTED


def example_of(route: Route) -> Any | None:
    """The request example docs/openapi.yaml gives the route, if it takes a body."""
    body = DOCUMENT[route.path][route.method].definition.raw.get("requestBody") or {}
    return body.get("content", {}).get("application/json", {}).get("example")


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and indexes) of every value inside an example, nested ones included."""
    inner = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [place for key, item in inner for place in [(*path, key), *places(item, (*path, key))]]


@st.composite
def changed_example(draw: st.DrawFn, example: Any) -> Any:
    """The example with one value replaced by a generated one, or a generated key added beside it."""
    body = copy.deepcopy(example)
    *to_parent, last = draw(st.sampled_from(places(example)))
    parent = body
    for step in to_parent:
        parent = parent[step]
    if isinstance(parent, dict) and draw(st.booleans()):
        parent[draw(TEXT)] = draw(VALUES)
    else:
        parent[last] = draw(VALUES)
    return body


def bodies(route: Route) -> st.SearchStrategy[Any]:
    anything = st.dictionaries(TEXT, VALUES, max_size=6) | VALUES
    example = example_of(route)
    if example is None:
        return anything
    # Three in four from the example: most generated objects fail on a missing field before the rest.
    return st.integers(0, 3).flatmap(lambda n: changed_example(example) if n else anything)


def fresh_values(example: Any) -> dict[str, Callable[[], str]]:
    """The example's tokens and phone numbers (as JSON strings), each with how to make a fresh one."""
    fresh: dict[str, Callable[[], str]] = {}
    for place in places(example):
        value = example
        for step in place:
            value = value[step]
        if place[-1] in TOKEN_FIELDS:
            fresh[json.dumps(value)] = lambda: json.dumps(new_push_token())
        elif place[-1] == "phone":
            fresh[json.dumps(value)] = lambda: json.dumps(f"+1415555{uuid.uuid4().int % 10_000:04d}")
    return fresh


def written(body: Any, ascii_only: bool, fresh: dict[str, Callable[[], str]]) -> bytes:
    """The JSON text of `body` as a client writes it, with the example's tokens and phones made new."""
    text = json.dumps(body, ensure_ascii=ascii_only, default=Nested.value)
    for sent, new in fresh.items():
        text = text.replace(sent, new())
    return text.encode("utf-8", "surrogatepass")


def path_of(route: Route, user: str) -> str:
    """The route's path with the caller as its account or user and a well-formed registration id."""
    registration_id = base64.urlsafe_b64encode(os.urandom(44)).decode().rstrip("=")
    return (
        route.path.replace("{accountId}", user)
        .replace("{userId}", user)
        .replace("{deviceId}", registration_id)
        .replace("{id}", registration_id)
    )


@pytest.mark.parametrize("route", ROUTES, ids=[f"{route.method} {route.path}" for route in ROUTES])
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # Each example is an HTTP round trip to DynamoDB Local, with bodies up to tens of KiB by design.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_any_json_body_is_answered_in_the_routes_own_dialect_never_a_5xx(
    route: Route, data: st.DataObject, local_api: str, make_token: Callable[..., str]
) -> None:
    operation = DOCUMENT[route.path][route.method]
    body = data.draw(bodies(route), label="body")
    ascii_only = data.draw(st.sampled_from((True, True, True, False)), label="ensure_ascii")
    user = new_user()  # under every per-user limit
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {make_token(user, abilities=['backoffice'])}",
        "X-PUBLIC-KEY": DEVELOPMENT_PLATFORM_KEY,
    }
    with new_client() as client:  # its own source IP: the pre-signup limit is per address
        response = client.request(
            route.method,
            f"{local_api}{path_of(route, user)}",
            data=written(body, ascii_only, fresh_values(example_of(route))),
            headers=headers,
            timeout=30,
        )

    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert operation.responses.find_by_status_code(response.status_code) is not None, (
        f"{response.status_code} is not a status docs/openapi.yaml declares for {operation.label}"
    )
    operation.validate_response(response)
