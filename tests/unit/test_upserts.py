"""Upserts shared by the camera, user-push-tokens and chat backoffice APIs: refresh, move, re-create."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from push_registry.errors import DeviceNotFound, RateLimited
from push_registry.rate_limit import RateLimiter
from push_registry.registration import Registration, token_digest
from push_registry.registry import DeviceChange, NewDevice, Outcome, Registry
from push_registry.storage import RegistrationStore, RequestCounter
from tests.unit.conftest import Calls

TOKEN = "fMEP0JqFyF4:APA91bHqX"


def device(**info: str) -> NewDevice:
    return NewDevice(token=TOKEN, platform=None, device_info=info)


def live(registry: Registry, owner: str) -> list[Any]:
    return registry.list_devices(owner, limit=10).devices


def test_refresh_or_register_creates_then_refreshes_keeping_the_id(registry: Registry, clock: Any) -> None:
    assert registry.refresh_or_register("u1", device(app_version="1.0"), "camera") == Outcome.CREATED
    [created] = live(registry, "u1")
    clock.advance(days=29)

    assert registry.refresh_or_register("u1", device(language="en"), "camera") == Outcome.REFRESHED
    clock.advance(days=29)

    [refreshed] = live(registry, "u1")
    assert refreshed.id == created.id
    assert refreshed.device_info == {"app_version": "1.0", "language": "en"}
    assert refreshed.last_used_at > created.last_used_at


def test_refresh_or_register_moves_a_token_held_by_another_user(registry: Registry) -> None:
    registry.refresh_or_register("u1", device(), "camera")
    [before] = live(registry, "u1")

    assert registry.refresh_or_register("u2", device(), "camera") == Outcome.MOVED

    assert live(registry, "u1") == []
    [after] = live(registry, "u2")
    assert after.id == before.id
    assert after.owner == "u2"


def test_upsert_keeps_id_and_registration_date_and_omitted_fields(registry: Registry, clock: Any) -> None:
    created, outcome = registry.upsert_device(
        "u1", device(os="iOS", app_version="1.0.0", module="main"), "upt"
    )
    assert outcome == Outcome.CREATED
    clock.advance(hours=1)

    updated, outcome = registry.upsert_device("u1", device(os="Android"), "upt")

    assert outcome == Outcome.REFRESHED
    assert (updated.id, updated.created_at) == (created.id, created.created_at)
    assert updated.device_info == {"os": "Android", "app_version": "1.0.0", "module": "main"}


def test_upsert_of_another_users_token_moves_it_with_its_id(registry: Registry) -> None:
    created, _ = registry.upsert_device("u1", device(module="main"), "upt")

    moved, outcome = registry.upsert_device("u2", device(), "upt")

    assert outcome == Outcome.MOVED
    assert (moved.id, moved.owner, moved.device_info) == (created.id, "u2", {"module": "main"})
    assert live(registry, "u1") == []


def test_replace_re_creates_the_callers_registration_with_a_new_id(registry: Registry, clock: Any) -> None:
    first, outcome = registry.replace_device("u1", NewDevice(TOKEN, "android", {"model": "S23"}), "pigeons")
    assert outcome == Outcome.CREATED
    clock.advance(minutes=5)

    second, outcome = registry.replace_device("u1", NewDevice(TOKEN, "android", {"os": "Android"}), "pigeons")

    assert outcome == Outcome.REPLACED
    assert second.id != first.id
    assert second.created_at > first.created_at
    assert [(d.id, d.device_info) for d in live(registry, "u1")] == [(second.id, {"os": "Android"})]


def test_replace_takes_the_token_from_another_user(registry: Registry) -> None:
    theirs, _ = registry.replace_device("u1", NewDevice(TOKEN, "ios"), "pigeons")

    mine, outcome = registry.replace_device("u2", NewDevice(TOKEN, "ios"), "pigeons")

    assert outcome == Outcome.MOVED
    assert mine.id != theirs.id
    assert live(registry, "u1") == []
    assert [d.id for d in live(registry, "u2")] == [mine.id]


@pytest.mark.parametrize("ending", ["deactivated", "expired"])
def test_a_dead_registration_does_not_block_any_upsert(registry: Registry, clock: Any, ending: str) -> None:
    old = registry.register_device("u1", NewDevice(TOKEN, "android"), "accounts")
    if ending == "deactivated":
        registry.deactivate_device("u1", old.id)
    else:
        clock.advance(days=31)

    assert registry.refresh_or_register("u1", device(), "camera") == Outcome.CREATED
    [again] = live(registry, "u1")
    assert again.id != old.id


def test_the_rate_limiter_counts_per_key_and_window(dynamodb: Any, clock: Any) -> None:
    limiter = RateLimiter(RequestCounter(dynamodb, "push-registry-unit"), limit=3, clock=clock)
    clock.now = clock.now.replace(second=10)
    for _ in range(3):
        limiter.check("user", "u1")
    limiter.check("user", "u2")  # another key has its own budget

    with pytest.raises(RateLimited) as limited:
        limiter.check("user", "u1")
    assert limited.value.retry_after == 50

    clock.advance(seconds=50)
    limiter.check("user", "u1")  # a new window


class HandedOnMeanwhile(RegistrationStore):
    """A real store whose next take-over first lets a rival's whole upsert through: the race, made certain."""

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(client, table)
        self.meanwhile: Callable[[], object] | None = None

    def take_over(
        self, current: Registration, updated: Registration, now: datetime, *, yield_to_newer: bool = False
    ) -> list[Registration]:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return super().take_over(current, updated, now, yield_to_newer=yield_to_newer)


