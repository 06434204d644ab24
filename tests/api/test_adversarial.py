"""Hostile input on every public route: always the route's own 4xx, never a 5xx, and nothing stored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.api.helpers import TOKEN_FIELDS, new_client, new_push_token, new_user
from tests.api.invariants import scan

pytestmark = pytest.mark.integration

DEEP = b"[" * 5000 + b"]" * 5000
# Every route's required fields, valid except where a case breaks them.
ALL_FIELDS = {"phone": "+14155550100", "platform": "ios", "msgType": "FCM"}
HOSTILE_BODIES: list[tuple[str, bytes, str]] = [
    ("invalid utf-8", b'{"token": "\xff\xfe\xfd"}', "application/json"),
    (
        "nul bytes",
        json.dumps(
            {**ALL_FIELDS, **dict.fromkeys(TOKEN_FIELDS, "abc\u0000def"), "phone": "+1415\u00005550100"}
        ).encode(),
        "application/json",
    ),
    ("deeply nested", b'{"device_info": ' + DEEP + b', "meta": ' + DEEP + b"}", "application/json"),
    (
        "numbers for strings",
        json.dumps(dict.fromkeys((*TOKEN_FIELDS, "phone", "platform", "msgType"), 7)).encode(),
        "application/json",
    ),
    (
        "unicode tokens",
        json.dumps({**ALL_FIELDS, **dict.fromkeys(TOKEN_FIELDS, "токен🔥")}).encode(),
        "application/json",
    ),
    (
        # Every route's fields valid but for lone surrogate escapes (json.dumps writes "\\ud800"): in an
        # unknown key and value, in each free-form object. JSON allows them; Unicode text has none.
        "lone surrogates",
        json.dumps(
            {
                "\ud800": 1,
                **ALL_FIELDS,
                **dict.fromkeys(TOKEN_FIELDS, "fcm:lone-surrogates"),
                "note": "\udfff",
                "meta": {"note": "\ud800"},
                "device_info": {"app_version": "\udbff"},
                "device": {"\udc00": "x"},
            }
        ).encode(),
        "application/json",
    ),
    ("wrong content type", b"device_token=abc&platform=ios", "application/x-www-form-urlencoded"),
    ("json array", b"[]", "application/json"),
    ("json string", b'"hello"', "application/json"),
    ("NaN", b'{"device_token": NaN}', "application/json"),
    ("huge", b'{"device_token": "' + b"a" * (10 * 1024 * 1024 - 100) + b'"}', "application/json"),
]


def dump(ddb_local: Any) -> list[str]:
    """The whole table, for before/after comparison (a test may scan; the service never does), but for
    the rate counters and the items expiring within a minute: another module's expired rows, which
    DynamoDB Local's TTL deletes whenever it gets to them (whichever module ran before this one)."""
    horizon = time.time() + 60
    return sorted(
        json.dumps(i, sort_keys=True)
        for i in scan(ddb_local.client, ddb_local.table_name)
        if not i["pk"]["S"].startswith("RATE#") and float(i.get("expires_at", {"N": "inf"})["N"]) > horizon
    )


@pytest.fixture
def routes(local_api: str, make_token: Callable[..., str]) -> list[tuple[str, str, dict[str, str]]]:
    user = new_user()
    bearer = {"Authorization": f"Bearer {make_token(user, abilities=['backoffice'])}"}
    return [
        ("POST", f"{local_api}/api/accounts/{user}/devices", bearer),
        ("PATCH", f"{local_api}/api/accounts/{user}/devices/some-device", bearer),
        ("POST", f"{local_api}/user/setusertoken", bearer),
        ("POST", f"{local_api}/v1/user-push-tokens/register", bearer),
        ("POST", f"{local_api}/api/v1/pigeons/chat/devices", {**bearer, "X-PUBLIC-KEY": "pk_local_pigeons"}),
        ("POST", f"{local_api}/api/public/fcm-token", {}),
        ("POST", f"{local_api}/internal/presignup-tokens/lookup", {}),
        ("POST", f"{local_api}/internal/tokens/invalidations", {}),
    ]


