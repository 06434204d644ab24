"""Every endpoint, on success and error paths, at DEBUG: no raw token, phone number or JWT in any log
line, and every metric emitted is one the dashboard knows."""

from __future__ import annotations

import copy
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.devtoken import make_token
from push_registry import catalog
from push_registry.observability import logger
from push_registry.telemetry import Metric

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"


class Context:
    function_name = "redaction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:redaction"
    aws_request_id = "redaction"


class Capture:
    """Every log record of every logger at DEBUG, formatted as Powertools writes it to CloudWatch."""

    def __init__(self) -> None:
        self.records = io.StringIO()

    @property
    def text(self) -> str:
        return self.records.getvalue()


def emitted_metrics(stdout: str) -> set[str]:
    """The metric names of the EMF documents Powertools printed."""
    names = set()
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names |= {metric["Name"] for metric in directive["Metrics"]}
    return names


@pytest.fixture
def capture() -> Iterator[Capture]:
    captured = Capture()
    structured = logging.StreamHandler(captured.records)
    structured.setFormatter(logger.registered_formatter)
    plain = logging.StreamHandler(captured.records)
    plain.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    service, root = logging.getLogger(logger.name), logging.getLogger()
    previous = (root.level, logger.log_level)
    service.addHandler(structured)
    root.addHandler(plain)
    root.setLevel(logging.DEBUG)
    logger.setLevel("DEBUG")
    yield captured
    service.removeHandler(structured)
    root.removeHandler(plain)
    root.setLevel(previous[0])
    logger.setLevel(previous[1])


