"""template.yaml's protection of the public pre-signup route: its own throttle, a concurrency cap, a WAF
rule that normalisation cannot walk around, and what operators see when the route is throttled."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest

from local.template import load_template, routes
from tests.deployment.test_operability import global_checkov_skips

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
ROUTE = "/api/public/fcm-token"
FUNCTION = "PresignupRegisterTokenFunction"
FUNCTION_NAME = "push-registry-${Stage}-presignup-register-token"


def method_settings() -> list[dict[str, Any]]:
    settings: list[dict[str, Any]] = RESOURCES["RegistryApi"]["Properties"]["MethodSettings"]
    return settings


def test_the_public_route_has_its_own_method_throttle() -> None:
    [stage_wide] = [s for s in method_settings() if s["ResourcePath"] == "/*"]
    [public] = [s for s in method_settings() if s["ResourcePath"] != "/*"]
    # API Gateway names a method "/" + its path with every "/" written "~1": /~1api~1public~1fcm-token.
    assert public["ResourcePath"].startswith("/~1")
    assert (public["ResourcePath"][1:].replace("~1", "/"), public["HttpMethod"]) == (ROUTE, "POST")
    assert ("POST", ROUTE, FUNCTION) in {(r.method, r.path, r.function) for r in routes(TEMPLATE)}
    assert public["ThrottlingRateLimit"] == {"Ref": "PresignupThrottlingRateLimit"}
    assert public["ThrottlingBurstLimit"] == {"Ref": "PresignupThrottlingBurstLimit"}
    # An override replaces the stage default for that method: what the default promises is repeated.
    assert public["MetricsEnabled"] is stage_wide["MetricsEnabled"] is True
    assert public["LoggingLevel"] == stage_wide["LoggingLevel"] == "OFF"
    assert not public.get("DataTraceEnabled")
    assert (
        PARAMETERS["PresignupThrottlingRateLimit"]["Default"]
        < PARAMETERS["ApiThrottlingRateLimit"]["Default"]
    )


def test_the_public_function_has_a_concurrency_cap_and_no_skip_for_it() -> None:
    function = RESOURCES[FUNCTION]
    cap = function["Properties"]["ReservedConcurrentExecutions"]
    assert cap == {
        "Fn::If": [
            "CapPresignupConcurrency",
            {"Ref": "PresignupReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    # A burst the method throttle lets through fits under the cap: the throttle's 429 comes before the
    # cap's 500 (API Gateway does not pass Lambda's throttle on as a 429).
    assert (
        PARAMETERS["PresignupReservedConcurrency"]["Default"]
        >= PARAMETERS["PresignupThrottlingBurstLimit"]["Default"]
    )
    assert PARAMETERS["PresignupThrottlingBurstLimit"]["Default"] > 0
    # Neither in its Metadata nor in .checkov.yaml, whose skips apply to every resource.
    skipped = {skip["id"] for skip in function["Metadata"].get("checkov", {}).get("skip", [])}
    assert "CKV_AWS_115" not in skipped | global_checkov_skips()


# --- WAF: evaluate the scope-down statement as WAF would ------------------------------------------


_TRANSFORMS = {"NONE": lambda v: v, "URL_DECODE": unquote, "LOWERCASE": str.lower}


def _matches(statement: dict[str, Any], path: str) -> bool:
    if "OrStatement" in statement:
        return any(_matches(s, path) for s in statement["OrStatement"]["Statements"])
    if "AndStatement" in statement:
        return all(_matches(s, path) for s in statement["AndStatement"]["Statements"])
    match = statement["ByteMatchStatement"]
    assert "UriPath" in match["FieldToMatch"]
    value = path
    for transformation in sorted(match["TextTransformations"], key=lambda t: t["Priority"]):
        value = _TRANSFORMS[transformation["Type"]](value)
    needle, position = match["SearchString"], match["PositionalConstraint"]
    return {
        "EXACTLY": value == needle,
        "ENDS_WITH": value.endswith(needle),
        "STARTS_WITH": value.startswith(needle),
        "CONTAINS": needle in value,
    }[position]


def waf_scope() -> dict[str, Any]:
    [rule] = RESOURCES["PresignupWebAcl"]["Properties"]["Rules"]
    scope: dict[str, Any] = rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    return scope


@pytest.mark.parametrize(
    "path",
    [
        "/prod/api/public/fcm-token",
        "/prod/api/public/fcm-token/",
        "/prod/API/Public/FCM-Token",
        "/prod/api/public/fcm%2Dtoken",
        "/prod/api/public/fcm%2dtoken/",
        "/prod/api%2Fpublic%2Ffcm-token",
        "/prod/%61pi/public/FCM-TOKEN/",
    ],
)
def test_the_waf_rule_counts_every_spelling_of_the_public_path(path: str) -> None:
    assert _matches(waf_scope(), path)


@pytest.mark.parametrize(
    "path", ["/prod/api/accounts/a/devices", "/prod/api/public/fcm-token-x", "/prod/user/setusertoken"]
)
def test_the_waf_rule_leaves_other_paths_alone(path: str) -> None:
    assert not _matches(waf_scope(), path)


# --- what operators see -----------------------------------------------------------------------------


def test_the_dashboard_shows_the_public_route_s_throttling() -> None:
    body = json.loads(
        re.sub(r"\$\{[\w:.]+\}", "x", RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    )
    raw = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert "Pre-signup route" in raw
    [widget] = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Pre-signup route")]
    metrics = [m for m in widget["properties"]["metrics"] if isinstance(m, list)]
    named = {(m[0], m[1]) for m in metrics}
    assert {
        ("AWS/ApiGateway", "Count"),
        ("PushRegistry/ApiGateway", "PresignupThrottledRequests"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
    } <= named
    assert f'"Resource","{ROUTE}"' in raw
    assert f'"Throttles","FunctionName","{FUNCTION_NAME}"' in raw


def test_an_alarm_watches_the_route_s_429s_and_the_function_s_throttles() -> None:
    metric_filter = RESOURCES["PresignupThrottledRequestsMetric"]["Properties"]
    assert metric_filter["LogGroupName"] == {"Ref": "ApiAccessLogs"}
    pattern = metric_filter["FilterPattern"]
    assert f'$.resource = "{ROUTE}"' in pattern
    assert '$.errorType = "THROTTLED"' in pattern
    # Every field the filter reads is in the access log.
    access_format = RESOURCES["RegistryApi"]["Properties"]["AccessLogSetting"]["Format"]
    for field, variable in (
        ("resource", "resourcePath"),
        ("errorType", "error.responseType"),
        ("stage", "stage"),
    ):
        assert f'"{field}":"$context.{variable}"' in access_format
    [transformation] = metric_filter["MetricTransformations"]

    alarm = RESOURCES["PresignupThrottlingAlarm"]["Properties"]
    watched = {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"]): m["MetricStat"][
            "Metric"
        ]
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }
    assert set(watched) == {
        (transformation["MetricNamespace"], transformation["MetricName"]),
        ("AWS/Lambda", "Throttles"),
    }
    assert watched["AWS/Lambda", "Throttles"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Fn::Sub": FUNCTION_NAME}}
    ]
    [returned] = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    assert "gateway" in returned["Expression"]
    assert "function" in returned["Expression"]
    assert alarm["Threshold"] == {"Ref": "PresignupThrottleAlarmThreshold"}
    assert alarm["AlarmActions"] == {
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    }
