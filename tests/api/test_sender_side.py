"""The sender side over HTTP: look up live tokens, send, report what the provider rejected."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.api.helpers import new_push_token, new_user, post

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
