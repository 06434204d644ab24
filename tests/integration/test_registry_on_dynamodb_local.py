"""The registry against DynamoDB Local: real conditional writes, transactions, races and TTL deletion."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.template import create_table, load_template
from push_registry.errors import DeviceNotFound, TokenTaken
from push_registry.presignup import PreSignup, PreSignupPost
from push_registry.registration import Registration, token_digest
from push_registry.registry import DeviceChange, NewDevice, Registry
from push_registry.storage import PreSignupStore, RegistrationStore

pytestmark = pytest.mark.integration


def registry(
    ddb_local: Any,
    clock: Any = None,
    lifetime: timedelta = timedelta(days=30),
    lease: timedelta | None = None,
    entry_margin: timedelta | None = None,
) -> Registry:
    sizes = {"lease": lease, "entry_margin": entry_margin}
    store = RegistrationStore(
        ddb_local.client,
        ddb_local.table_name,
        **{name: size for name, size in sizes.items() if size is not None},
    )
    return Registry(store, lifetime=lifetime, **({"clock": clock} if clock else {}))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def stored(ddb_local: Any, pk: str, sk: str) -> dict[str, Any] | None:
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    return ddb_local.client.get_item(TableName=ddb_local.table_name, Key=key, ConsistentRead=True).get("Item")


def list_entry(registration: Registration) -> str:
    """The sort key of a registration's list entry (docs/architecture.md, "The table")."""
    return f"LIVE#{registration.created_at.isoformat(timespec='microseconds')}#{registration.id}"


def test_twenty_accounts_racing_for_one_token_leave_one_registration(ddb_local: Any) -> None:
    token = unique("race-token")
    accounts = [unique("acct") for _ in range(20)]
    shared = registry(ddb_local)

    def attempt(account: str) -> str:
        try:
            shared.register_device(account, NewDevice(token=token, platform="android"), source="accounts")
            return "201"
        except TokenTaken:
            return "409"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, accounts))

    assert sorted(outcomes) == ["201"] + ["409"] * 19
    winner = accounts[outcomes.index("201")]
    live = {a: shared.list_devices(a, limit=10).devices for a in accounts}
    assert [a for a, devices in live.items() if devices] == [winner]
    guard = stored(ddb_local, f"TOKEN#{token_digest(token)}", "GUARD")
    assert guard is not None
    assert guard["owner"] == {"S": winner}
    assert guard["device_id"] == {"S": live[winner][0].id}


def test_patch_swaps_racing_for_one_new_token_leave_one_holder(ddb_local: Any) -> None:
    shared = registry(ddb_local)
    target = unique("contested")
    devices = [
        (account, shared.register_device(account, NewDevice(token=unique("own"), platform="ios"), "accounts"))
        for account in (unique("acct") for _ in range(8))
    ]

    def swap(pair: tuple[str, Any]) -> bool:
        account, registration = pair
        try:
            shared.update_device(account, registration.id, DeviceChange(token=target))
            return True
        except TokenTaken:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(swap, devices))

    assert won.count(True) == 1
    holders = [
        d
        for account, _ in devices
        for d in shared.list_devices(account, limit=10).devices
        if d.token == target
    ]
    assert len(holders) == 1
    # Every loser kept its own token, still live.
    for (account, registration), success in zip(devices, won, strict=True):
        if not success:
            assert [d.token for d in shared.list_devices(account, limit=10).devices] == [registration.token]


def test_deactivate_racing_reregister_ends_in_a_rule_abiding_state(ddb_local: Any) -> None:
    shared = registry(ddb_local)
    token, owner, rival = unique("tok"), unique("acct"), unique("acct")
    original = shared.register_device(owner, NewDevice(token=token, platform="android"), "accounts")

    def deactivate() -> str:
        shared.deactivate_device(owner, original.id)
        return "deactivated"

    def take() -> str:
        for _ in range(50):
            try:
                shared.register_device(rival, NewDevice(token=token, platform="android"), "accounts")
                return "taken"
            except TokenTaken:
                time.sleep(0.005)
        return "never"

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(f.result() for f in [pool.submit(deactivate), pool.submit(take)])

    assert results == ["deactivated", "taken"]
    assert shared.list_devices(owner, limit=10).devices == []
    assert [d.token for d in shared.list_devices(rival, limit=10).devices] == [token]


