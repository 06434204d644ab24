"""By-id calls and list pages read what they need, whatever the account holds (over moto).

Each DynamoDB call the registry makes is counted through botocore's event hooks, with the items it
read: a large account (live and deactivated registrations interleaved) must cost what a small one does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from push_registry.errors import DeviceNotFound, InvalidRequest
from push_registry.registry import DeviceChange, NewDevice, Registry

LARGE = 60


@dataclass
class Meter:
    calls: list[str] = field(default_factory=list)
    items_read: int = 0

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(model.name)
        self.items_read += len(parsed.get("Items", [])) + (1 if "Item" in parsed else 0)
        self.items_read += sum(len(found) for found in parsed.get("Responses", {}).values())

    def reset(self) -> None:
        self.calls, self.items_read = [], 0


@pytest.fixture
def meter(dynamodb: Any) -> Iterator[Meter]:
    meter = Meter()
    dynamodb.meta.events.register("after-call.dynamodb.*", meter.after)
    yield meter
    dynamodb.meta.events.unregister("after-call.dynamodb.*", meter.after)


def account(registry: Registry, owner: str, size: int) -> list[str]:
    """`size` registrations, every other one deactivated (when size > 1); the live ids, oldest first."""
    clock = registry._clock
    ids = []
    for i in range(size):
        clock.advance(seconds=1)  # type: ignore[attr-defined]  # the unit tests' settable Clock
        ids.append(registry.register_device(owner, NewDevice(f"{owner}-token-{i}", "android"), "accounts").id)
    for device_id in ids[1::2] if size > 1 else []:
        registry.deactivate_device(owner, device_id)
    return ids[0::2] if size > 1 else ids


@pytest.mark.parametrize("size", [1, LARGE])
def test_a_heartbeat_is_one_write_that_returns_the_record(
    registry: Registry, meter: Meter, size: int
) -> None:
    live = account(registry, "acct", size)
    registry._clock.advance(seconds=30)  # type: ignore[attr-defined]
    meter.reset()

    touched = registry.update_device("acct", live[0], DeviceChange())

    assert (meter.calls, meter.items_read) == (["UpdateItem"], 0)
    assert (touched.id, touched.platform, touched.token) == (live[0], "android", "acct-token-0")
    assert touched.last_used_at == registry._clock()
    [stored] = [d for d in registry.list_devices("acct", limit=100).devices if d.id == live[0]]
    assert stored == touched


@pytest.mark.parametrize("size", [1, LARGE])
def test_a_delete_is_one_transaction_that_reads_nothing(registry: Registry, meter: Meter, size: int) -> None:
    live = account(registry, "acct", size)
    meter.reset()

    registry.deactivate_device("acct", live[0])

    assert (meter.calls, meter.items_read) == (["TransactWriteItems"], 0)
    assert live[0] not in [d.id for d in registry.list_devices("acct", limit=100).devices]


@pytest.mark.parametrize("size", [1, LARGE])
def test_a_page_reads_what_it_returns(registry: Registry, meter: Meter, size: int) -> None:
    live = account(registry, "acct", size)
    meter.reset()

    page = registry.list_devices("acct", limit=5)

    assert [d.id for d in page.devices] == live[::-1][:5]
    assert meter.calls == ["Query", "BatchGetItem"]  # the list entries, then their registrations
    # The entries, one more than the page to know whether more follow; the page's registrations.
    assert meter.items_read == min(6, len(live)) + min(5, len(live))


def test_paging_a_large_account_walks_its_live_registrations_newest_first(
    registry: Registry, meter: Meter
) -> None:
    live = account(registry, "acct", LARGE)
    seen, cursor, pages = [], None, 0
    meter.reset()
    while True:
        page = registry.list_devices("acct", limit=7, cursor=cursor)
        seen += [d.id for d in page.devices]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == live[::-1]
    assert meter.items_read <= 2 * (len(live) + pages)  # never a deactivated registration


def test_a_cursor_from_another_account_is_refused(registry: Registry) -> None:
    account(registry, "alice", 3)
    account(registry, "bob", 3)
    cursor = registry.list_devices("alice", limit=1).next_cursor
    assert cursor is not None

    with pytest.raises(InvalidRequest) as refused:
        registry.list_devices("bob", limit=1, cursor=cursor)
    assert refused.value.first.field == "cursor"


def test_a_token_change_keeps_the_id_working(registry: Registry, meter: Meter) -> None:
    # The id names the token digest at creation; after a PATCH of the token, by-id calls still work.
    (device_id,) = account(registry, "acct", 1)
    registry.update_device("acct", device_id, DeviceChange(token="acct-token-new"))
    registry.update_device("acct", device_id, DeviceChange())
    meter.reset()

    registry.deactivate_device("acct", device_id)

    # The blind attempt; then by id: the id's key (the old token's, gone), the list entry, the
    # registration it points at; then the transaction.
    assert meter.calls == ["TransactWriteItems", "GetItem", "GetItem", "GetItem", "TransactWriteItems"]
    assert registry.list_devices("acct", limit=10).devices == []
    with pytest.raises(DeviceNotFound):
        registry.update_device("acct", device_id, DeviceChange())


@pytest.mark.parametrize("device_id", ["", "x" * 59, "not-an-id", "A" * 59, "0" * 2000])
def test_ids_not_issued_here_are_not_found(registry: Registry, device_id: str) -> None:
    account(registry, "acct", 3)
    with pytest.raises(DeviceNotFound):
        registry.update_device("acct", device_id, DeviceChange())
    with pytest.raises(DeviceNotFound):
        registry.deactivate_device("acct", device_id)


def _cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(
            "0001-01-01T00:00:00+05:00", "x", hashlib.sha256(b"acct").hexdigest()[:16]
        ),  # before year 1 in UTC
        _cursor("2026-01-01T00:00:00+00:00", "x" * 2000, hashlib.sha256(b"acct").hexdigest()[:16]),
        _cursor("2026-01-01T00:00:00", "x", hashlib.sha256(b"acct").hexdigest()[:16]),  # no time zone
    ],
)
def test_a_forged_cursor_of_the_right_account_is_still_invalid_input(registry: Registry, cursor: str) -> None:
    account(registry, "acct", 3)
    with pytest.raises(InvalidRequest):
        registry.list_devices("acct", limit=1, cursor=cursor)


def test_expired_registrations_are_skipped_and_a_short_page_reads_on(
    registry: Registry, meter: Meter
) -> None:
    # Two registrations that expire, then two that stay live: the newest-first walk meets the live ones
    # first, then only stale entries (their leases outlive them), which it skips.
    clock = registry._clock

    def registered(name: str) -> str:
        clock.advance(seconds=1)  # type: ignore[attr-defined]
        return registry.register_device("acct", NewDevice(f"token-{name}", "android"), "accounts").id

    old = [registered("a"), registered("b")]
    clock.advance(days=20)  # type: ignore[attr-defined]
    new = [registered("c"), registered("d")]
    clock.advance(days=15)  # type: ignore[attr-defined]  # the first two are expired, not yet deleted
    assert len(set(old + new)) == 4
    meter.reset()

    first = registry.list_devices("acct", limit=3)
    assert [d.id for d in first.devices] == new[::-1]
    # The page came up short of 3: it read on past the stale entries, to the end.
    assert first.next_cursor is None
    assert meter.calls[-4:] == ["Query", "BatchGetItem", "Query", "BatchGetItem"]

    one = registry.list_devices("acct", limit=1)
    two = registry.list_devices("acct", limit=1, cursor=one.next_cursor)
    assert [d.id for d in one.devices + two.devices] == new[::-1]
    # The look-ahead entry of the second page was stale: a cursor to a page that turns out empty.
    assert two.next_cursor is not None
    last = registry.list_devices("acct", limit=1, cursor=two.next_cursor)
    assert (last.devices, last.next_cursor) == ([], None)


def imported(registry: Registry, owner: str, kept_id: str) -> str:
    """A registration an import made, keeping its source system's id (no keys in it)."""
    from datetime import timedelta

    from push_registry.adoption import Adoption, ExportedRecord

    now = registry._clock()
    record = ExportedRecord(
        owner=owner,
        device=NewDevice(token=f"{owner}-imported-token", platform="android"),
        source="accounts",
        last_used_at=now - timedelta(days=1),
        id=kept_id,
        created_at=now - timedelta(days=90),
    )
    Adoption(registry._store, clock=registry._clock).adopt(record)
    return kept_id


