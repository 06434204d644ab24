"""Every AWS call each function makes during the test run, and the IAM permissions each call needs.

The emulators (DynamoDB Local, moto, the local API) enforce no IAM, so the suite records what the
functions ask of AWS and `tests/deployment/test_permissions.py` checks it against each function's role
in the translated template. A botocore handler registered on every session sees each call's API
parameters before they are sent; the function making it is the `functions/<name>/app.py` on the
calling thread's stack (the local API serves each request on its own thread, and no function starts
threads of its own).

IAM's rules, not the API's names (DynamoDB developer guide, "Using IAM with DynamoDB transactions"):
there is no TransactWriteItems or TransactGetItems action; each Put, Update, Delete and Get inside a
transaction needs PutItem, UpdateItem, DeleteItem or GetItem on its table, each ConditionCheck needs
ConditionCheckItem. BatchGetItem and BatchWriteItem are actions of their own, on each table named.
A Query or Scan of an index needs the index's ARN.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import botocore.handlers

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
# A profile is the stack parameters and physical names (RegistryTable: the table's name) the calls were
# made under; the local profile is the suite's own table with no secret or SSM parameter configured.
Profile = tuple[tuple[str, str], ...]
LOCAL_PROFILE: Profile = ()


@dataclass(frozen=True, slots=True)
class Need:
    """One IAM permission a call needs: `action` on `resource`."""

    action: str
    resource: str


@dataclass(frozen=True, slots=True)
class Call:
    """What one function asked of AWS, under which deployment profile (stack parameters it ran with)."""

    function: str  # the folder under functions/
    operation: str  # service:Operation, as botocore names it
    needs: tuple[Need, ...]
    profile: Profile = LOCAL_PROFILE


@dataclass
class Recorder:
    calls: set[Call] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)
    profile: Profile = LOCAL_PROFILE
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_call(self, model: Any, params: Mapping[str, Any], context: Any = None, **_: Any) -> None:
        function = calling_function()
        if function is None:
            return  # a test or the import tool calling the layer directly: no Lambda role applies
        service = model.service_model.service_name
        region = _region(context)
        operation = f"{service}:{model.name}"
        try:
            needs = tuple(needs_of(service, model.name, params, region))
        except KeyError:
            with self._lock:
                self.unknown.add(f"{function}: {operation}")
            return
        with self._lock:
            self.calls.add(Call(function, operation, needs, self.profile))

    def of(self, profile: Profile) -> set[Call]:
        return {call for call in self.calls if call.profile == profile}

    @contextmanager
    def deployed(self, parameters: Mapping[str, str]) -> Iterator[None]:
        """Calls made inside are those of a stack deployed with these parameters and physical names."""
        previous, self.profile = self.profile, tuple(sorted(parameters.items()))
        try:
            yield
        finally:
            self.profile = previous


RECORDER = Recorder()

# A directory where each pytest process of a parallel run (pytest-xdist) saves what it recorded, and
# from which the tests marked `after_suite`, run afterwards in a pytest of their own, read every one:
# `make test` sets it to a directory it empties first.
CALLS_DIR = "PUSH_REGISTRY_AWS_CALLS_DIR"


def save(path: Path) -> None:
    """Write everything this process recorded to `path` (JSON), for a later process to `load`."""
    with RECORDER._lock:
        calls = [
            {
                "function": call.function,
                "operation": call.operation,
                "needs": [[need.action, need.resource] for need in call.needs],
                "profile": [list(pair) for pair in call.profile],
            }
            for call in sorted(RECORDER.calls, key=repr)
        ]
        unknown = sorted(RECORDER.unknown)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"calls": calls, "unknown": unknown}), encoding="utf-8")


def load(path: Path) -> None:
    """Add the calls another process saved to `path` to this process's RECORDER."""
    saved = json.loads(path.read_text(encoding="utf-8"))
    calls = {
        Call(
            entry["function"],
            entry["operation"],
            tuple(Need(action, resource) for action, resource in entry["needs"]),
            tuple((name, value) for name, value in entry["profile"]),
        )
        for entry in saved["calls"]
    }
    with RECORDER._lock:
        RECORDER.calls |= calls
        RECORDER.unknown |= set(saved["unknown"])


def saved_calls_dir() -> Path | None:
    value = os.environ.get(CALLS_DIR)
    return Path(value) if value else None


def install() -> None:
    """Record on every botocore session created from now on (boto3's and the layer's alike)."""
    entry = ("before-parameter-build", _record)
    if entry not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(entry)


def _record(model: Any, params: Mapping[str, Any], context: Any = None, **kwargs: Any) -> None:
    RECORDER.on_call(model, params, context, **kwargs)


def calling_function() -> str | None:
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.name == "app.py" and path.parent.parent == FUNCTIONS:
            return path.parent.name
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _region(context: Any) -> str:
    client_region = (context or {}).get("client_region")
    return str(client_region or "us-east-1")


ACCOUNT = "123456789012"


def table_arn(region: str, table: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"


_TRANSACT_PARTS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# Operations whose one table is `TableName`, and whose action is the operation's own name.
_ONE_TABLE = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable", "DescribeTimeToLive"}
)


def needs_of(service: str, operation: str, params: Mapping[str, Any], region: str) -> Iterator[Need]:
    """The permissions IAM checks for one call; KeyError for a call no rule here covers."""
    if service == "dynamodb":
        if operation in _ONE_TABLE:
            resource = table_arn(region, params["TableName"])
            if params.get("IndexName"):
                resource += f"/index/{params['IndexName']}"
            yield Need(f"dynamodb:{operation}", resource)
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table in params["RequestItems"]:
                yield Need(f"dynamodb:{operation}", table_arn(region, table))
        elif operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params["TransactItems"]:
                [(part, request)] = item.items()
                yield Need(_TRANSACT_PARTS[part], table_arn(region, request["TableName"]))
        else:
            raise KeyError(operation)
    elif service == "secretsmanager" and operation in ("GetSecretValue", "DescribeSecret"):
        secret = params["SecretId"]
        if not secret.startswith("arn:"):
            secret = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{secret}-??????"
        yield Need(f"secretsmanager:{operation}", secret)
    elif service == "ssm" and operation == "GetParameter":
        # A parameter's ARN has its name without the leading slash of a hierarchical name.
        name = str(params["Name"]).lstrip("/")
        yield Need("ssm:GetParameter", f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name}")
    else:
        raise KeyError(f"{service}:{operation}")


# ---------------------------------------------------------------------- evaluating a role


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allows(statements: list[Mapping[str, Any]], need: Need) -> bool:
    """IAM's evaluation for identity policies alone: an explicit Deny wins, else any Allow grants."""
    allowed = False
    for statement in statements:
        unsupported = {"NotAction", "NotResource", "Condition", "NotPrincipal"} & set(statement)
        if unsupported:
            raise ValueError(f"statement uses {sorted(unsupported)}, which this check does not evaluate")
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        # Actions are case-insensitive in IAM; resource ARNs are not.
        if not any(fnmatchcase(need.action.lower(), a.lower()) for a in actions):
            continue
        if not any(fnmatchcase(need.resource, r) for r in resources):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def grants(statements: list[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """Every (action, resource) pair the statements grant, as written."""
    return {
        (action, resource)
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }


def covers(grant: tuple[str, str], need: Need) -> bool:
    action, resource = grant
    return fnmatchcase(need.action.lower(), action.lower()) and fnmatchcase(need.resource, resource)
