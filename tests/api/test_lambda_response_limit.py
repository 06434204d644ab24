"""Lambda's 6 MB limit on a synchronous response, in the local API and the events replay (local/events.py).

Lambda refuses to send back a result of more than 6,291,556 bytes; API Gateway then answers 502
`{"message": "Internal server error"}`, whatever the handler returned.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from local import server
from local.events import LAMBDA_RESPONSE_MAX_BYTES, ResponseTooLarge, check_response_size


def proxy_result(body_bytes: int, char: str = "x") -> dict[str, Any]:
    """A proxy result whose JSON is exactly `body_bytes` + the envelope's bytes long."""
    return {"statusCode": 200, "headers": {}, "body": char * (body_bytes // len(char.encode()))}


def test_a_result_of_6291556_bytes_is_sent_and_one_more_byte_is_refused() -> None:
    envelope = len(json.dumps(proxy_result(0)).encode())
    assert (
        check_response_size(proxy_result(LAMBDA_RESPONSE_MAX_BYTES - envelope)) == LAMBDA_RESPONSE_MAX_BYTES
    )
    with pytest.raises(ResponseTooLarge) as refused:
        check_response_size(proxy_result(LAMBDA_RESPONSE_MAX_BYTES - envelope + 1))
    assert refused.value.size == LAMBDA_RESPONSE_MAX_BYTES + 1


def test_the_size_is_counted_in_utf8_bytes_not_characters() -> None:
    # 2.2 million characters, 6.6 MB: Lambda's Python 3.13 runtime sends them unescaped, in UTF-8.
    with pytest.raises(ResponseTooLarge):
        check_response_size(proxy_result(6_600_000, "€"))


@pytest.fixture
def api_with_a_huge_result(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local API whose every handler returns a 200 of 6,291,557 bytes or more."""
    huge = SimpleNamespace(handler=lambda event, context: proxy_result(LAMBDA_RESPONSE_MAX_BYTES))
    monkeypatch.setattr(server, "load_function", lambda code_dir, handler="app.handler": huge)
    api = server.LocalApi(access_log=False).start()
    yield api.base_url
    api.stop()


def test_the_local_api_answers_502_for_a_result_lambda_refuses(
    api_with_a_huge_result: str, capfd: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    reply = requests.get(f"{api_with_a_huge_result}/internal/users/{uuid.uuid4().hex}/tokens", timeout=30)
    assert (reply.status_code, reply.json()) == (502, {"message": "Internal server error"})
    assert time.monotonic() - started < 30
    assert (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        in capfd.readouterr().err
    )
