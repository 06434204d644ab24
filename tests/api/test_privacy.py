"""Privacy operations over HTTP: export and erase a user (every client API) and a phone (pre-signup).

After an erasure the whole table is read: nothing of the subject remains, the tokens are free for
anyone, and a second erasure answers zero counts. Races against registrations of the same tokens leave
the table consistent (tests/api/invariants.py), and a token handed on meanwhile stays its new holder's.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
import requests

from push_registry import catalog
from push_registry.presignup import PreSignup, PreSignupPost
from push_registry.rate_limit import USER_SCOPE, counter_key
from push_registry.registration import token_digest
from push_registry.storage import PreSignupStore
from push_registry.storage.owner_data import OwnerData
from tests.api.helpers import new_push_token, new_user, post
from tests.api.invariants import Item, audit, check_invariants, scan
from tests.api.test_races import CLIENT_APIS, SUCCESS, Call, race, registration

pytestmark = pytest.mark.integration

PIGEONS_KEY = "pk_local_pigeons"
USER_ERASED_KINDS = {"registrations", "token_guards", "other_items", "rate_counters"}
PHONE_ERASED_KINDS = {"records", "device_guards", "token_guards", "other_items"}


@pytest.fixture
def consistent(ddb_local: Any, local_api: str) -> Callable[[], list[Item]]:
    """check_invariants, blind only to what was already broken before the test began (as test_races)."""
    _, before = audit(ddb_local)
    return lambda: check_invariants(ddb_local, tolerated=before)


def new_phone() -> tuple[str, str]:
    """(E.164, the same number as a local client would type it)."""
    line = f"{random.randint(0, 9999):04d}"
    return f"+1415555{line}", f"(415) 555-{line}"


def register_everywhere(base: str, user: str, jwt: str) -> dict[str, str]:
    """One registration through each client API of the catalog, and a deactivated one; api -> token."""
    tokens = {name: new_push_token() for name in CLIENT_APIS}
    replies = [
        post(
            f"{base}/api/accounts/{user}/devices",
            {
                "device_token": tokens[catalog.ACCOUNTS.name],
                "platform": "ios",
                "device_info": {"app_version": "1.0.0", "device_model": "iPhone 15"},
            },
            token=jwt,
        ),
        post(
            f"{base}/user/setusertoken",
            {"msgType": "FCM", "msgToken": tokens[catalog.CAMERA.name], "language": "pt", "countryNo": "BR"},
            token=jwt,
        ),
        post(
            f"{base}/v1/user-push-tokens/register",
            {"push_token": tokens[catalog.USER_PUSH_TOKENS.name], "device_os": "Android", "app_ver": "2.0"},
            token=jwt,
        ),
        post(
            f"{base}/api/v1/pigeons/chat/devices",
            {"token": tokens[catalog.PIGEONS.name], "platform": "android", "device": {"model": "Pixel 8"}},
            token=jwt,
            X_PUBLIC_KEY=PIGEONS_KEY,
        ),
    ]
    assert len(replies) == len(CLIENT_APIS), "a registration per client API"
    assert [r.status_code for r in replies] == [SUCCESS[api] for api in CLIENT_APIS], [
        r.text for r in replies
    ]
    tokens["deactivated"] = new_push_token()
    created = post(
        f"{base}/api/accounts/{user}/devices",
        {"device_token": tokens["deactivated"], "platform": "android"},
        token=jwt,
    )
    gone = requests.delete(
        f"{base}/api/accounts/{user}/devices/{created.json()['id']}",
        headers={"Authorization": f"Bearer {jwt}"},
        timeout=10,
    )
    assert gone.status_code == 204
    return tokens


def erase_user(base: str, user: str) -> dict[str, int]:
    reply = requests.delete(f"{base}/internal/users/{user}", timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    body: dict[str, dict[str, int]] = reply.json()
    assert set(body) == {"erased"}
    assert set(body["erased"]) == USER_ERASED_KINDS
    return body["erased"]


def erase_phone(base: str, phone: str) -> dict[str, int]:
    reply = post(f"{base}/internal/presignup-tokens/erase", {"phone": phone})
    assert reply.status_code == 200, reply.text
    body: dict[str, dict[str, int]] = reply.json()
    assert set(body) == {"erased"}
    assert set(body["erased"]) == PHONE_ERASED_KINDS
    return body["erased"]


def mentions(dump: list[Item], values: list[str]) -> list[tuple[str, str]]:
    """Keys of the items whose keys or attributes contain any of `values` (or their token digests)."""
    needles = values + [token_digest(v) for v in values if v.isascii()]
    return [
        (item["pk"]["S"], item["sk"]["S"])
        for item in dump
        if any(needle in json.dumps(item) for needle in needles)
    ]


def test_register_everywhere_export_erase_and_nothing_remains(
    local_api: str, ddb_local: Any, make_token: Callable[..., str], consistent: Callable[[], list[Item]]
) -> None:
    user = new_user()
    jwt = make_token(user, abilities=["backoffice"])
    tokens = register_everywhere(local_api, user, jwt)
    phone, typed = new_phone()
    presignup_token = new_push_token()
    stored = post(
        f"{local_api}/api/public/fcm-token",
        {
            "phone": phone,
            "fcmToken": presignup_token,
            "deviceType": "android",
            "deviceId": "privacy-device-1",
            "meta": {"appVersion": "1.2.3"},
        },
        User_Agent="privacy-test-agent/1.0",
    )
    assert stored.status_code == 201, stored.text

    # Export: everything present, every field, tokens included.
    exported = requests.get(f"{local_api}/internal/users/{user}/export", timeout=10)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["user_id"] == user
    by_token = {r["token"]: r for r in document["registrations"]}
    assert set(by_token) == set(tokens.values())
    assert {by_token[tokens[api]]["source"] for api in CLIENT_APIS} == set(CLIENT_APIS)
    for record in by_token.values():
        assert {
            "id",
            "owner",
            "token",
            "provider",
            "active",
            "device_info",
            "source",
            "created_at",
            "updated_at",
            "last_used_at",
            "expires_at",
        } <= set(record)
        assert record["owner"] == user
    assert by_token[tokens["deactivated"]]["active"] is False
    assert "iPhone 15" in by_token[tokens[catalog.ACCOUNTS.name]]["device_info"].values()
    assert by_token[tokens[catalog.CAMERA.name]]["device_info"]["language"] == "pt"
    assert by_token[tokens[catalog.PIGEONS.name]]["tenant"] == "local"
    assert sorted(g["device_id"] for g in document["token_guards"]) == sorted(
        by_token[tokens[api]]["id"] for api in CLIENT_APIS
    )
    assert {g["token_digest"] for g in document["token_guards"]} == {
        token_digest(tokens[api]) for api in CLIENT_APIS
    }
    # The owner roster (MaxDevicesPerUser): a count of the registrations the user added, no device data.
    [roster] = document["other_items"]
    assert set(roster) == {"sort_key", "count", "version", "expires_at"}
    assert (roster["sort_key"], roster["count"]) == ("ROSTER", len(document["registrations"]))
    assert [c["scope"] for c in document["rate_counters"]] == [USER_SCOPE]
    assert document["rate_counters"][0]["hits"] == 1

    phone_export = post(f"{local_api}/internal/presignup-tokens/export", {"phone": typed})
    assert phone_export.status_code == 200, phone_export.text
    phone_document = phone_export.json()
    assert phone_document["phone"] == phone
    [record] = phone_document["records"]
    assert record["id"] == stored.json()["id"]
    assert (record["phone"], record["token"], record["device_id"], record["device_type"]) == (
        phone,
        presignup_token,
        "privacy-device-1",
        "android",
    )
    assert json.loads(record["meta"]) == {"appVersion": "1.2.3"}
    assert record["user_agent"] == "privacy-test-agent/1.0"
    assert record["source_ip"].startswith("127.")
    assert {"created_at", "updated_at", "expires_at"} <= set(record)
    assert [(g["device_id"], g["record_id"]) for g in phone_document["device_guards"]] == [
        ("privacy-device-1", record["id"])
    ]
    assert [(g["token_digest"], g["record_id"]) for g in phone_document["token_guards"]] == [
        (token_digest(presignup_token), record["id"])
    ]

    # Erase both.
    assert erase_user(local_api, user) == {
        "registrations": 5,
        "token_guards": 4,
        "other_items": 1,  # the owner roster
        "rate_counters": 1,
    }
    assert erase_phone(local_api, typed) == {
        "records": 1,
        "device_guards": 1,
        "token_guards": 1,
        "other_items": 0,
    }

    # Nothing of theirs remains anywhere in the table.
    dump = consistent()
    subject_values = [user, phone, presignup_token, *tokens.values()]
    assert mentions(dump, subject_values) == []
    counter_pk = f"RATE#{counter_key(USER_SCOPE, user)}"
    assert [i for i in dump if i["pk"]["S"] in (f"OWNER#{user}", f"PHONE#{phone}", counter_pk)] == []

    # A second erasure finds nothing.
    assert erase_user(local_api, user) == dict.fromkeys(USER_ERASED_KINDS, 0)
    assert erase_phone(local_api, phone) == dict.fromkeys(PHONE_ERASED_KINDS, 0)
    empty = requests.get(f"{local_api}/internal/users/{user}/export", timeout=10).json()
    assert [empty[k] for k in ("registrations", "token_guards", "other_items", "rate_counters")] == [[]] * 4

    # The tokens are free: another user registers every one of them with the accounts API (which
    # refuses held tokens), and another phone the pre-signup token.
    other = new_user()
    other_jwt = make_token(other)
    for token in tokens.values():
        again = post(
            f"{local_api}/api/accounts/{other}/devices",
            {"device_token": token, "platform": "android"},
            token=other_jwt,
        )
        assert again.status_code == 201, again.text
    other_phone, _ = new_phone()
    reposted = post(f"{local_api}/api/public/fcm-token", {"phone": other_phone, "fcmToken": presignup_token})
    assert reposted.status_code == 201
    assert reposted.json()["id"] != record["id"]
    consistent()


def test_erasure_leaves_other_users_tokens_and_guards_alone(
    local_api: str, ddb_local: Any, make_token: Callable[..., str], consistent: Callable[[], list[Item]]
) -> None:
    """Tokens the user once held and another user holds now stay the other user's: one taken over
    (the user's registration went with it), one registered anew after the user deactivated theirs
    (the user's deactivated registration is still stored, under the same token digest)."""
    user, other = new_user(), new_user()
    jwt, other_jwt = make_token(user), make_token(other)
    taken_over, freed, own = new_push_token(), new_push_token(), new_push_token()
    for token in (taken_over, own):
        assert post(f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": token}, token=jwt).ok
    assert post(
        f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": taken_over}, token=other_jwt
    ).ok
    deactivate_then_register_elsewhere(local_api, freed, (user, jwt), (other, other_jwt))

    assert erase_user(local_api, user) == {
        "registrations": 2,
        "token_guards": 1,
        "other_items": 1,  # the owner roster
        "rate_counters": 0,
    }

    remaining = requests.get(f"{local_api}/internal/users/{other}/tokens", timeout=10).json()["tokens"]
    assert sorted(t["token"] for t in remaining) == sorted([taken_over, freed])
    dump = consistent()
    for token in (taken_over, freed):
        guard = next(i for i in dump if i["pk"]["S"] == f"TOKEN#{token_digest(token)}")
        assert guard["owner"]["S"] == other


def test_erasing_a_phone_leaves_the_token_its_expired_record_lost_to_another_phone(
    local_api: str, ddb_local: Any, consistent: Callable[[], list[Item]]
) -> None:
    """An expired record TTL has not deleted yet (up to about two days) whose token another phone
    posted since: the erasure deletes the record and checks, in the same transaction, that the guard
    still names the other phone (a ConditionCheck), leaving the token with it."""
    (phone, _), (other, _) = new_phone(), new_phone()
    token = new_push_token()
    yesterday = datetime.now(UTC) - timedelta(hours=25)
    PreSignup(PreSignupStore(ddb_local.client, ddb_local.table_name), clock=lambda: yesterday).register(
        PreSignupPost(phone=phone, token=token, device_id="dev-old")
    )
    assert post(f"{local_api}/api/public/fcm-token", {"phone": other, "fcmToken": token}).status_code == 201

    assert erase_phone(local_api, phone)["records"] == 1
    assert erase_phone(local_api, phone)["records"] == 0

    looked_up = post(f"{local_api}/internal/presignup-tokens/lookup", {"phone": other})
    assert [t["token"] for t in looked_up.json()["tokens"]] == [token], looked_up.text
    consistent()


def deactivate_then_register_elsewhere(
    base: str, token: str, owner: tuple[str, str], other: tuple[str, str], deactivate: bool = True
) -> None:
    """`owner` registers `token` and deactivates it (unless already done); `other` registers it."""
    if deactivate:
        created = post(
            f"{base}/api/accounts/{owner[0]}/devices",
            {"device_token": token, "platform": "android"},
            token=owner[1],
        )
        assert created.status_code == 201
        gone = requests.delete(
            f"{base}/api/accounts/{owner[0]}/devices/{created.json()['id']}",
            headers={"Authorization": f"Bearer {owner[1]}"},
            timeout=10,
        )
        assert gone.status_code == 204
    again = post(
        f"{base}/api/accounts/{other[0]}/devices", {"device_token": token, "platform": "ios"}, token=other[1]
    )
    assert again.status_code == 201, again.text


class HandOverAfterReading(OwnerData):
    """Erases as the real store does (RegistrationStore.erase_owner is OwnerData's), but another user
    takes `token` over right after the guards were read, the interleaving in which an unconditional
    guard delete would free their token."""

    def __init__(self, client: Any, table: str, hand_over: Callable[[], None]) -> None:
        super().__init__(client, table)
        self._hand_over: Callable[[], None] | None = hand_over

    def _guards_of(self, registrations: list[Item]) -> dict[tuple[str, str], Item]:
        guards = super()._guards_of(registrations)
        if self._hand_over is not None:
            self._hand_over()
            self._hand_over = None
        return guards


@pytest.mark.parametrize("held", [True, False], ids=["live-then-taken-over", "deactivated-then-registered"])
def test_a_token_handed_on_between_read_and_erase_stays_with_its_new_holder(
    local_api: str,
    ddb_local: Any,
    make_token: Callable[..., str],
    consistent: Callable[[], list[Item]],
    held: bool,
) -> None:
    user, other = new_user(), new_user()
    jwt, other_jwt = make_token(user), make_token(other)
    token = new_push_token()
    if held:
        assert post(f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": token}, token=jwt).ok
    else:
        created = post(
            f"{local_api}/api/accounts/{user}/devices",
            {"device_token": token, "platform": "android"},
            token=jwt,
        )
        requests.delete(
            f"{local_api}/api/accounts/{user}/devices/{created.json()['id']}",
            headers={"Authorization": f"Bearer {jwt}"},
            timeout=10,
        )

    def hand_over() -> None:
        if held:  # the camera API takes a live token over: the user's registration goes with it
            taken = post(
                f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": token}, token=other_jwt
            )
            assert taken.status_code == 200
        else:  # a free token: the user's deactivated registration stays until erased
            deactivate_then_register_elsewhere(
                local_api, token, (user, jwt), (other, other_jwt), deactivate=False
            )

    store = HandOverAfterReading(ddb_local.client, ddb_local.table_name, hand_over)
    counts = store.erase_owner(user)

    assert counts == {"registrations": 0 if held else 1, "token_guards": 0, "other_items": 1}  # the roster
    remaining = requests.get(f"{local_api}/internal/users/{other}/tokens", timeout=10).json()["tokens"]
    assert [t["token"] for t in remaining] == [token]
    consistent()


def test_erasure_racing_registrations_of_the_same_tokens_leaves_a_consistent_table(
    local_api: str, ddb_local: Any, make_token: Callable[..., str]
) -> None:
    before = audit(ddb_local)[1]
    apis = CLIENT_APIS
    for _round in range(3):
        user = new_user()
        others = [new_user() for _ in range(4)]
        jwts = {u: make_token(u, abilities=["backoffice"]) for u in [user, *others]}
        tokens = [new_push_token() for _ in range(8)]
        for index, token in enumerate(tokens):
            api = apis[index % len(apis)]
            setup = race(local_api, [registration(api, user, token, jwts[user])])[0]
            assert setup.status < 300, setup
        calls = [Call("DELETE", f"/internal/users/{user}")]
        for index, token in enumerate(tokens):
            # The user re-registering, and other users taking the same tokens, while the erasure runs.
            calls.append(registration(apis[index % len(apis)], user, token, jwts[user]))
            calls.append(
                registration(apis[(index + 1) % len(apis)], others[index % 4], token, jwts[others[index % 4]])
            )
        calls += [Call("DELETE", f"/internal/users/{user}", delay=0.01)]

        replies = race(local_api, calls)

        check_invariants(ddb_local, tolerated=before)
        assert all(reply.status < 500 for reply in replies), [r.status for r in replies]
        assert replies[0].status == 200
        assert replies[-1].status == 200
        # A last erasure, with nothing racing it, leaves nothing of the user.
        erase_user(local_api, user)
        dump = check_invariants(ddb_local, tolerated=before)
        assert [i for i in dump if i["pk"]["S"] == f"OWNER#{user}"] == []
        assert [i for i in dump if i.get("owner", {}).get("S") == user] == []


def test_erasure_racing_presignup_posts_of_the_same_phone_leaves_a_consistent_table(
    local_api: str, ddb_local: Any
) -> None:
    before = audit(ddb_local)[1]
    phone, _ = new_phone()
    tokens = [new_push_token() for _ in range(6)]
    for index, token in enumerate(tokens):
        body = {"phone": phone, "fcmToken": token, "deviceId": f"race-device-{index}"}
        assert post(f"{local_api}/api/public/fcm-token", body).status_code == 201
    calls = [Call("POST", "/internal/presignup-tokens/erase", {"phone": phone})]
    for index, token in enumerate(tokens):
        calls.append(
            Call(
                "POST",
                "/api/public/fcm-token",
                {"phone": phone, "fcmToken": token, "deviceId": f"race-device-{index}"},
            )
        )
        other, _ = new_phone()
        calls.append(Call("POST", "/api/public/fcm-token", {"phone": other, "fcmToken": token}))

    replies = race(local_api, calls)

    assert all(reply.status < 500 for reply in replies), [r.status for r in replies]
    check_invariants(ddb_local, tolerated=before)
    erase_phone(local_api, phone)
    dump = check_invariants(ddb_local, tolerated=before)
    assert [i for i in dump if i["pk"]["S"] == f"PHONE#{phone}"] == []
    assert [i for i in dump if i.get("phone", {}).get("S") == phone] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/internal/presignup-tokens/erase", {}),
        ("POST", "/internal/presignup-tokens/erase", {"phone": "not a phone"}),
        ("POST", "/internal/presignup-tokens/erase", {"phone": "+14155550100", "extra": 1}),
        ("POST", "/internal/presignup-tokens/export", {"phone": 14155550100}),
        ("POST", "/internal/presignup-tokens/export", None),
        ("DELETE", "/internal/users/" + "u" * 1025, None),
        ("GET", "/internal/users/" + "u" * 1025 + "/export", None),
    ],
)
def test_bad_privacy_requests_are_400_in_the_internal_dialect(
    local_api: str, ddb_local: Any, method: str, path: str, body: Any
) -> None:
    kept = lambda: {  # noqa: E731 - keys of the items that are not expired (TTL may remove those)
        (i["pk"]["S"], i["sk"]["S"])
        for i in scan(ddb_local.client, ddb_local.table_name)
        if int(i.get("expires_at", {}).get("N", "9999999999")) > time.time() + 60
    }
    before = kept()
    reply = requests.request(method, f"{local_api}{path}", json=body, timeout=10)
    assert reply.status_code == 400, reply.text
    assert set(reply.json()) == {"message"}
    assert before <= kept() | set(), "a refused request deletes nothing"


def test_the_erasure_queue_erases_users_and_phones_and_fails_only_bad_messages(
    local_api: str,
    ddb_local: Any,
    make_token: Callable[..., str],
    load_handler: Callable[[str], ModuleType],
    consistent: Callable[[], list[Item]],
) -> None:
    user = new_user()
    jwt = make_token(user, abilities=["backoffice"])
    tokens = register_everywhere(local_api, user, jwt)
    phone, typed = new_phone()
    presignup_token = new_push_token()
    assert post(f"{local_api}/api/public/fcm-token", {"phone": phone, "fcmToken": presignup_token}).ok
    bodies = [{"erase_user": user}, {"erase_phone": typed}, {"erase_phone": "not a phone"}, "not json", {}]
    event = {
        "Records": [
            {
                "messageId": f"message-{index}",
                "receiptHandle": "handle",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1", "SenderId": "AROAEXAMPLE:deletion-workflow"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:push-registry-test-erasures",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }

    result = load_handler("privacy_erasures_queue").handler(event, QueueContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": f"message-{i}"} for i in (2, 3, 4)]}
    dump = consistent()
    assert mentions(dump, [user, phone, presignup_token, *tokens.values()]) == []


class QueueContext:
    function_name = "privacy-erasures-queue"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:privacy-erasures-queue"
    aws_request_id = "queue-request"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
