"""Privacy requests over moto: erasure of expired and unknown items, counters, exports, message parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from push_registry.apis import internal
from push_registry.errors import InvalidRequest
from push_registry.http import Request
from push_registry.privacy import Action, Privacy, Subject, subject_fingerprint
from push_registry.rate_limit import USER_SCOPE, RateLimiter
from push_registry.registry import NewDevice, Registry
from push_registry.storage import PreSignupStore, RegistrationStore, RequestCounter
from push_registry.storage.table import plain
from push_registry.telemetry import Metric
from tests.unit.conftest import TABLE, Clock


@pytest.fixture
def audited() -> list[tuple[Any, ...]]:
    return []


@pytest.fixture
def recorded() -> list[Metric]:
    return []


@pytest.fixture
def privacy(dynamodb: Any, audited: list[tuple[Any, ...]], recorded: list[Metric]) -> Privacy:
    return Privacy(
        RegistrationStore(dynamodb, TABLE),
        PreSignupStore(dynamodb, TABLE),
        RequestCounter(dynamodb, TABLE),
        record=lambda metric, reason=None: recorded.append(metric),
        audit=lambda *entry: audited.append(entry),
    )


def every_item(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE)["Items"]
    return items


def test_erasure_removes_expired_registrations_unknown_items_and_the_users_counters(
    *,
    dynamodb: Any,
    registry: Registry,
    clock: Clock,
    privacy: Privacy,
    audited: list[tuple[Any, ...]],
    recorded: list[Metric],
) -> None:
    registry.register_device("alice", NewDevice(token="tok-old", platform="android"), "accounts")
    clock.advance(days=31)  # expired, not yet removed by TTL (moto never removes it)
    registry.register_device("alice", NewDevice(token="tok-new", platform="ios"), "camera")
    # An item of a kind this code does not model (what other work may add to the partition).
    dynamodb.put_item(
        TableName=TABLE, Item={"pk": {"S": "OWNER#alice"}, "sk": {"S": "LIST#0001"}, "note": {"S": "x"}}
    )
    limiter = RateLimiter(RequestCounter(dynamodb, TABLE), limit=5, clock=clock)
    limiter.check(USER_SCOPE, "alice")
    limiter.check(USER_SCOPE, "bob")
    registry.register_device("bob", NewDevice(token="tok-bob", platform="ios"), "accounts")

    exported = privacy.export_user("alice", "arn:aws:iam::1:user/op")
    assert sorted(r["token"] for r in exported["registrations"]) == ["tok-new", "tok-old"]
    assert exported["other_items"] == [{"sort_key": "LIST#0001", "note": "x"}]
    assert [w["hits"] for w in exported["rate_counters"]] == [1]

    counts = privacy.erase_user("alice", "arn:aws:iam::1:user/op")

    # The expired guard of tok-old still names alice: it is hers, so it goes too.
    assert counts == {"registrations": 2, "token_guards": 2, "other_items": 1, "rate_counters": 1}
    left = every_item(dynamodb)
    assert all("alice" not in str(item) for item in left)
    assert {item["pk"]["S"].split("#")[0] for item in left} == {"OWNER", "TOKEN", "RATE"}  # bob's
    assert privacy.erase_user("alice", None) == dict.fromkeys(counts, 0)
    assert recorded == [Metric.EXPORTS, Metric.ERASURES, Metric.ERASURES]
    fingerprint = subject_fingerprint(Subject.USER, "alice")
    assert [entry[:4] for entry in audited] == [
        (Action.EXPORT, Subject.USER, fingerprint, "arn:aws:iam::1:user/op"),
        (Action.ERASE, Subject.USER, fingerprint, "arn:aws:iam::1:user/op"),
        (Action.ERASE, Subject.USER, fingerprint, None),
    ]
    assert "alice" not in str(audited)


def test_subject_fingerprints_differ_by_kind_and_never_contain_the_subject() -> None:
    user = subject_fingerprint(Subject.USER, "+14155550100")
    phone = subject_fingerprint(Subject.PHONE, "+14155550100")
    assert user != phone
    assert len(user) == len(phone) == 12
    assert "4155550100" not in user + phone


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"S": "x"}, "x"),
        ({"N": "42"}, 42),
        ({"N": "-3"}, -3),
        ({"N": "1.5"}, "1.5"),
        ({"BOOL": False}, False),
        ({"NULL": True}, None),
        ({"M": {"a": {"L": [{"S": "b"}, {"N": "1"}]}}}, {"a": ["b", 1]}),
        ({"SS": ["b", "a"]}, ["a", "b"]),
        ({"B": b"\x00\x01"}, "AAE="),
    ],
)
def test_exports_render_every_attribute_type_as_plain_json(value: dict[str, Any], expected: Any) -> None:
    assert plain(value) == expected


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"erase_user": "a", "erase_phone": "+14155550100"},
        {"erase_user": ""},
        {"erase_user": 1},
        {"x": "a"},
    ],
)
def test_erasure_messages_name_exactly_one_subject(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        internal.erasure_of(body)


def test_erasure_messages_of_users_and_phones() -> None:
    assert internal.erasure_of({"erase_user": "u-1"}) == (Subject.USER, "u-1")
    assert internal.erasure_of({"erase_phone": "(415) 555-0100"}) == (Subject.PHONE, "(415) 555-0100")


@pytest.mark.parametrize("user", ["", "u" * 1025, "\ud800"])
def test_user_ids_must_fit_a_partition_key(user: str) -> None:
    request = Request("DELETE", {"userId": user}, {}, {}, None)
    with pytest.raises(InvalidRequest):
        internal.user_id_of(request)


def test_erasure_and_export_reach_the_stale_guard_of_a_registration_ttl_deleted(
    *, dynamodb: Any, registry: Registry, clock: Clock, privacy: Privacy
) -> None:
    # A registration expires and TTL deletes it; its guard and list entry live on until their lease
    # ends (up to 7 days), the guard naming alice. Only the list entry is in alice's partition.
    gone = registry.register_device("alice", NewDevice(token="tok-gone", platform="android"), "accounts")
    clock.advance(days=31)
    dynamodb.delete_item(
        TableName=TABLE, Key={"pk": {"S": "OWNER#alice"}, "sk": {"S": f"TOKEN#{gone.token_digest}"}}
    )
    guard_key = {"pk": {"S": f"TOKEN#{gone.token_digest}"}, "sk": {"S": "GUARD"}}
    assert dynamodb.get_item(TableName=TABLE, Key=guard_key)["Item"]["owner"] == {"S": "alice"}

    exported = privacy.export_user("alice", None)
    assert [(g["token_digest"], g["device_id"]) for g in exported["token_guards"]] == [
        (gone.token_digest, gone.id)
    ]

    counts = privacy.erase_user("alice", None)

    assert counts == {"registrations": 0, "token_guards": 1, "other_items": 1, "rate_counters": 0}
    assert "alice" not in str(every_item(dynamodb))


@pytest.mark.parametrize("late", [timedelta(0), timedelta(days=1), timedelta(days=2)])
def test_erasure_and_export_reach_a_stale_guard_whatever_order_ttl_deletes_its_items_in(
    *, dynamodb: Any, registry: Registry, clock: Clock, privacy: Privacy, late: timedelta
) -> None:
    """TTL deletes expired items in no set order, typically within two days: here it deletes every
    expired item of alice but the guard, which it reaches `late` after the guard's own expiry."""
    gone = registry.register_device("alice", NewDevice(token="tok-late-ttl", platform="android"), "accounts")
    guard_key = {"pk": {"S": f"TOKEN#{gone.token_digest}"}, "sk": {"S": "GUARD"}}
    guard_expiry = int(dynamodb.get_item(TableName=TABLE, Key=guard_key)["Item"]["expires_at"]["N"])
    clock.now = datetime.fromtimestamp(guard_expiry, UTC) + late
    for item in every_item(dynamodb):
        if item["pk"]["S"] == "OWNER#alice" and int(item["expires_at"]["N"]) <= clock.now.timestamp():
            dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    assert dynamodb.get_item(TableName=TABLE, Key=guard_key)["Item"]["owner"] == {"S": "alice"}

    exported = privacy.export_user("alice", None)
    assert [g["device_id"] for g in exported["token_guards"]] == [gone.id]
    assert privacy.erase_user("alice", None)["token_guards"] == 1
    assert "alice" not in str(every_item(dynamodb))


def test_erasure_leaves_a_stale_guards_token_to_whoever_took_it(
    *, dynamodb: Any, registry: Registry, clock: Clock, privacy: Privacy
) -> None:
    gone = registry.register_device("alice", NewDevice(token="tok-taken", platform="android"), "accounts")
    clock.advance(days=31)
    dynamodb.delete_item(
        TableName=TABLE, Key={"pk": {"S": "OWNER#alice"}, "sk": {"S": f"TOKEN#{gone.token_digest}"}}
    )
    taken = registry.register_device("bob", NewDevice(token="tok-taken", platform="android"), "accounts")

    counts = privacy.erase_user("alice", None)

    assert counts["token_guards"] == 0
    assert [d.id for d in registry.list_devices("bob", limit=10).devices] == [taken.id]
    assert "alice" not in str(every_item(dynamodb))
