"""Each source's export row mapped onto its API's request (no database): docs/adoption.md's field mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ops.importer import ImportJob, run_import
from ops.progress import Silent
from ops.sources import SOURCES, Inactive, Rejected, record_of
from push_registry.registration import Provider

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def test_accounts_row_keeps_id_and_dates() -> None:
    row = {
        "_id": {"$oid": "65a1b2c3d4e5f60718293a4b"},
        "account_id": "acct-1",
        "device_token": "fcm_token_here",
        "platform": "Android",
        "device_info": {"app_version": "1.0.0", "device_model": "Pixel 8"},
        "active": True,
        "created_at": {"$date": "2026-01-15T10:30:00Z"},
        "updated_at": {"$date": {"$numberLong": "1764324000000"}},
    }
    record = record_of(SOURCES["accounts"], row, NOW)
    assert (record.owner, record.id, record.source) == ("acct-1", "65a1b2c3d4e5f60718293a4b", "accounts")
    assert record.device.platform == "android"
    assert record.device.device_info == {"app_version": "1.0.0", "device_model": "Pixel 8"}
    assert record.created_at == datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
    assert record.last_used_at == datetime.fromtimestamp(1764324000, UTC)  # updated_at when no last_used_at
    with pytest.raises(Inactive):
        record_of(SOURCES["accounts"], {**row, "active": False}, NOW)


def test_camera_row_is_a_token_entry_with_epoch_milliseconds() -> None:
    row = {
        "userId": "u-1",
        "msgType": "apns",
        "msgToken": "a" * 64,
        "app": {"version": "1.2.3"},
        "language": "en",
        "tenantId": "acme",
        "createTime": 1764000000000,
        "updateTime": 1764300000000,
    }
    record = record_of(SOURCES["camera"], row, NOW)
    assert record.id is None
    assert (record.device.platform, record.device.provider, record.device.tenant) == (
        "ios",
        Provider.APNS,
        "acme",
    )
    assert record.device.device_info == {"app_version": "1.2.3", "language": "en"}
    assert record.last_used_at == datetime.fromtimestamp(1764300000, UTC)


def test_user_push_tokens_row_keeps_id_and_registered_date() -> None:
    row = {
        "id": "550e8400-e29b-41d4-a716-446655440001",
        "user_id": "u-2",
        "device_os": "iOS",
        "push_token": "fMEP0JqFyF4:APA91bHqX",
        "app_ver": "1.0.0",
        "module": "main",
        "registered_date": "2025-01-15T10:30:00Z",
        "updated_date": "2026-11-29 18:00:00",
    }
    record = record_of(SOURCES["user-push-tokens"], row, NOW)
    assert (record.id, record.created_at) == (
        "550e8400-e29b-41d4-a716-446655440001",
        datetime(2025, 1, 15, 10, 30, tzinfo=UTC),
    )
    assert record.device.device_info == {"os": "iOS", "app_version": "1.0.0", "module": "main"}
    assert record.last_used_at == datetime(2026, 11, 29, 18, tzinfo=UTC)  # no offset: UTC


def test_pigeons_row_needs_its_tenant() -> None:
    row = {
        "_id": "67890abcdef12345",
        "user_id": "u-3",
        "tenant": "acme",
        "token": "fGxR8hJ3T",
        "platform": "web",
        "device": {"browser": "Firefox", "colour": "ignored"},
        "updated_at": "2026-11-29T18:00:00+02:00",
    }
    record = record_of(SOURCES["pigeons"], row, NOW)
    assert (record.id, record.device.tenant, record.device.platform) == ("67890abcdef12345", "acme", "web")
    assert record.device.device_info == {"browser": "Firefox"}
    assert record.last_used_at == datetime(2026, 11, 29, 16, tzinfo=UTC)
    with pytest.raises(Rejected, match="tenant"):
        record_of(SOURCES["pigeons"], {**row, "tenant": None}, NOW)


@pytest.mark.parametrize(
    ("source", "row", "reason"),
    [
        (
            "accounts",
            {"account_id": "a", "device_token": "x y", "platform": "ios", "updated_at": 1},
            "device_token",
        ),
        (
            "accounts",
            {"account_id": "a", "device_token": "t", "platform": "windows", "updated_at": 1},
            "platform",
        ),
        ("camera", {"userId": "u", "msgType": "HMS", "msgToken": "t", "updateTime": 1}, "msgType"),
        ("camera", {"msgType": "FCM", "msgToken": "t", "updateTime": 1}, "userId is required"),
        ("user-push-tokens", {"user_id": "u", "push_token": "t"}, "updated_date or registered_date"),
        ("user-push-tokens", {"user_id": "u", "push_token": "t", "updated_date": "soon"}, "not a date"),
        ("user-push-tokens", {"user_id": "u", "push_token": "t", "updated_date": "2027-06-01"}, "future"),
        (
            "user-push-tokens",
            {"id": "a/b", "user_id": "u", "push_token": "t", "updated_date": 1},
            "id must be",
        ),
        (
            "pigeons",
            {"user_id": "u", "tenant": "x", "token": "t", "platform": "tv", "updated_at": 1},
            "platform",
        ),
        ("pigeons", ["not", "an", "object"], "not a JSON object"),
    ],
)
def test_invalid_rows_are_rejected_with_a_reason(source: str, row: Any, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        record_of(SOURCES[source], row, NOW)


@pytest.mark.parametrize("number", ["17x", "", " 17", "1.5e12", "1" * 20, None, True])
def test_a_malformed_number_long_date_is_rejected_naming_the_field(tmp_path: Path, number: Any) -> None:
    """`{"$date": {"$numberLong": ...}}` holds a decimal integer in a string: anything else is the row's
    fault, and the rejects file says which field and what is wrong (not "the line is not JSON")."""
    row = {
        "account_id": "acct-1",
        "device_token": "fcm_token_here",
        "platform": "android",
        "last_used_at": {"$date": {"$numberLong": number}},
    }
    export = tmp_path / "accounts.jsonl"
    export.write_text(json.dumps(row) + "\n", encoding="utf-8")

    # A rejected row never reaches the table: no client is needed.
    summary = run_import(ImportJob(path=export, source="accounts", table="unused"), Silent(), object())

    assert summary.counts.rejected == 1
    (reject,) = [json.loads(line) for line in (tmp_path / "accounts.jsonl.rejects.jsonl").open()]
    assert reject["reason"] == f"last_used_at: $date.$numberLong {json.dumps(number)} is not a 64-bit integer"