def event(name: str, body: Any = ..., jwt: str | None = ..., **headers: str) -> dict[str, Any]:  # type: ignore[assignment]
    loaded: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    if body is not ...:
        loaded["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    if jwt is not ...:
        loaded["headers"].pop("Authorization", None)
        if jwt is not None:
            loaded["headers"]["Authorization"] = f"Bearer {jwt}"
    loaded["headers"].update(headers)
    loaded["requestContext"]["identity"]["sourceIp"] = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    return loaded


def test_no_secret_reaches_any_log_line_and_metrics_are_known(
    capture: Capture, capsys: pytest.CaptureFixture[str], load_handler: Callable[[str], ModuleType]
) -> None:
    user = f"redaction-{uuid.uuid4().hex[:8]}"
    jwt = make_token(user, abilities=["backoffice"])
    forged = jwt[:-4] + "AAAA"
    tokens = [f"raw-push-token-{uuid.uuid4().hex}" for _ in range(8)]
    phone, local_phone = "+14155550199", "4155550188"
    secrets = [jwt, forged, *tokens, phone, local_phone, "4155550199", "5550199"]
    path = {"accountId": user}

    called: set[str] = set()

    def call(name: str, evt: dict[str, Any]) -> int:
        called.add(name)
        status: int = load_handler(name).handler(evt, Context())["statusCode"]
        return status

    def accounts(name: str, body: Any = ..., token: str | None = jwt, **params: str) -> int:
        evt = event(name, body, token)
        evt["pathParameters"] = {**path, **params}
        return call(name, evt)

    outcomes = [
        accounts("accounts_register_device", {"device_token": tokens[0], "platform": "android"}),
        accounts("accounts_register_device", {"device_token": tokens[0], "platform": "android"}),  # 409
        accounts("accounts_register_device", {"device_token": tokens[1], "platform": "windows"}),  # 400
        accounts("accounts_register_device", {"device_token": tokens[1] + " ", "platform": "ios"}),  # 400
        accounts("accounts_register_device", {"device_token": tokens[1], "platform": "ios"}, token=forged),
        accounts("accounts_register_device", {"device_token": tokens[1], "platform": "ios"}, token=None),
        accounts("accounts_list_devices"),
        accounts("accounts_update_device", {"device_token": tokens[2]}, deviceId=str(uuid.uuid4())),  # 404
        accounts("accounts_deactivate_device", None, deviceId=str(uuid.uuid4())),
        call(
            "camera_set_user_token",
            event("camera_set_user_token", {"msgType": "FCM", "msgToken": tokens[3]}, jwt),
        ),
        call(
            "camera_set_user_token",
            event("camera_set_user_token", {"msgType": "fcm", "msgToken": tokens[3]}, jwt),
        ),
        call(
            "camera_set_user_token",
            event("camera_set_user_token", {"msgType": "GCM", "msgToken": tokens[3]}, jwt),
        ),
        call("user_push_tokens_register", event("user_push_tokens_register", {"push_token": tokens[4]}, jwt)),
        call(
            "user_push_tokens_register", event("user_push_tokens_register", {"push_token": tokens[4]}, forged)
        ),
        call(
            "pigeons_register_device",
            event("pigeons_register_device", {"token": tokens[5], "platform": "ios"}, jwt),
        ),
        call(
            "pigeons_register_device",
            event("pigeons_register_device", {"token": tokens[6], "platform": "tv"}, jwt),
        ),
        call("pigeons_delete_device", event("pigeons_delete_device", None, jwt)),
        call(
            "presignup_register_token",
            event("presignup_register_token", {"phone": phone, "fcmToken": tokens[7]}),
        ),
        call(
            "presignup_register_token",
            event("presignup_register_token", {"phone": local_phone, "fcmToken": tokens[7]}),
        ),
        call(
            "presignup_register_token",
            event("presignup_register_token", {"phone": "+1 555 0199", "fcmToken": tokens[7]}),
        ),
        call(
            "presignup_register_token",
            event("presignup_register_token", '{"phone": "' + phone + '", "fcmToken": '),
        ),
        call("internal_token_holder", event("internal_token_holder", {"token": tokens[3]})),
    ]

    assert outcomes == [
        201,
        409,
        400,
        400,
        401,
        401,
        200,
        404,
        404,
        200,
        200,
        400,
        200,
        401,
        201,
        422,
        404,
        201,
        201,
        400,
        400,
        200,
    ]
    stdout = capsys.readouterr().out
    text = capture.text + stdout
    assert '"message":"request handled"' in text, "the capture sees the handlers' structured log lines"
    # Every API of the catalog went through here, and logged under its catalog name.
    assert {catalog.api_of(name) for name in called} == set(catalog.APIS)
    for api in catalog.APIS:
        assert f'"api":"{api.name}"' in text, api.name
    assert '"token":"' in text, "tokens are named by their fingerprint"
    for secret in secrets:
        assert secret not in text
    emitted = emitted_metrics(stdout)
    assert emitted <= {metric.value for metric in Metric}
    assert {
        "RegistrationsCreated",
        "RegistrationsRefreshed",
        "TokenConflicts",
        "ValidationFailures",
        "AuthFailures",
        "PresignupRecordsCreated",
        "PresignupRecordsUpdated",
    } <= emitted


def test_privacy_requests_are_audited_without_their_subjects(
    capture: Capture, capsys: pytest.CaptureFixture[str], load_handler: Callable[[str], ModuleType]
) -> None:
    user = f"privacy-subject-{uuid.uuid4().hex[:8]}"
    jwt = make_token(user)
    token, presignup_token = f"raw-push-token-{uuid.uuid4().hex}", f"raw-push-token-{uuid.uuid4().hex}"
    line = f"{uuid.uuid4().int % 10000:04d}"
    phone, typed = f"+1415555{line}", f"(415) 555-{line}"
    secrets = [user, jwt, token, presignup_token, phone, typed, f"415555{line}", f"555{line}"]
    caller = "arn:aws:sts::123456789012:assumed-role/privacy-operator/alice"

    def call(name: str, evt: dict[str, Any], **path: str) -> dict[str, Any]:
        if path:
            evt["pathParameters"] = path
        evt["requestContext"]["identity"]["userArn"] = caller
        result: dict[str, Any] = load_handler(name).handler(evt, Context())
        return result

    registered = call(
        "accounts_register_device",
        event("accounts_register_device", {"device_token": token, "platform": "ios"}, jwt),
        accountId=user,
    )
    posted = call(
        "presignup_register_token",
        event("presignup_register_token", {"phone": phone, "fcmToken": presignup_token}),
    )
    replies = [
        call("internal_user_export", event("internal_user_export"), userId=user),
        call("internal_presignup_export", event("internal_presignup_export", {"phone": typed})),
        call("internal_user_erase", event("internal_user_erase"), userId=user),
        call("internal_presignup_erase", event("internal_presignup_erase", {"phone": typed})),
        call("internal_presignup_erase", event("internal_presignup_erase", {"phone": "+1 555 0199"})),  # 400
    ]

    assert (registered["statusCode"], posted["statusCode"]) == (201, 201)
    assert [r["statusCode"] for r in replies] == [200, 200, 200, 200, 400]
    assert token in replies[0]["body"], "the export holds the raw token, the logs never do"
    stdout = capsys.readouterr().out
    text = capture.text + stdout
    for secret in secrets:
        assert secret not in text
    audits = [
        json.loads(entry)["audit"]
        for entry in capture.text.splitlines()
        if entry.startswith("{") and '"audit"' in entry
    ]
    assert [(a["action"], a["subject_kind"]) for a in audits] == [
        ("export", "user"),
        ("export", "phone"),
        ("erase", "user"),
        ("erase", "phone"),
    ]
    assert all(a["caller"] == caller and len(a["subject"]) == 12 for a in audits)
    assert audits[0]["subject"] == audits[2]["subject"] != audits[1]["subject"] == audits[3]["subject"]
    assert audits[2]["counts"] == {
        "registrations": 1,
        "token_guards": 1,
        "other_items": 1,  # the owner roster
        "rate_counters": 0,
    }
    assert {"Erasures", "Exports"} <= emitted_metrics(stdout)
