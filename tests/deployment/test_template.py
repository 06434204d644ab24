"""template.yaml keeps the promises of the design: one function per endpoint, one layer, one table."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template
from push_registry import catalog

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


FUNCTIONS = of_type("AWS::Serverless::Function")


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict):
            found += policy.get("Statement", [])
    return found


def test_runtime_is_python_3_13_on_arm64_for_every_function() -> None:
    """arm64 in AWS; the parameter lets `make invoke`/`make start-api` build for the host's own."""
    architecture = TEMPLATE["Parameters"]["Architecture"]
    assert (architecture["Default"], architecture["AllowedValues"]) == ("arm64", ["arm64", "x86_64"])
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == [{"Ref": "Architecture"}]
    assert TEMPLATE["Parameters"]["Architecture"]["Default"] == "arm64"
    for function in FUNCTIONS.values():
        assert "Runtime" not in function["Properties"]
        assert "Architectures" not in function["Properties"]


def test_one_layer_built_by_sam_is_shared_by_all_functions_and_cryptography_only_by_jwks_stacks() -> None:
    layers = of_type("AWS::Serverless::LayerVersion")
    assert list(layers) == ["RegistryLayer", "JwksLayer"]
    # The makefile ships bytecode for every module (see test_built_functions for the artifact); one
    # architecture for the functions and the layers' binary wheels (pydantic-core, cryptography).
    for layer in layers.values():
        assert layer["Metadata"] == {
            "BuildMethod": "makefile",
            "BuildArchitecture": {"Ref": "Architecture"},
            "ContextPath": "layers/",
        }
        assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert (ROOT / "layers" / "Makefile").is_file()
    # The JWKS layer exists and is attached only when JwksUrl is set.
    assert layers["JwksLayer"]["Condition"] == "UseJwks"
    assert TEMPLATE["Conditions"]["UseJwks"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwksUrl"}, ""]}]}
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [
        {"Ref": "RegistryLayer"},
        {"Fn::If": ["UseJwks", {"Ref": "JwksLayer"}, {"Ref": "AWS::NoValue"}]},
    ]

    def packages(layer: str) -> list[str]:
        requirements = (ROOT / layers[layer]["Properties"]["ContentUri"] / "requirements.txt").read_text()
        return [
            line.split("==")[0] for line in requirements.splitlines() if line and not line.startswith("#")
        ]

    # pyjwt without its crypto extra: HS256 needs only the standard library.
    assert packages("RegistryLayer") == [
        "aws-lambda-powertools",
        "pydantic-core",
        "pyjwt",
        "phonenumberslite",
    ]
    assert packages("JwksLayer") == ["cryptography"]


def test_every_function_is_called_through_a_published_alias_that_snapstart_can_apply_to() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["AutoPublishAlias"] == "live"
    snapstart = {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}
    assert function_globals["SnapStart"] == snapstart
    assert TEMPLATE["Parameters"]["EnableSnapStart"]["Default"] == "false"
    # A new layer or a switch of EnableSnapStart must publish new versions, or `live` keeps the old ones.
    assert RESOURCES["RegistryLayer"]["Properties"]["PublishLambdaVersion"] is True
    for name, function in FUNCTIONS.items():
        assert function["Properties"]["AutoPublishAliasAllProperties"] is True, name
        assert function["Properties"]["VersionDescription"] == {
            "Fn::If": ["UseSnapStart", "SnapStart", "on demand"]
        }, name


def test_each_function_serves_exactly_one_endpoint_from_its_own_folder() -> None:
    seen = set()
    for function in FUNCTIONS.values():
        events = [e for e in function["Properties"]["Events"].values() if e["Type"] == "Api"]
        code = ROOT / function["Properties"]["CodeUri"]
        assert (ROOT / "events" / f"{code.name}.json").is_file(), f"an events/ file for {code.name}"
        if not events:  # the invalidation queue's consumer
            assert [e["Type"] for e in function["Properties"]["Events"].values()] == ["SQS"]
            continue
        assert len(events) == 1
        route = (events[0]["Properties"]["Method"].upper(), events[0]["Properties"]["Path"])
        assert route not in seen
        seen.add(route)
        code = ROOT / function["Properties"]["CodeUri"]
        assert (code / "app.py").is_file()
        assert (ROOT / "events" / f"{code.name}.json").is_file(), f"an events/ file for {code.name}"


def test_the_table_is_on_demand_recoverable_encrypted_protected_and_expires_items() -> None:
    [table] = of_type("AWS::DynamoDB::Table").values()
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionPolicy"] == "Retain"


def test_every_function_has_only_the_dynamodb_actions_it_needs_on_the_table() -> None:
    for name, function in FUNCTIONS.items():
        dynamodb = [s for s in statements(function) if any(a.startswith("dynamodb:") for a in s["Action"])]
        assert len(dynamodb) == 1, name
        assert dynamodb[0]["Resource"] == {"Fn::GetAtt": ["RegistryTable", "Arn"]}
        for action in dynamodb[0]["Action"]:
            assert "*" not in action
            assert action != "dynamodb:Scan"


@pytest.mark.parametrize("folder", ["layers", "functions"])
def test_no_scan_anywhere_in_the_code(folder: str) -> None:
    for source in (ROOT / folder).rglob("*.py"):
        assert not re.search(r"\bscan\b\s*\(", source.read_text()), source


def test_no_secret_has_a_plaintext_value_in_the_template() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["JWT_SECRET"] == ""
    assert variables["JWT_SECRET_ARN"] == {"Ref": "JwtSecretArn"}


# ---------------------------------------------------------------------------------------------------------
# The catalog (push_registry.catalog) against the template: template.yaml cannot import it, so this reads
# both and names what one has and the other lacks.


def catalog_gaps(apis: tuple[catalog.Api, ...], resources: dict[str, Any]) -> list[str]:
    """What the template misses of the catalog, or has beyond it: functions, routes, authorisers,
    the dashboard's widgets and the Lambda errors alarm."""
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    listed = {function.logical_id for api in apis for function in api.functions}
    gaps = [f"{name}: a function of the template that no API of the catalog lists" for name in functions]
    gaps = [gap for name, gap in zip(functions, gaps, strict=True) if name not in listed]
    [dashboard] = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    # The widgets of one Lambda metric per function (title -> the functions it draws); the pre-signup
    # widget, which draws one function among other metrics, is not one of them.
    per_function = {
        widget["properties"]["title"]: {
            metric[3] for metric in widget["properties"]["metrics"] if metric[:1] == ["AWS/Lambda"]
        }
        for widget in json.loads(body)["widgets"]
        if widget["type"] == "metric"
        and widget["properties"]["metrics"]
        and all(
            isinstance(m, list) and m[:1] == ["AWS/Lambda"] and m[2] == "FunctionName"
            for m in widget["properties"]["metrics"]
        )
    }
    alarmed = {
        stat["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::Sub"]
        for stat in resources["LambdaErrorsAlarm"]["Properties"]["Metrics"]
        if "MetricStat" in stat and stat["MetricStat"]["Metric"]["MetricName"] == "Errors"
    }
    for api in apis:
        for function in api.functions:
            where = f"{api.name} {function.folder}"
            resource = functions.get(function.logical_id)
            if resource is None:
                gaps.append(f"{where}: no {function.logical_id} in the template")
            else:
                properties = resource["Properties"]
                if properties["CodeUri"] != f"functions/{function.folder}/":
                    gaps.append(f"{where}: CodeUri is {properties['CodeUri']}")
                if properties["FunctionName"] != {"Fn::Sub": function.deployed_name}:
                    gaps.append(f"{where}: FunctionName is not {function.deployed_name}")
                routes = [
                    (e["Properties"]["Method"].upper(), e["Properties"]["Path"], e["Properties"].get("Auth"))
                    for e in properties["Events"].values()
                    if e["Type"] == "Api"
                ]
                expected = [] if function.path is None else [(function.method, function.path)]
                if [route[:2] for route in routes] != expected:
                    gaps.append(f"{where}: routes {[route[:2] for route in routes]}, catalog {expected}")
                iam = {"Authorizer": "AWS_IAM"}
                if any((route[2] == iam) != (api.auth == catalog.Auth.IAM) for route in routes):
                    gaps.append(f"{where}: the route's authoriser is not the catalog's {api.auth}")
            for title, drawn in per_function.items():
                if function.deployed_name not in drawn:
                    gaps.append(f"{where}: not on the dashboard's {title} widget")
            if f"SOURCE '/aws/lambda/{function.deployed_name}'" not in body:
                gaps.append(f"{where}: not in the dashboard's cold-start query")
            if function.deployed_name not in alarmed:
                gaps.append(f"{where}: not watched by LambdaErrorsAlarm")
    return gaps


def test_the_template_has_every_function_of_the_catalog_on_the_dashboard_and_the_alarms() -> None:
    assert catalog_gaps(catalog.APIS, RESOURCES) == []


def test_a_fifth_client_api_missing_from_the_template_is_reported() -> None:
    """The catalog decides: an API added there and not to template.yaml fails the test above."""
    fifth = catalog.Api(
        "web-push",
        None,
        "apis/web-push.md",
        "nest",
        catalog.Auth.JWT,
        (catalog.Function("web_push_register", "POST", "/v1/web-push/register"),),
        registers=True,
    )
    gaps = catalog_gaps((*catalog.APIS, fifth), RESOURCES)
    assert gaps == [
        "web-push web_push_register: no WebPushRegisterFunction in the template",
        *(
            f"web-push web_push_register: not on the dashboard's {title} widget"
            for title in (
                "Invocations",
                "Errors",
                "Throttles",
                "Concurrent executions (max)",
                "Duration p50 (ms)",
                "Duration p99 (ms)",
            )
        ),
        "web-push web_push_register: not in the dashboard's cold-start query",
        "web-push web_push_register: not watched by LambdaErrorsAlarm",
    ]


def test_a_function_dropped_from_the_dashboard_or_the_alarm_is_reported() -> None:
    resources = copy.deepcopy(RESOURCES)
    name = catalog.CAMERA.functions[0].deployed_name
    [dashboard] = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = dashboard["Properties"]["DashboardBody"]
    widgets = json.loads(body["Fn::Sub"])
    for widget in widgets["widgets"]:
        if widget["properties"].get("title") == "Errors":
            widget["properties"]["metrics"] = [m for m in widget["properties"]["metrics"] if name not in m]
    body["Fn::Sub"] = json.dumps(widgets)
    alarm = resources["LambdaErrorsAlarm"]["Properties"]
    alarm["Metrics"] = [m for m in alarm["Metrics"] if name not in json.dumps(m)]
    assert catalog_gaps(catalog.APIS, resources) == [
        "camera camera_set_user_token: not on the dashboard's Errors widget",
        "camera camera_set_user_token: not watched by LambdaErrorsAlarm",
    ]
    del resources["CameraSetUserTokenFunction"]
    assert "camera camera_set_user_token: no CameraSetUserTokenFunction in the template" in catalog_gaps(
        catalog.APIS, resources
    )
    resources["StrayFunction"] = RESOURCES["CameraSetUserTokenFunction"]
    assert "StrayFunction: a function of the template that no API of the catalog lists" in catalog_gaps(
        catalog.APIS, resources
    )
