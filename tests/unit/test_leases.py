"""Leases: a heartbeat moves only the registration; its guard and list entry live up to `LEASE` beyond.

What must hold (over moto, which like DynamoDB's TTL keeps expired items until asked):
- a heartbeat within the lease is one UpdateItem; the one that would pass it renews all three items;
- the guard and the list entry always outlive the registration they point at, so no second live
  registration can take a heartbeat-extended token;
- a registration that expires leaves a stale guard and entry, which every reader treats as absent:
  the token is free, the list skips it, a take of the token checks that atomically.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from push_registry.errors import DeviceNotFound, TokenTaken
from push_registry.registration import Registration, token_digest
from push_registry.registry import DeviceChange, NewDevice, Registry
from push_registry.storage import RegistrationStore
from push_registry.storage.registration_items import ENTRY_MARGIN, LEASE, entry_key, owner_key, token_key
from tests.unit.conftest import Calls

TABLE = "push-registry-unit"
TOKEN = "fcm-lease-token"


def stored(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = client.get_item(
        TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    ).get("Item")
    return item


def expiries(client: Any, registration: Registration) -> dict[str, int]:
    """expires_at of the registration, its list entry and its guard; the registration's lease and the
    guard's held_until."""
    owner, digest = owner_key(registration.owner), token_key(registration.token_digest)
    mine = stored(client, owner, digest)
    entry = stored(client, owner, entry_key(registration.created_at, registration.id))
    guard = stored(client, digest, "GUARD")
    assert mine is not None
    assert entry is not None
    assert guard is not None
    return {
        "registration": int(mine["expires_at"]["N"]),
        "lease_until": int(mine["lease_until"]["N"]),
        "entry": int(entry["expires_at"]["N"]),
        "guard": int(guard["expires_at"]["N"]),
        "held_until": int(guard["held_until"]["N"]),
    }


def freshly_leased(expires_at: int) -> dict[str, int]:
    """expiries() just after a write that renewed the lease, for a registration expiring then."""
    lease = expires_at + int(LEASE.total_seconds())
    return {
        "registration": expires_at,
        "lease_until": lease,
        "entry": lease + int(ENTRY_MARGIN.total_seconds()),
        "guard": lease,
        "held_until": expires_at,
    }


def test_a_new_registration_leases_its_guard_and_entry(dynamodb: Any, registry: Registry) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")

    assert expiries(dynamodb, created) == freshly_leased(created.expires_at)


def test_heartbeats_within_the_lease_touch_only_the_registration(
    dynamodb: Any, registry: Registry, clock: Any
) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    before = expiries(dynamodb, created)
    calls = Calls(dynamodb)

    clock.advance(days=6)
    touched = registry.update_device("owner", created.id, DeviceChange())

    assert calls.names == ["UpdateItem"]
    after = expiries(dynamodb, created)
    assert after["registration"] == touched.expires_at == created.expires_at + 6 * 86400
    assert {k: v for k, v in after.items() if k != "registration"} == {
        k: v for k, v in before.items() if k != "registration"
    }


def test_the_heartbeat_that_would_pass_the_lease_renews_it_for_all_three(
    dynamodb: Any, registry: Registry, clock: Any
) -> None:
    created = registry.register_device(
        "owner", NewDevice(TOKEN, "android", {"app_version": "1.0"}), "accounts"
    )
    calls = Calls(dynamodb)

    clock.advance(days=8)  # the new expiry is a day beyond the lease
    touched = registry.update_device("owner", created.id, DeviceChange())

    assert calls.names == ["UpdateItem", "TransactWriteItems"]  # refused for the lease, then renewed
    assert expiries(dynamodb, created) == freshly_leased(touched.expires_at)
    # The answer is the stored record, as a read shows it.
    [listed] = registry.list_devices("owner", limit=10).devices
    assert listed == touched
    assert touched.device_info == {"app_version": "1.0"}


def test_a_heartbeat_extended_holder_keeps_its_token_past_its_guards_held_until(
    dynamodb: Any, registry: Registry, clock: Any
) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    clock.advance(days=6)
    touched = registry.update_device("owner", created.id, DeviceChange())  # within the lease
    clock.now = clock.now.fromtimestamp(created.expires_at + 60, clock.now.tzinfo)  # past held_until
    assert touched.is_live(clock.now)

    calls = Calls(dynamodb)
    with pytest.raises(TokenTaken):
        registry.register_device("rival", NewDevice(TOKEN, "android"), "accounts")

    # The first transaction found the guard, the second checked its registration live, atomically.
    assert calls.names == ["TransactWriteItems", "TransactWriteItems"]
    holding = RegistrationStore(dynamodb, TABLE).holding(token_digest(TOKEN), clock.now)
    assert holding is not None
    assert (holding.owner, holding.id) == ("owner", created.id)
    assert [d.id for d in registry.list_devices("owner", limit=10).devices] == [created.id]
    assert registry.list_devices("rival", limit=10).devices == []


