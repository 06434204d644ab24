"""Property-based fuzzing of every route in docs/openapi.yaml against the local API (Schemathesis).

Each operation gets schema-driven cases (positive and negative, from Schemathesis's coverage and
fuzzing phases) sent to the real handlers over HTTP with valid development credentials: a JWT whose
`sub` is the path's `accountId` and whose `abilities` include `backoffice`, and the chat backoffice's
`X-PUBLIC-KEY` (negative cases may still drop or spoil them). Every response must be no 5xx, and its
status, content type, declared headers and body must be the ones the document declares for the
operation. Each call comes from its own loopback address, so the pre-signup route's per-IP limit
(10 a minute, documented 429) does not answer most of them.

Schemathesis's other checks are left out on purpose: `unsupported_method` wants 405 where API Gateway
(and so the local API) answers an undeclared method with the template's 404 gateway response;
`ignored_auth`, `missing_required_header` and `negative_data_rejection` would report the internal
routes' SigV4, which `make run` does not emulate, and the lenient parsing docs/apis/ promise
(`Android`, ` fcm `); `positive_data_acceptance` would report schema-valid but unassigned phone numbers.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.devtoken import DEVELOPMENT_PLATFORM_KEY
from tests.api.helpers import new_client

pytestmark = pytest.mark.integration

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
MAX_EXAMPLES = 40
SEED = 20_261_122
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

schema = schemathesis.openapi.from_path(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES},
            # Undeclared methods are probed with the ones API Gateway routes (its MISSING_AUTHENTICATION_TOKEN
            # 404); TRACE and QUERY never reach a Lambda, and the local harness's http.server answers 501.
            "phases": {
                "coverage": {"unexpected-methods": ["get", "put", "post", "delete", "options", "patch"]}
            },
        }
    ),
)

# What the run did, printed in the terminal summary: cases per operation and statuses seen (those of
# the coverage phase's undeclared-method probes as e.g. "PUT 404").
CASES: Counter[str] = Counter()
STATUSES: Counter[tuple[str, str]] = Counter()
# Ids the API handed out, so PATCH/DELETE cases also reach live registrations, not only 404s.
ACCOUNT_DEVICES: list[str] = []
PIGEON_DEVICES: dict[str, tuple[str, str]] = {}  # token -> (owner, id) of its latest registration
RUN = uuid.uuid4().hex[:8]


def _summary_lines() -> list[str]:
    lines = []
    for label, count in CASES.items():
        statuses = ", ".join(f"{status} x{n}" for (op, status), n in sorted(STATUSES.items()) if op == label)
        lines.append(f"{label}: {count} cases ({statuses})")
    lines.append(f"generated cases: {CASES.total()} over {len(CASES)} operations")
    return lines


class _Summary:
    @staticmethod
    def pytest_terminal_summary(terminalreporter: Any) -> None:
        if not CASES:
            return
        terminalreporter.section("schemathesis fuzzing")
        for line in _summary_lines():
            terminalreporter.write_line(line)

    @staticmethod
    def pytest_sessionfinish(session: pytest.Session) -> None:
        """On a pytest-xdist worker: the lines go to the controller (tests/conftest.py prints them)."""
        output = getattr(session.config, "workeroutput", None)
        if output is not None and CASES:
            output["summary:schemathesis fuzzing"] = _summary_lines()


@pytest.fixture(scope="module", autouse=True)
def _report_case_count(request: pytest.FixtureRequest) -> None:
    if request.config.pluginmanager.get_plugin("fuzz-summary") is None:
        request.config.pluginmanager.register(_Summary(), "fuzz-summary")


def _pick(generated: object, known: list[Any]) -> Any | None:
    """One of `known` for half of the generated values (chosen by the value, so reruns agree)."""
    if not known:
        return None
    digest = hashlib.sha256(str(generated).encode()).digest()
    return known[digest[1] % len(known)] if digest[0] % 2 == 0 else None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    # Every example is an HTTP round trip to DynamoDB Local; bodies can be large by design.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
def test_every_operation_conforms(
    case: schemathesis.Case, local_api: str, make_token: Callable[..., str]
) -> None:
    label = case.operation.label
    path = case.path
    parameters = case.path_parameters if case.path_parameters is not None else {}
    owner = f"fuzz-{RUN}-{CASES.total()}"  # a fresh user, under every per-user limit
    if path.startswith("/api/accounts/"):
        owner = f"fuzz-{RUN}-accounts"  # one account, so GET/PATCH/DELETE see what POST made
        parameters["accountId"] = owner
        if "deviceId" in parameters:
            parameters["deviceId"] = _pick(parameters["deviceId"], ACCOUNT_DEVICES) or parameters["deviceId"]
    elif path == "/api/v1/pigeons/chat/devices/{id}":
        known = _pick(parameters.get("id"), list(PIGEON_DEVICES.values()))
        if known is not None:
            owner, parameters["id"] = known
    headers = {
        "Authorization": f"Bearer {make_token(owner, abilities=['backoffice'])}",
        "X-PUBLIC-KEY": DEVELOPMENT_PLATFORM_KEY,
    }
    CASES[label] += 1
    with new_client() as session:  # its own source IP: the pre-signup limit is per address
        response = case.call(base_url=local_api, session=session, headers=headers, timeout=10)
    probe = f"{case.method} " if case.method.upper() != case.operation.method.upper() else ""
    STATUSES[(label, f"{probe}{response.status_code}")] += 1
    if response.status_code == 204:  # deactivated: picking it again could only give a 404
        gone = parameters.get("deviceId", parameters.get("id"))
        ACCOUNT_DEVICES[:] = [d for d in ACCOUNT_DEVICES if d != gone]
        for token, (_, device) in list(PIGEON_DEVICES.items()):
            if device == gone:
                del PIGEON_DEVICES[token]
    try:
        body = response.json() if response.status_code in (200, 201) else None
    except ValueError:
        body = None  # the checks below say what is wrong with it
    if isinstance(body, dict):
        if label == "POST /api/accounts/{accountId}/devices" and isinstance(body.get("id"), str):
            ACCOUNT_DEVICES.append(body["id"])
        data = body.get("data")
        if label == "POST /api/v1/pigeons/chat/devices" and isinstance(data, dict):
            PIGEON_DEVICES[str(data.get("token"))] = (owner, str(data.get("id")))
    case.validate_response(response, checks=CHECKS, headers=headers)


# Inputs the generators rarely draw, pinned after the fuzzing pointed at the code that reads them.
# Each goes through the same checks as a generated case.
@dataclass(frozen=True)
class Pinned:
    method: str
    path: str
    owner_parameter: str  # the path parameter that names the caller
    query: dict[str, str]


PINNED = {
    # `limit` was read with str.isdigit(), also true of "²" and "①", on which int() then failed (500).
    "accounts-limit-superscript-two": Pinned(
        "GET", "/api/accounts/{accountId}/devices", "accountId", {"limit": "²"}
    ),
    "internal-limit-superscript-two": Pinned(
        "GET", "/internal/users/{userId}/tokens", "userId", {"limit": "²"}
    ),
}


@pytest.mark.parametrize("pinned", PINNED.values(), ids=PINNED.keys())
def test_pinned_cases_conform(pinned: Pinned, local_api: str, make_token: Callable[..., str]) -> None:
    owner = f"fuzz-{RUN}-pinned"
    case = schema[pinned.path][pinned.method].Case(
        path_parameters={pinned.owner_parameter: owner}, query=pinned.query
    )
    headers = {"Authorization": f"Bearer {make_token(owner, abilities=['backoffice'])}"}
    case.call_and_validate(base_url=local_api, headers=headers, checks=CHECKS, timeout=10)
