"""The operator commands against the local API (which, like `make run`, checks no IAM), run as an
operator runs them: the installed `push-registry` command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from ops.operator_api import InternalApi
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