@pytest.mark.parametrize(
    ("upsert", "rival_upsert"),
    [
        pytest.param(
            lambda r, user: r.upsert_device(user, device(), "user-push-tokens"),
            lambda r, user: r.upsert_device(user, device(), "user-push-tokens"),
            id="user-push-tokens",
        ),
        pytest.param(
            lambda r, user: r.replace_device(user, NewDevice(TOKEN, "android"), "pigeons"),
            lambda r, user: r.replace_device(user, NewDevice(TOKEN, "android"), "pigeons"),
            id="pigeons",
        ),
    ],
)
def test_an_upsert_that_loses_a_hand_over_answers_a_record_that_exists(
    dynamodb: Any,
    clock: Any,
    upsert: Callable[[Registry, str], tuple[Registration, Outcome]],
    rival_upsert: Callable[[Registry, str], tuple[Registration, Outcome]],
) -> None:
    store = HandedOnMeanwhile(dynamodb, "push-registry-unit")
    registry = Registry(store, lifetime=timedelta(days=30), clock=clock)
    registry.register_device("holder", NewDevice(TOKEN, "android"), "accounts")
    rival = Registry(RegistrationStore(dynamodb, "push-registry-unit"), timedelta(days=30), clock=clock)
    # The caller read "holder"; before its take-over commits, the rival takes the token from "holder".
    store.meanwhile = lambda: rival_upsert(rival, "rival")

    answered, outcome = upsert(registry, "caller")

    assert outcome == Outcome.MOVED
    stored = store.get("caller", token_digest(TOKEN))
    assert stored is not None
    assert (stored.id, stored.owner) == (answered.id, answered.owner)
    assert store.holder(token_digest(TOKEN), clock()) == ("caller", answered.id)


def test_the_camera_upsert_that_loses_a_hand_over_still_answers_success(dynamodb: Any, clock: Any) -> None:
    # Its answer (BaseResponse) names no record: the hand-over that beat it leaves the state it asked for.
    store = HandedOnMeanwhile(dynamodb, "push-registry-unit")
    registry = Registry(store, lifetime=timedelta(days=30), clock=clock)
    registry.register_device("holder", NewDevice(TOKEN, "android"), "accounts")
    rival = Registry(RegistrationStore(dynamodb, "push-registry-unit"), timedelta(days=30), clock=clock)
    store.meanwhile = lambda: rival.refresh_or_register("rival", device(), "camera")

    assert registry.refresh_or_register("caller", device(), "camera") == Outcome.MOVED
    assert store.holder(token_digest(TOKEN), clock()) is not None


def test_a_write_based_on_an_older_read_does_not_put_back_what_a_patch_changed(
    registry: Registry, clock: Any
) -> None:
    # Two PATCHes of one device at once, each reading then writing the whole record: the one that read
    # before the other wrote must not put the old device_info back (found racing heartbeats against a
    # device_info PATCH over HTTP).
    created = registry.register_device(
        "owner", NewDevice("tok-lost-update", "android", {"app_version": "1"}), "accounts"
    )
    store = registry._store
    read_early = store.get("owner", created.token_digest)
    assert read_early is not None
    clock.advance(seconds=1)
    registry.update_device("owner", created.id, DeviceChange(device_info={"app_version": "2"}))

    with pytest.raises(DeviceNotFound):
        store.save(read_early, read_early.used(clock.now, timedelta(days=30)), clock.now)

    [device] = registry.list_devices("owner", limit=10).devices
    assert device.device_info == {"app_version": "2"}


def test_refreshing_a_token_the_caller_holds_through_the_same_api_is_one_write(
    dynamodb: Any, registry: Registry, clock: Any
) -> None:
    created, _ = registry.upsert_device("u1", device(os="iOS", app_version="1.0.0"), "upt")
    clock.advance(hours=1)
    calls = Calls(dynamodb)

    refreshed, outcome = registry.upsert_device("u1", device(app_version="1.1.0"), "upt")

    assert (calls.names, outcome) == (["UpdateItem"], Outcome.REFRESHED)
    # The answer is the stored record: given keys replaced, the others kept, the id and dates kept.
    assert refreshed.device_info == {"os": "iOS", "app_version": "1.1.0"}
    assert (refreshed.id, refreshed.created_at, refreshed.last_used_at) == (
        created.id,
        created.created_at,
        clock(),
    )
    assert live(registry, "u1") == [refreshed]


def test_a_new_token_costs_the_refused_refresh_and_one_transaction(dynamodb: Any, registry: Registry) -> None:
    calls = Calls(dynamodb)

    assert registry.refresh_or_register("u1", device(), "camera") == Outcome.CREATED

    assert calls.names == ["UpdateItem", "TransactWriteItems"]  # the refusal says: none stored


def test_a_refresh_through_another_api_takes_the_read_path_and_drops_the_old_tenant(
    dynamodb: Any, registry: Registry
) -> None:
    registry.upsert_device("u1", NewDevice("tok-tenant", "android", tenant="platform-a"), "pigeons")
    calls = Calls(dynamodb)

    moved, outcome = registry.upsert_device("u1", NewDevice("tok-tenant", "android"), "camera")

    # Refused (another source), its old image used as the read: then the full merge in a transaction.
    assert (calls.names, outcome) == (["UpdateItem", "TransactWriteItems"], Outcome.REFRESHED)
    assert (moved.source, moved.tenant) == ("camera", None)
