"""The operator commands against the local API (which, like `make run`, checks no IAM), run as an
operator runs them: the installed `push-registry` command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from ops.importer import ImportJob, run_import
from ops.operator_api import InternalApi
from ops.progress import Silent
from ops.sources import PINPOINT
from push_registry.registration import CHANNEL_TYPES
from push_registry.registry import NewDevice, Registry
from push_registry.storage import RegistrationStore
from tests.api.helpers import new_push_token, new_user, post

pytestmark = pytest.mark.integration


# The installed console script, run as an operator runs it (make venv installs it).
PUSH_REGISTRY = str(Path(sys.executable).parent / "push-registry")


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PUSH_REGISTRY, *args], input=stdin or "", capture_output=True, text=True, timeout=60, check=False
    )


def answer(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def camera_user(local_api: str, make_token: Callable[..., str]) -> tuple[str, str]:
    user, token = new_user(), new_push_token()
    registered = post(
        f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": token}, token=make_token(user)
    )
    assert registered.status_code == 200, registered.text
    return user, token


def test_who_holds_user_and_invalidate(local_api: str, camera_user: tuple[str, str]) -> None:
    user, token = camera_user

    holder = answer(cli("who-holds", token, "--api", local_api))["holder"]
    assert (holder["user_id"], holder["source"], holder["provider"]) == (user, "camera", "fcm")
    listed = answer(cli("user", user, "--api", local_api))
    assert [t["token"] for t in listed["tokens"]] == [token]
    assert listed["tokens"][0]["id"] == holder["id"]

    # `-` reads the token from stdin, out of the shell's history
    assert answer(
        cli("invalidate", "-", "--reason", "UNREGISTERED", "--api", local_api, stdin=token + "\n")
    ) == {"status": "deactivated"}
    assert answer(cli("invalidate", token, "--reason", "UNREGISTERED", "--api", local_api)) == {
        "status": "not_found"
    }
    assert answer(cli("who-holds", token, "--api", local_api)) == {"holder": None}
    assert answer(cli("user", user, "--api", local_api))["tokens"] == []


def test_user_follows_every_page(local_api: str, ddb_local: Any) -> None:
    user = new_user()
    tokens = {new_push_token() for _ in range(105)}  # the route answers at most 100 per page
    # More than MaxDevicesPerUser (20) live: an account from before the cap, or of a stack without one.
    uncapped = Registry(RegistrationStore(ddb_local.client, ddb_local.table_name, max_devices_per_user=0))
    for token in tokens:
        uncapped.register_device(user, NewDevice(token=token, platform="android"), "camera")
    assert {t["token"] for t in answer(cli("user", user, "--api", local_api))["tokens"]} == tokens
    # More than one SendMessages request can address: said, rather than a request that fails.
    too_many = cli("user", user, "--addresses", "--api", local_api)
    assert too_many.returncode == 1
    assert "105 addresses: SendMessages takes at most 100 a request" in too_many.stderr


def imported_from_pinpoint(ddb_local: Any, tmp_path: Path, user: str) -> dict[str, str]:
    """The user's endpoints of a Pinpoint export, one per push channel, imported: token -> ChannelType."""
    channels = {kind.value: f"{uuid.uuid4().hex * 2}" for kinds in CHANNEL_TYPES.values() for kind in kinds}
    channels["GCM"] = new_push_token()
    used = datetime.now(UTC) - timedelta(days=1)
    export = tmp_path / "pinpoint.jsonl"
    export.write_text(
        "".join(
            json.dumps(
                {
                    "ChannelType": channel,
                    "Address": token,
                    "EffectiveDate": used.isoformat(),
                    "User": {"UserId": user},
                }
            )
            + "\n"
            for channel, token in channels.items()
        ),
        encoding="utf-8",
    )
    job = ImportJob(
        path=export, source=PINPOINT, table=ddb_local.table_name, endpoint_url=ddb_local.endpoint_url
    )
    assert run_import(job, Silent()).counts.imported == len(channels)
    return {token: channel for channel, token in channels.items()}


