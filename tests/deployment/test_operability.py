"""template.yaml's operations promises: logs, tracing, dashboard, alarms, gateway responses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from local.template import load_template
from push_registry.telemetry import Metric

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {n: r for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def dashboard_body() -> str:
    [dashboard] = of_type("AWS::CloudWatch::Dashboard").values()
    body: str = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    return body


def function_names() -> dict[str, str]:
    """Logical id -> the deployed name, with ${Stage} left in."""
    return {name: f["Properties"]["FunctionName"]["Fn::Sub"] for name, f in FUNCTIONS.items()}


def test_every_function_logs_to_its_own_group_with_retention() -> None:
    for name, function in FUNCTIONS.items():
        group = RESOURCES[function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["Properties"]["LogGroupName"]["Fn::Sub"] == "/aws/lambda/" + function_names()[name]


def test_tracing_is_active_on_functions_and_the_api() -> None:
    assert TEMPLATE["Globals"]["Function"]["Tracing"] == "Active"
    assert RESOURCES["RegistryApi"]["Properties"]["TracingEnabled"] is True


def test_access_logs_are_json_without_headers_and_stage_is_throttled() -> None:
    api = RESOURCES["RegistryApi"]["Properties"]
    access = api["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert access["Format"].startswith("{")
    assert '"requestId":"$context.requestId"' in access["Format"]
    assert "header" not in access["Format"].lower()
    assert RESOURCES["ApiAccessLogs"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    [settings] = [s for s in api["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert settings["LoggingLevel"] == "OFF"


def test_gateway_errors_answer_json() -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "INTEGRATION_TIMEOUT"} <= set(
        responses
    )
    for response in responses.values():
        assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        assert response["ResponseTemplates"]["application/json"].startswith('{"message":')


def test_every_metric_the_code_emits_is_on_the_dashboard_and_nothing_else() -> None:
    on_dashboard = set(re.findall(r"\{PushRegistry,[\w,]+\} MetricName=\\\"(\w+)\\\"", dashboard_body()))
    assert on_dashboard == {metric.value for metric in Metric}


def test_the_dashboard_shows_every_function_the_api_and_the_table() -> None:
    body = dashboard_body()
    for name in function_names().values():
        assert f'"FunctionName","{name}"' in body
        assert f"SOURCE '/aws/lambda/{name}'" in body, "cold starts (init duration) for every function"
    for metric in ("Latency", "4XXError", "5XXError", "Count"):
        assert f'"AWS/ApiGateway","{metric}"' in body or f'MetricName=\\"{metric}\\"' in body
    for metric in (
        "ConsumedReadCapacityUnits",
        "ConsumedWriteCapacityUnits",
        "ThrottledRequests",
        "SystemErrors",
    ):
        assert f'"AWS/DynamoDB","{metric}"' in body
    for metric in ("Errors", "Throttles", "ConcurrentExecutions", "Duration", "Invocations"):
        assert f'"AWS/Lambda","{metric}"' in body


def test_alarms_cover_5xx_lambda_errors_dynamodb_and_rate_limits_and_can_notify() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    watched = {
        (stat["MetricStat"]["Metric"]["Namespace"], stat["MetricStat"]["Metric"]["MetricName"])
        for alarm in alarms.values()
        for stat in alarm["Properties"].get("Metrics", [])
        if "MetricStat" in stat
    } | {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in alarms.values()
        if "Namespace" in a["Properties"]
    }
    assert {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/Lambda", "Errors"),
        ("PushRegistry", "UnhandledErrors"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/DynamoDB", "SystemErrors"),
        ("PushRegistry", "RateLimitedRequests"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= watched
    lambda_errors = {
        s["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::Sub"]
        for s in alarms["LambdaErrorsAlarm"]["Properties"]["Metrics"]
        if "MetricStat" in s and s["MetricStat"]["Metric"]["MetricName"] == "Errors"
    }
    assert lambda_errors == set(function_names().values())
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


def test_every_checkov_skip_has_a_reason() -> None:
    for name, resource in RESOURCES.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), name
            assert len(skip["comment"]) > 20, f"{name} {skip['id']} needs a reason"


def test_no_iam_statement_grants_a_wildcard() -> None:
    text = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
    assert not re.search(r"Action:\s*\[?\s*['\"]?\*", text)
    assert not re.search(r"Resource:\s*['\"]?\*", text)
