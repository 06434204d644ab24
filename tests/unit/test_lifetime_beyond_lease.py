"""A registration's lifetime must exceed its guard's lease, or one token can be live under two owners.

The interleaving (issue 21): A's heartbeat or refresh reads its clock 1 ms before A expires; B's POST
takes the now-stale guard and commits; A's write, which does not read the guard, commits too. With a
lifetime beyond the lease that write cannot be blind at that moment (the new expiry passes the lease),
so it goes through the guarded transaction and fails; within the lease it is refused at start-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from push_registry.adoption import Adoption
from push_registry.errors import DeviceNotFound, Unavailable
from push_registry.registration import token_digest
from push_registry.registry import DeviceChange, NewDevice, Registry
from push_registry.settings import Settings
from push_registry.storage import RegistrationStore
from push_registry.storage.registration_items import LEASE
from tests.unit.conftest import TABLE, Clock

TOKEN = "fcm-token-racing-its-own-expiry"


def live_owners(store: RegistrationStore, now: datetime) -> set[str]:
    """The owners whose registration of TOKEN is active and live at `now`."""
    found = {owner: store.get(owner, token_digest(TOKEN)) for owner in ("owner", "rival")}
    return {owner for owner, r in found.items() if r is not None and r.active and r.is_live(now)}


def a_rival_takes_the_token_just_before(client: Any, operation: str, rival: Callable[[], object]) -> None:
    """Run `rival` once, just before this client sends its first `operation` (the race's window)."""
    pending = [rival]

    def interleave(**_: Any) -> None:
        while pending:
            pending.pop()()

    client.meta.events.register(f"before-call.dynamodb.{operation}", interleave)


@pytest.mark.parametrize("days", [1, 7])
def test_a_lifetime_within_the_seven_day_lease_is_refused_everywhere(dynamodb: Any, days: int) -> None:
    store = RegistrationStore(dynamodb, TABLE)
    with pytest.raises(ValueError, match="REGISTRATION_TTL_DAYS"):
        Settings.from_env({"TABLE_NAME": "push-registry", "REGISTRATION_TTL_DAYS": str(days)})
    with pytest.raises(ValueError, match="must exceed the lease"):
        Registry(store, lifetime=timedelta(days=days))
    with pytest.raises(ValueError, match="must exceed the lease"):
        Adoption(store, lifetime=timedelta(days=days))


def test_the_settings_shortest_lifetime_is_one_day_beyond_the_lease() -> None:
    [spec] = [f for f in fields(Settings) if f.name == "registration_ttl_days"]
    assert spec.metadata["range"][0] == LEASE.days + 1
    assert (
        Settings.from_env({"TABLE_NAME": "push-registry", "REGISTRATION_TTL_DAYS": "8"}).registration_ttl_days
        == 8
    )


@pytest.mark.parametrize("days", [8, 30])
@pytest.mark.parametrize("write", ["heartbeat", "refresh"])
def test_a_heartbeat_or_refresh_racing_a_take_of_its_expiring_token_leaves_one_owner(
    dynamodb: Any, clock: Clock, days: int, write: str
) -> None:
    lifetime = timedelta(days=days)
    store = RegistrationStore(dynamodb, TABLE)
    created = Registry(store, lifetime=lifetime, clock=clock).register_device(
        "owner", NewDevice(TOKEN, "android"), "camera"
    )
    expiry = datetime.fromtimestamp(created.expires_at, clock.now.tzinfo)
    owner_clock = Clock()
    owner_clock.now = expiry - timedelta(milliseconds=1)  # A reads its clock just before it expires
    rival_clock = Clock()
    rival_clock.now = expiry + timedelta(milliseconds=1)  # B's clock: A has just expired
    rival_client = boto3.client("dynamodb", region_name="us-east-1")  # B is another function
    rival = Registry(RegistrationStore(rival_client, TABLE), lifetime=lifetime, clock=rival_clock)

    def owner_now() -> datetime:
        moment = owner_clock.now
        owner_clock.advance(milliseconds=1)  # A's clock moves on between its attempts
        return moment

    owner = Registry(store, lifetime=lifetime, clock=owner_now)
    first_write = "UpdateItem"  # the blind write, when the new expiry stays within the lease
    a_rival_takes_the_token_just_before(
        dynamodb, first_write, lambda: rival.register_device("rival", NewDevice(TOKEN, "android"), "accounts")
    )
    # Either answer is fine (the device is gone, or try again); what is stored is what counts.
    with contextlib.suppress(DeviceNotFound, Unavailable):
        if write == "heartbeat":
            owner.update_device("owner", created.id, DeviceChange())
        else:
            owner.upsert_device("owner", NewDevice(TOKEN, "android"), "camera")

    later = expiry + timedelta(seconds=1)
    owners = live_owners(store, later)
    assert len(owners) == 1, f"{TOKEN} live under {owners}"
    holding = store.holding(token_digest(TOKEN), later)
    assert holding is not None
    assert {holding.owner} == owners
