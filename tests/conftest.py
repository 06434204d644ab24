"""Session fixtures: DynamoDB Local, the table from template.yaml, the local API and handler loading."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT), str(ROOT / "layers" / "registry")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from local.devtoken import DEVELOPMENT_SECRET  # noqa: E402
from local.devtoken import make_token as _make_token  # noqa: E402
from tests import aws_calls  # noqa: E402

TABLE = "push-registry-test"
# Before any client exists: every AWS call a function makes is recorded, and checked against its role
# by the tests marked `after_suite` (tests/deployment/test_permissions.py), which run last.
aws_calls.install()
aws_calls.RECORDER.profile = (("RegistryTable", TABLE),)
# Handlers read their settings once, at import: the environment is fixed before any is imported.
for name, value in {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "TABLE_NAME": TABLE,
    "JWT_SECRET": DEVELOPMENT_SECRET,
    "PIGEONS_PUBLIC_KEYS": "local=pk_local_pigeons,other-platform=pk_other_platform",
    "POWERTOOLS_SERVICE_NAME": "push-registry",
    "POWERTOOLS_METRICS_NAMESPACE": "PushRegistry",
}.items():
    os.environ[name] = value
for name in ("JWT_SECRET_ARN", "JWT_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"):
    os.environ.pop(name, None)

# DynamoDB's limits (which DynamoDB Local and moto do not all enforce) on every client created from here on.
from local import aws_limits  # noqa: E402

aws_limits.install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_suite` read what the rest of the run recorded: they run last."""
    items.sort(key=lambda item: item.get_closest_marker("after_suite") is not None)


@dataclass(frozen=True)
class Database:
    endpoint_url: str
    table_name: str
    client: Any


@pytest.fixture(scope="session")
def ddb_local() -> Iterator[Database]:
    from local.dynamodb_local import DynamoDBLocal
    from local.template import create_table, load_template

    with DynamoDBLocal() as database:
        os.environ["DYNAMODB_ENDPOINT_URL"] = database.endpoint_url
        client = database.client()
        create_table(client, TABLE, load_template())
        yield Database(database.endpoint_url, TABLE, client)


@pytest.fixture(scope="session")
def local_api(ddb_local: Database) -> Iterator[str]:
    from local.server import LocalApi, configure_environment

    configure_environment(ddb_local.table_name, ddb_local.endpoint_url)
    api = LocalApi(access_log=False).start()
    yield api.base_url
    api.stop()


@pytest.fixture(scope="session")
def load_handler(ddb_local: Database) -> Callable[[str], ModuleType]:
    """Import functions/<name>/app.py as the local API does (same module, same cold-start state)."""
    from local.server import configure_environment, load_function

    configure_environment(ddb_local.table_name, ddb_local.endpoint_url)
    return lambda name: load_function(ROOT / "functions" / name)


@pytest.fixture(scope="session")
def make_token() -> Callable[..., str]:
    return _make_token
