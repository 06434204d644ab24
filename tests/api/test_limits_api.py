"""No route answers 500 for an id, key, cursor or string that DynamoDB would refuse.

The local API's DynamoDB client refuses what DynamoDB refuses (local/aws_limits.py), so a request whose
id would make an over-long key, or whose strings are not Unicode, fails here as it would in AWS unless
the domain refuses it first: each must be the route's own 4xx (a bad message on the erasure queue).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import pytest
import requests

from local.events import LambdaContext
from tests.api.helpers import new_push_token, new_user, post

EVENTS = Path(__file__).resolve().parents[2] / "events"

LONG_ASCII = "u" * 2049  # a partition key of 2,049 bytes or more once prefixed
LONG_IN_BYTES = "€" * 700  # 700 characters (under 1,024), 2,100 bytes of UTF-8
PIGEONS_KEY = "pk_local_pigeons"


def url(base: str, path: str) -> str:
    return base + quote(path, safe="/")


def forged_cursor(owner: str, device_id: str) -> str:
    """A cursor as the registry encodes one (registry._encode_cursor), for `owner`, naming any id."""
    tag = hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    raw = json.dumps(["2026-01-15T10:30:00.000000+00:00", device_id, tag]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ---------------------------------------------------------------------- the internal routes


@pytest.mark.integration
@pytest.mark.parametrize("user", [LONG_ASCII, LONG_IN_BYTES], ids=["2049_ascii", "2100_bytes_in_700_chars"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/internal/users/{}/tokens"),
        ("GET", "/internal/users/{}/export"),
        ("DELETE", "/internal/users/{}"),
    ],
)
def test_an_over_long_user_id_is_400_on_every_internal_user_route(
    local_api: str, method: str, path: str, user: str
) -> None:
    reply = requests.request(method, url(local_api, path.format(user)), timeout=10)
    assert (reply.status_code, set(reply.json())) == (400, {"message"}), reply.text
    assert "userId" in reply.json()["message"]


@pytest.mark.integration
def test_a_user_id_of_1024_bytes_is_read(local_api: str) -> None:
    reply = requests.get(url(local_api, "/internal/users/{}/tokens".format("é" * 512)), timeout=10)
    assert (reply.status_code, reply.json()) == (200, {"tokens": [], "next_cursor": None})


class Records(logging.Handler):
    """The log records of the service's logger, as they are emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    from push_registry.observability import logger  # here: the local API's environment is set

    captured, service = Records(), logging.getLogger(logger.name)
    service.addHandler(captured)
    yield captured
    service.removeHandler(captured)


@pytest.mark.integration
def test_the_erasure_queue_refuses_an_over_long_user_as_a_bad_message(
    load_handler: Callable[[str], ModuleType], records: Records
) -> None:
    """A bad message (InvalidRequest), not a DynamoDB call that fails: 2,100 bytes in 700 characters."""
    [record, *_] = json.loads((EVENTS / "privacy_erasures_queue.json").read_text())["Records"]
    over_long = {**record, "messageId": "over-long-user", "body": json.dumps({"erase_user": LONG_IN_BYTES})}
    good = {**record, "messageId": "fine", "body": json.dumps({"erase_user": new_user()})}

    result = load_handler("privacy_erasures_queue").handler(
        {"Records": [over_long, good]}, LambdaContext("privacy-erasures-queue", timeout_ms=60_000)
    )

    assert result == {"batchItemFailures": [{"itemIdentifier": "over-long-user"}]}
    failed = [vars(r) for r in records.records if r.getMessage() == "message failed"]
    assert [(r["message_id"], r["outcome"]) for r in failed] == [("over-long-user", "InvalidRequest")]


# ---------------------------------------------------------------------- cursors


@pytest.mark.integration
@pytest.mark.parametrize("device_id", ["\ud800", "x\udfffy"], ids=["lone_high", "lone_low"])
def test_a_forged_cursor_with_a_lone_surrogate_is_400_in_the_accounts_dialect(
    local_api: str, make_token: Callable[..., str], device_id: str
) -> None:
    owner = new_user()
    reply = requests.get(
        f"{local_api}/api/accounts/{owner}/devices",
        params={"cursor": forged_cursor(owner, device_id)},
        headers={"Authorization": f"Bearer {make_token(owner)}"},
        timeout=10,
    )
    assert (reply.status_code, reply.json()["code"]) == (400, "DEVICE_TOKEN_ERR_03"), reply.text


