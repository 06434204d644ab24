"""No route answers 500 for an id, key, cursor or string that DynamoDB would refuse.

The local API's DynamoDB client refuses what DynamoDB refuses (local/aws_limits.py), so a request whose
id would make an over-long key, or whose strings are not Unicode, fails here as it would in AWS unless
the domain refuses it first: each must be the route's own 4xx (a bad message on the erasure queue).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import pytest
import requests

from local.events import LambdaContext
from tests.api.helpers import new_user

EVENTS = Path(__file__).resolve().parents[2] / "events"

LONG_ASCII = "u" * 2049  # a partition key of 2,049 bytes or more once prefixed
LONG_IN_BYTES = "€" * 700  # 700 characters (under 1,024), 2,100 bytes of UTF-8


def url(base: str, path: str) -> str:
    return base + quote(path, safe="/")


def forged_cursor(owner: str, device_id: str) -> str:
    """A cursor as the registry encodes one (registry._encode_cursor), for `owner`, naming any id."""
    tag = hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    raw = json.dumps(["2026-01-15T10:30:00.000000+00:00", device_id, tag]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ---------------------------------------------------------------------- the internal routes


@pytest.mark.integration
@pytest.mark.parametrize("user", [LONG_ASCII, LONG_IN_BYTES], ids=["2049_ascii", "2100_bytes_in_700_chars"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/internal/users/{}/tokens"),
        ("GET", "/internal/users/{}/export"),
        ("DELETE", "/internal/users/{}"),
    ],
)
def test_an_over_long_user_id_is_400_on_every_internal_user_route(
    local_api: str, method: str, path: str, user: str
) -> None:
    reply = requests.request(method, url(local_api, path.format(user)), timeout=10)
    assert (reply.status_code, set(reply.json())) == (400, {"message"}), reply.text
    assert "userId" in reply.json()["message"]


@pytest.mark.integration
def test_a_user_id_of_1024_bytes_is_read(local_api: str) -> None:
    reply = requests.get(url(local_api, "/internal/users/{}/tokens".format("é" * 512)), timeout=10)
    assert (reply.status_code, reply.json()) == (200, {"tokens": [], "next_cursor": None})


class Records(logging.Handler):
    """The log records of the service's logger, as they are emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    from push_registry.observability import logger  # here: the local API's environment is set

    captured, service = Records(), logging.getLogger(logger.name)
    service.addHandler(captured)
    yield captured
    service.removeHandler(captured)


@pytest.mark.integration
def test_the_erasure_queue_refuses_an_over_long_user_as_a_bad_message(
    load_handler: Callable[[str], ModuleType], records: Records
) -> None:
    """A bad message (InvalidRequest), not a DynamoDB call that fails: 2,100 bytes in 700 characters."""
    [record, *_] = json.loads((EVENTS / "privacy_erasures_queue.json").read_text())["Records"]
    over_long = {**record, "messageId": "over-long-user", "body": json.dumps({"erase_user": LONG_IN_BYTES})}
    good = {**record, "messageId": "fine", "body": json.dumps({"erase_user": new_user()})}

    result = load_handler("privacy_erasures_queue").handler(
        {"Records": [over_long, good]}, LambdaContext("privacy-erasures-queue", timeout_ms=60_000)
    )

    assert result == {"batchItemFailures": [{"itemIdentifier": "over-long-user"}]}
    failed = [vars(r) for r in records.records if r.getMessage() == "message failed"]
    assert [(r["message_id"], r["outcome"]) for r in failed] == [("over-long-user", "InvalidRequest")]


# ---------------------------------------------------------------------- cursors


@pytest.mark.integration
@pytest.mark.parametrize("device_id", ["\ud800", "x\udfffy"], ids=["lone_high", "lone_low"])
def test_a_forged_cursor_with_a_lone_surrogate_is_400_in_the_accounts_dialect(
    local_api: str, make_token: Callable[..., str], device_id: str
) -> None:
    owner = new_user()
    reply = requests.get(
        f"{local_api}/api/accounts/{owner}/devices",
        params={"cursor": forged_cursor(owner, device_id)},
        headers={"Authorization": f"Bearer {make_token(owner)}"},
        timeout=10,
    )
    assert (reply.status_code, reply.json()["code"]) == (400, "DEVICE_TOKEN_ERR_03"), reply.text


@pytest.mark.integration
def test_a_forged_cursor_with_a_lone_surrogate_is_400_on_the_internal_tokens_route(local_api: str) -> None:
    owner = new_user()
    reply = requests.get(
        f"{local_api}/internal/users/{owner}/tokens",
        params={"cursor": forged_cursor(owner, "\ud800")},
        timeout=10,
    )
    assert (reply.status_code, set(reply.json())) == (400, {"message"}), reply.text
