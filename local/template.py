"""Reads template.yaml so the local run and the tests use the deployed table and routes, never a copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub, ...) as their long form."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as stream:
        loaded: dict[str, Any] = yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506 - safe loader subclass
    return loaded


def _table(template: dict[str, Any]) -> dict[str, Any]:
    [table] = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    properties: dict[str, Any] = table["Properties"]
    return properties


def table_definition(template: dict[str, Any], table_name: str) -> dict[str, Any]:
    """`create_table` arguments from the template's table (what DynamoDB Local supports of it)."""
    properties = _table(template)
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if indexes in properties:
            definition[indexes] = properties[indexes]
    return definition


def key_attributes(template: dict[str, Any]) -> tuple[str, str | None]:
    """The table's partition key attribute and its sort key attribute (None without one)."""
    schema = {key["KeyType"]: key["AttributeName"] for key in _table(template)["KeySchema"]}
    return schema["HASH"], schema.get("RANGE")


def ttl_attribute(template: dict[str, Any]) -> str | None:
    spec = _table(template).get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


def create_table(client: Any, table_name: str, template: dict[str, Any]) -> None:
    """Create the table as the template defines it, with its TTL; an existing table is left as it is."""
    try:
        client.create_table(**table_definition(template, table_name))
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    attribute = ttl_attribute(template)
    if attribute:
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    code_dir: Path
    handler: str
    timeout_seconds: int


def routes(template: dict[str, Any]) -> list[Route]:
    """Every API event of every function: what API Gateway would route to which handler."""
    found = []
    default_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)  # SAM's default
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        for event in (properties.get("Events") or {}).values():
            if event["Type"] != "Api":
                continue
            found.append(
                Route(
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    function=name,
                    code_dir=ROOT / properties["CodeUri"],
                    handler=properties.get("Handler", "app.handler"),
                    timeout_seconds=int(properties.get("Timeout", default_timeout)),
                )
            )
    return found


def global_environment(template: dict[str, Any]) -> dict[str, Any]:
    """Globals' variables, then every function's own (the local API runs all functions in one process)."""
    variables: dict[str, Any] = dict(
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            variables.update(resource["Properties"].get("Environment", {}).get("Variables", {}))
    return variables
