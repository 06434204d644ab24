"""Concurrent registrations for one user never leave more than MaxDevicesPerUser live (issue 21, item 9)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from push_registry.errors import Unavailable
from push_registry.registry import NewDevice, Registry
from push_registry.storage import RegistrationStore
from tests.api.invariants import violations

pytestmark = pytest.mark.integration
CAP = 5


def test_concurrent_registrations_for_one_user_leave_at_most_the_cap_live(ddb_local: Any) -> None:
    store = RegistrationStore(ddb_local.client, ddb_local.table_name, max_devices_per_user=CAP)
    registry = Registry(store, lifetime=timedelta(days=30))
    owner = f"capped-{uuid.uuid4().hex[:12]}"

    def register(i: int) -> str:
        try:
            registry.register_device(
                owner, NewDevice(token=f"cap-race-{uuid.uuid4().hex}", platform="ios"), "accounts"
            )
        except Unavailable:
            return "503"
        return "ok"

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(register, range(12)))

    assert results.count("ok") >= CAP, results
    live = registry.list_devices(owner, limit=100).devices
    assert len(live) <= CAP
    items = ddb_local.client.scan(TableName=ddb_local.table_name, ConsistentRead=True)["Items"]
    mine = [item for item in items if item["pk"]["S"] == f"OWNER#{owner}"]

    found = violations(mine, int(time.time()), max_devices_per_user=CAP)
    assert [v for v in found if v.rule in ("over-the-cap", "not-in-roster", "bad-roster")] == []
