"""The camera app's API (seed 000) over HTTP: `POST /user/setusertoken`, every body a BaseResponse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.api.helpers import live_devices, new_push_token, new_user, post, stored_registrations

pytestmark = pytest.mark.integration

SEED_EXAMPLE = {
    "msgType": "FCM",
    "msgToken": "cNR9qIzSSomwn8HJLZlmN9:APA91bEYH6DSFvmZ5XGDvD1MEGNs...",
    "app": {"type": "android", "version": "1.2.3"},
    "countryNo": "US",
    "language": "en",
}


def base_response(response: requests.Response) -> tuple[int, int, str]:
    body = response.json()
    assert set(body) == {"result", "msg"}, body
    assert isinstance(body["result"], int)
    return response.status_code, body["result"], body["msg"]


@pytest.fixture
def url(local_api: str) -> str:
    return f"{local_api}/user/setusertoken"


def test_the_seed_example_succeeds_and_registers_the_token(
    local_api: str, url: str, make_token: Callable[..., str]
) -> None:
    user = new_user()
    token = make_token(user)

    assert base_response(post(url, SEED_EXAMPLE, token=token)) == (200, 0, "Success")

    [device] = live_devices(local_api, user, token)
    assert device["platform"] == "android"
    assert device["device_info"] == {"app_version": "1.2.3"}  # the accounts API shows seed 004's keys
    [stored] = stored_registrations(user)
    assert stored.device_info == {
        "app_type": "android",
        "app_version": "1.2.3",
        "country": "US",
        "language": "en",
    }


def test_posting_again_refreshes_the_same_registration(
    local_api: str, url: str, make_token: Callable[..., str]
) -> None:
    user, push = new_user(), new_push_token()
    token = make_token(user)
    post(url, {"msgType": "APNS", "msgToken": push, "language": "pt"}, token=token)
    [first] = live_devices(local_api, user, token)

    assert (
        base_response(post(url, {"msgType": "apns", "msgToken": push, "countryNo": "BR"}, token=token))[1]
        == 0
    )

    [again] = live_devices(local_api, user, token)
    assert again["id"] == first["id"]
    assert again["platform"] == "ios"
    assert [r.device_info for r in stored_registrations(user)] == [{"language": "pt", "country": "BR"}]


def test_a_token_another_user_held_moves_to_the_caller(
    local_api: str, url: str, make_token: Callable[..., str]
) -> None:
    previous, current, push = new_user(), new_user(), new_push_token()
    post(url, {"msgType": "FCM", "msgToken": push}, token=make_token(previous))

    assert base_response(post(url, {"msgType": "FCM", "msgToken": push}, token=make_token(current)))[1] == 0

    assert live_devices(local_api, previous, make_token(previous)) == []
    assert len(live_devices(local_api, current, make_token(current))) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"msgToken": "t"}, "msgType is required"),
        ({"msgType": "GCM", "msgToken": "t"}, "msgType must be FCM or APNS"),
        ({"msgType": "", "msgToken": "t"}, "msgType must be FCM or APNS"),
        ({"msgType": 1, "msgToken": "t"}, "msgType must be FCM or APNS"),
        ({"msgType": "FCM"}, "msgToken is required"),
        ({"msgType": "FCM", "msgToken": ""}, "msgToken must not be empty"),
        ({"msgType": "FCM", "msgToken": "t" * 4097}, "msgToken is too long"),
        ({"msgType": "FCM", "msgToken": 42}, "msgToken must be a string"),
        ({"msgType": "FCM", "msgToken": "t", "app": "android"}, "app must be an object"),
        ({"msgType": "FCM", "msgToken": "t", "app": {"version": 2}}, "app.version must be a string"),
        ({"msgType": "FCM", "msgToken": "t", "language": ["en"]}, "language must be a string"),
    ],
)
def test_validation_errors_name_the_field(
    url: str, make_token: Callable[..., str], body: dict[str, Any], message: str
) -> None:
    assert base_response(post(url, body, token=make_token(new_user()))) == (400, -1, message)


@pytest.mark.parametrize("raw", [b"", b"{oops", b"[]", b"\xff"])
def test_bad_bodies_are_base_responses(url: str, make_token: Callable[..., str], raw: bytes) -> None:
    status, result, _ = base_response(post(url, raw=raw, token=make_token(new_user())))
    assert (status, result) == (400, -1)


def test_auth_failures_are_401_with_a_negative_result(url: str, make_token: Callable[..., str]) -> None:
    missing = base_response(post(url, SEED_EXAMPLE))
    invalid = base_response(post(url, SEED_EXAMPLE, token="not.a.jwt"))
    expired = base_response(post(url, SEED_EXAMPLE, token=make_token(new_user(), ttl=-600)))

    for status, result, _ in (missing, invalid, expired):
        assert status == 401
        assert result < 0