@pytest.mark.parametrize("size", [1, LARGE])
@pytest.mark.parametrize("made_up", ["a/b", "x" * 200, "ünïcode", "has space"])
def test_an_id_no_registration_can_have_is_not_found_without_reading(
    registry: Registry, meter: Meter, size: int, made_up: str
) -> None:
    """Neither issued here nor of the shape an import keeps: 404 at once, whatever the account holds."""
    account(registry, "owner", size)
    meter.reset()
    for call in (
        lambda: registry.update_device("owner", made_up, DeviceChange()),
        lambda: registry.update_device("owner", made_up, DeviceChange(device_info={"app_version": "2"})),
        lambda: registry.deactivate_device("owner", made_up),
        lambda: registry.deactivate_device("owner", made_up, tenant="local"),  # the pigeons DELETE
    ):
        with pytest.raises(DeviceNotFound):
            call()
    assert (meter.calls, meter.items_read) == ([], 0)


@pytest.mark.parametrize("size", [1, LARGE])
def test_a_made_up_id_of_the_imported_shape_costs_one_read_whatever_the_account_holds(
    registry: Registry, meter: Meter, size: int
) -> None:
    account(registry, "owner", size)
    imported(registry, "owner", "device-kept-from-the-old-backend")
    meter.reset()

    with pytest.raises(DeviceNotFound):
        registry.update_device(
            "owner", "device-nobody-ever-had", DeviceChange(device_info={"os_version": "17"})
        )
    assert (meter.calls, meter.items_read) == (["GetItem"], 0)
    meter.reset()
    with pytest.raises(DeviceNotFound):
        registry.deactivate_device("owner", "device-nobody-ever-had")
    assert (meter.calls, meter.items_read) == (["GetItem"], 0)