def test_an_expired_registrations_stale_guard_and_entry_count_as_absent(
    dynamodb: Any, registry: Registry, clock: Any
) -> None:
    store = RegistrationStore(dynamodb, TABLE)
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    clock.now = clock.now.fromtimestamp(created.expires_at, clock.now.tzinfo)  # expired, guard leased
    assert store.holder(token_digest(TOKEN), clock.now) == ("owner", created.id)  # the guard's own word

    assert store.holding(token_digest(TOKEN), clock.now) is None
    assert registry.list_devices("owner", limit=10).devices == []
    assert registry.holders([TOKEN]) == {"fcm-lease-token": ("owner", created.id)}  # guards only
    assert registry.invalidate(TOKEN, ("owner", created.id)) is False

    taken = registry.register_device("rival", NewDevice(TOKEN, "android"), "accounts")
    holding = store.holding(token_digest(TOKEN), clock.now)
    assert holding is not None
    assert (holding.owner, holding.id) == ("rival", taken.id)
    assert registry.list_devices("owner", limit=10).devices == []


def test_the_same_owner_re_registers_a_token_its_expired_registration_still_guards(
    registry: Registry, clock: Any
) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    clock.advance(days=31)

    again = registry.register_device("owner", NewDevice(TOKEN, "ios"), "accounts")

    assert again.id != created.id
    assert [(d.id, d.platform) for d in registry.list_devices("owner", limit=10).devices] == [
        (again.id, "ios")
    ]


def test_a_heartbeat_on_a_registration_this_api_shows_differently_reads_first(
    dynamodb: Any, registry: Registry, clock: Any
) -> None:
    # Registered by an API that stores no platform: the accounts API shows it by its `os`, and a
    # PATCH stores that platform; the one-request heartbeat is only for what it shows as stored.
    created = registry.register_device("owner", NewDevice(TOKEN, None, {"os": "android"}), "user_push_tokens")
    calls = Calls(dynamodb)
    clock.advance(minutes=5)

    from push_registry.apis import accounts

    touched = registry.update_device(
        "owner",
        created.id,
        DeviceChange(),
        seen_as=accounts.as_seen,
        shown_platforms=accounts.SHOWN_AS_STORED,
    )

    assert calls.names == ["UpdateItem", "GetItem", "TransactWriteItems"]
    assert touched.platform == "android"
    assert registry.list_devices("owner", limit=10).devices == [touched]


def test_a_short_lease_still_keeps_guard_and_entry_beyond_the_registration(dynamodb: Any, clock: Any) -> None:
    registry = Registry(
        RegistrationStore(dynamodb, TABLE, lease=timedelta(0)), timedelta(days=30), clock=clock
    )
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    clock.advance(seconds=1)

    touched = registry.update_device("owner", created.id, DeviceChange())

    values = expiries(dynamodb, created)
    assert values["registration"] == values["guard"] == touched.expires_at
    assert values["entry"] == touched.expires_at + int(ENTRY_MARGIN.total_seconds())


FREED = "fcm-token-its-holder-let-expire"


def test_a_patch_to_a_token_whose_holder_expired_takes_it_as_a_post_would(
    dynamodb: Any, registry: Registry, clock: Any
) -> None:
    """A 409 means a live holder: a guard outliving its expired registration (the lease) is no holder."""
    store = RegistrationStore(dynamodb, TABLE)
    former = registry.register_device("former", NewDevice(FREED, "android"), "accounts")
    clock.advance(days=31)  # expired; its guard and list entry live on for the lease
    assert store.holder(token_digest(FREED), clock.now) == ("former", former.id)
    mine = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")

    moved = registry.update_device("owner", mine.id, DeviceChange(token=FREED))

    assert (moved.id, moved.token) == (mine.id, FREED)
    holding = store.holding(token_digest(FREED), clock.now)
    assert holding is not None
    assert (holding.owner, holding.id) == ("owner", mine.id)
    assert registry.list_devices("owner", limit=10).devices == [moved]
    assert store.holding(token_digest(TOKEN), clock.now) is None  # the old token is free


def test_a_patch_to_a_token_the_callers_own_expired_registration_guards_takes_it(
    registry: Registry, clock: Any
) -> None:
    """Not a 409 naming the expired registration, whose id a PATCH or DELETE would answer 404."""
    expired = registry.register_device("owner", NewDevice(FREED, "android"), "accounts")
    clock.advance(days=31)
    mine = registry.register_device("owner", NewDevice(TOKEN, "ios"), "accounts")

    moved = registry.update_device("owner", mine.id, DeviceChange(token=FREED))

    assert (moved.id, moved.token, moved.platform) == (mine.id, FREED, "ios")
    assert registry.list_devices("owner", limit=10).devices == [moved]
    with pytest.raises(DeviceNotFound):
        registry.update_device("owner", expired.id, DeviceChange())


def test_a_patch_to_a_token_a_live_registration_holds_names_one_the_caller_can_patch_and_delete(
    registry: Registry, clock: Any
) -> None:
    held = registry.register_device("owner", NewDevice(FREED, "android"), "accounts")
    mine = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    clock.advance(days=20)  # both live, their guards' held_until still ahead

    with pytest.raises(TokenTaken) as taken:
        registry.update_device("owner", mine.id, DeviceChange(token=FREED))

    assert (taken.value.held_by_caller, taken.value.device_id) == (True, held.id)
    assert registry.update_device("owner", held.id, DeviceChange()).id == held.id
    registry.deactivate_device("owner", held.id)
    assert registry.update_device("owner", mine.id, DeviceChange(token=FREED)).token == FREED
