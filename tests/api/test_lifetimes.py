"""The lifetimes the contracts promise, as literal durations: the stored expiry against the request time.

Deliberately not read from `settings()`: a wrong default there would move both sides of the check.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.helpers import new_push_token, new_user, post
from tests.conftest import Database

pytestmark = pytest.mark.integration

THIRTY_DAYS = 30 * 24 * 60 * 60
TWENTY_FOUR_HOURS = 24 * 60 * 60


def _items(database: Database, pk: str, sk_prefix: str) -> list[dict[str, Any]]:
    answer = database.client.query(
        TableName=database.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":sk": {"S": sk_prefix}},
        ConsistentRead=True,
    )
    items: list[dict[str, Any]] = answer["Items"]
    return items


def _within(expires_at: int, before: float, after: float, lifetime: int) -> bool:
    # Stored as whole epoch seconds of (request time + lifetime), truncated.
    return math.floor(before) + lifetime <= expires_at <= math.ceil(after) + lifetime


def test_a_registration_expires_30_days_after_the_request(
    local_api: str, ddb_local: Database, make_token: Callable[..., str]
) -> None:
    user, push_token = new_user(), new_push_token()
    before = time.time()
    response = post(
        f"{local_api}/api/accounts/{user}/devices",
        {"device_token": push_token, "platform": "android"},
        token=make_token(user),
    )
    after = time.time()
    assert response.status_code == 201, response.text
    digest = hashlib.sha256(push_token.encode()).hexdigest()
    registration = _items(ddb_local, f"OWNER#{user}", f"TOKEN#{digest}")
    guard = _items(ddb_local, f"TOKEN#{digest}", "GUARD")
    assert len(registration) == 1
    assert len(guard) == 1
    expires_at = int(registration[0]["expires_at"]["N"])
    assert _within(expires_at, before, after, THIRTY_DAYS), (expires_at - before) / 86400
    # The guard's lease: 7 days beyond the registration's expiry (docs/architecture.md, "Leases").
    assert (
        int(guard[0]["expires_at"]["N"]) == int(registration[0]["lease_until"]["N"]) == expires_at + 7 * 86400
    )


def test_a_presignup_record_expires_24_hours_after_the_post(local_api: str, ddb_local: Database) -> None:
    phone = f"+1415555{uuid.uuid4().int % 10_000:04d}"
    before = time.time()
    response = post(f"{local_api}/api/public/fcm-token", {"phone": phone, "fcmToken": new_push_token()})
    after = time.time()
    assert response.status_code == 201, response.text
    record_id = response.json()["id"]
    records = _items(ddb_local, f"PHONE#{phone}", f"PRESIGNUP#{record_id}")
    assert len(records) == 1
    expires_at = int(records[0]["expires_at"]["N"])
    assert _within(expires_at, before, after, TWENTY_FOUR_HOURS), (expires_at - before) / 3600
