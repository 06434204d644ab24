"""template.yaml's operations promises: logs, tracing, dashboard, alarms and their runbooks, gateway
responses."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from local.template import load_template
from push_registry.telemetry import Metric
from tests.deployment import names

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {n: r for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
ROOT = Path(__file__).resolve().parents[2]
OPERATING = "docs/operating.md"
RUNBOOK = re.compile(r"Runbook: (docs/[\w/.-]+\.md)#([\w-]+)")


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


def global_checkov_skips() -> set[str]:
    """The checks `.checkov.yaml` skips: for every resource of the template, not one."""
    config = yaml.safe_load((ROOT / ".checkov.yaml").read_text())
    return set(config["skip-check"])


def test_the_global_checkov_skips_are_the_checks_every_function_skips_with_their_reasons() -> None:
    # Checks on the Lambda function alone (checkov -l: AWS::Lambda::Function, AWS::Serverless::Function),
    # so a global skip touches the functions only; CKV_AWS_115 is not one, the pre-signup function passes it.
    assert global_checkov_skips() == {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- CKV_"):
            assert lines[index - 1].strip().startswith("#"), f"{line.strip()} needs its reason above it"
    for name, resource in RESOURCES.items():
        local = {skip["id"] for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        assert not local & global_checkov_skips(), f"{name} repeats a skip of .checkov.yaml"


def test_no_iam_statement_grants_a_wildcard() -> None:
    text = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
    assert not re.search(r"Action:\s*\[?\s*['\"]?\*", text)
    assert not re.search(r"Resource:\s*['\"]?\*", text)


def alarm_names(resources: dict[str, Any] = RESOURCES) -> dict[str, str]:
    """Logical id -> the alarm's name without `push-registry-${Stage}-`."""
    return {
        name: r["Properties"]["AlarmName"]["Fn::Sub"].removeprefix("push-registry-${Stage}-")
        for name, r in resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def runbook_sections(page: str) -> set[str]:
    """The anchors of the `###` sections under the page's `## Alarms`: one runbook per alarm."""
    alarms = page.split("\n## Alarms\n", 1)[1].split("\n## ", 1)[0]
    return {names.slug(heading) for heading in re.findall(r"^### (.+)$", alarms, flags=re.MULTILINE)}


def runbook_problems(resources: dict[str, Any], pages: dict[str, str]) -> list[str]:
    """Each alarm whose description names no runbook, a page that does not exist or an anchor the page
    lacks, or a section other than its own; and each runbook section no alarm has."""
    problems = []
    for logical_id, alarm in alarm_names(resources).items():
        description = resources[logical_id]["Properties"]["AlarmDescription"]
        found = RUNBOOK.search(description)
        if not found:
            problems.append(
                f"{logical_id}: its AlarmDescription names no 'Runbook: docs/<page>.md#<section>'"
            )
            continue
        page, anchor = found.groups()
        if page not in pages:
            problems.append(f"{logical_id}: {page} does not exist")
        elif anchor not in names.anchors(pages[page]):
            problems.append(f"{logical_id}: {page} has no section #{anchor}")
        elif (page, anchor) != (OPERATING, alarm):
            problems.append(f"{logical_id}: names {page}#{anchor}, not its own {OPERATING}#{alarm}")
    for section in sorted(runbook_sections(pages[OPERATING]) - set(alarm_names(resources).values())):
        problems.append(f"{OPERATING}#{section}: a runbook for no alarm of the template")
    return problems


def test_every_alarm_description_names_its_runbook_section_in_the_docs() -> None:
    """A person paged at night reads the alarm's description and goes straight to its section."""
    assert runbook_problems(RESOURCES, names.documents()) == []
    assert runbook_sections(names.documents()[OPERATING]) == set(alarm_names().values())


def test_a_missing_runbook_a_wrong_anchor_and_a_stray_section_are_reported() -> None:
    pages = names.documents()
    without = pages[OPERATING].replace("### `lambda-errors`\n", "### `lambda-error`\n")
    assert runbook_problems(RESOURCES, {**pages, OPERATING: without}) == [
        f"LambdaErrorsAlarm: {OPERATING} has no section #lambda-errors",
        f"{OPERATING}#lambda-error: a runbook for no alarm of the template",
    ]
    resources = copy.deepcopy(RESOURCES)
    resources["DeadLettersAlarm"]["Properties"]["AlarmDescription"] = "Dead letters."
    resources["ErasureDeadLettersAlarm"]["Properties"]["AlarmDescription"] = "Runbook: docs/operate.md#x"
    resources["Api5xxRateAlarm"]["Properties"]["AlarmDescription"] = (
        "Runbook: docs/operating.md#lambda-errors"
    )
    assert runbook_problems(resources, pages) == [
        f"Api5xxRateAlarm: names {OPERATING}#lambda-errors, not its own {OPERATING}#api-5xx-rate",
        "DeadLettersAlarm: its AlarmDescription names no 'Runbook: docs/<page>.md#<section>'",
        "ErasureDeadLettersAlarm: docs/operate.md does not exist",
    ]


def test_the_anchors_are_those_mkdocs_builds() -> None:
    """names.slug against headings whose anchors the site's links use: `mkdocs build --strict` (make
    lint) fails when such a link names an anchor the built page lacks, so the two agree."""
    links = {
        "SnapStart (`EnableSnapStart`, default `false`)": "snapstart-enablesnapstart-default-false",
        "`sam local` (Docker)": "sam-local-docker",
        "What ships: bytecode for every module": "what-ships-bytecode-for-every-module",
        "Field mapping per source": "field-mapping-per-source",
        "`api-5xx-rate`": "api-5xx-rate",
    }
    assert {heading: names.slug(heading) for heading in links} == links
    site = "\n".join(names.documents().values())
    for anchor in links.values():
        assert f"#{anchor})" in site, f"no page links #{anchor}: the build would not check it"
