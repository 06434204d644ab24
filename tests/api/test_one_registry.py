"""One registry behind every API: a token is one token whichever API registered it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from push_registry import catalog
from push_registry.registration import token_digest
from push_registry.registry import NewDevice, Registry
from push_registry.storage import RegistrationStore
from tests.api.helpers import live_devices, new_push_token, new_user, post

pytestmark = pytest.mark.integration


def test_a_token_moves_across_apis_and_stays_single(
    local_api: str, make_token: Callable[..., str], ddb_local: Any
) -> None:
    push = new_push_token()
    accounts_user, camera_user, nest_user, pigeons_user = (new_user() for _ in range(4))

    created = post(
        f"{local_api}/api/accounts/{accounts_user}/devices",
        {"device_token": push, "platform": "android"},
        token=make_token(accounts_user),
    )
    assert created.status_code == 201
    # The accounts API refuses to take a live token; the upsert APIs take it over.
    assert post(
        f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": push}, token=make_token(camera_user)
    ).json() == {
        "result": 0,
        "msg": "Success",
    }
    assert (
        post(
            f"{local_api}/v1/user-push-tokens/register",
            {"push_token": push, "device_os": "Android"},
            token=make_token(nest_user),
        ).status_code
        == 200
    )
    assert (
        post(
            f"{local_api}/api/v1/pigeons/chat/devices",
            {"token": push, "platform": "android"},
            token=make_token(pigeons_user, abilities=["backoffice"]),
            **{"X-PUBLIC-KEY": "pk_local_pigeons"},
        ).status_code
        == 201
    )

    holders = {
        u: live_devices(local_api, u, make_token(u))
        for u in (accounts_user, camera_user, nest_user, pigeons_user)
    }
    assert {u: len(d) for u, d in holders.items()} == {
        accounts_user: 0,
        camera_user: 0,
        nest_user: 0,
        pigeons_user: 1,
    }
    guard = ddb_local.client.get_item(
        TableName=ddb_local.table_name,
        Key={"pk": {"S": f"TOKEN#{token_digest(push)}"}, "sk": {"S": "GUARD"}},
        ConsistentRead=True,
    )["Item"]
    assert (guard["owner"]["S"], guard["device_id"]["S"]) == (pigeons_user, holders[pigeons_user][0]["id"])


def test_concurrent_upserts_of_one_token_through_every_api_leave_one_registration(
    local_api: str, make_token: Callable[..., str]
) -> None:
    push = new_push_token()
    users = [new_user() for _ in range(12)]

    def register(index_user: tuple[int, str]) -> int:
        index, user = index_user
        token = make_token(user, abilities=["backoffice"])
        match index % 4:
            case 0:
                url, body, extra = (
                    f"{local_api}/api/accounts/{user}/devices",
                    {"device_token": push, "platform": "ios"},
                    {},
                )
            case 1:
                url, body, extra = f"{local_api}/user/setusertoken", {"msgType": "APNS", "msgToken": push}, {}
            case 2:
                url, body, extra = (
                    f"{local_api}/v1/user-push-tokens/register",
                    {"push_token": push, "device_os": "iOS"},
                    {},
                )
            case _:
                url, body = f"{local_api}/api/v1/pigeons/chat/devices", {"token": push, "platform": "ios"}
                extra = {"X-PUBLIC-KEY": "pk_local_pigeons"}
        return post(url, body, token=token, **extra).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(register, enumerate(users)))

    assert set(statuses) <= {200, 201, 409}, statuses
    assert 500 not in statuses
    live = [d for u in users for d in live_devices(local_api, u, make_token(u))]
    assert len(live) == 1


@pytest.mark.parametrize("api", [api.name for api in catalog.CLIENT_APIS])
def test_a_token_whose_holder_expired_is_taken_through_every_registering_api(
    api: str, local_api: str, make_token: Callable[..., str], ddb_local: Any
) -> None:
    """The stale-guard path through the function itself, so its IAM needs are recorded: its guard still
    names the expired registration (the lease), and taking it checks that registration in the
    transaction (a ConditionCheck: dynamodb:ConditionCheckItem)."""
    push, former, user = new_push_token(), new_user(), new_user()
    past = datetime.now(UTC) - timedelta(days=31)
    store = RegistrationStore(ddb_local.client, ddb_local.table_name)
    Registry(store, lifetime=timedelta(days=30), clock=lambda: past).register_device(
        former, NewDevice(push, "android"), catalog.ACCOUNTS.name
    )
    assert store.holder(token_digest(push), datetime.now(UTC)) is not None  # the guard outlives it

    path, body, headers = registering(api, user, push)
    answer = post(f"{local_api}{path}", body, token=make_token(user, abilities=["backoffice"]), **headers)

    assert answer.status_code in (200, 201), answer.text
    assert [d["platform"] for d in live_devices(local_api, user, make_token(user))] == ["android"]
    holding = store.holding(token_digest(push), datetime.now(UTC))
    assert holding is not None
    assert holding.owner == user


@pytest.mark.parametrize("api", [api.name for api in catalog.CLIENT_APIS])
def test_the_owner_re_registering_its_expired_imported_registrations_token_is_listed_once(
    api: str, local_api: str, make_token: Callable[..., str], ddb_local: Any
) -> None:
    """Through each function, so its role is checked for the path: the replaced registration's list
    entry is found through its kept id's pointer (a GetItem) and deleted in the same transaction."""
    from push_registry.adoption import Adoption, ExportedRecord

    push, user = new_push_token(), new_user()
    past = datetime.now(UTC) - timedelta(days=31)
    store = RegistrationStore(ddb_local.client, ddb_local.table_name)
    exported = ExportedRecord(
        owner=user,
        device=NewDevice(token=push, platform="android"),
        source=catalog.ACCOUNTS.name,
        last_used_at=past,
        id="device-kept-from-the-old-backend",
        created_at=past - timedelta(days=60),
    )
    Adoption(store, clock=lambda: past).adopt(exported)

    path, body, headers = registering(api, user, push)
    answer = post(f"{local_api}{path}", body, token=make_token(user, abilities=["backoffice"]), **headers)

    assert answer.status_code in (200, 201), answer.text
    assert len(live_devices(local_api, user, make_token(user))) == 1


def registering(api: str, user: str, push: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(path, body, headers) of a registration of `push` for `user` through a client API of the catalog."""
    return {
        catalog.ACCOUNTS.name: (
            f"/api/accounts/{user}/devices",
            {"device_token": push, "platform": "android"},
            {},
        ),
        catalog.CAMERA.name: ("/user/setusertoken", {"msgType": "FCM", "msgToken": push}, {}),
        catalog.USER_PUSH_TOKENS.name: (
            "/v1/user-push-tokens/register",
            {"push_token": push, "device_os": "Android"},
            {},
        ),
        catalog.PIGEONS.name: (
            "/api/v1/pigeons/chat/devices",
            {"token": push, "platform": "android"},
            {"X-PUBLIC-KEY": "pk_local_pigeons"},
        ),
    }[api]
