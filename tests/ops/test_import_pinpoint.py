"""`push-registry import --from pinpoint` on DynamoDB Local: a generated Pinpoint export of 10,000
endpoints, imported file by file; the registry's invariants hold, the counts are the generator's, the
winners hold their tokens with their channel types, and importing again changes nothing."""

from __future__ import annotations

import gzip
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from ops.importer import ImportJob, run_import
from ops.progress import Silent
from ops.sources import PINPOINT
from push_registry.registry import NewDevice, Registry
from push_registry.storage import RegistrationStore
from tests.api.invariants import check_invariants
from tests.ops.pinpoint_exports import USER_ENDPOINTS, Expected, generate, order_free
from tests.ops.test_import import Dump, dump, keyed, live_registrations, new_table
from tests.ops.test_import import job as import_job

pytestmark = pytest.mark.integration

# The done-when's size; a smaller one for a quick local check (PINPOINT_TEST_ENDPOINTS=1000).
ENDPOINTS = int(os.environ.get("PINPOINT_TEST_ENDPOINTS", "10000"))
CAP = 10  # below the generated heavy users' endpoints (Pinpoint itself keeps at most 15 per user)


def job(ddb_local: Any, table: str, path: Path) -> ImportJob:
    return import_job(ddb_local, table, path, PINPOINT, max_devices_per_user=CAP)


def counts_of(summary: Any) -> dict[str, int]:
    return {name: value for name, value in vars(summary.counts).items() if value}


def lines_of(path: Path) -> list[str]:
    raw = path.read_bytes()
    if path.name == USER_ENDPOINTS:
        return [json.dumps(item) for item in json.loads(raw)["EndpointsResponse"]["Item"]]
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode().splitlines()


def declare_dead(ddb_local: Any, table: str, tokens: list[str]) -> None:
    """Tokens an app registered through an API, then a push provider declared dead: after the export."""
    registry = Registry(RegistrationStore(ddb_local.client, table))
    for token in tokens:
        registry.register_device(f"api-{uuid.uuid4().hex[:8]}", NewDevice(token, "android"), "accounts")
        assert registry.invalidate(token)


def check_the_export_covers_the_done_when(expected: Expected) -> None:
    rows = [json.loads(line) for path in expected.files for line in lines_of(path) if line.endswith("}")]
    pinpoint = botocore.session.get_session().get_service_model("pinpoint")
    assert expected.lines == ENDPOINTS
    assert {row["ChannelType"] for row in rows} == set(pinpoint.shape_for("ChannelType").enum)
    assert {row["EndpointStatus"] for row in rows} == {"ACTIVE", "INACTIVE"}
    assert {row["OptOut"] for row in rows} >= {"ALL", "NONE"}
    assert any("UserId" not in row["User"] for row in rows), "anonymous endpoints"
    assert {path.read_bytes()[:2] == b"\x1f\x8b" for path in expected.files} == {True, False}
    by_token: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        if "UserId" in row["User"]:
            by_token.setdefault(row["Address"], set()).add((row["User"]["UserId"], row["EffectiveDate"]))
    assert any(len({user for user, _ in held}) == 2 == len(held) for held in by_token.values()), (
        "one token under two users with different EffectiveDates"
    )


def check_winners(items: Dump, expected: Expected) -> None:
    live = live_registrations(items)
    assert set(live) == set(expected.winners), "exactly the winning endpoints are registrations"
    for token, (owner, channel_type, endpoint_id, last_used) in expected.winners.items():
        item = live[token]
        assert (item["owner"]["S"], item["source"]["S"], item["id"]["S"]) == (owner, PINPOINT, endpoint_id)
        assert item["channel_type"]["S"] == channel_type
        assert datetime.fromisoformat(item["last_used_at"]["S"]) == last_used
        assert item["device_info"]["M"]["app_version"] == {"S": "4.1.0"}
        assert "America/New_York" not in json.dumps(item), "Timezone is not kept"
    pinpoint_tokens = {
        item["token"]["S"]
        for key, item in items.items()
        if key[1].startswith("TOKEN#") and item.get("source") == {"S": PINPOINT}
    }
    assert not pinpoint_tokens & expected.absent, "opted out, anonymous, inactive, expired... imported"


@pytest.mark.slow
# Outside make test's coverage (pytest-cov's marker): tracing the import's threads costs it about half
# again its Python time, and the smaller imports here and in test_adoption.py run the same code.
@pytest.mark.no_cover
def test_ten_thousand_pinpoint_endpoints_imported_with_the_invariants(ddb_local: Any, tmp_path: Path) -> None:
    expected = generate(tmp_path, ENDPOINTS, datetime.now(UTC), cap=CAP)
    check_the_export_covers_the_done_when(expected)
    table = new_table(ddb_local)
    declare_dead(ddb_local, table, expected.dead)

    for path in expected.files:
        summary = run_import(job(ddb_local, table, path), Silent())
        assert order_free(counts_of(summary)) == order_free(expected.counts[path.name]), path.name
    first = keyed(check_invariants(ddb_local, table_name=table))  # the dump the invariants were checked on
    check_winners(first, expected)
    for path in expected.files:
        counts = expected.counts[path.name]
        rejects = [json.loads(line) for line in path.with_name(path.name + ".rejects.jsonl").open()]
        assert len(rejects) == counts["rejected"], path.name
        assert all(r["reason"] and r["line"] >= 1 for r in rejects), path.name
        conflicts = path.with_name(path.name + ".conflicts.jsonl").read_text().splitlines()
        assert len(conflicts) == counts["won"] + counts["lost"], path.name
    assert sum(expected.counts[p.name]["capped"] + expected.counts[p.name]["evicted"] for p in expected.files)

    # Idempotent: every file again changes nothing. A row costs one read now (two for a loser, whose
    # add is refused), so the whole export is cheap enough to import twice.
    for path in expected.files:
        again = counts_of(run_import(job(ddb_local, table, path), Silent()))
        assert order_free(again) == order_free(expected.again[path.name]), path.name
        assert not {"imported", "won", "refreshed", "evicted"} & set(again), path.name
    assert dump(ddb_local, table) == first
