"""The pre-signup API (seed 003) over HTTP: `POST /api/public/fcm-token`, no auth, per-IP limit."""

from __future__ import annotations

import http.client
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from push_registry import runtime

pytestmark = pytest.mark.integration

SEED_EXAMPLE = {
    "phone": "+919876543210",
    "fcmToken": "fcm_token_from_firebase_sdk",
    "deviceType": "android",
    "deviceId": "device-uuid-123",
    "meta": {"appVersion": "1.2.3"},
}


class Phone:
    """A mobile client on its own loopback address (the limit is per source IP, as API Gateway sees it)."""

    def __init__(self, base_url: str) -> None:
        split = urlsplit(base_url)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80
        self.ip = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"

    def post(
        self, body: Any = None, raw: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10, source_address=(self.ip, 0))
        data = raw if raw is not None else json.dumps(body).encode()
        connection.request(
            "POST",
            "/api/public/fcm-token",
            body=data,
            headers={"Content-Type": "application/json", **headers},
        )
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), json.loads(payload) if payload else None


@pytest.fixture
def phone(local_api: str) -> Phone:
    return Phone(local_api)


def number() -> str:
    return f"+1415555{random.randint(0, 9999):04d}"


def test_the_seed_example_is_created(phone: Phone) -> None:
    status, _, body = phone.post(SEED_EXAMPLE)

    assert status == 201
    assert set(body) == {"status", "id"}
    assert body["status"] == "ok"
    [record] = runtime.presignup().live_tokens("+919876543210")
    assert (record.id, record.token, record.device_id) == (
        body["id"],
        "fcm_token_from_firebase_sdk",
        "device-uuid-123",
    )
    assert record.source_ip == phone.ip
    assert json.loads(record.meta or "{}") == {"appVersion": "1.2.3"}


def test_local_formats_are_normalised_with_the_configured_region(phone: Phone) -> None:
    token = f"fcm-{uuid.uuid4().hex}"
    status, _, body = phone.post({"phone": "(415) 555-0132", "fcmToken": token})

    assert status == 201
    assert [r.id for r in runtime.presignup().live_tokens("+14155550132") if r.token == token] == [body["id"]]


def test_reposts_dedupe_by_token_and_by_phone_and_device(local_api: str) -> None:
    client, mobile, device = Phone(local_api), number(), f"device-{uuid.uuid4().hex[:8]}"
    _, _, first = client.post({"phone": mobile, "fcmToken": "fcm-one-" + device, "deviceId": device})
    _, _, same_token = client.post({"phone": mobile, "fcmToken": "fcm-one-" + device})
    _, _, rotated = client.post({"phone": mobile, "fcmToken": "fcm-two-" + device, "deviceId": device})

    assert first["id"] == same_token["id"] == rotated["id"]
    assert [r.token for r in runtime.presignup().live_tokens(mobile)] == ["fcm-two-" + device]


def test_a_post_matching_two_records_merges_them(local_api: str) -> None:
    client, mobile = Phone(local_api), number()
    _, _, by_token = client.post({"phone": mobile, "fcmToken": f"fcm-a-{mobile}"})
    _, _, by_device = client.post({"phone": mobile, "fcmToken": f"fcm-b-{mobile}", "deviceId": "d1"})

    _, _, merged = client.post({"phone": mobile, "fcmToken": f"fcm-a-{mobile}", "deviceId": "d1"})

    assert merged["id"] == by_device["id"] != by_token["id"]
    assert [(r.id, r.token) for r in runtime.presignup().live_tokens(mobile)] == [
        (by_device["id"], f"fcm-a-{mobile}")
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fcmToken": "t"}, "phone is required"),
        ({"phone": "", "fcmToken": "t"}, "phone must not be empty"),
        ({"phone": 919876543210, "fcmToken": "t"}, "phone must be a string"),
        ({"phone": "not a phone", "fcmToken": "t"}, "phone is not a valid phone number"),
        ({"phone": "+1 555", "fcmToken": "t"}, "phone is not a valid phone number"),
        ({"phone": "+919876543210"}, "fcmToken is required"),
        ({"phone": "+919876543210", "fcmToken": ""}, "fcmToken must not be empty"),
        ({"phone": "+919876543210", "fcmToken": "t" * 4097}, "fcmToken is too long"),
        (
            {"phone": "+919876543210", "fcmToken": "t", "deviceType": "windows"},
            "deviceType has an unsupported value",
        ),
        ({"phone": "+919876543210", "fcmToken": "t", "deviceId": "d" * 257}, "deviceId is too long"),
        ({"phone": "+919876543210", "fcmToken": "t", "meta": "v1"}, "meta must be a JSON object"),
        (
            {"phone": "+919876543210", "fcmToken": "t", "meta": {"a": {"b": {"c": {"d": 1}}}}},
            "meta must be nested at most 3 levels deep",
        ),
        (
            {"phone": "+919876543210", "fcmToken": "t", "meta": {"x": "y" * 2100}},
            "meta must be at most 2048 bytes as JSON",
        ),
    ],
)
def test_invalid_requests_name_the_field(local_api: str, body: dict[str, Any], message: str) -> None:
    status, _, answer = Phone(local_api).post(body)
    assert (status, answer) == (400, {"error": "invalid_request", "message": message})


