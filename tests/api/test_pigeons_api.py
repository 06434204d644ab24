"""The chat backoffice API (seed 001) over HTTP: Laravel bodies, X-PUBLIC-KEY, Accept-Language, rate limit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from push_registry.registration import token_digest
from tests.api.helpers import live_devices, new_push_token, new_user, post, stored_registrations

pytestmark = pytest.mark.integration

KEY = "pk_local_pigeons"
SEED_BODY = {
    "token": "fGxR8hJ3T...",
    "platform": "android",
    "device": {
        "type": "mobile",
        "os": "Android",
        "os_version": "14",
        "app_version": "1.0.0",
        "model": "Samsung Galaxy S23",
    },
}
SEED_ERRORS = {
    "message": "The given data was invalid.",
    "errors": {"token": ["The token field is required."], "platform": ["The platform field is required."]},
}


class Backoffice:
    """One backoffice user of the local API."""

    def __init__(
        self, base_url: str, make_token: Callable[..., str], abilities: list[str] | None = None
    ) -> None:
        self.base_url = base_url
        self.user = new_user()
        claims = {} if abilities is None else {"abilities": abilities}
        self.jwt = make_token(self.user, **claims)
        self.url = f"{base_url}/api/v1/pigeons/chat/devices"

    def register(self, body: Any = None, raw: bytes | None = None, **headers: str) -> requests.Response:
        return post(self.url, body, raw=raw, token=self.jwt, **{"X-PUBLIC-KEY": KEY, **headers})

    def delete(self, device_id: str, **headers: str) -> requests.Response:
        sent = {"Authorization": f"Bearer {self.jwt}", "X-PUBLIC-KEY": KEY, **headers}
        return requests.delete(f"{self.url}/{device_id}", headers=sent, timeout=10)

    def devices(self) -> list[dict[str, Any]]:
        return live_devices(self.base_url, self.user, self.jwt)


@pytest.fixture
def backoffice(local_api: str, make_token: Callable[..., str]) -> Callable[..., Backoffice]:
    return lambda abilities=("backoffice",): Backoffice(local_api, make_token, list(abilities))


def test_the_seed_request_registers_the_token(backoffice: Callable[..., Backoffice]) -> None:
    user = backoffice()
    # The seed's curl, verbatim: it asks for English, so the message is the catalog's English one.
    response = user.register(SEED_BODY, **{"Accept-Language": "en"})

    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Device token registered"
    assert set(body["data"]) == {"id", "token", "platform"}
    assert (body["data"]["token"], body["data"]["platform"]) == ("fGxR8hJ3T...", "android")
    [device] = user.devices()
    assert device["id"] == body["data"]["id"]
    assert device["device_info"] == {
        "app_version": "1.0.0",
        "os_version": "14",
        "device_model": "Samsung Galaxy S23",
    }
    [stored] = stored_registrations(user.user)
    assert stored.device_info == SEED_BODY["device"]


@pytest.mark.parametrize(
    ("language", "message"),
    [
        (None, "Device token registrado"),
        ("pt-BR", "Device token registrado"),
        ("es", "Token de dispositivo registrado"),
        ("en-US,en;q=0.9", "Device token registered"),
        ("fr-FR, de;q=0.8", "Device token registrado"),
        ("fr;q=1, es;q=0.5", "Token de dispositivo registrado"),
    ],
)
def test_accept_language_picks_the_message(
    backoffice: Callable[..., Backoffice], language: str | None, message: str
) -> None:
    headers = {} if language is None else {"Accept-Language": language}
    response = backoffice().register({"token": new_push_token(), "platform": "web"}, **headers)
    assert (response.status_code, response.json()["message"]) == (201, message)


def test_the_seed_error_example(backoffice: Callable[..., Backoffice]) -> None:
    response = backoffice().register({}, **{"Accept-Language": "en"})
    assert (response.status_code, response.json()) == (422, SEED_ERRORS)


def test_validation_lists_every_failing_field_in_the_requested_language(
    backoffice: Callable[..., Backoffice],
) -> None:
    body = {"token": "t" * 4097, "platform": "windows", "device": {"model": 23, "os": "x" * 300}}

    response = backoffice().register(body, **{"Accept-Language": "es"})

    assert response.status_code == 422
    assert response.json() == {
        "message": "Los datos proporcionados no son válidos.",
        "errors": {
            "token": ["El campo token no debe tener más de 4096 caracteres."],
            "platform": ["El platform seleccionado no es válido."],
            "device.os": ["El campo device.os no debe tener más de 256 caracteres."],
            "device.model": ["El campo device.model debe ser una cadena de texto."],
        },
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": 5, "platform": "ios"}, "token"),
        ({"token": "t", "platform": "ios", "device": "x"}, "device"),
    ],
)
def test_wrong_types_are_422(backoffice: Callable[..., Backoffice], body: Any, field: str) -> None:
    response = backoffice().register(body)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


def test_malformed_json_is_400(backoffice: Callable[..., Backoffice]) -> None:
    response = backoffice().register(raw=b'{"token": ', **{"Accept-Language": "en"})
    assert (response.status_code, response.json()) == (400, {"message": "Malformed JSON body."})


def test_registering_again_re_creates_the_registration(backoffice: Callable[..., Backoffice]) -> None:
    user, token = backoffice(), new_push_token()
    first = user.register({"token": token, "platform": "ios", "device": {"model": "iPhone 15"}}).json()[
        "data"
    ]

    second = user.register({"token": token, "platform": "ios", "device": {"os": "iOS"}}).json()["data"]

    assert second["id"] != first["id"]
    assert [d["id"] for d in user.devices()] == [second["id"]]
    assert [(r.id, r.device_info) for r in stored_registrations(user.user)] == [(second["id"], {"os": "iOS"})]


def test_a_token_held_by_another_user_moves(backoffice: Callable[..., Backoffice]) -> None:
    holder, taker, token = backoffice(), backoffice(), new_push_token()
    holder.register({"token": token, "platform": "android"})

    assert taker.register({"token": token, "platform": "android"}).status_code == 201

    assert holder.devices() == []
    assert len(taker.devices()) == 1


def test_authentication_and_authorization_failures(
    local_api: str, make_token: Callable[..., str], backoffice: Callable[..., Backoffice]
) -> None:
    url = f"{local_api}/api/v1/pigeons/chat/devices"
    user = new_user()
    good = make_token(user, abilities=["backoffice"])
    english = {"Accept-Language": "en"}

    def outcome(response: requests.Response) -> tuple[int, Any]:
        return response.status_code, response.json()

    assert outcome(post(url, SEED_BODY, **{"X-PUBLIC-KEY": KEY}, **english)) == (
        401,
        {"message": "Unauthenticated."},
    )
    assert outcome(post(url, SEED_BODY, token="junk", **{"X-PUBLIC-KEY": KEY})) == (
        401,
        {"message": "Não autenticado."},
    )
    assert outcome(post(url, SEED_BODY, token=good, **english)) == (
        401,
        {"message": "The X-PUBLIC-KEY header is required."},
    )
    assert outcome(post(url, SEED_BODY, token=good, **{"X-PUBLIC-KEY": "pk_unknown"}, **english)) == (
        401,
        {"message": "The public key is invalid."},
    )
    assert outcome(backoffice(abilities=["chat"]).register(SEED_BODY, **english)) == (
        403,
        {"message": "This action is unauthorized."},
    )
    assert (
        backoffice(abilities=["*"]).register({"token": new_push_token(), "platform": "ios"}).status_code
        == 201
    )


def test_delete_removes_only_the_callers_registration(backoffice: Callable[..., Backoffice]) -> None:
    owner, stranger = backoffice(), backoffice()
    device_id = owner.register({"token": new_push_token(), "platform": "android"}).json()["data"]["id"]

    refused = stranger.delete(device_id, **{"Accept-Language": "en"})
    assert (refused.status_code, refused.json()) == (404, {"message": "Device token not found."})
    assert len(owner.devices()) == 1

    deleted = owner.delete(device_id)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert owner.devices() == []
    assert owner.delete(device_id).status_code == 404
    assert owner.delete(str(uuid.uuid4())).status_code == 404


def test_the_61st_request_in_a_minute_is_429_with_retry_after(backoffice: Callable[..., Backoffice]) -> None:
    user = backoffice()
    if time.time() % 60 > 40:  # keep the burst inside one fixed window
        time.sleep(61 - time.time() % 60)
    statuses = [user.register({}).status_code for _ in range(60)]
    limited = user.register({}, **{"Accept-Language": "en"})

    assert statuses == [422] * 60
    assert limited.status_code == 429
    assert limited.json() == {"message": "Too Many Attempts."}
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert backoffice().register({}).status_code == 422, "another user keeps its own budget"


OTHER_KEY = "pk_other_platform"  # tests/conftest.py: the tenant "other-platform"


def test_a_delete_under_another_platforms_key_is_404_and_changes_nothing(
    backoffice: Callable[..., Backoffice],
) -> None:
    # Seed 001: a token belongs to the user *and* the platform of its X-PUBLIC-KEY.
    owner = backoffice()
    device_id = owner.register({"token": new_push_token(), "platform": "android"}).json()["data"]["id"]

    refused = owner.delete(device_id, **{"X-PUBLIC-KEY": OTHER_KEY, "Accept-Language": "en"})

    assert (refused.status_code, refused.json()) == (404, {"message": "Device token not found."})
    assert [d["id"] for d in owner.devices()] == [device_id]
    assert owner.delete(device_id).status_code == 204  # under its own platform's key


def test_a_take_over_through_another_api_records_that_api_and_not_the_previous_tenant(
    local_api: str, backoffice: Callable[..., Backoffice], make_token: Callable[..., str], ddb_local: Any
) -> None:
    push = new_push_token()
    previous = backoffice()
    assert previous.register({"token": push, "platform": "android"}).status_code == 201
    taker = backoffice()  # a backoffice user that also uses the user-push-tokens app

    taken = post(f"{local_api}/v1/user-push-tokens/register", {"push_token": push}, token=taker.jwt)

    assert taken.status_code == 200, taken.text
    sk = f"TOKEN#{token_digest(push)}"
    stored = ddb_local.client.get_item(
        TableName=ddb_local.table_name, Key={"pk": {"S": f"OWNER#{taker.user}"}, "sk": {"S": sk}}
    )["Item"]
    assert stored["source"] == {"S": "user-push-tokens"}
    assert "tenant" not in stored
    # So the previous holder's platform key does not reach the registration any more.
    assert taker.delete(taken.json()["id"]).status_code == 404
    assert [d["id"] for d in taker.devices()] == [taken.json()["id"]]
