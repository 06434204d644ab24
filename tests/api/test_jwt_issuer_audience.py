"""Issuer and audience over HTTP: a second local API, configured with JWT_ISSUER and JWT_AUDIENCE.

Settings are read once per cold start, as in Lambda, so the session's local API (no issuer, no
audience) cannot be reconfigured: this module starts `python -m local.server` in its own process,
with both set, on the session's DynamoDB Local. Tokens with the wrong or a missing `iss` or `aud` get
each route's own 401, never a 5xx, and nothing is stored.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.helpers import new_user
from tests.api.test_adversarial import dump
from tests.api.test_jwt_attacks import ROUTES, Route, assert_refused, claims, send, signed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://issuer.example"
AUDIENCE = "push-registry"
WRONG_CLAIMS = {
    "wrong iss": {"iss": "https://evil.example", "aud": AUDIENCE},
    "no iss": {"iss": None, "aud": AUDIENCE},
    "wrong aud": {"iss": ISSUER, "aud": "another-service"},
    "no aud": {"iss": ISSUER, "aud": None},
    "aud list without ours": {"iss": ISSUER, "aud": ["another-service", "a-third"]},
    "neither": {"iss": None, "aud": None},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def configured_api(ddb_local: Any) -> Iterator[str]:
    port = free_port()
    environment = {**os.environ, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.server",
            "--port",
            str(port),
            "--dynamodb-endpoint",
            ddb_local.endpoint_url,
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the configured local API exited"
            try:
                requests.get(f"{base_url}/unknown", timeout=5)
                break
            # Listening but slow to answer its first request (a busy machine) is "not ready yet" too.
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, "the configured local API did not start"
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


def table(ddb_local: Any) -> list[str]:
    """Both tables' items: the configured API writes to the local server's own table."""
    local = type(ddb_local)(ddb_local.endpoint_url, "push-registry-local", ddb_local.client)
    return dump(ddb_local) + dump(local)


@pytest.mark.parametrize("route", ROUTES, ids=[route.label for route in ROUTES])
def test_the_configured_issuer_and_audience_are_accepted(configured_api: str, route: Route) -> None:
    user = new_user()
    for audience in (AUDIENCE, ["another-service", AUDIENCE]):
        token = signed(claims(user, iss=ISSUER, aud=audience))
        response = send(configured_api, route, user, f"Bearer {token}")
        assert response.status_code in (200, 201), (route.label, response.status_code, response.text[:200])


@pytest.mark.parametrize("route", ROUTES, ids=[route.label for route in ROUTES])
@pytest.mark.parametrize("case", WRONG_CLAIMS, ids=list(WRONG_CLAIMS))
def test_a_wrong_or_missing_issuer_or_audience_is_the_routes_401(
    configured_api: str, ddb_local: Any, route: Route, case: str
) -> None:
    user = new_user()
    before = table(ddb_local)
    token = signed(claims(user, **WRONG_CLAIMS[case]))

    response = send(configured_api, route, user, f"Bearer {token}")

    assert_refused(response, route.refusals["invalid"], f"{route.label}: {case}")
    assert table(ddb_local) == before, f"{route.label}: {case}"