@pytest.mark.parametrize(
    ("label", "body", "content_type"), HOSTILE_BODIES, ids=[h[0] for h in HOSTILE_BODIES]
)
def test_hostile_bodies_get_a_4xx_and_store_nothing(
    ddb_local: Any, routes: list[tuple[str, str, dict[str, str]]], label: str, body: bytes, content_type: str
) -> None:
    before = dump(ddb_local)
    for method, url, headers in routes:
        with new_client() as client:
            response = client.request(
                method, url, data=body, headers={**headers, "Content-Type": content_type}, timeout=30
            )
        assert 400 <= response.status_code < 500, (
            label,
            method,
            url,
            response.status_code,
            response.text[:200],
        )
        assert response.headers["Content-Type"].startswith("application/json")
        json.loads(response.text)
    assert dump(ddb_local) == before, label


MASS_ASSIGNMENT = {
    "active": False,
    "account_id": "someone-else",
    "owner": "someone-else",
    "created_at": "2000-01-01T00:00:00Z",
    "expires_at": 1,
    "id": "chosen-id",
    "userid": "someone-else",
}


def test_mass_assignment_is_rejected_or_ignored_never_stored(
    local_api: str, make_token: Callable[..., str], ddb_local: Any
) -> None:
    user = new_user()
    jwt = make_token(user, abilities=["backoffice"])
    bearer = {"Authorization": f"Bearer {jwt}"}
    token = new_push_token()
    accounts = requests.post(
        f"{local_api}/api/accounts/{user}/devices",
        json={"device_token": token, "platform": "ios", **MASS_ASSIGNMENT},
        headers=bearer,
        timeout=10,
    )
    assert accounts.status_code == 400  # the accounts API rejects unknown fields
    for url, body, extra in (
        (f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": new_push_token()}, {}),
        (
            f"{local_api}/v1/user-push-tokens/register",
            {"push_token": new_push_token(), "device_os": "Android"},
            {},
        ),
        (
            f"{local_api}/api/v1/pigeons/chat/devices",
            {"token": new_push_token(), "platform": "ios"},
            {"X-PUBLIC-KEY": "pk_local_pigeons"},
        ),
    ):
        response = requests.post(
            url, json={**body, **MASS_ASSIGNMENT}, headers={**bearer, **extra}, timeout=10
        )
        assert response.status_code in (200, 201), response.text  # the others ignore unknown fields
    devices = requests.get(f"{local_api}/api/accounts/{user}/devices", headers=bearer, timeout=10).json()[
        "devices"
    ]
    assert len(devices) == 3
    for device in devices:
        assert device["active"] is True
        assert device["id"] != "chosen-id"
        assert device["created_at"] != "2000-01-01T00:00:00Z"
    stored = json.dumps(dump(ddb_local))
    assert "someone-else" not in stored
    assert "chosen-id" not in stored


def test_another_accounts_ids_change_nothing(
    local_api: str, make_token: Callable[..., str], ddb_local: Any
) -> None:
    victim, attacker = new_user(), new_user()
    victim_jwt = make_token(victim, abilities=["backoffice"])
    attacker_headers = {
        "Authorization": f"Bearer {make_token(attacker, abilities=['backoffice'])}",
        "X-PUBLIC-KEY": "pk_local_pigeons",
    }
    device = requests.post(
        f"{local_api}/api/accounts/{victim}/devices",
        json={"device_token": new_push_token(), "platform": "ios"},
        headers={"Authorization": f"Bearer {victim_jwt}"},
        timeout=10,
    ).json()["id"]
    before = dump(ddb_local)

    attempts = [
        requests.get(f"{local_api}/api/accounts/{victim}/devices", headers=attacker_headers, timeout=10),
        requests.patch(
            f"{local_api}/api/accounts/{victim}/devices/{device}",
            json={"device_info": {"app_version": "x"}},
            headers=attacker_headers,
            timeout=10,
        ),
        requests.delete(
            f"{local_api}/api/accounts/{victim}/devices/{device}", headers=attacker_headers, timeout=10
        ),
        requests.patch(
            f"{local_api}/api/accounts/{attacker}/devices/{device}",
            json={},
            headers=attacker_headers,
            timeout=10,
        ),
        requests.delete(
            f"{local_api}/api/accounts/{attacker}/devices/{device}", headers=attacker_headers, timeout=10
        ),
        requests.delete(
            f"{local_api}/api/v1/pigeons/chat/devices/{device}", headers=attacker_headers, timeout=10
        ),
    ]

    assert [r.status_code for r in attempts] == [401, 401, 401, 404, 404, 404]
    assert dump(ddb_local) == before
