"""events/*.json replayed through the handlers exactly as `sam local invoke -e` feeds them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.events import check_response_size
from push_registry import catalog
from push_registry.registration import Provider, Registration, expiry_after
from push_registry.registry import Registry
from push_registry.storage import RegistrationStore

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
ACCOUNT = "account_123"  # the `sub` of the development JWT inside the event files


class Context:
    function_name = "replay"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:replay"
    aws_request_id = "replay-request"
    log_group_name = "/aws/lambda/replay"
    log_stream_name = "replay"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def handled(load_handler: Callable[[str], ModuleType], name: str) -> Any:
    """The handler's result for its event, within what Lambda can send back (6 MB)."""
    result = load_handler(name).handler(event(name), Context())
    check_response_size(result)
    return result


def invoke(load_handler: Callable[[str], ModuleType], name: str) -> tuple[int, Any]:
    result = handled(load_handler, name)
    return result["statusCode"], json.loads(result["body"]) if result["body"] else None


@pytest.fixture
def fresh_account(ddb_local: Any) -> Registry:
    """account_123 with no live device, so each replay starts from the state its event expects."""
    registry = Registry(RegistrationStore(ddb_local.client, ddb_local.table_name))
    for device in registry.list_devices(ACCOUNT, limit=100).devices:
        registry.deactivate_device(ACCOUNT, device.id)
    return registry


def seed_device(
    ddb_local: Any, device_id: str, token: str, source: str = catalog.ACCOUNTS.name, tenant: str | None = None
) -> None:
    now = datetime.now(UTC)
    RegistrationStore(ddb_local.client, ddb_local.table_name).add(
        Registration(
            id=device_id,
            owner=ACCOUNT,
            token=token,
            provider=Provider.FCM,
            platform="android",
            created_at=now,
            updated_at=now,
            last_used_at=now,
            expires_at=expiry_after(now, timedelta(days=30)),
            source=source,
            tenant=tenant,
        ),
        now,
    )


def test_register_event(fresh_account: Registry, load_handler: Callable[[str], ModuleType]) -> None:
    status, body = invoke(load_handler, "accounts_register_device")
    assert status == 201
    assert body["device_token"] == json.loads(event("accounts_register_device")["body"])["device_token"]

    again, conflict = invoke(load_handler, "accounts_register_device")
    assert (again, conflict["code"], conflict["device_id"]) == (409, "DEVICE_TOKEN_ERR_04", body["id"])


def test_list_event(fresh_account: Registry, load_handler: Callable[[str], ModuleType]) -> None:
    invoke(load_handler, "accounts_register_device")
    status, body = invoke(load_handler, "accounts_list_devices")
    assert status == 200
    assert [d["platform"] for d in body["devices"]] == ["android"]


def test_update_event(
    fresh_account: Registry, ddb_local: Any, load_handler: Callable[[str], ModuleType]
) -> None:
    device_id = event("accounts_update_device")["pathParameters"]["deviceId"]
    seed_device(ddb_local, device_id, "token-before-update")

    status, body = invoke(load_handler, "accounts_update_device")

    assert status == 200
    assert body["id"] == device_id
    assert body["device_info"] == json.loads(event("accounts_update_device")["body"])["device_info"]


def test_deactivate_event(
    fresh_account: Registry, ddb_local: Any, load_handler: Callable[[str], ModuleType]
) -> None:
    device_id = event("accounts_deactivate_device")["pathParameters"]["deviceId"]
    seed_device(ddb_local, device_id, "token-before-deactivation")

    assert invoke(load_handler, "accounts_deactivate_device") == (204, None)
    assert invoke(load_handler, "accounts_deactivate_device")[0] == 404


def test_camera_event(fresh_account: Registry, load_handler: Callable[[str], ModuleType]) -> None:
    assert invoke(load_handler, "camera_set_user_token") == (200, {"result": 0, "msg": "Success"})
    assert [d.source for d in fresh_account.list_devices(ACCOUNT, limit=10).devices] == [catalog.CAMERA.name]


def test_user_push_tokens_event(fresh_account: Registry, load_handler: Callable[[str], ModuleType]) -> None:
    status, body = invoke(load_handler, "user_push_tokens_register")
    assert status == 200
    assert (body["userid"], body["device_os"], body["module"]) == (ACCOUNT, "iOS", "main")


