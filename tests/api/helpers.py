"""What the API tests share: fresh users and tokens, raw JSON posts, the accounts view of a user."""

from __future__ import annotations

import json
import uuid
from typing import Any

import requests


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def new_push_token() -> str:
    return f"fcm:{uuid.uuid4().hex}"


def post(
    url: str, body: Any = None, *, raw: bytes | None = None, token: str | None = None, **headers: str
) -> requests.Response:
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    return requests.post(
        url, data=data, headers={k.replace("_", "-"): v for k, v in sent.items()}, timeout=10
    )


def live_devices(base_url: str, user: str, token: str) -> list[dict[str, Any]]:
    """The user's live registrations, whatever API made them, as the accounts API lists them."""
    response = requests.get(
        f"{base_url}/api/accounts/{user}/devices", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    devices: list[dict[str, Any]] = response.json()["devices"]
    return devices
