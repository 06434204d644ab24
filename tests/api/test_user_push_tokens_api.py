"""The user-push-tokens API (seed 002) over HTTP: upsert by push token, NestJS-style errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests

from tests.api.helpers import live_devices, new_push_token, new_user, post

pytestmark = pytest.mark.integration

SEED_REGISTER = {
    "device_os": "iOS",
    "push_token": "fMEP0JqFyF4:APA91bHqX...",
    "app_ver": "1.0.0",
    "module": "main",
}
SEED_UPDATE = {
    "device_os": "Android",
    "push_token": "fMEP0JqFyF4:APA91bHqX...",
    "app_ver": "1.1.0",
    "module": "main",
}
VALIDATION_FAILED = {"statusCode": 400, "message": "Validation failed", "error": "Bad Request"}
UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def url(local_api: str) -> str:
    return f"{local_api}/v1/user-push-tokens/register"


def body(response: requests.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_the_seed_examples_register_then_update(url: str, make_token: Callable[..., str]) -> None:
    user = new_user()
    token = make_token(user)

    created = body(post(url, SEED_REGISTER, token=token), 200)
    updated = body(post(url, SEED_UPDATE, token=token), 200)

    assert set(created) == {"id", "userid", "device_os", "push_token", "registered_date", "app_ver", "module"}
    assert created["userid"] == user
    assert (created["device_os"], created["app_ver"], created["module"]) == ("iOS", "1.0.0", "main")
    assert ISO_UTC.match(created["registered_date"])
    # Opaque, as in every seed (002 shows a UUID, 001 16 hex digits): the registry's ids are URL-safe.
    assert re.fullmatch(r"[A-Za-z0-9_-]{59}", created["id"])
    assert (updated["id"], updated["registered_date"]) == (created["id"], created["registered_date"])
    assert (updated["device_os"], updated["app_ver"]) == ("Android", "1.1.0")


def test_omitted_fields_are_null_on_create_and_kept_on_update(
    url: str, make_token: Callable[..., str]
) -> None:
    token, push = make_token(new_user()), new_push_token()

    created = body(post(url, {"push_token": push}, token=token), 200)
    body(post(url, {"push_token": push, "module": "chat"}, token=token), 200)
    kept = body(post(url, {"push_token": push, "app_ver": None}, token=token), 200)

    assert (created["device_os"], created["app_ver"], created["module"]) == (None, None, None)
    assert kept["module"] == "chat"
    assert kept["app_ver"] is None


def test_a_token_registered_by_another_user_changes_owner(
    local_api: str, url: str, make_token: Callable[..., str]
) -> None:
    first, second, push = new_user(), new_user(), new_push_token()
    created = body(post(url, {"push_token": push, "device_os": "iOS"}, token=make_token(first)), 200)

    moved = body(post(url, {"push_token": push}, token=make_token(second)), 200)

    assert (moved["id"], moved["userid"], moved["device_os"]) == (created["id"], second, "iOS")
    assert live_devices(local_api, first, make_token(first)) == []


@pytest.mark.parametrize(
    ("sent", "raw"),
    [
        ({}, None),
        ({"push_token": ""}, None),
        ({"push_token": 123}, None),
        ({"push_token": "t" * 4097}, None),
        ({"push_token": "t", "device_os": 1}, None),
        (None, b"{broken"),
        (None, b""),
    ],
)
def test_invalid_bodies_are_validation_failed(
    url: str, make_token: Callable[..., str], sent: Any, raw: bytes | None
) -> None:
    assert body(post(url, sent, raw=raw, token=make_token(new_user())), 400) == VALIDATION_FAILED


def test_missing_or_invalid_credentials_are_unauthorized(url: str, make_token: Callable[..., str]) -> None:
    assert body(post(url, SEED_REGISTER), 401) == UNAUTHORIZED
    assert body(post(url, SEED_REGISTER, token="your-jwt-token-here"), 401) == UNAUTHORIZED
    assert body(post(url, SEED_REGISTER, token=make_token(new_user(), ttl=-600)), 401) == UNAUTHORIZED


def test_a_valid_token_without_a_user_is_user_not_authenticated(
    url: str, make_token: Callable[..., str]
) -> None:
    anonymous = make_token(None)
    assert "sub" not in jwt.decode(anonymous, options={"verify_signature": False})
    assert body(post(url, SEED_REGISTER, token=anonymous), 400) == {
        "statusCode": 400,
        "message": "User not authenticated",
        "error": "Bad Request",
    }