def test_pigeons_register_event(fresh_account: Registry, load_handler: Callable[[str], ModuleType]) -> None:
    status, body = invoke(load_handler, "pigeons_register_device")
    assert status == 201
    assert body["message"] == "Device token registered"  # the event asks for English
    assert body["data"]["platform"] == "android"


def test_pigeons_delete_event(
    fresh_account: Registry, ddb_local: Any, load_handler: Callable[[str], ModuleType]
) -> None:
    device_id = event("pigeons_delete_device")["pathParameters"]["id"]
    # A chat backoffice registration under the platform of the event's X-PUBLIC-KEY (tenant "local").
    seed_device(
        ddb_local, device_id, "token-before-pigeons-delete", source=catalog.PIGEONS.name, tenant="local"
    )

    assert invoke(load_handler, "pigeons_delete_device") == (204, None)
    assert invoke(load_handler, "pigeons_delete_device")[0] == 404


def test_presignup_event(load_handler: Callable[[str], ModuleType]) -> None:
    status, body = invoke(load_handler, "presignup_register_token")
    assert status == 201
    assert body["status"] == "ok"
    again = invoke(load_handler, "presignup_register_token")
    assert again == (201, body), "re-posting the same token and device keeps the record"


def test_internal_events(fresh_account: Registry, load_handler: Callable[[str], ModuleType]) -> None:
    invoke(load_handler, "camera_set_user_token")  # account_123 holds the token the invalidation event names
    status, body = invoke(load_handler, "internal_user_tokens")
    assert status == 200
    assert [t["source"] for t in body["tokens"]] == [catalog.CAMERA.name]

    assert invoke(load_handler, "internal_presignup_lookup")[0] == 200
    status, body = invoke(load_handler, "internal_token_holder")  # the camera event's token
    assert status == 200
    assert (body["holder"]["user_id"], body["holder"]["source"]) == (ACCOUNT, catalog.CAMERA.name)
    status, body = invoke(load_handler, "internal_token_invalidations")
    assert status == 200
    assert body["results"][0]["status"] == "deactivated"
    assert invoke(load_handler, "internal_token_holder") == (200, {"holder": None})
    assert body["results"][2] == {"token": "never-registered-token", "status": "not_found"}


def test_queue_event(load_handler: Callable[[str], ModuleType]) -> None:
    result = handled(load_handler, "token_invalidations_queue")
    # The second message is not JSON: only it is reported back for a retry (then the dead-letter queue).
    assert result == {"batchItemFailures": [{"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"}]}


def test_privacy_events(fresh_account: Registry, load_handler: Callable[[str], ModuleType]) -> None:
    invoke(load_handler, "camera_set_user_token")
    invoke(load_handler, "presignup_register_token")  # the phone the privacy events name

    status, exported = invoke(load_handler, "internal_user_export")
    assert status == 200
    assert exported["user_id"] == ACCOUNT
    assert catalog.CAMERA.name in {r["source"] for r in exported["registrations"]}
    status, phone_export = invoke(load_handler, "internal_presignup_export")
    assert status == 200
    assert phone_export["phone"] == "+919876543210"
    assert len(phone_export["records"]) >= 1

    status, erased = invoke(load_handler, "internal_user_erase")
    assert status == 200
    assert erased["erased"]["registrations"] >= 1
    assert invoke(load_handler, "internal_user_erase")[1]["erased"]["registrations"] == 0
    status, erased = invoke(load_handler, "internal_presignup_erase")
    assert status == 200
    assert erased["erased"]["records"] >= 1
    assert invoke(load_handler, "internal_presignup_erase")[1]["erased"]["records"] == 0


def test_erasure_queue_event(load_handler: Callable[[str], ModuleType]) -> None:
    result = handled(load_handler, "privacy_erasures_queue")
    # The third message names both subjects: only it is reported back (then the dead-letter queue).
    assert result == {"batchItemFailures": [{"itemIdentifier": "9f3b2e74-4d9a-4fac-9c75-2b3f5e4d1a33"}]}


def test_every_function_of_the_catalog_has_its_event_replayed_here() -> None:
    """A new function's events/ file is replayed by a test above (by name), or this fails."""
    source = Path(__file__).read_text()
    assert [f.folder for f in catalog.FUNCTIONS if f'(load_handler, "{f.folder}")' not in source] == []
    assert sorted(p.stem for p in EVENTS.glob("*.json") if p.stem != "env") == sorted(
        f.folder for f in catalog.FUNCTIONS
    )