def test_an_expired_item_still_stored_is_treated_as_absent(ddb_local: Any) -> None:
    writer = registry(ddb_local)
    later = registry(ddb_local, clock=lambda: datetime.now(UTC) + timedelta(days=31))
    token, owner = unique("tok"), unique("acct")
    created = writer.register_device(owner, NewDevice(token=token, platform="android"), "accounts")

    assert stored(ddb_local, f"OWNER#{owner}", f"TOKEN#{token_digest(token)}") is not None
    assert later.list_devices(owner, limit=10).devices == []
    with pytest.raises(DeviceNotFound):
        later.update_device(owner, created.id, DeviceChange())
    taken = later.register_device(unique("acct"), NewDevice(token=token, platform="android"), "accounts")
    assert taken.token == token
    # In real time both registrations are live: leave nothing a later invariant check would see.
    for pk, sk in (
        (f"OWNER#{owner}", f"TOKEN#{token_digest(token)}"),
        (f"OWNER#{owner}", list_entry(created)),
        (f"OWNER#{taken.owner}", f"TOKEN#{token_digest(token)}"),
        (f"OWNER#{taken.owner}", list_entry(taken)),
        (f"TOKEN#{token_digest(token)}", "GUARD"),
    ):
        ddb_local.client.delete_item(TableName=ddb_local.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}})


@pytest.mark.slow
def test_dynamodb_ttl_really_deletes_expired_registrations_list_entries_and_guards(ddb_local: Any) -> None:
    # A lifetime of two seconds puts expires_at in the past almost at once; DynamoDB Local's TTL
    # sweeper then deletes the items for real (in AWS this takes up to a few days, hence the read filter).
    # A table of its own, made from the template: the sweeper walks the whole table each round, and
    # the rest of the session fills the shared one with thousands of items.
    table = unique("push-registry-ttl")
    create_table(ddb_local.client, table, load_template())
    ddb_local = replace(ddb_local, table_name=table)
    # The guard's lease, 1 s beyond the registration (whose lifetime must exceed it), and the list
    # entry 1 s beyond the guard: each kind is deleted by TTL on its own expiry, the stale guard and
    # entry after the registration.
    short = registry(
        ddb_local,
        lifetime=timedelta(seconds=2),
        lease=timedelta(seconds=1),
        entry_margin=timedelta(seconds=1),
    )
    token, owner = unique("tok"), unique("acct")
    created = short.register_device(owner, NewDevice(token=token, platform="android"), "accounts")
    registration = (f"OWNER#{owner}", f"TOKEN#{token_digest(token)}")
    leased = [(f"OWNER#{owner}", list_entry(created)), (f"TOKEN#{token_digest(token)}", "GUARD")]
    assert all(stored(ddb_local, pk, sk) for pk, sk in [registration, *leased])
    assert [int(stored(ddb_local, pk, sk)["expires_at"]["N"]) for pk, sk in leased] == [
        created.expires_at + 2,  # the entry
        created.expires_at + 1,  # the guard
    ]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        stored(ddb_local, pk, sk) for pk, sk in [registration, *leased]
    ):
        time.sleep(1)

    assert [stored(ddb_local, pk, sk) for pk, sk in [registration, *leased]] == [None, None, None]


@pytest.mark.slow
def test_dynamodb_ttl_really_deletes_expired_presignup_records(ddb_local: Any) -> None:
    table = unique("push-registry-ttl")
    create_table(ddb_local.client, table, load_template())
    presignup = PreSignup(PreSignupStore(ddb_local.client, table), lifetime=timedelta(seconds=1))
    presignup.register(PreSignupPost(phone="+919876543210", token=unique("fcm"), device_id="device-1"))

    def count() -> int:
        return len(ddb_local.client.scan(TableName=table, ConsistentRead=True)["Items"])  # a test may look

    assert count() == 4  # the record, its token guard, its device guard and the phone's roster
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and count():
        time.sleep(1)
    assert count() == 0