def test_user_addresses_is_a_send_messages_request_botocore_accepts(
    local_api: str, ddb_local: Any, tmp_path: Path, make_token: Callable[..., str]
) -> None:
    """`user --addresses`, given a MessageConfiguration, is a SendMessages request valid against
    botocore's own model of the pinpoint service (the API End User Messaging kept for push)."""
    user = new_user()
    expected = imported_from_pinpoint(ddb_local, tmp_path, user)
    jwt = make_token(user, abilities=["backoffice"])
    camera_token, apns_token = new_push_token(), uuid.uuid4().hex * 2
    for path, body in (
        ("/user/setusertoken", {"msgType": "FCM", "msgToken": camera_token}),
        (f"/api/accounts/{user}/devices", {"device_token": apns_token, "platform": "ios"}),
    ):
        assert post(f"{local_api}{path}", body, token=jwt).status_code in (200, 201)
    web = post(
        f"{local_api}/api/v1/pigeons/chat/devices",
        {"token": f"https://push.example/{uuid.uuid4().hex}", "platform": "web"},
        token=jwt,
        X_PUBLIC_KEY="pk_local_pigeons",
    )
    assert web.status_code == 201, web.text

    printed = cli("user", user, "--addresses", "--api", local_api)

    message_request = answer(printed)
    assert message_request["Addresses"] == {
        **{token: {"ChannelType": channel} for token, channel in expected.items()},
        camera_token: {"ChannelType": "GCM"},
        apns_token: {"ChannelType": "APNS"},  # the client APIs' APNs tokens: production
    }
    assert "left out 1 web push token" in printed.stderr
    model = botocore.session.get_session().get_service_model("pinpoint")
    send_messages = model.operation_model("SendMessages").input_shape
    request_shape = send_messages.members["MessageRequest"]
    message_request["MessageConfiguration"] = {
        "DefaultPushNotificationMessage": {"Title": "Hello", "Body": "From the registry"}
    }
    request = {"ApplicationId": "6e0b7591a90841d2b5d93fa11143e5a7", "MessageRequest": message_request}
    validate_parameters(request, send_messages)
    # botocore's validation checks names, types and required members, not enum values: those here.
    channel_types = request_shape.members["Addresses"].value.members["ChannelType"].enum
    assert {a["ChannelType"] for a in message_request["Addresses"].values()} <= set(channel_types)
    # The check has teeth: an unknown member, or no MessageConfiguration, is refused.
    for wrong in (
        {**message_request, "Addresses": {"t": {"Channel": "GCM"}}},
        {"Addresses": message_request["Addresses"]},
    ):
        with pytest.raises(ParamValidationError):
            validate_parameters(wrong, request_shape)


def test_phone_lists_presignup_tokens(local_api: str) -> None:
    token = new_push_token()
    stored = post(f"{local_api}/api/public/fcm-token", {"phone": "+14155550142", "fcmToken": token})
    assert stored.status_code == 201, stored.text

    found = answer(cli("phone", "(415) 555-0142", "--api", local_api))
    assert token in [t["token"] for t in found["tokens"]]


def test_errors_are_one_line_and_a_nonzero_exit(local_api: str) -> None:
    bad = cli("who-holds", "has a space", "--api", local_api)
    assert bad.returncode == 1
    assert "HTTP 400" in bad.stderr
    assert "Traceback" not in bad.stderr

    unreachable = cli("user", "someone", "--api", "http://127.0.0.1:9")
    assert unreachable.returncode == 1
    assert "cannot reach" in unreachable.stderr

    assert cli("who-holds", "t").returncode == 2  # neither --api nor --stack
    assert cli("invalidate", "t", "--reason", "because", "--api", local_api).returncode == 2


def test_erase_asks_before_it_erases(local_api: str, camera_user: tuple[str, str]) -> None:
    user, token = camera_user
    declined = cli("erase-user", user, "--api", local_api, stdin="n\n")
    assert declined.returncode == 1  # aborted: nothing was sent
    assert answer(cli("who-holds", token, "--api", local_api))["holder"]["user_id"] == user


def test_erase_user(local_api: str, camera_user: tuple[str, str]) -> None:
    user, token = camera_user
    erased = cli("erase-user", user, "--yes", "--api", local_api)
    assert erased.returncode == 0, erased.stderr
    assert answer(cli("who-holds", token, "--api", local_api)) == {"holder": None}
    assert answer(cli("user", user, "--api", local_api))["tokens"] == []
    assert cli("erase-user", user, "--yes", "--api", local_api).returncode == 0  # idempotent


def test_erase_phone(local_api: str) -> None:
    token = new_push_token()
    assert (
        post(f"{local_api}/api/public/fcm-token", {"phone": "+14155550143", "fcmToken": token}).status_code
        == 201
    )
    erased = cli("erase-phone", "-", "--yes", "--api", local_api, stdin="+14155550143\n")
    assert erased.returncode == 0, erased.stderr
    assert answer(cli("phone", "+14155550143", "--api", local_api))["tokens"] == []


# ---------------------------------------------------------------------- SigV4


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []  # noqa: RUF012 - one recorder per test server

    def do_POST(self) -> None:
        self.seen.append(dict(self.headers.items()))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"holder": null}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prod", _Recorder.seen
    server.shutdown()
    server.server_close()


def test_requests_are_signed_for_execute_api_with_the_callers_credentials(
    recorder: tuple[str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = recorder
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDOPERATOR")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")

    assert InternalApi(url, region="eu-west-1").request(
        "POST", "/internal/tokens/holder", {"token": "t"}
    ).body == {"holder": None}

    authorization = seen[0]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDOPERATOR/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert seen[0]["X-Amz-Security-Token"] == "session-token"
    assert "X-Amz-Date" in seen[0]
