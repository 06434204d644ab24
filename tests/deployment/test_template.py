"""template.yaml keeps the promises of the design: one function per endpoint, one layer, one table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template

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
