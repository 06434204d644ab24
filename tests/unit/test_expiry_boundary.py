"""The expiry boundary, to the second: at `expires_at == now` an item is absent, one second earlier present.

Every read and every condition of the storage adapter treats `expires_at <= now` as absent (DynamoDB's
TTL deletes expired items days late). These tests pin that exact second, so that `<=` turned into `<`
(or `>` into `>=`) in a condition or a read fails them; moto, like DynamoDB, keeps expired items.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from push_registry.errors import DeviceNotFound, TokenTaken
from push_registry.invalidation import Invalidation, Invalidations, InvalidationStatus
from push_registry.presignup import PreSignup, PreSignupOutcome, PreSignupPost
from push_registry.registration import token_digest
from push_registry.registry import NewDevice, Outcome, Registry
from push_registry.storage import PreSignupStore, RegistrationStore
from tests.unit.conftest import Calls

TABLE = "push-registry-unit"
TOKEN = "fcm-boundary-token"
PHONE = "+919876543210"
AT_EXPIRY, SECOND_BEFORE = 0, -1


def at(expires_at: int, offset: int) -> datetime:
    return datetime.fromtimestamp(expires_at + offset, UTC)


@pytest.fixture
def store(dynamodb: Any) -> RegistrationStore:
    return RegistrationStore(dynamodb, TABLE)


def registry_at(store: RegistrationStore, moment: datetime) -> Registry:
    return Registry(store, lifetime=timedelta(days=30), clock=lambda: moment)


@pytest.mark.parametrize(("offset", "absent"), [(AT_EXPIRY, True), (SECOND_BEFORE, False)])
def test_a_registration_is_absent_from_the_second_it_expires(
    store: RegistrationStore, registry: Registry, offset: int, absent: bool
) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    moment = at(created.expires_at, offset)
    later = registry_at(store, moment)

    # Reads. (The guard's own lease outlives the registration: a holder's read checks the registration.)
    assert (store.holding(token_digest(TOKEN), moment) is None) is absent
    assert (later.list_devices("owner", limit=10).devices == []) is absent
    # Conditions, each asked directly of the store so that no earlier read decides for them.
    updated = created.used(moment, timedelta(days=30))
    saved: Callable[[], None] = lambda: store.save(created, updated, moment)  # noqa: E731
    if absent:
        with pytest.raises(DeviceNotFound):
            saved()
    else:
        saved()
    # The one-request DELETE conditions on the registration being live at `moment` too.
    assert store.deactivate_by_id("owner", created.id, moment) is not absent


@pytest.mark.parametrize(("offset", "absent"), [(AT_EXPIRY, True), (SECOND_BEFORE, False)])
def test_a_token_is_free_from_the_second_its_guard_expires(
    store: RegistrationStore, registry: Registry, offset: int, absent: bool
) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    later = registry_at(store, at(created.expires_at, offset))

    if absent:
        assert later.register_device("rival", NewDevice(TOKEN, "android"), "accounts").owner == "rival"
    else:
        with pytest.raises(TokenTaken):
            later.register_device("rival", NewDevice(TOKEN, "android"), "accounts")


@pytest.mark.parametrize(("offset", "absent"), [(AT_EXPIRY, True), (SECOND_BEFORE, False)])
def test_taking_over_a_registration_that_expires_this_second_is_refused(
    store: RegistrationStore, registry: Registry, offset: int, absent: bool
) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    moment = at(created.expires_at, offset)
    rivals = registry_at(store, moment)
    taker = rivals._new("rival", NewDevice(TOKEN, "android"), "camera", moment)  # the registry's own record

    if absent:
        with pytest.raises(DeviceNotFound):
            store.take_over(created, taker, moment)
    else:
        store.take_over(created, taker, moment)
        holding = store.holding(token_digest(TOKEN), moment)
        assert holding is not None
        assert (holding.owner, holding.id) == ("rival", taker.id)


@pytest.mark.parametrize(("offset", "absent"), [(AT_EXPIRY, True), (SECOND_BEFORE, False)])
def test_a_presignup_record_is_absent_from_the_second_it_expires(
    dynamodb: Any, clock: Any, offset: int, absent: bool
) -> None:
    first = PreSignup(PreSignupStore(dynamodb, TABLE), lifetime=timedelta(hours=24), clock=clock)
    record, _ = first.register(PreSignupPost(phone=PHONE, token=TOKEN, device_id="dev-1"))
    moment = at(record.expires_at, offset)
    store = PreSignupStore(dynamodb, TABLE)
    later = PreSignup(store, lifetime=timedelta(hours=24), clock=lambda: moment)

    assert (store.find_by_token(TOKEN, moment) is None) is absent
    assert (store.guarded([TOKEN], moment) == set()) is absent  # the batch read
    assert (later.live_tokens(PHONE) == []) is absent
    # The guards' conditions: an expired guard is taken by a new record, a live one is the record's.
    again, outcome = later.register(PreSignupPost(phone=PHONE, token=TOKEN, device_id="dev-1"))
    assert outcome == (PreSignupOutcome.CREATED if absent else PreSignupOutcome.UPDATED)
    assert (again.id != record.id) is absent


# ---------------------------------------------------------------------- expired, not yet deleted by TTL


def test_invalidating_an_expired_token_still_stored_is_not_found_at_once(
    dynamodb: Any, store: RegistrationStore, registry: Registry, clock: Any
) -> None:
    created = registry.register_device("owner", NewDevice(TOKEN, "android"), "accounts")
    presignup = PreSignup(PreSignupStore(dynamodb, TABLE), lifetime=timedelta(hours=24), clock=clock)
    presignup.register(PreSignupPost(phone=PHONE, token=TOKEN))
    clock.now = at(created.expires_at, AT_EXPIRY)  # both expired; moto, like TTL, keeps them
    assert store.get("owner", token_digest(TOKEN)) is not None
    calls = Calls(dynamodb)

    # The token is free from this second: the storage level says so without retrying. Its guard's
    # lease outlives the registration, so that answer reads the guard, the registration, the guard again.
    assert store.holding(token_digest(TOKEN), clock.now) is None
    assert calls.names == ["GetItem", "GetItem", "GetItem"]
    calls.names.clear()
    status = Invalidations(registry, presignup).apply(Invalidation(TOKEN, "UNREGISTERED"))

    assert status == InvalidationStatus.NOT_FOUND
    # The same three reads, then the pre-signup namespace's guards: no retry, no 503.
    assert calls.names == ["GetItem", "GetItem", "GetItem", "BatchGetItem"]


def test_refreshing_at_the_expiry_second_registers_anew(registry: Registry, clock: Any) -> None:
    assert registry.refresh_or_register("owner", NewDevice(TOKEN, "android"), "camera") == Outcome.CREATED
    [created] = registry.list_devices("owner", limit=10).devices
    clock.now = at(created.expires_at, AT_EXPIRY)

    assert registry.refresh_or_register("owner", NewDevice(TOKEN, "android"), "camera") == Outcome.CREATED
    [again] = registry.list_devices("owner", limit=10).devices
    assert again.id != created.id
