"""The sender side over HTTP: look up live tokens, send, report what the provider rejected."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from local.events import LambdaContext
from local.template import load_template
from push_registry import runtime
from push_registry.invalidation import MAX_INVALIDATIONS
from push_registry.presignup import PreSignup, PreSignupPost
from push_registry.registration import token_digest
from push_registry.registry import NewDevice, Registry
from push_registry.storage import PreSignupStore, RegistrationStore
from tests.api.helpers import new_push_token, new_user, post

EVENTS = Path(__file__).resolve().parents[2] / "events"

pytestmark = pytest.mark.integration


def test_a_senders_loop_look_up_send_report(local_api: str, make_token: Callable[..., str]) -> None:
    user = new_user()
    jwt = make_token(user, abilities=["backoffice"])
    accounts_token, camera_token = new_push_token(), new_push_token()
    post(
        f"{local_api}/api/accounts/{user}/devices",
        {"device_token": accounts_token, "platform": "ios"},
        token=jwt,
    )
    post(
        f"{local_api}/user/setusertoken",
        {"msgType": "FCM", "msgToken": camera_token, "language": "pt"},
        token=jwt,
    )

    # 1. look up
    looked_up = requests.get(f"{local_api}/internal/users/{user}/tokens", timeout=10).json()
    tokens = {t["token"]: t for t in looked_up["tokens"]}
    assert set(tokens) == {accounts_token, camera_token}
    assert tokens[camera_token]["provider"] == "fcm"
    assert tokens[camera_token]["language"] == "pt"
    assert {"id", "platform", "app_version", "last_used_at", "source"} <= set(tokens[accounts_token])

    # 2. send (the provider answers: the accounts token is gone), 3. report
    report = {
        "invalidations": [
            {"token": accounts_token, "reason": "BadDeviceToken"},
            {"token": "gone", "reason": "404"},
        ]
    }
    first = post(f"{local_api}/internal/tokens/invalidations", report)
    again = post(f"{local_api}/internal/tokens/invalidations", report)

    assert first.json() == {
        "results": [
            {"token": accounts_token, "status": "deactivated"},
            {"token": "gone", "status": "not_found"},
        ]
    }
    assert [r["status"] for r in again.json()["results"]] == ["not_found", "not_found"]
    remaining = requests.get(f"{local_api}/internal/users/{user}/tokens", timeout=10).json()["tokens"]
    assert [t["token"] for t in remaining] == [camera_token]


def test_the_look_up_names_each_tokens_end_user_messaging_channel_type(
    local_api: str, make_token: Callable[..., str]
) -> None:
    """Derived for the client APIs' tokens (which never name an APNs environment): FCM is GCM, APNs is
    APNS (production), web push has no End User Messaging channel."""
    user = new_user()
    jwt = make_token(user, abilities=["backoffice"])
    apns, fcm, webpush = uuid.uuid4().hex * 2, new_push_token(), f"https://push.example/{uuid.uuid4().hex}"
    registered = [
        post(
            f"{local_api}/api/accounts/{user}/devices", {"device_token": apns, "platform": "ios"}, token=jwt
        ),
        post(f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": fcm}, token=jwt),
        post(
            f"{local_api}/api/v1/pigeons/chat/devices",
            {"token": webpush, "platform": "web"},
            token=jwt,
            X_PUBLIC_KEY="pk_local_pigeons",
        ),
    ]
    assert all(r.status_code in (200, 201) for r in registered), [r.text for r in registered]

    looked_up = requests.get(f"{local_api}/internal/users/{user}/tokens", timeout=10).json()["tokens"]

    assert {t["token"]: (t["provider"], t["channel_type"]) for t in looked_up} == {
        apns: ("apns", "APNS"),
        fcm: ("fcm", "GCM"),
        webpush: ("webpush", None),
    }


def test_presignup_lookup_keeps_the_phone_out_of_the_url(local_api: str) -> None:
    token = new_push_token()
    created = post(
        f"{local_api}/api/public/fcm-token",
        {"phone": "+14155550111", "fcmToken": token, "deviceId": "lookup-1"},
    )
    assert created.status_code == 201

    found = post(f"{local_api}/internal/presignup-tokens/lookup", {"phone": "(415) 555-0111"})

    assert found.status_code == 200
    assert [(t["id"], t["token"]) for t in found.json()["tokens"]] == [(created.json()["id"], token)]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/internal/presignup-tokens/lookup", {}),
        ("/internal/presignup-tokens/lookup", {"phone": "not a phone"}),
        ("/internal/tokens/invalidations", {"invalidations": []}),
        ("/internal/tokens/invalidations", {"invalidations": [{"token": "t", "reason": "TOO_SAD"}]}),
        ("/internal/tokens/invalidations", {"invalidations": [{"token": "t", "reason": "410"}] * 501}),
        ("/internal/tokens/invalidations", {"tokens": ["t"]}),
    ],
)
def test_bad_sender_requests_are_400(local_api: str, path: str, body: Any) -> None:
    response = post(f"{local_api}{path}", body)
    assert response.status_code == 400
    assert set(response.json()) == {"message"}


def test_the_queue_consumer_reports_only_the_failed_message(
    load_handler: Callable[[str], Any], local_api: str, make_token: Callable[..., str]
) -> None:
    user, token = new_user(), new_push_token()
    post(f"{local_api}/v1/user-push-tokens/register", {"push_token": token}, token=make_token(user))
    event = json.loads(open("events/token_invalidations_queue.json").read())  # noqa: SIM115
    event["Records"][0]["body"] = json.dumps({"invalidations": [{"token": token, "reason": "UNREGISTERED"}]})

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "queue", 512, "queue"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:queue"

    result = load_handler("token_invalidations_queue").handler(event, Context())

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert requests.get(f"{local_api}/internal/users/{user}/tokens", timeout=10).json()["tokens"] == []


def end_user_messaging_result(address: str, status: str, provider_error: str | None = None) -> dict[str, Any]:
    """One address's entry of a SendMessages Result, as End User Messaging returns it."""
    result: dict[str, Any] = {"DeliveryStatus": status, "StatusCode": 200}
    if provider_error is not None:
        message = {
            "errorMessage": "Unregistered or expired token",
            "channelType": "GCM",
            "pushProviderStatusCode": "200",
            "pushProviderError": provider_error,
        }
        result |= {"StatusCode": 410, "StatusMessage": json.dumps(message)}
    return {address: result}


