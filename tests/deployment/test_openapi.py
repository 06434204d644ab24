"""docs/openapi.yaml describes exactly the routes template.yaml deploys."""

from __future__ import annotations

from pathlib import Path

import yaml

from local.template import load_template, routes

DOCUMENT = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
METHODS = {"get", "post", "put", "patch", "delete"}


def test_paths_and_methods_match_the_template_exactly() -> None:
    documented = {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in METHODS
    }
    deployed = {(route.method, route.path) for route in routes(load_template())}
    assert documented == deployed


def test_every_operation_documents_its_error_statuses() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            statuses = set(operation["responses"])
            assert {"500", "503"} <= statuses, (method, path)
            assert any(s.startswith("2") for s in statuses), (method, path)


def test_every_reference_resolves() -> None:
    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target: object = DOCUMENT
                for part in ref.removeprefix("#/").split("/"):
                    assert isinstance(target, dict)
                    assert part in target, ref
                    target = target[part]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOCUMENT)


def test_the_invalidation_schema_lists_every_reason_and_status_the_layer_knows() -> None:
    from push_registry.invalidation import (
        DELIVERY_STATUSES,
        REASONS,
        STATUS_MESSAGE_MAX_LENGTH,
        InvalidationStatus,
    )

    schemas = DOCUMENT["components"]["schemas"]
    item = schemas["Invalidations"]["properties"]["invalidations"]["items"]["properties"]
    assert item["reason"]["enum"] == [*REASONS, *DELIVERY_STATUSES]
    assert item["status_message"]["maxLength"] == STATUS_MESSAGE_MAX_LENGTH
    incomplete = schemas["IncompleteInvalidations"]["properties"]["results"]["items"]["properties"]
    assert set(incomplete["status"]["enum"]) == set(InvalidationStatus)
    done = schemas["InvalidationResults"]["properties"]["results"]["items"]["properties"]
    assert set(done["status"]["enum"]) == set(InvalidationStatus) - {InvalidationStatus.NOT_PROCESSED}
