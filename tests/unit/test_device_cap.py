"""A user keeps at most MaxDevicesPerUser live registrations: one beyond it evicts the least recently
used, in the transaction that adds the new one (issue 21, item 9)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from push_registry.adoption import Adopted, Adoption, ExportedRecord
from push_registry.errors import DeviceNotFound
from push_registry.registration import Registration
from push_registry.registry import DeviceChange, NewDevice, Registry
from push_registry.storage import RegistrationStore
from tests.unit.conftest import TABLE, Calls, Clock

CAP = 3


@pytest.fixture
def capped(dynamodb: Any, clock: Clock) -> Registry:
    store = RegistrationStore(dynamodb, TABLE, max_devices_per_user=CAP)
    return Registry(store, lifetime=timedelta(days=30), clock=clock)


def _register(
    registry: Registry, clock: Clock, count: int, owner: str = "alice", prefix: str = "token"
) -> list[Registration]:
    made = []
    for i in range(count):
        clock.advance(minutes=1)
        device = NewDevice(token=f"{owner}-{prefix}-{i}", platform="ios")
        made.append(registry.register_device(owner, device, "accounts"))
    return made


def _live_ids(registry: Registry, owner: str = "alice") -> set[str]:
    return {device.id for device in registry.list_devices(owner, limit=100).devices}


def test_a_registration_beyond_the_cap_evicts_the_least_recently_used_in_its_transaction(
    dynamodb: Any, capped: Registry, clock: Clock
) -> None:
    first, second, third = _register(capped, clock, CAP)
    clock.advance(minutes=1)
    capped.update_device("alice", first.id, DeviceChange())  # first used again: second is now the oldest use
    calls = Calls(dynamodb)
    clock.advance(minutes=1)
    fourth = capped.register_device("alice", NewDevice(token="alice-token-new", platform="ios"), "accounts")

    assert _live_ids(capped) == {first.id, third.id, fourth.id}
    # The fast path's refusal, the list entries and their registrations read, then one transaction: the
    # new one, the eviction and the new count.
    assert calls.names[:4] == ["TransactWriteItems", "Query", "BatchGetItem", "TransactWriteItems"]
    evicted = capped._store.get("alice", second.token_digest)
    assert evicted is not None
    assert not evicted.active
    with pytest.raises(DeviceNotFound):  # the evicted device's heartbeat: a 404, so the app registers again
        capped.update_device("alice", second.id, DeviceChange())


def test_an_evicted_token_is_free_for_its_device_to_register_again(capped: Registry, clock: Clock) -> None:
    oldest, *_ = _register(capped, clock, CAP + 1)
    clock.advance(minutes=1)
    again = capped.register_device("alice", NewDevice(token=oldest.token, platform="ios"), "accounts")
    assert again.id in _live_ids(capped)
    assert len(_live_ids(capped)) == CAP


def test_a_re_registration_of_a_token_the_user_holds_evicts_nothing(capped: Registry, clock: Clock) -> None:
    made = _register(capped, clock, CAP)
    clock.advance(minutes=1)
    capped.upsert_device("alice", NewDevice(token=made[0].token, platform="ios"), "accounts")
    capped.replace_device("alice", NewDevice(token=made[1].token, platform="ios"), "accounts")
    assert len(_live_ids(capped)) == CAP
    assert {capped._store.get("alice", r.token_digest).active for r in made} == {True}  # type: ignore[union-attr]


def test_an_import_beyond_the_cap_evicts_as_a_registration_does(capped: Registry, clock: Clock) -> None:
    first, *_ = _register(capped, clock, CAP)
    clock.advance(minutes=1)
    record = ExportedRecord(
        owner="alice",
        device=NewDevice(token="alice-imported", platform="android"),
        source="accounts",
        last_used_at=clock.now - timedelta(seconds=1),
        id="kept-import-id",
    )
    result = Adoption(capped._store, clock=clock).adopt(record)
    assert result.outcome is Adopted.IMPORTED
    assert [r.id for r in result.evicted] == [first.id]
    assert first.id not in _live_ids(capped)
    assert "kept-import-id" in _live_ids(capped)


def test_an_owners_first_import_counts_at_once_without_the_transaction_that_would_fail(
    dynamodb: Any, capped: Registry, clock: Clock
) -> None:
    """The read every record costs also says the owner has no roster: no fast-path transaction that
    the missing roster would cancel; a second record of the owner then takes the fast path."""
    adoption = Adoption(capped._store, clock=clock)

    def record(token: str) -> ExportedRecord:
        return ExportedRecord(
            owner="carol",
            device=NewDevice(token=token, platform="ios"),
            source="accounts",
            last_used_at=clock.now,
        )

    calls = Calls(dynamodb)
    assert adoption.adopt(record("carol-first")).outcome is Adopted.IMPORTED
    # The record's registration, the token's tombstone and the roster in one read; the owner's list
    # entries (none); one transaction that writes the registration, its guard, its entry and the roster.
    assert calls.names == ["BatchGetItem", "Query", "TransactWriteItems"]
    calls.names.clear()
    assert adoption.adopt(record("carol-second")).outcome is Adopted.IMPORTED
    assert calls.names == ["BatchGetItem", "TransactWriteItems"]  # the roster counts one more
    assert not capped._store.state_for_adoption("carol", "0" * 64, clock.now).rosterless
    assert len(_live_ids(capped, "carol")) == 2


def test_a_roster_written_after_the_read_that_found_none_still_keeps_the_cap(
    dynamodb: Any, capped: Registry, clock: Clock
) -> None:
    """`rosterless` is a hint read before the write: when the owner's roster appeared meanwhile (here,
    CAP registrations through the API), the roster's conditional Put fails, and the admission counts
    again on the roster it then reads: the least recently used is evicted, the cap kept."""
    store = capped._store
    clock.advance(minutes=1)
    late = NewDevice(token="dave-late", platform="ios").registration(
        registration_id="late-import",
        owner="dave",
        source="accounts",
        used_at=clock.now,
        lifetime=timedelta(days=30),
        created_at=clock.now,
    )
    assert store.state_for_adoption("dave", late.token_digest, clock.now).rosterless
    made = _register(capped, clock, CAP, owner="dave")  # the roster is written meanwhile
    clock.advance(minutes=1)
    late = replace(late, last_used_at=clock.now, updated_at=clock.now)
    calls = Calls(dynamodb)
    evicted = store.add(late, clock.now, yield_to_newer=True, rosterless=True)
    assert [r.id for r in evicted] == [made[0].id]
    # Counted without a roster, refused by the roster now there, counted again on it.
    assert calls.names == ["Query", "BatchGetItem", "TransactWriteItems"] * 2
    assert _live_ids(capped, "dave") == {made[1].id, made[2].id, "late-import"}
    assert not store.state_for_adoption("dave", late.token_digest, clock.now).rosterless


def test_without_a_cap_the_adoption_read_asks_for_no_roster(
    dynamodb: Any, registry: Registry, clock: Clock
) -> None:
    calls: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem", lambda params, **_: calls.append(params)
    )
    state = registry._store.state_for_adoption("erin", "0" * 64, clock.now)
    assert not state.rosterless
    [keys] = [request["RequestItems"][TABLE]["Keys"] for request in calls]
    assert {key["sk"]["S"] for key in keys} == {"TOKEN#" + "0" * 64, "TOMBSTONE"}


def test_a_token_taken_from_another_user_counts_against_the_new_holders_cap(
    capped: Registry, clock: Clock
) -> None:
    oldest, *_ = _register(capped, clock, CAP)
    bobs = _register(capped, clock, 1, owner="bob")[0]
    clock.advance(minutes=1)
    capped.upsert_device("alice", NewDevice(token=bobs.token, platform="ios"), "accounts")
    assert oldest.id not in _live_ids(capped)
    assert len(_live_ids(capped)) == CAP
    assert _live_ids(capped, "bob") == set()


def test_a_deactivated_member_makes_room_without_an_eviction(capped: Registry, clock: Clock) -> None:
    made = _register(capped, clock, CAP)
    capped.deactivate_device("alice", made[1].id)
    [new] = _register(capped, clock, 1, prefix="new")
    assert _live_ids(capped) == {made[0].id, made[2].id, new.id}


def test_a_registration_with_room_is_still_one_transaction(
    dynamodb: Any, capped: Registry, clock: Clock
) -> None:
    _register(capped, clock, 1)
    calls = Calls(dynamodb)
    _register(capped, clock, 1, prefix="second")
    assert calls.names == ["TransactWriteItems"]  # the roster's Update rides in the same transaction


def test_no_cap_writes_no_roster(dynamodb: Any, registry: Registry, clock: Clock) -> None:
    _register(registry, clock, 25)
    assert len(_live_ids(registry)) == 25
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert not [item for item in items if item["sk"]["S"] == "ROSTER"]


def test_an_import_record_used_before_all_of_a_full_roster_is_not_imported(
    capped: Registry, clock: Clock
) -> None:
    made = _register(capped, clock, CAP)
    record = ExportedRecord(
        owner="alice",
        device=NewDevice(token="alice-old-export", platform="android"),
        source="accounts",
        last_used_at=made[0].last_used_at - timedelta(days=1),  # before every one the user has
    )
    result = Adoption(capped._store, clock=clock).adopt(record)
    assert result.outcome is Adopted.CAPPED
    assert _live_ids(capped) == {r.id for r in made}  # the file's order never evicts a newer device
    assert capped._store.get("alice", result.registration.token_digest) is None  # type: ignore[union-attr]


def test_a_registration_through_an_api_stays_even_when_the_others_clocks_ran_ahead(
    capped: Registry, clock: Clock
) -> None:
    """Another function's clock a little ahead wrote later last uses: the request's own still wins."""
    made = _register(capped, clock, CAP)
    clock.advance(minutes=-10)
    new = capped.register_device("alice", NewDevice(token="alice-behind", platform="ios"), "accounts")
    assert new.id in _live_ids(capped)
    assert len(_live_ids(capped)) == CAP
    assert made[0].id not in _live_ids(capped)
    # Time on the evicted registration only moves forward, whatever the evicting request's clock said.
    evicted = capped._store.get("alice", made[0].token_digest)
    assert evicted is not None
    assert not evicted.active
    assert evicted.updated_at >= evicted.last_used_at == made[0].last_used_at


def test_an_account_above_a_lowered_cap_sheds_its_least_recently_used_twenty_at_a_time(
    dynamodb: Any, registry: Registry, clock: Clock
) -> None:
    """An account from before the cap (or before it was lowered): each registration evicts at most 20,
    one transaction within DynamoDB's 100 items, until the account is back under the cap."""
    made = _register(registry, clock, 45)  # no cap
    capped = Registry(RegistrationStore(dynamodb, TABLE, max_devices_per_user=CAP), clock=clock)
    first = _register(capped, clock, 1, prefix="after")[0]
    live = _live_ids(capped)
    assert len(live) == 45 + 1 - 20
    assert not {r.id for r in made[:20]} & live  # the twenty least recently used went first
    second = _register(capped, clock, 1, prefix="again")[0]
    # 26 + 1 = 27, 20 more went: 7, still above the cap.
    assert _live_ids(capped) == {*(r.id for r in made[40:]), first.id, second.id}
    third = _register(capped, clock, 1, prefix="last")[0]
    assert _live_ids(capped) == {first.id, second.id, third.id}