def test_end_user_messagings_delivery_statuses_go_to_the_route_and_the_queue_as_they_came(
    local_api: str, make_token: Callable[..., str], load_handler: Callable[[str], Any]
) -> None:
    """A sender reports every address of a SendMessages Result: only what says the token is dead
    retires it, through the route and through the queue alike."""
    user = new_user()
    gone, fine, gone_too = new_push_token(), new_push_token(), new_push_token()
    for token in (gone, fine, gone_too):
        registered = post(
            f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": token}, token=make_token(user)
        )
        assert registered.status_code == 200, registered.text
    results = end_user_messaging_result(
        gone, "PERMANENT_FAILURE", "NotRegistered"
    ) | end_user_messaging_result(fine, "SUCCESSFUL")
    report = {
        "invalidations": [
            {"token": address, "reason": r["DeliveryStatus"], "status_message": r.get("StatusMessage")}
            for address, r in results.items()
        ]
    }

    answered = post(f"{local_api}/internal/tokens/invalidations", report)

    assert answered.json() == {
        "results": [{"token": gone, "status": "deactivated"}, {"token": fine, "status": "kept"}]
    }
    event = json.loads((EVENTS / "token_invalidations_queue.json").read_text())
    event["Records"] = event["Records"][:1]
    ((address, result),) = end_user_messaging_result(gone_too, "PERMANENT_FAILURE", "UNREGISTERED").items()
    message = {
        "token": address,
        "reason": result["DeliveryStatus"],
        "status_message": result["StatusMessage"],
    }
    event["Records"][0]["body"] = json.dumps({"invalidations": [message]})
    assert load_handler("token_invalidations_queue").handler(event, LambdaContext("queue")) == {
        "batchItemFailures": []
    }
    remaining = requests.get(f"{local_api}/internal/users/{user}/tokens", timeout=10).json()["tokens"]
    assert [t["token"] for t in remaining] == [fine]


# ---------------------------------------------------------------------- invalidation batches and time

# The latency the measurement used: a read 4 ms, a transaction 12 ms.
READ_SECONDS, TRANSACTION_SECONDS = 0.004, 0.012
FUNCTION_TIMEOUT = float(load_template()["Globals"]["Function"]["Timeout"])


def invalidations_event(tokens: list[str]) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "internal_token_invalidations.json").read_text())
    event["body"] = json.dumps({"invalidations": [{"token": t, "reason": "UNREGISTERED"} for t in tokens]})
    return event


class Operations:
    """The DynamoDB calls the runtime client makes, by name (a botocore event hook; nothing replaced)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._client: Any = runtime._client()
        self._client.meta.events.register("before-call.dynamodb", self._seen, unique_id="sender-side-ops")

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def remove(self) -> None:
        self._client.meta.events.unregister("before-call.dynamodb", unique_id="sender-side-ops")

    def modelled_seconds(self) -> float:
        """The time these calls take at the modelled latency."""
        reads = sum(name in {"GetItem", "BatchGetItem", "Query"} for name in self.names)
        return reads * READ_SECONDS + self.names.count("TransactWriteItems") * TRANSACTION_SECONDS


class ModelledTime(LambdaContext):
    """The invocation's remaining time on the modelled latency, not this shared machine's wall clock."""

    def __init__(self, operations: Operations) -> None:
        super().__init__("internal_token_invalidations")
        self._operations = operations

    def get_remaining_time_in_millis(self) -> int:
        return int((FUNCTION_TIMEOUT - self._operations.modelled_seconds()) * 1000)


@pytest.fixture
def operations(load_handler: Callable[[str], ModuleType]) -> Iterator[Operations]:
    load_handler("internal_token_invalidations")  # the environment is set before runtime builds its client
    seen = Operations()
    yield seen
    seen.remove()


def registered_everywhere(ddb_local: Any, count: int) -> list[str]:
    """Tokens held by a live registration and a live pre-signup record: an invalidation's worst case."""
    registry = Registry(RegistrationStore(ddb_local.client, ddb_local.table_name))
    presignup = PreSignup(PreSignupStore(ddb_local.client, ddb_local.table_name))
    tokens = [new_push_token() for _ in range(count)]
    for token in tokens:
        registry.register_device(new_user(), NewDevice(token, "android"), "accounts")
        presignup.register(PreSignupPost(phone=f"+9194{uuid.uuid4().int % 10**8:08d}", token=token))
    return tokens


