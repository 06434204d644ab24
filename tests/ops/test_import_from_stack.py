"""`push-registry import --stack` reads the table, the registration lifetime and the per-user cap from
the deployed stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from local.template import create_table, load_template
from ops.cli import main
from push_registry.registration import token_digest

TABLE = "push-registry-stack-table"
# What the import needs of the stack: its TableName output, its RegistrationTtlDays and MaxDevicesPerUser.
STACK_TEMPLATE = {
    "Parameters": {
        "RegistrationTtlDays": {"Type": "Number", "Default": 30},
        "MaxDevicesPerUser": {"Type": "Number", "Default": 20},
    },
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {"TableName": {"Value": TABLE}},
}


def exported_row(tmp_path: Path, last_used: datetime) -> Path:
    row = {
        "_id": {"$oid": "65a1b2c3d4e5f60718293a4b"},
        "account_id": "acct-stack",
        "device_token": "fcm-token-imported-from-a-stack",
        "platform": "android",
        "active": True,
        "created_at": {"$date": "2026-01-15T10:30:00Z"},
        "last_used_at": {"$date": last_used.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
    path = tmp_path / "accounts.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return path


def deployed_stack(**parameters: int) -> Any:
    """The stack, deployed with these parameter values (in moto), and a client of its table."""
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName="push-registry-prod",
        TemplateBody=json.dumps(STACK_TEMPLATE),
        Parameters=[{"ParameterKey": key, "ParameterValue": str(value)} for key, value in parameters.items()],
    )
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(dynamodb, TABLE, load_template())
    return dynamodb


def import_from_stack(path: Path, *options: str) -> Any:
    """One worker: moto's in-memory DynamoDB is not thread-safe (its dicts change under a concurrent
    scan: "dictionary changed size during iteration"); the import's concurrency is tested on DynamoDB
    Local, in test_import.py."""
    arguments = [
        "import",
        str(path),
        "--from",
        "accounts",
        "--stack",
        "push-registry-prod",
        "--progress",
        "none",
        "--workers",
        "1",
    ]
    return CliRunner().invoke(main, [*arguments, "--json", *options])


def imported_expiry(client: Any) -> int:
    item = client.get_item(
        TableName=TABLE,
        Key={
            "pk": {"S": "OWNER#acct-stack"},
            "sk": {"S": f"TOKEN#{token_digest('fcm-token-imported-from-a-stack')}"},
        },
    )["Item"]
    return int(item["expires_at"]["N"])


@pytest.mark.parametrize(
    ("stack_days", "option", "expected_days"), [(60, [], 60), (60, ["--lifetime-days", "45"], 45)]
)
def test_the_import_takes_the_stacks_registration_lifetime_unless_given_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack_days: int, option: list[str], expected_days: int
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    last_used = datetime.now(UTC).replace(microsecond=0) - timedelta(days=40)  # beyond 30, within 60
    with mock_aws():
        dynamodb = deployed_stack(RegistrationTtlDays=stack_days)
        run = import_from_stack(exported_row(tmp_path, last_used), *option)
        assert run.exit_code == 0, run.output
        assert imported_expiry(dynamodb) == int((last_used + timedelta(days=expected_days)).timestamp())


def test_a_lifetime_within_the_lease_is_refused_by_the_import_command(tmp_path: Path) -> None:
    run = CliRunner().invoke(
        main,
        [
            "import",
            str(exported_row(tmp_path, datetime.now(UTC))),
            "--from",
            "accounts",
            "--table",
            TABLE,
            "--lifetime-days",
            "7",
        ],
    )
    assert run.exit_code == 2
    assert "--lifetime-days" in run.output


@pytest.mark.parametrize(("option", "expected_live"), [([], 2), (["--max-devices-per-user", "0"], 3)])
def test_the_import_keeps_the_stacks_cap_per_user_unless_given_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: list[str], expected_live: int
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        {
            "_id": {"$oid": f"65a1b2c3d4e5f60718293a4{i}"},
            "account_id": "acct-capped",
            "device_token": f"fcm-token-capped-{i}",
            "platform": "android",
            "active": True,
            "created_at": {"$date": "2026-01-15T10:30:00Z"},
            "last_used_at": {"$date": (now - timedelta(days=3 - i)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
        for i in range(3)
    ]
    path = tmp_path / "accounts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with mock_aws():
        dynamodb = deployed_stack(MaxDevicesPerUser=2)
        run = import_from_stack(path, *option)
        assert run.exit_code == 0, run.output
        live = []
        for i in range(3):
            key = {
                "pk": {"S": "OWNER#acct-capped"},
                "sk": {"S": f"TOKEN#{token_digest(f'fcm-token-capped-{i}')}"},
            }
            item = dynamodb.get_item(TableName=TABLE, Key=key).get("Item")
            if item is not None and item["active"]["BOOL"]:
                live.append(i)
    # With the stack's cap of 2, the least recently used row (0) is evicted by the third.
    assert live == ([1, 2] if expected_live == 2 else [0, 1, 2])