@pytest.mark.parametrize("size", [1, LARGE])
def test_a_kept_import_id_is_found_at_an_issued_ids_cost_whatever_the_account_holds(
    registry: Registry, meter: Meter, size: int
) -> None:
    account(registry, "owner", size)
    kept = imported(registry, "owner", "device-kept-from-the-old-backend")
    meter.reset()

    changed = registry.update_device("owner", kept, DeviceChange(device_info={"os_version": "17"}))

    assert (changed.id, changed.device_info["os_version"]) == (kept, "17")
    # The pointer, the registration, then the write: as an issued id whose token changed since.
    assert (meter.calls, meter.items_read) == (["GetItem", "GetItem", "TransactWriteItems"], 2)
    meter.reset()
    registry.deactivate_device("owner", kept)
    assert (meter.calls, meter.items_read) == (["GetItem", "GetItem", "TransactWriteItems"], 2)
    with pytest.raises(DeviceNotFound):
        registry.update_device("owner", kept, DeviceChange(device_info={"os_version": "18"}))


@pytest.mark.parametrize("size", [1, LARGE])
def test_re_registering_the_token_of_an_expired_imported_registration_reads_no_list_entry(
    registry: Registry, meter: Meter, size: int
) -> None:
    """The expired registration's entry is found through its kept id's pointer, not among every entry."""

    account(registry, "owner", size)
    kept = imported(registry, "owner", "device-kept-from-the-old-backend")
    registry._clock.advance(days=30)  # type: ignore[attr-defined]  # expired; guard and entry on lease
    meter.reset()

    again = registry.register_device("owner", NewDevice("owner-imported-token", "android"), "accounts")

    assert "Query" not in meter.calls, meter.calls
    assert meter.items_read <= 2, meter.calls  # the refused guard's image is not a read; the pointer is
    listed = [d.id for d in registry.list_devices("owner", limit=100).devices]
    assert again.id in listed
    assert kept not in listed