def nested_arrays(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def post_meta(local_api: str, mobile: str, meta: Any) -> tuple[int, Any]:
    """A new token posted for `mobile` with `meta`, from its own address: (status, answer)."""
    status, _, answer = Phone(local_api).post(
        {"phone": mobile, "fcmToken": f"fcm-{uuid.uuid4().hex}", "meta": meta}
    )
    return status, answer


def stored_meta(mobile: str) -> list[Any]:
    return [json.loads(r.meta or "{}") for r in runtime.presignup().live_tokens(mobile)]


TOO_DEEP = {"error": "invalid_request", "message": "meta must be nested at most 3 levels deep"}


def test_a_lone_surrogate_in_meta_is_a_400_and_stores_nothing(local_api: str) -> None:
    """json.dumps writes U+D800 as the escape `\\ud800`, which JSON allows alone; the string it decodes
    to is not Unicode text and no UTF-8 holds it: it was a 500 (issue 21)."""
    mobile = number()
    for meta in ({"note": "\ud800"}, {"\udfff": "x"}, {"a": ["ok", {"b": "\udbff"}]}):
        assert post_meta(local_api, mobile, meta) == (
            400,
            {"error": "invalid_request", "message": "meta must not hold a lone UTF-16 surrogate"},
        ), meta
    assert stored_meta(mobile) == []


def test_an_escaped_surrogate_pair_in_meta_is_stored_as_its_character(local_api: str) -> None:
    mobile = number()
    status, _ = post_meta(local_api, mobile, {"e": "😀"})  # sent as "\\ud83d\\ude00"

    assert status == 201
    assert stored_meta(mobile) == [{"e": "😀"}]


@pytest.mark.parametrize("levels", [400, 500, 5_000], ids=lambda levels: f"{levels} deep")
def test_meta_with_deeply_nested_arrays_is_a_400(local_api: str, levels: int) -> None:
    """Arrays count as levels (400 deep was stored, with a 201), and depth is counted without recursion
    (500 deep was a RecursionError, a 500): issue 21."""
    mobile = number()

    assert post_meta(local_api, mobile, {"a": nested_arrays(levels - 1)}) == (400, TOO_DEEP)
    assert stored_meta(mobile) == []


THREE_LEVELS = [{"a": nested_arrays(2)}, {"a": [{"b": 1}]}, {"a": {"b": ["c"]}}, {"a": {"b": {"c": 1}}}]
FOUR_LEVELS = [{"a": nested_arrays(3)}, {"a": [{"b": []}]}, {"a": {"b": {"c": []}}}, {"a": [[{}]]}]


def test_meta_may_nest_three_levels_of_objects_or_arrays_not_four(local_api: str) -> None:
    """docs/apis/pre-signup.md's "nested deeper than 3" counts `meta` itself as the first level and every
    object or array inside as one more; before issue 21 arrays did not count, so all of FOUR_LEVELS were
    stored."""
    for meta in THREE_LEVELS:
        mobile = number()
        assert post_meta(local_api, mobile, meta)[0] == 201, meta
        assert stored_meta(mobile) == [meta]
    for meta in FOUR_LEVELS:
        mobile = number()
        assert post_meta(local_api, mobile, meta) == (400, TOO_DEEP), meta
        assert stored_meta(mobile) == [], meta


@pytest.mark.parametrize("raw", [b"", b"{nope", b"[1]"])
def test_bad_bodies_are_invalid_requests(local_api: str, raw: bytes) -> None:
    status, _, answer = Phone(local_api).post(raw=raw)
    assert (status, answer["error"]) == (400, "invalid_request")


def test_the_eleventh_request_in_a_minute_is_429_even_with_a_rotating_forwarded_for(phone: Phone) -> None:
    if time.time() % 60 > 45:  # keep the burst inside one fixed window
        time.sleep(61 - time.time() % 60)
    statuses = [
        phone.post(
            {"phone": number(), "fcmToken": f"fcm-{uuid.uuid4().hex}"}, **{"X-Forwarded-For": f"10.0.0.{n}"}
        )[0]
        for n in range(10)
    ]
    status, headers, body = phone.post(SEED_EXAMPLE, **{"X-Forwarded-For": "10.9.9.9"})

    assert statuses == [201] * 10
    assert (status, body["error"]) == (429, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 60


def test_concurrent_posts_of_one_token_and_of_one_device_leave_one_record(local_api: str) -> None:
    mobile, device = number(), f"device-{uuid.uuid4().hex[:8]}"
    bodies = [
        {
            "phone": mobile,
            "fcmToken": f"fcm-{uuid.uuid4().hex}" if n % 2 else "fcm-shared-" + device,
            "deviceId": device,
        }
        if n % 3
        else {"phone": mobile, "fcmToken": "fcm-shared-" + device}
        for n in range(9)
    ]
    with ThreadPoolExecutor(max_workers=9) as pool:
        results = list(pool.map(lambda body: Phone(local_api).post(body), bodies))

    assert [status for status, _, _ in results] == [201] * 9
    live = runtime.presignup().live_tokens(mobile)
    assert len([r for r in live if r.device_id == device]) == 1
    assert len([r for r in live if r.token == "fcm-shared-" + device]) <= 1
    assert len({r.token for r in live}) == len(live)
