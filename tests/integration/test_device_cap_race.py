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
from tests.api.invariants import scan, violations

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
    items = scan(ddb_local.client, ddb_local.table_name)
    mine = [item for item in items if item["pk"]["S"] == f"OWNER#{owner}"]
    tokens = {item["sk"]["S"] for item in mine if item["sk"]["S"].startswith("TOKEN#")}
    guards = [item for item in items if item["pk"]["S"] in tokens]

    # Every invariant, over the owner's partition and its tokens' guards: within the cap, a roster that
    # names every live registration, and time that only moved forward on the evicted ones.
    assert violations(mine + guards, int(time.time()), max_devices_per_user=CAP) == []
