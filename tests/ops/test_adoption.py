"""The adoption rule on DynamoDB Local: one record at a time, each case of `push_registry.adoption`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from push_registry.adoption import Adopted, Adoption, ExportedRecord
from push_registry.registration import token_digest
from push_registry.registry import NewDevice, Registry
from push_registry.storage import RegistrationStore
from tests.api.helpers import live_devices, new_push_token, new_user, post
from tests.api.invariants import check_invariants

pytestmark = pytest.mark.integration


def now() -> datetime:
    """Read per record: the suite can run for minutes, and deactivations are stamped with the real clock."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def store(ddb_local: Any) -> RegistrationStore:
    return RegistrationStore(ddb_local.client, ddb_local.table_name)


def record(
    token: str,
    owner: str,
    *,
    days_ago: float,
    source: str = "user-push-tokens",
    kept_id: str | None = "550e8400-e29b-41d4-a716-446655440001",
    created_days_ago: float | None = 200,
    at: datetime | None = None,
    platform: str | None = None,
) -> ExportedRecord:
    """`created_days_ago=None`: a row without a creation date (its registration's is its last use)."""
    at = at or now()
    return ExportedRecord(
        owner=owner,
        device=NewDevice(token=token, platform=platform, device_info={"app_version": "1.0.0"}),
        source=source,
        last_used_at=at - timedelta(days=days_ago),
        id=kept_id,
        created_at=None if created_days_ago is None else at - timedelta(days=created_days_ago),
    )


def senders_look_up(local_api: str, owner: str) -> list[str]:
    """The ids of the owner's tokens as a sender gets them (`GET /internal/users/{userId}/tokens`)."""
    response = requests.get(f"{local_api}/internal/users/{owner}/tokens", timeout=10)
    assert response.status_code == 200, response.text
    return [token["id"] for token in response.json()["tokens"]]


def test_a_free_token_is_imported_with_its_id_dates_and_expiry(
    store: RegistrationStore, ddb_local: Any
) -> None:
    token, owner = new_push_token(), new_user()

    exported = record(token, owner, days_ago=3)
    result = Adoption(store).adopt(exported)

    assert result.outcome is Adopted.IMPORTED
    stored = store.get(owner, token_digest(token))
    assert stored is not None
    assert stored.id == "550e8400-e29b-41d4-a716-446655440001"
    assert stored.created_at == exported.created_at
    assert stored.last_used_at == exported.last_used_at
    # an import is not a use: the expiry is 30 days after the exported last use
    assert stored.expires_at == int((exported.last_used_at + timedelta(days=30)).timestamp())
    assert store.holder(token_digest(token), now()) == (owner, stored.id)
    check_invariants(ddb_local)


def test_the_same_record_twice_writes_nothing_and_a_newer_export_refreshes(store: RegistrationStore) -> None:
    token, owner = new_push_token(), new_user()
    adoption = Adoption(store)
    # one export, two days ago: "the same record" must not move with the clock between reads
    exported_at = now() - timedelta(days=2)
    adoption.adopt(record(token, owner, days_ago=3, at=exported_at))
    first = store.get(owner, token_digest(token))

    assert adoption.adopt(record(token, owner, days_ago=3, at=exported_at)).outcome is Adopted.UNCHANGED
    older = record(token, owner, days_ago=5, at=exported_at)
    assert adoption.adopt(older).outcome is Adopted.UNCHANGED  # an older export
    assert store.get(owner, token_digest(token)) == first

    # the same registration exported again today, used since: its creation date has not moved
    later = record(token, owner, days_ago=1, created_days_ago=202, at=exported_at + timedelta(days=2))
    assert adoption.adopt(later).outcome is Adopted.REFRESHED
    refreshed = store.get(owner, token_digest(token))
    assert refreshed is not None
    assert first is not None
    assert (refreshed.id, refreshed.created_at) == (first.id, first.created_at)
    assert refreshed.last_used_at > first.last_used_at


@pytest.mark.parametrize("same_user", [True, False], ids=["same-user", "two-users"])
def test_between_two_sources_the_most_recently_used_wins(
    store: RegistrationStore, ddb_local: Any, same_user: bool
) -> None:
    token, owner = new_push_token(), new_user()
    other_owner = owner if same_user else new_user()
    adoption = Adoption(store)
    older = record(token, owner, days_ago=10, source="accounts", kept_id="65a1b2c3d4e5f60718293a4b")
    newer = record(token, other_owner, days_ago=2, source="camera", kept_id=None)

    assert adoption.adopt(older).outcome is Adopted.IMPORTED
    won = adoption.adopt(newer)
    lost = adoption.adopt(older)  # the older record again: it loses, and changes nothing

    assert won.outcome is Adopted.WON
    assert won.other is not None
    assert won.other.id == "65a1b2c3d4e5f60718293a4b"
    assert lost.outcome is Adopted.LOST
    assert lost.other is not None
    assert lost.other.source == "camera"
    holder = store.holder(token_digest(token), now())
    assert holder is not None
    assert holder[0] == other_owner
    held = store.get(other_owner, token_digest(token))
    assert held is not None
    assert held.source == "camera"
    if not same_user:
        assert store.get(owner, token_digest(token)) is None, "the loser's registration is gone"
    check_invariants(ddb_local)


