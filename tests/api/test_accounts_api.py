"""The accounts API (seed 004) over HTTP, as a mobile client sees it: the seed's examples and error rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

SEED_POST = {
    "device_token": "fcm_token_here",
    "platform": "android",
    "device_info": {"app_version": "1.0.0", "os_version": "14", "device_model": "Pixel 8"},
}
SEED_PATCH = {
    "device_info": {"app_version": "1.1.0", "os_version": "15.0"},
    "device_token": "updated_fcm_token",
}


class Client:
    """One signed-in account talking to the local API."""

    def __init__(self, base_url: str, account: str, token: str) -> None:
        self.base = f"{base_url}/api/accounts/{account}/devices"
        self.account = account
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, body: Any = None, raw: bytes | None = None, **headers: str) -> requests.Response:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        return requests.post(self.base, data=data, headers=self._h(headers), timeout=10)

    def get(self, **params: str) -> requests.Response:
        return requests.get(self.base, params=params, headers=self.headers, timeout=10)

    def patch(self, device_id: str, body: Any = None, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        return requests.patch(f"{self.base}/{device_id}", data=data, headers=self._h({}), timeout=10)

    def delete(self, device_id: str) -> requests.Response:
        return requests.delete(f"{self.base}/{device_id}", headers=self.headers, timeout=10)

    def _h(self, extra: dict[str, str]) -> dict[str, str]:
        return {**self.headers, "Content-Type": "application/json", **extra}


@pytest.fixture
def account(local_api: str, make_token: Callable[..., str]) -> Callable[[], Client]:
    def new() -> Client:
        name = f"acct-{uuid.uuid4().hex[:10]}"
        return Client(local_api, name, make_token(name))

    return new


def token_for_test() -> str:
    return f"fcm:{uuid.uuid4().hex}"


def error(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"message", "code"}
    assert response.headers["Content-Type"].startswith("application/json")
    return response.status_code, body["code"]


# ---------------------------------------------------------------------------- the seed's examples


def test_the_seed_post_example_creates_a_device(account: Callable[[], Client]) -> None:
    client = account()
    body = {**SEED_POST, "device_token": token_for_test()}

    response = client.post(body)

    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "device_token", "platform", "device_info", "active", "created_at"}
    assert created["device_token"] == body["device_token"]
    assert created["platform"] == "android"
    assert created["device_info"] == SEED_POST["device_info"]
    assert created["active"] is True
    assert created["created_at"].endswith("Z")


def test_the_seed_get_example_lists_active_devices_without_tokens(account: Callable[[], Client]) -> None:
    client = account()
    first = client.post({**SEED_POST, "device_token": token_for_test()}).json()
    second = client.post({"device_token": token_for_test(), "platform": "ios"}).json()

    response = client.get()

    assert response.status_code == 200
    devices = response.json()["devices"]
    assert [d["id"] for d in devices] == [second["id"], first["id"]]
    assert all("device_token" not in d for d in devices)
    assert devices[1]["device_info"] == SEED_POST["device_info"]
    assert {"id", "platform", "device_info", "active", "last_used_at"} <= set(devices[0])
    assert response.json()["next_cursor"] is None


def test_the_seed_patch_example_updates_token_and_info(account: Callable[[], Client]) -> None:
    client = account()
    created = client.post({**SEED_POST, "device_token": token_for_test()}).json()
    new_token = token_for_test()

    response = client.patch(created["id"], {**SEED_PATCH, "device_token": new_token})

    assert response.status_code == 200
    assert response.json()["device_info"] == SEED_PATCH["device_info"]
    assert response.json()["id"] == created["id"]
    assert response.json()["active"] is True
    # The old token is free for anyone, the new one is held.
    other = account()
    assert other.post({"device_token": created["device_token"], "platform": "android"}).status_code == 201
    assert error(other.post({"device_token": new_token, "platform": "android"})) == (
        409,
        "DEVICE_TOKEN_ERR_04",
    )


def test_an_empty_patch_is_a_heartbeat(account: Callable[[], Client]) -> None:
    client = account()
    created = client.post({**SEED_POST, "device_token": token_for_test()}).json()

    for body in (None, {}):
        response = client.patch(created["id"], body)
        assert response.status_code == 200
        assert response.json()["device_info"] == SEED_POST["device_info"]


def test_the_seed_delete_example_soft_deletes(account: Callable[[], Client]) -> None:
    client = account()
    token = token_for_test()
    created = client.post({"device_token": token, "platform": "android"}).json()

    response = client.delete(created["id"])

    assert response.status_code == 204
    assert response.content == b""
    assert client.get().json()["devices"] == []
    assert error(client.delete(created["id"])) == (404, "DEVICE_TOKEN_ERR_01")
    assert client.post({"device_token": token, "platform": "android"}).status_code == 201


# ---------------------------------------------------------------------------- POST error rows


@pytest.mark.parametrize(
    ("body", "raw", "expected"),
    [
        (None, None, (400, "DEVICE_TOKEN_ERR_03")),  # Missing request body
        ({"platform": "android"}, None, (400, "DEVICE_TOKEN_ERR_03")),  # Missing device_token
        ({"device_token": "", "platform": "android"}, None, (400, "DEVICE_TOKEN_ERR_03")),  # empty
        ({"device_token": "   ", "platform": "android"}, None, (400, "DEVICE_TOKEN_ERR_03")),  # blank
        ({"device_token": "t"}, None, (400, "DEVICE_TOKEN_ERR_03")),  # Missing platform
        ({"device_token": "t", "platform": ""}, None, (400, "DEVICE_TOKEN_ERR_03")),  # empty platform
        ({"device_token": "t", "platform": "windows"}, None, (400, "DEVICE_TOKEN_ERR_02")),  # invalid
        ({"device_token": "t", "platform": "web"}, None, (400, "DEVICE_TOKEN_ERR_02")),  # not in 004
        ({"device_token": 12345, "platform": "android"}, None, (400, "DEVICE_TOKEN_ERR_03")),
        ({"device_token": "t" * 4097, "platform": "android"}, None, (400, "DEVICE_TOKEN_ERR_03")),
        ({"device_token": "t", "platform": "android", "device_info": []}, None, (400, "DEVICE_TOKEN_ERR_03")),
        (
            {"device_token": "t", "platform": "android", "device_info": {"imei": "1"}},
            None,
            (400, "DEVICE_TOKEN_ERR_03"),
        ),
        (
            {"device_token": "t", "platform": "android", "device_info": {"os_version": 14}},
            None,
            (400, "DEVICE_TOKEN_ERR_03"),
        ),
        ({"device_token": "t", "platform": "android", "active": False}, None, (400, "DEVICE_TOKEN_ERR_03")),
        (None, b"{not json", (400, "DEVICE_TOKEN_ERR_03")),
        (None, b"[1, 2]", (400, "DEVICE_TOKEN_ERR_03")),
        (None, b'{"device_token": "\xff\xfe", "platform": "android"}', (400, "DEVICE_TOKEN_ERR_03")),
    ],
)
def test_post_rejects_bad_input(
    account: Callable[[], Client], body: Any, raw: bytes | None, expected: tuple[int, str]
) -> None:
    client = account()
    assert error(client.post(body, raw=raw)) == expected
    assert client.get().json()["devices"] == []


def test_post_of_a_body_over_16_kib_is_413(account: Callable[[], Client]) -> None:
    client = account()
    padding = {"device_token": "t", "platform": "android", "device_info": {"device_model": "x" * 17_000}}
    assert error(client.post(padding)) == (413, "DEVICE_TOKEN_ERR_03")


def test_a_token_of_4096_characters_is_accepted(account: Callable[[], Client]) -> None:
    client = account()
    response = client.post({"device_token": "x" * 4087 + uuid.uuid4().hex[:9], "platform": "ios"})
    assert response.status_code == 201


def test_post_of_a_token_held_elsewhere_is_409_and_only_the_holder_learns_the_id(
    account: Callable[[], Client],
) -> None:
    holder, rival = account(), account()
    token = token_for_test()
    created = holder.post({"device_token": token, "platform": "android"}).json()

    own = holder.post({"device_token": token, "platform": "android"})
    theirs = rival.post({"device_token": token, "platform": "android"})

    assert error(own) == (409, "DEVICE_TOKEN_ERR_04")
    assert own.json()["device_id"] == created["id"]
    assert error(theirs) == (409, "DEVICE_TOKEN_ERR_04")
    assert "device_id" not in theirs.json()


# ---------------------------------------------------------------------------- auth rows (every route)


def routes(client: Client) -> list[Callable[[dict[str, str]], requests.Response]]:
    device = f"{client.base}/{uuid.uuid4()}"
    return [
        lambda h: requests.post(client.base, json=SEED_POST, headers=h, timeout=10),
        lambda h: requests.get(client.base, headers=h, timeout=10),
        lambda h: requests.patch(device, json={}, headers=h, timeout=10),
        lambda h: requests.delete(device, headers=h, timeout=10),
    ]


def test_every_route_without_authorization_is_access_token_err_03(account: Callable[[], Client]) -> None:
    for call in routes(account()):
        assert error(call({})) == (401, "ACCESS_TOKEN_ERR_03")


@pytest.mark.parametrize("value", ["Bearer not.a.jwt", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c.d"])
def test_every_route_with_an_invalid_token_is_access_token_err_05(
    account: Callable[[], Client], value: str
) -> None:
    for call in routes(account()):
        assert error(call({"Authorization": value})) == (401, "ACCESS_TOKEN_ERR_05")


def test_an_expired_token_is_access_token_err_05(
    account: Callable[[], Client], make_token: Callable[..., str]
) -> None:
    client = account()
    expired = make_token(client.account, ttl=-3600)
    for call in routes(client):
        assert error(call({"Authorization": f"Bearer {expired}"})) == (401, "ACCESS_TOKEN_ERR_05")


def test_another_accounts_path_is_access_token_err_01(account: Callable[[], Client]) -> None:
    me, them = account(), account()
    theirs = them.post({"device_token": token_for_test(), "platform": "android"}).json()
    intruder = Client(me.base.rsplit("/api/", 1)[0], them.account, me.headers["Authorization"].split()[1])

    assert error(intruder.post({"device_token": token_for_test(), "platform": "android"})) == (
        401,
        "ACCESS_TOKEN_ERR_01",
    )
    assert error(intruder.get()) == (401, "ACCESS_TOKEN_ERR_01")
    assert error(intruder.patch(theirs["id"], {})) == (401, "ACCESS_TOKEN_ERR_01")
    assert error(intruder.delete(theirs["id"])) == (401, "ACCESS_TOKEN_ERR_01")
    assert [d["id"] for d in them.get().json()["devices"]] == [theirs["id"]]


# ---------------------------------------------------------------------------- PATCH / DELETE rows


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        ({"platform": "ios"}, None),  # Unsupported PATCH fields
        ({"active": False}, None),
        ({"device_token": ""}, None),  # Empty device token
        ({"device_token": None}, None),
        ({"device_info": "Pixel"}, None),  # Device info is not an object
        ({"device_info": None}, None),
        ({"device_info": {"os_version": 15}}, None),
        (None, b"{oops"),
    ],
)
def test_patch_rejects_bad_input_and_keeps_the_device(
    account: Callable[[], Client], body: Any, raw: bytes | None
) -> None:
    client = account()
    created = client.post({**SEED_POST, "device_token": token_for_test()}).json()

    assert error(client.patch(created["id"], body, raw=raw)) == (400, "DEVICE_TOKEN_ERR_03")
    assert client.get().json()["devices"][0]["device_info"] == SEED_POST["device_info"]


def test_patch_to_a_taken_token_is_409(account: Callable[[], Client]) -> None:
    mine, theirs = account(), account()
    created = mine.post({"device_token": token_for_test(), "platform": "android"}).json()
    taken = token_for_test()
    theirs.post({"device_token": taken, "platform": "android"})

    assert error(mine.patch(created["id"], {"device_token": taken})) == (409, "DEVICE_TOKEN_ERR_04")


@pytest.mark.parametrize("state", ["unknown", "foreign", "deactivated"])
def test_patch_and_delete_of_a_missing_device_are_404(account: Callable[[], Client], state: str) -> None:
    me, other = account(), account()
    device_id = str(uuid.uuid4())
    if state == "foreign":
        device_id = other.post({"device_token": token_for_test(), "platform": "android"}).json()["id"]
    if state == "deactivated":
        device_id = me.post({"device_token": token_for_test(), "platform": "android"}).json()["id"]
        me.delete(device_id)

    assert error(me.patch(device_id, {})) == (404, "DEVICE_TOKEN_ERR_01")
    assert error(me.delete(device_id)) == (404, "DEVICE_TOKEN_ERR_01")


# ---------------------------------------------------------------------------- paging


def test_get_pages_with_limit_and_cursor(account: Callable[[], Client]) -> None:
    client = account()
    ids = [
        client.post({"device_token": token_for_test(), "platform": "android"}).json()["id"] for _ in range(3)
    ]

    first = client.get(limit="2").json()
    second = client.get(limit="2", cursor=first["next_cursor"]).json()

    assert len(first["devices"]) == 2
    assert second["next_cursor"] is None
    assert {d["id"] for d in first["devices"] + second["devices"]} == set(ids)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "\u00b2"},  # superscript two: str.isdigit() says yes, int() says no
        {"limit": "\u0663"},  # Arabic-Indic three: int() would read it as 3
        {"limit": "0" * 5000 + "1"},  # past int()'s 4300-digit limit
        {"cursor": "%%%"},
    ],
)
def test_get_rejects_bad_paging(account: Callable[[], Client], params: dict[str, str]) -> None:
    assert error(account().get(**params)) == (400, "DEVICE_TOKEN_ERR_03")
