"""The registry's rules, over moto: one live registration per token, soft delete, expiry, PATCH, paging."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from push_registry.errors import DeviceNotFound, InvalidRequest, TokenTaken
from push_registry.registration import token_digest
from push_registry.registry import DeviceChange, NewDevice, Registry

ANDROID = NewDevice(token="fcm:token-A", platform="android", device_info={"app_version": "1.0.0"})


def device(token: str, platform: str = "android") -> NewDevice:
    return NewDevice(token=token, platform=platform)


def items(dynamodb: Any) -> list[dict[str, Any]]:
    # A full dump is fine in a test; the service itself never scans.
    return dynamodb.scan(TableName="push-registry-unit")["Items"]


def guard_of(dynamodb: Any, token: str) -> dict[str, Any] | None:
    key = {"pk": {"S": f"TOKEN#{token_digest(token)}"}, "sk": {"S": "GUARD"}}
    return dynamodb.get_item(TableName="push-registry-unit", Key=key, ConsistentRead=True).get("Item")


def test_a_registration_is_listed_with_its_details(registry: Registry) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    page = registry.list_devices("acct-1", limit=10)

    assert [r.id for r in page.devices] == [created.id]
    assert page.devices[0].device_info == {"app_version": "1.0.0"}
    assert page.devices[0].platform == "android"
    assert page.devices[0].active is True
    assert page.next_cursor is None


def test_expiry_is_thirty_days_after_last_use(registry: Registry, clock: Any) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    assert created.expires_at == int((clock.now + timedelta(days=30)).timestamp())


def test_the_raw_token_is_never_a_key(registry: Registry, dynamodb: Any) -> None:
    long_token = "t" * 4096
    registry.register_device("acct-1", device(long_token), source="accounts")

    for item in items(dynamodb):
        assert long_token not in item["pk"]["S"]
        assert long_token not in item["sk"]["S"]


def test_a_token_held_by_another_account_is_taken(registry: Registry) -> None:
    registry.register_device("acct-1", ANDROID, source="accounts")

    with pytest.raises(TokenTaken) as taken:
        registry.register_device("acct-2", ANDROID, source="accounts")

    assert taken.value.held_by_caller is False
    assert taken.value.device_id is None
    assert registry.list_devices("acct-2", limit=10).devices == []


def test_a_token_the_caller_holds_names_the_callers_device(registry: Registry) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    with pytest.raises(TokenTaken) as taken:
        registry.register_device("acct-1", ANDROID, source="accounts")

    assert taken.value.held_by_caller is True
    assert taken.value.device_id == created.id


def test_deactivation_frees_the_token_and_hides_the_device(registry: Registry, dynamodb: Any) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    registry.deactivate_device("acct-1", created.id)

    assert registry.list_devices("acct-1", limit=10).devices == []
    assert guard_of(dynamodb, ANDROID.token) is None
    again = registry.register_device("acct-2", ANDROID, source="accounts")
    assert again.id != created.id
    assert [r.id for r in registry.list_devices("acct-2", limit=10).devices] == [again.id]


def test_the_deactivated_record_stays_until_it_expires(registry: Registry, dynamodb: Any) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    registry.deactivate_device("acct-1", created.id)

    stored = [i for i in items(dynamodb) if i.get("id", {}).get("S") == created.id]
    assert len(stored) == 1
    assert stored[0]["active"] == {"BOOL": False}
    assert int(stored[0]["expires_at"]["N"]) == created.expires_at


def test_deactivating_twice_or_someone_elses_device_is_not_found(registry: Registry) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    with pytest.raises(DeviceNotFound):
        registry.deactivate_device("acct-2", created.id)
    registry.deactivate_device("acct-1", created.id)
    with pytest.raises(DeviceNotFound):
        registry.deactivate_device("acct-1", created.id)
    with pytest.raises(DeviceNotFound):
        registry.deactivate_device("acct-1", "no-such-device")


def test_an_expired_registration_is_absent_before_ttl_deletes_it(
    registry: Registry, clock: Any, dynamodb: Any
) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")
    clock.advance(days=30, seconds=1)

    assert any(i.get("id", {}).get("S") == created.id for i in items(dynamodb)), "moto keeps expired items"
    assert registry.list_devices("acct-1", limit=10).devices == []
    with pytest.raises(DeviceNotFound):
        registry.update_device("acct-1", created.id, DeviceChange())
    with pytest.raises(DeviceNotFound):
        registry.deactivate_device("acct-1", created.id)
    taken_over = registry.register_device("acct-2", ANDROID, source="accounts")
    assert taken_over.owner == "acct-2"


def test_a_heartbeat_moves_last_use_and_expiry_forward(registry: Registry, clock: Any) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")
    clock.advance(days=20)

    touched = registry.update_device("acct-1", created.id, DeviceChange())
    clock.advance(days=20)

    assert touched.last_used_at == created.last_used_at + timedelta(days=20)
    assert touched.device_info == created.device_info
    assert [r.id for r in registry.list_devices("acct-1", limit=10).devices] == [created.id]
    with pytest.raises(TokenTaken):
        registry.register_device("acct-2", ANDROID, source="accounts")


def test_patch_device_info_replaces_the_stored_object(registry: Registry) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    updated = registry.update_device("acct-1", created.id, DeviceChange(device_info={"os_version": "15.0"}))

    assert updated.device_info == {"os_version": "15.0"}
    assert registry.list_devices("acct-1", limit=10).devices[0].device_info == {"os_version": "15.0"}


def test_patch_token_frees_the_old_token_and_takes_the_new(registry: Registry, dynamodb: Any) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    updated = registry.update_device("acct-1", created.id, DeviceChange(token="fcm:token-B"))

    assert (updated.id, updated.token, updated.created_at) == (created.id, "fcm:token-B", created.created_at)
    assert guard_of(dynamodb, "fcm:token-A") is None
    assert guard_of(dynamodb, "fcm:token-B")["device_id"] == {"S": created.id}  # type: ignore[index]
    registry.register_device("acct-2", ANDROID, source="accounts")
    with pytest.raises(TokenTaken):
        registry.register_device("acct-2", device("fcm:token-B"), source="accounts")
    assert [r.id for r in registry.list_devices("acct-1", limit=10).devices] == [created.id]


def test_patch_to_a_token_someone_holds_conflicts_and_changes_nothing(
    registry: Registry, dynamodb: Any
) -> None:
    mine = registry.register_device("acct-1", ANDROID, source="accounts")
    registry.register_device("acct-2", device("fcm:token-B"), source="accounts")
    before = sorted(map(repr, items(dynamodb)))

    with pytest.raises(TokenTaken) as taken:
        registry.update_device("acct-1", mine.id, DeviceChange(token="fcm:token-B"))

    assert taken.value.held_by_caller is False
    assert sorted(map(repr, items(dynamodb))) == before


def test_patch_to_the_callers_other_token_names_that_device(registry: Registry) -> None:
    first = registry.register_device("acct-1", ANDROID, source="accounts")
    second = registry.register_device("acct-1", device("fcm:token-B"), source="accounts")

    with pytest.raises(TokenTaken) as taken:
        registry.update_device("acct-1", first.id, DeviceChange(token="fcm:token-B"))

    assert (taken.value.held_by_caller, taken.value.device_id) == (True, second.id)


def test_patch_of_someone_elses_or_a_deactivated_device_is_not_found(registry: Registry) -> None:
    created = registry.register_device("acct-1", ANDROID, source="accounts")

    with pytest.raises(DeviceNotFound):
        registry.update_device("acct-2", created.id, DeviceChange())
    registry.deactivate_device("acct-1", created.id)
    with pytest.raises(DeviceNotFound):
        registry.update_device("acct-1", created.id, DeviceChange(device_info={}))


def test_listing_is_newest_first_in_pages(registry: Registry, clock: Any) -> None:
    ids = []
    for n in range(5):
        ids.append(registry.register_device("acct-1", device(f"tok-{n}"), source="accounts").id)
        clock.advance(minutes=1)

    seen, cursor = [], None
    for expected_size in (2, 2, 1):
        page = registry.list_devices("acct-1", limit=2, cursor=cursor)
        assert len(page.devices) == expected_size
        seen += [r.id for r in page.devices]
        cursor = page.next_cursor
    assert cursor is None
    assert seen == list(reversed(ids))


@pytest.mark.parametrize("cursor", ["", "not-base64!", "bm90IGpzb24", "WzEsMl0"])
def test_a_forged_cursor_is_invalid_input(registry: Registry, cursor: str) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        registry.list_devices("acct-1", limit=2, cursor=cursor)
    assert invalid.value.first.field == "cursor"