def test_an_import_never_overrides_a_newer_registration_made_through_the_api(
    store: RegistrationStore,
) -> None:
    token, owner = new_push_token(), new_user()
    live, _ = Registry(store).upsert_device(
        new_user(), NewDevice(token=token, platform=None), "user-push-tokens"
    )

    result = Adoption(store).adopt(record(token, owner, days_ago=1))

    assert result.outcome is Adopted.LOST
    assert store.holder(token_digest(token), now()) == (live.owner, live.id)


def test_a_token_deactivated_since_the_export_is_not_brought_back(store: RegistrationStore) -> None:
    token, owner = new_push_token(), new_user()
    adoption = Adoption(store)
    adoption.adopt(record(token, owner, days_ago=3))
    assert Registry(store).invalidate(token)  # a sender learnt the token is dead

    assert adoption.adopt(record(token, owner, days_ago=3)).outcome is Adopted.RETIRED
    assert store.holder(token_digest(token), now()) is None
    # a use after the deactivation is a new registration of the token, as the API would make
    time.sleep(1.1)  # stamps are to the second here
    assert adoption.adopt(record(token, owner, days_ago=0)).outcome is Adopted.IMPORTED


def test_records_unused_for_longer_than_the_lifetime_are_skipped(store: RegistrationStore) -> None:
    token, owner = new_push_token(), new_user()

    assert Adoption(store).adopt(record(token, owner, days_ago=30.01)).outcome is Adopted.EXPIRED
    assert Adoption(store, lifetime=timedelta(days=60)).adopt(record(token, owner, days_ago=31)).outcome is (
        Adopted.IMPORTED
    )
    assert store.get(owner, token_digest(token)) is not None
    # Written under a 60-day lifetime: not left in the session's table, whose checks expect 30 days.
    store.erase_owner(owner)


@pytest.mark.parametrize("deleted_by_ttl", [False, True], ids=["expired", "expired-and-deleted-by-ttl"])
def test_a_newer_export_of_an_expired_row_without_creation_date_is_listed_and_sent_to_once(
    store: RegistrationStore,
    ddb_local: Any,
    local_api: str,
    make_token: Callable[..., str],
    deleted_by_ttl: bool,
) -> None:
    """Without a creation date, a row's created_at is its last use, so a newer export moves it; the
    list entry is keyed by created_at, and the old one must go with the registration it replaces,
    whether TTL has deleted that registration yet or not (DynamoDB Local may, at any moment)."""
    token, owner, kept_id = new_push_token(), new_user(), "65a1b2c3d4e5f60718293a4d"
    today = now()
    exported: dict[str, Any] = {
        "source": "accounts",
        "kept_id": kept_id,
        "created_days_ago": None,
        "at": today,
        "platform": "android",  # the accounts GET shows what seed 004 can describe
    }
    # Imported five days ago, last used 33 days ago: expired since three days, while its token's guard
    # and list entry live on for their lease (7 days beyond the expiry).
    earlier = Adoption(store, clock=lambda: today - timedelta(days=5))
    assert earlier.adopt(record(token, owner, days_ago=33, **exported)).outcome is Adopted.IMPORTED
    if deleted_by_ttl:
        key = {"pk": {"S": f"OWNER#{owner}"}, "sk": {"S": f"TOKEN#{token_digest(token)}"}}
        ddb_local.client.delete_item(TableName=ddb_local.table_name, Key=key)

    newer = Adoption(store).adopt(record(token, owner, days_ago=1, **exported))

    assert newer.outcome is Adopted.IMPORTED
    assert [device["id"] for device in live_devices(local_api, owner, make_token(owner))] == [kept_id]
    assert senders_look_up(local_api, owner) == [kept_id]
    check_invariants(ddb_local)


def test_a_token_a_provider_declared_dead_is_not_brought_back_by_an_import_under_another_user(
    store: RegistrationStore, ddb_local: Any, local_api: str, make_token: Callable[..., str]
) -> None:
    """Issue 21 item 6: the per-owner rule did not see it, since the previous account's registration
    was deleted when the token moved; the token's own tombstone does."""
    token, previous, current = new_push_token(), new_user(), new_user()
    exported = record(token, previous, days_ago=3, source="accounts", kept_id="65a1b2c3d4e5f60718293a4e")
    assert Adoption(store).adopt(exported).outcome is Adopted.IMPORTED
    # The camera app's upsert moves the token to the account now using it.
    moved = post(
        f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": token}, token=make_token(current)
    )
    assert moved.status_code == 200, moved.text
    declared = post(
        f"{local_api}/internal/tokens/invalidations",
        {"invalidations": [{"token": token, "reason": "UNREGISTERED"}]},
    )
    assert declared.json() == {"results": [{"token": token, "status": "deactivated"}]}

    # The export, older than the provider's answer, names the token under the previous account.
    result = Adoption(store).adopt(exported)

    assert result.outcome is Adopted.RETIRED
    assert store.holder(token_digest(token), now()) is None
    assert senders_look_up(local_api, previous) == []
    check_invariants(ddb_local)
    # An app registering the token again is evidence it lives: the API takes it, tombstone or not.
    again = post(
        f"{local_api}/user/setusertoken", {"msgType": "FCM", "msgToken": token}, token=make_token(current)
    )
    assert again.status_code == 200, again.text
    assert store.holder(token_digest(token), now()) is not None
    check_invariants(ddb_local)