@pytest.mark.integration
def test_a_forged_cursor_with_a_lone_surrogate_is_400_on_the_internal_tokens_route(local_api: str) -> None:
    owner = new_user()
    reply = requests.get(
        f"{local_api}/internal/users/{owner}/tokens",
        params={"cursor": forged_cursor(owner, "\ud800")},
        timeout=10,
    )
    assert (reply.status_code, set(reply.json())) == (400, {"message"}), reply.text


# ---------------------------------------------------------------------- ids and strings in bodies


@pytest.mark.integration
def test_a_presignup_device_id_over_the_sort_key_is_400(local_api: str) -> None:
    # 256 characters (the seed's bound) of 4 bytes: DEVICE# + 1,024 bytes is over the 1,024-byte sort key.
    body = {"phone": "+14155550142", "fcmToken": new_push_token(), "deviceId": "😀" * 256}
    reply = post(f"{local_api}/api/public/fcm-token", body)
    assert reply.status_code == 400, reply.text
    fine = post(f"{local_api}/api/public/fcm-token", {**body, "deviceId": "😀" * 250})  # 1,000 bytes
    assert fine.status_code == 201, fine.text


LONE = "app\ud800"
FRESH_TOKEN = "<a new push token>"
# (path, body): a JSON body holding a `\ud800` escape (valid JSON, not Unicode) on every client API that
# posts one, from a user signed in with the backoffice ability (`{user}` in the path).
LONE_SURROGATE_POSTS = {
    "accounts": (
        "/api/accounts/{user}/devices",
        {"device_token": FRESH_TOKEN, "platform": "android", "device_info": {"app_version": LONE}},
    ),
    "camera": ("/user/setusertoken", {"msgType": "FCM", "msgToken": FRESH_TOKEN, "language": LONE}),
    "user_push_tokens": ("/v1/user-push-tokens/register", {"push_token": FRESH_TOKEN, "app_ver": LONE}),
    "pigeons": (
        "/api/v1/pigeons/chat/devices",
        {"token": FRESH_TOKEN, "platform": "android", "device": {"model": LONE}},
    ),
    "presignup_device": (
        "/api/public/fcm-token",
        {"phone": "+14155550143", "fcmToken": FRESH_TOKEN, "deviceId": LONE},
    ),
    "presignup_meta": (
        "/api/public/fcm-token",
        {"phone": "+14155550144", "fcmToken": FRESH_TOKEN, "meta": {"n": LONE}},
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("api", list(LONE_SURROGATE_POSTS))
def test_a_body_string_that_is_not_unicode_is_a_4xx(
    local_api: str, make_token: Callable[..., str], api: str
) -> None:
    user = new_user()
    path, body = LONE_SURROGATE_POSTS[api]
    reply = post(
        local_api + path.format(user=user),
        {name: new_push_token() if value == FRESH_TOKEN else value for name, value in body.items()},
        token=make_token(user, abilities=["backoffice"]),
        **{"X-PUBLIC-KEY": PIGEONS_KEY},
    )
    assert 400 <= reply.status_code < 500, reply.text  # 422 in the chat backoffice's Laravel dialect
    assert reply.headers["Content-Type"].startswith("application/json")


@pytest.mark.integration
def test_a_jwt_subject_that_is_not_unicode_names_no_user(
    local_api: str, make_token: Callable[..., str]
) -> None:
    reply = post(
        f"{local_api}/user/setusertoken",
        {"msgType": "FCM", "msgToken": new_push_token()},
        token=make_token("\ud800"),
    )
    assert reply.status_code == 401, reply.text


# ---------------------------------------------------------------------- paths that never reach a key


@pytest.mark.integration
@pytest.mark.parametrize("what", ["account", "device", "pigeons_id"])
def test_over_long_path_ids_are_never_a_5xx(
    local_api: str, make_token: Callable[..., str], what: str
) -> None:
    user = new_user()
    jwt = {"Authorization": f"Bearer {make_token(user, abilities=['backoffice'])}"}
    paths = {
        "account": ("GET", f"/api/accounts/{LONG_IN_BYTES}/devices"),
        "device": ("DELETE", f"/api/accounts/{user}/devices/{LONG_IN_BYTES * 2}"),
        "pigeons_id": ("DELETE", f"/api/v1/pigeons/chat/devices/{LONG_IN_BYTES * 2}"),
    }
    method, path = paths[what]
    reply = requests.request(
        method, url(local_api, path), headers={**jwt, "X-PUBLIC-KEY": PIGEONS_KEY}, timeout=10
    )
    assert 400 <= reply.status_code < 500, reply.text
