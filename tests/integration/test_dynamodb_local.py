"""DynamoDB Local as the project runs it: one database, whoever asks."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.integration


def test_every_access_key_and_region_sees_the_same_tables(ddb_local: Any) -> None:
    """sam local passes the developer's keys (or "defaultkey"), make run uses "local": without
    -sharedDb each key would get its own, empty database and the functions a missing table."""
    stranger = boto3.client(
        "dynamodb",
        endpoint_url=ddb_local.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="defaultkey",
        aws_secret_access_key="defaultsecret",
    )
    assert ddb_local.table_name in stranger.list_tables()["TableNames"]