def test_a_full_invalidation_batch_fits_the_time_budget_with_margin(
    ddb_local: Any, load_handler: Callable[[str], ModuleType], operations: Operations
) -> None:
    tokens = registered_everywhere(ddb_local, MAX_INVALIDATIONS)
    handler = load_handler("internal_token_invalidations").handler

    result = handler(invalidations_event(tokens), ModelledTime(operations))

    assert result["statusCode"] == 200, result["body"]
    assert {r["status"] for r in json.loads(result["body"])["results"]} == {"deactivated"}
    spent = operations.modelled_seconds()
    # What the calls may use: the function's timeout less one call's worst case and the answer's reserve
    # (storage/table.py starts no call without them).
    config = runtime._CLIENT_CONFIG
    attempts = config.retries["total_max_attempts"]
    one_call = attempts * (config.connect_timeout + config.read_timeout) + sum(
        min(2.0**retry, 20.0) for retry in range(attempts - 1)
    )
    usable = FUNCTION_TIMEOUT - one_call - 0.5
    assert spent * 3 <= usable, f"{operations.names.count('TransactWriteItems')} transactions: {spent:.2f} s"
    # One item more is refused outright, before any work.
    too_many = handler(invalidations_event([*tokens, new_push_token()]), LambdaContext("x"))
    assert too_many["statusCode"] == 400


class RunningOut(LambdaContext):
    """A context with time for `calls` DynamoDB calls: after them, less than one call's worst case."""

    def __init__(self, operations: Operations, calls: int) -> None:
        super().__init__("internal_token_invalidations")
        self._operations, self._calls = operations, calls

    def get_remaining_time_in_millis(self) -> int:
        return 15_000 if len(self._operations.names) < self._calls else 2_000


def test_a_batch_cut_short_answers_503_naming_the_items_not_done(
    ddb_local: Any, load_handler: Callable[[str], ModuleType], operations: Operations
) -> None:
    tokens = registered_everywhere(ddb_local, 4)
    handler = load_handler("internal_token_invalidations").handler
    # One whole item takes 6 calls (guard, registration, transaction; pre-signup guard, record,
    # transaction): time runs out inside the second item.
    result = handler(invalidations_event(tokens), RunningOut(operations, calls=8))

    assert result["statusCode"] == 503, result["body"]
    assert int(result["headers"]["Retry-After"]) >= 1
    body = json.loads(result["body"])
    assert [(r["token"], r["status"]) for r in body["results"]] == [
        (tokens[0], "deactivated"),
        *((token, "not_processed") for token in tokens[1:]),
    ]
    # Sending the batch again finishes it; the item done before is a no-op.
    again = handler(invalidations_event(tokens), ModelledTime(operations))
    assert again["statusCode"] == 200
    assert [r["status"] for r in json.loads(again["body"])["results"]] == [
        "not_found",
        "deactivated",
        "deactivated",
        "deactivated",
    ]


def test_invalidating_a_token_expired_but_not_yet_deleted_by_ttl_is_not_found(
    local_api: str, ddb_local: Any
) -> None:
    # Written with clocks in the past: both items expired, still stored (TTL deletes them days late).
    token, now = new_push_token(), datetime.now(UTC)
    Registry(
        RegistrationStore(ddb_local.client, ddb_local.table_name), clock=lambda: now - timedelta(days=31)
    ).register_device(new_user(), NewDevice(token, "android"), "accounts")
    PreSignup(
        PreSignupStore(ddb_local.client, ddb_local.table_name), clock=lambda: now - timedelta(hours=25)
    ).register(PreSignupPost(phone=f"+9193{uuid.uuid4().int % 10**8:08d}", token=token))
    guard = {"pk": {"S": f"TOKEN#{token_digest(token)}"}, "sk": {"S": "GUARD"}}
    assert "Item" in ddb_local.client.get_item(TableName=ddb_local.table_name, Key=guard)

    started = time.monotonic()
    answer = requests.post(
        f"{local_api}/internal/tokens/invalidations",
        json={"invalidations": [{"token": token, "reason": "UNREGISTERED"}]},
        timeout=30,
    )

    assert (answer.status_code, answer.json()) == (
        200,
        {"results": [{"token": token, "status": "not_found"}]},
    )
    assert time.monotonic() - started < 5, (
        "answered at once, not after retrying a registration it cannot find"
    )
