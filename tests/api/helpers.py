"""What the API tests share: fresh users and tokens, raw JSON posts, the accounts view of a user."""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from push_registry.registration import Registration


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def new_push_token() -> str:
    return f"fcm:{uuid.uuid4().hex}"


# The body fields that hold a push token, in every API.
TOKEN_FIELDS = ("device_token", "token", "msgToken", "push_token", "fcmToken")


class FromAddress(HTTPAdapter):
    """Connects from one loopback address: the local API sees it as the caller's source IP."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


# Source addresses are counted, not drawn from `random`: Hypothesis seeds `random` for every example,
# so drawn addresses would repeat one 127.x.y.z each time. The count starts at a random point so that
# two sessions on this machine do not walk the same addresses.
_LOOPBACK_ADDRESSES = 254 * 254 * 253
_ADDRESSES = itertools.count(int.from_bytes(os.urandom(3)) % _LOOPBACK_ADDRESSES)


def new_client() -> requests.Session:
    """A client on a loopback address (127.x.y.z) no other client of this run has used, so per-IP
    limits count it alone.

    The pre-signup route limits requests per source IP; tests that share 127.0.0.1 would
    spend one budget between them and fail by the order they happen to run in.
    """
    n = next(_ADDRESSES) % _LOOPBACK_ADDRESSES
    address = f"127.{1 + n // (254 * 253)}.{1 + n // 253 % 254}.{2 + n % 253}"
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def post(
    url: str, body: Any = None, *, raw: bytes | None = None, token: str | None = None, **headers: str
) -> requests.Response:
    """POST as a new client (its own source IP), JSON unless `raw` is given."""
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    with new_client() as client:
        return client.post(
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


def stored_registrations(user: str) -> list[Registration]:
    """The user's live registrations as the registry stores them (every API's fields, under shared names).

    Read through the layer, over the local API's DynamoDB Local: the accounts API shows only what
    seed 004 can describe.
    """
    from push_registry import runtime  # here: it reads the environment the local API set

    return runtime.registry().list_devices(user, 100).devices
