"""The accounts API shows every API's registrations within seed 004's contract, checked against the
OpenAPI document's own schemas (`platform` an android/ios enum, three device_info keys)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import yaml

from tests.api.helpers import new_push_token, new_user, post, stored_registrations

pytestmark = pytest.mark.integration

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def json_schema(name: str) -> dict[str, Any]:
    """An OpenAPI 3.0 component as plain JSON Schema: references inlined, `nullable` as a null type."""
    components = yaml.safe_load(OPENAPI.read_text())["components"]["schemas"]

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return convert(components[node["$ref"].rsplit("/", 1)[-1]])
        converted = {key: convert(value) for key, value in node.items() if key not in ("nullable", "example")}
        if node.get("nullable"):
            return {"anyOf": [converted, {"type": "null"}]}
        return converted

    schema: dict[str, Any] = convert(components[name])
    return schema


def test_the_documented_platform_is_an_enum() -> None:
    schema = json_schema("Device")
    assert schema["properties"]["platform"] == {"type": "string", "enum": ["android", "ios"]}
    assert schema["properties"]["device_info"]["additionalProperties"] is False


class Caller:
    """One user registering through every client API over HTTP."""

    def __init__(self, base_url: str, make_token: Callable[..., str]) -> None:
        self.base_url = base_url
        self.user = new_user()
        self.jwt = make_token(self.user, abilities=["backoffice"])

    def accounts(self, body: dict[str, Any]) -> str:
        response = post(f"{self.base_url}/api/accounts/{self.user}/devices", body, token=self.jwt)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def camera(self, body: dict[str, Any]) -> None:
        response = post(f"{self.base_url}/user/setusertoken", body, token=self.jwt)
        assert response.json() == {"result": 0, "msg": "Success"}, response.text

    def user_push_tokens(self, body: dict[str, Any]) -> str:
        response = post(f"{self.base_url}/v1/user-push-tokens/register", body, token=self.jwt)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def pigeons(self, body: dict[str, Any]) -> str:
        url = f"{self.base_url}/api/v1/pigeons/chat/devices"
        response = post(url, body, token=self.jwt, **{"X-PUBLIC-KEY": "pk_local_pigeons"})
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["id"])

    def device_url(self, device_id: str = "") -> str:
        return f"{self.base_url}/api/accounts/{self.user}/devices" + (f"/{device_id}" if device_id else "")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}

    def listed(self) -> dict[str, dict[str, Any]]:
        response = requests.get(self.device_url(), params={"limit": 100}, headers=self.headers(), timeout=10)
        assert response.status_code == 200, response.text
        page = response.json()
        jsonschema_rs.validate(json_schema("DevicePage"), page)
        return {device["id"]: device for device in page["devices"]}


def test_registrations_from_every_api_are_listed_within_seed_004(
    local_api: str, make_token: Callable[..., str]
) -> None:
    caller = Caller(local_api, make_token)
    accounts = caller.accounts(
        {"device_token": new_push_token(), "platform": "ios", "device_info": {"device_model": "iPhone14"}}
    )
    caller.camera(
        {
            "msgType": "FCM",
            "msgToken": new_push_token(),
            "app": {"type": "android", "version": "2.0"},
            "language": "en",
        }
    )
    upt_ios = caller.user_push_tokens({"push_token": new_push_token(), "device_os": "iOS", "app_ver": "3.1"})
    upt_android = caller.user_push_tokens({"push_token": new_push_token(), "device_os": "Android"})
    upt_unknown_os = caller.user_push_tokens({"push_token": new_push_token(), "device_os": "Windows"})
    upt_no_os = caller.user_push_tokens({"push_token": new_push_token(), "module": "main"})
    pigeons_android = caller.pigeons(
        {
            "token": new_push_token(),
            "platform": "android",
            "device": {
                "type": "mobile",
                "os": "Android",
                "os_version": "14",
                "app_version": "1.0.0",
                "model": "S23",
            },
        }
    )
    pigeons_web = caller.pigeons(
        {
            "token": "https://fcm.googleapis.com/fcm/send/" + new_push_token(),
            "platform": "web",
            "device": {"os": "Android"},
        }
    )
    assert len(stored_registrations(caller.user)) == 8

    listed = caller.listed()

    camera = next(d for d in listed.values() if d["device_info"] == {"app_version": "2.0"})
    assert camera["platform"] == "android"
    assert listed[accounts]["platform"] == "ios"
    assert listed[accounts]["device_info"] == {"device_model": "iPhone14"}
    assert (listed[upt_ios]["platform"], listed[upt_ios]["device_info"]) == ("ios", {"app_version": "3.1"})
    assert (listed[upt_android]["platform"], listed[upt_android]["device_info"]) == ("android", {})
    assert listed[pigeons_android]["platform"] == "android"
    assert listed[pigeons_android]["device_info"] == {
        "app_version": "1.0.0",
        "os_version": "14",
        "device_model": "S23",
    }
    # Left out: what no android/ios platform describes (a browser, an unknown or missing OS).
    for hidden in (upt_unknown_os, upt_no_os, pigeons_web):
        assert hidden not in listed
    assert len(listed) == 5


def test_a_registration_seed_004_cannot_describe_is_not_found_by_patch(
    local_api: str, make_token: Callable[..., str]
) -> None:
    caller = Caller(local_api, make_token)
    web = caller.pigeons(
        {"token": "https://updates.push.services.mozilla.com/wpush/v2/" + new_push_token(), "platform": "web"}
    )
    before = stored_registrations(caller.user)

    patched = requests.patch(caller.device_url(web), json={}, headers=caller.headers(), timeout=10)

    assert (patched.status_code, patched.json()["code"]) == (404, "DEVICE_TOKEN_ERR_01")
    assert stored_registrations(caller.user) == before
    # A DELETE answers no body, so it needs no description: the caller's own registration is retired.
    deleted = requests.delete(caller.device_url(web), headers=caller.headers(), timeout=10)
    assert deleted.status_code == 204
    assert stored_registrations(caller.user) == []


def test_a_patch_keeps_a_platform_that_came_from_another_api_s_os(
    local_api: str, make_token: Callable[..., str]
) -> None:
    caller = Caller(local_api, make_token)
    device_id = caller.user_push_tokens({"push_token": new_push_token(), "device_os": "iOS"})

    # The new device_info replaces the stored one, `os` included: the platform shown must survive it.
    response = requests.patch(
        caller.device_url(device_id),
        json={"device_info": {"app_version": "4.0"}},
        headers=caller.headers(),
        timeout=10,
    )

    assert response.status_code == 200, response.text
    jsonschema_rs.validate(json_schema("Device"), response.json())
    assert (response.json()["platform"], response.json()["device_info"]) == ("ios", {"app_version": "4.0"})
    assert caller.listed()[device_id]["platform"] == "ios"
