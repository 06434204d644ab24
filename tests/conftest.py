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


_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_suite` read what the rest of the run recorded: they run last. On pytest-xdist
    workers (`make test`: --dist loadfile, a module's tests in one process, in order) the modules with
    a `slow` test go first, so that the longest (the import of 10,000 records per source) starts at
    once while the other worker takes the rest."""
    # Schemathesis names each operation's test "test_x[GET /path]" but, on pytest 9, they all get the
    # node id "…::test_x"; pytest-xdist hands tests out by node id, so it would run one of them, not
    # each. Each gets its name as its id (pytest 9 keeps a parsed NodeId in `_id`).
    for item in items:
        if not item.nodeid.endswith(item.name):
            item._id = type(item._id).parse(f"{item.nodeid.rpartition('::')[0]}::{item.name}")
    slow = {item.path for item in items if item.get_closest_marker("slow")} if _WORKER else set()
    items.sort(key=lambda item: (item.get_closest_marker("after_suite") is not None, item.path not in slow))


# A pytest-xdist worker sees only its share of the run. So `make test` runs the suite in parallel
# without the `after_suite` tests, each process saving its calls to PUSH_REGISTRY_AWS_CALLS_DIR, then
# those tests in one more pytest that reads them all (tests/aws_calls.py: save, load).
_loaded_saved_calls = False


def pytest_runtest_setup(item: pytest.Item) -> None:
    global _loaded_saved_calls  # noqa: PLW0603 - once per process, before the first after_suite test
    if item.get_closest_marker("after_suite") is None:
        return
    if _WORKER:
        message = (
            "after_suite tests need every worker's calls: run them after the parallel run, "
            f"with {aws_calls.CALLS_DIR} (make test does)"
        )
        if os.environ.get("PUSH_REGISTRY_WHOLE_SUITE"):
            pytest.fail(message)
        pytest.skip(message)
    directory = aws_calls.saved_calls_dir()
    if directory is not None and not _loaded_saved_calls:
        _loaded_saved_calls = True
        for path in sorted(directory.glob("*.json")):
            aws_calls.load(path)


def pytest_sessionfinish(session: pytest.Session) -> None:
    directory = aws_calls.saved_calls_dir()
    if directory is not None:
        aws_calls.save(directory / f"{_WORKER or 'main'}-{os.getpid()}.json")


@dataclass(frozen=True)
class Database:
    endpoint_url: str
    table_name: str
    client: Any


# The JIT's first tier only: a test session's DynamoDB Local lives minutes, not hours, and C2's compiles
# cost more CPU than they save in that time (measured on a 2-core machine: an import of 4,000 records per
# source took about 30% less wall and DynamoDB Local CPU time).
TEST_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)


@pytest.fixture(scope="session")
def ddb_local() -> Iterator[Database]:
    from local.dynamodb_local import DynamoDBLocal
    from local.template import create_table, load_template

    with DynamoDBLocal(jvm_options=TEST_JVM_OPTIONS) as database:
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


# A worker's terminal summary is not shown: a module's summary lines (test_fuzz.py's cases per
# operation) travel in `workeroutput` under "summary:<title>" and are printed here, by the controller.
_WORKER_SUMMARIES: dict[str, list[str]] = {}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    for key, lines in getattr(node, "workeroutput", {}).items():
        if key.startswith("summary:"):
            _WORKER_SUMMARIES.setdefault(key.removeprefix("summary:"), []).extend(lines)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for title, lines in _WORKER_SUMMARIES.items():
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)
