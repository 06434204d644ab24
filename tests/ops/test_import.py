"""`push-registry import` on DynamoDB Local: generated exports of the four systems, imported whole, twice,
and stopped halfway then resumed; the registry's invariants hold and the counts are the generator's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.template import create_table, load_template
from ops.importer import Counts, ImportJob, Summary, run_import
from ops.progress import Silent
from tests.api.invariants import check_invariants, scan
from tests.ops.exports import SOURCES, Expected, generate

pytestmark = pytest.mark.integration

PUSH_REGISTRY = str(Path(sys.executable).parent / "push-registry")
# The done-when's size; a smaller one for a quick local check (IMPORT_TEST_RECORDS=1000).
PER_SOURCE = int(os.environ.get("IMPORT_TEST_RECORDS", "10000"))
# The test does not wait on the pace: DynamoDB Local takes what this machine can give.
UNPACED = 100_000.0
Dump = dict[tuple[str, str], dict[str, Any]]


def new_table(ddb_local: Any) -> str:
    name = f"import-{uuid.uuid4().hex[:8]}"
    create_table(ddb_local.client, name, load_template())
    return name


def job(ddb_local: Any, table: str, path: Path, source: str, **options: Any) -> ImportJob:
    return ImportJob(
        path=path,
        source=source,
        table=table,
        endpoint_url=ddb_local.endpoint_url,
        region="us-east-1",
        **{"rate": UNPACED, "workers": 8, **options},
    )


def dump(ddb_local: Any, table: str) -> Dump:
    return keyed(scan(ddb_local.client, table))


def keyed(scanned: list[dict[str, Any]]) -> Dump:
    """A whole table's items by key. A guard's tenure is a random id drawn when a free token is
    taken, so left out, and so is an owner roster's expiry: its latest-written member's list-entry
    expiry, which follows the order rows were adopted in (it only decides when an unused roster goes;
    a missing one is seeded again from the list entries). Its members and version are compared."""
    items = {}
    for item in scanned:
        roster = item["sk"]["S"] == "ROSTER" and item["pk"]["S"].startswith("OWNER#")
        left_out = {"tenure", "expires_at"} if roster else {"tenure"}
        items[item["pk"]["S"], item["sk"]["S"]] = {k: v for k, v in item.items() if k not in left_out}
    return items


def counts_of(summary: Summary) -> dict[str, int]:
    kept = ("imported", "refreshed", "unchanged", "expired", "inactive", "retired", "rejected", "won", "lost")
    return {name: value for name, value in summary.as_dict().items() if name in kept and value}


def live_registrations(items: Dump) -> dict[str, dict[str, Any]]:
    """The dump's active registrations, by token."""
    return {
        item["token"]["S"]: item
        for key, item in items.items()
        if key[0].startswith("OWNER#") and key[1].startswith("TOKEN#") and item["active"]["BOOL"]
    }


def check_winners(items: Dump, expected: Expected) -> None:
    live = live_registrations(items)
    assert set(live) == set(expected.winners), "exactly the winning rows are registrations"
    for token, (owner, source, kept_id, last_used) in expected.winners.items():
        item = live[token]
        assert (item["owner"]["S"], item["source"]["S"]) == (owner, source)
        assert datetime.fromisoformat(item["last_used_at"]["S"]) == last_used
        if kept_id is not None:
            assert item["id"]["S"] == kept_id
            created = expected.kept[owner, token][1]
            assert created is not None
            assert datetime.fromisoformat(item["created_at"]["S"]) == created
        else:
            uuid.UUID(item["id"]["S"])


@pytest.mark.slow
# Outside make test's coverage (pytest-cov's marker): tracing the import's threads costs it about half
# again its Python time, and the smaller imports here and in test_adoption.py run the same code.
@pytest.mark.no_cover
def test_ten_thousand_records_per_source_imported_twice(ddb_local: Any, tmp_path: Path) -> None:
    paths, expected = generate(tmp_path, PER_SOURCE, datetime.now(UTC))
    table = new_table(ddb_local)

    for source in SOURCES:
        summary = run_import(job(ddb_local, table, paths[source], source), Silent())
        assert counts_of(summary) == dict(expected.counts[source]), source
        assert summary.records_per_second > 0
    first = keyed(check_invariants(ddb_local, table_name=table))  # the dump the invariants were checked on
    check_winners(first, expected)
    rejects = [
        json.loads(line) for line in (tmp_path / "camera.jsonl.rejects.jsonl").read_text().splitlines()
    ]
    assert len(rejects) == expected.counts["camera"]["rejected"]
    assert all(entry["reason"] and entry["line"] >= 1 for entry in rejects)

    # The same files again: nothing changes; every row still valid is unchanged or still loses.
    for source in SOURCES:
        again = counts_of(run_import(job(ddb_local, table, paths[source], source), Silent()))
        winners = sum(1 for w in expected.winners.values() if w[1] == source)
        valid = sum(expected.counts[source][k] for k in ("imported", "won", "lost"))
        assert again.get("unchanged", 0) == winners, source
        assert again.get("lost", 0) == valid - winners, source
        assert not {"imported", "won", "refreshed", "retired"} & set(again), source
    assert dump(ddb_local, table) == first


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PUSH_REGISTRY, "import", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_halfway(ddb_local: Any, table: str, path: Path, source: str, how: signal.Signals) -> dict[str, Any]:
    """Start the CLI, stop it with `how` once about a third of the file is committed, run it again."""
    args = (str(path), "--from", source, "--table", table, "--endpoint-url", ddb_local.endpoint_url)
    checkpoint = path.with_name(path.name + ".checkpoint.json")
    lines = len(path.read_text().splitlines())
    process = run_cli(*args, "--rate", "60", "--workers", "4", "--progress", "lines")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads(checkpoint.read_text())["line"] > lines // 3:
                break
        except (FileNotFoundError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    process.send_signal(how)
    out, err = process.communicate(timeout=60)
    assert process.returncode == (130 if how == signal.SIGTERM else -signal.SIGKILL), err
    assert checkpoint.exists()
    if how == signal.SIGTERM:
        assert "run the same command again" in err
        assert json.loads(out)["complete"] is False

    resumed = run_cli(*args, "--rate", str(UNPACED))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    summary: dict[str, Any] = json.loads(out)
    assert 1 < summary["resumed_at_line"] < lines
    assert not checkpoint.exists(), "a finished import leaves no checkpoint"
    return summary


def test_a_run_stopped_halfway_and_resumed_ends_in_the_same_table(ddb_local: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    whole.mkdir()
    stopped.mkdir()
    paths, expected = generate(whole, 400, now, seed=7)
    copies, _ = generate(stopped, 400, now, seed=7)
    reference, table = new_table(ddb_local), new_table(ddb_local)
    uninterrupted = {
        source: run_import(job(ddb_local, reference, paths[source], source), Silent()) for source in SOURCES
    }

    for source in SOURCES:
        if source == "camera":  # SIGTERM: the rows in flight finish, the counts stay exact
            summary = stop_halfway(ddb_local, table, copies[source], source, signal.SIGTERM)
            assert counts_of(Summary(**_summary_fields(summary))) == counts_of(uninterrupted[source])
            for report in (".rejects.jsonl", ".conflicts.jsonl"):
                assert (copies[source].parent / f"{source}.jsonl{report}").read_text() == (
                    paths[source].parent / f"{source}.jsonl{report}"
                ).read_text()
        elif source == "user-push-tokens":  # SIGKILL: rows in flight are adopted again
            summary = stop_halfway(ddb_local, table, copies[source], source, signal.SIGKILL)
            assert summary["records"] == uninterrupted[source].counts.records
        else:
            run_import(job(ddb_local, table, copies[source], source), Silent())

    resumed = keyed(check_invariants(ddb_local, table_name=table))
    assert resumed == dump(ddb_local, reference)
    check_winners(resumed, expected)


def _summary_fields(summary: dict[str, Any]) -> dict[str, Any]:
    names = set(vars(Counts()))
    return {
        "counts": Counts(**{k: v for k, v in summary.items() if k in names}),
        "seconds": summary["seconds"],
        "rate": summary["rate"],
    }


def test_the_rate_bounds_requests_and_the_summary_reports_records_per_second(
    ddb_local: Any, tmp_path: Path
) -> None:
    paths, expected = generate(tmp_path, 60, datetime.now(UTC), seed=3)
    table = new_table(ddb_local)
    calls: list[float] = []

    class Counted:
        def __init__(self, client: Any) -> None:
            self._client = client

        def __getattr__(self, name: str) -> Any:
            attribute = getattr(self._client, name)
            if name not in {"get_item", "batch_get_item", "transact_write_items"}:
                return attribute

            def counted(**request: Any) -> Any:
                calls.append(time.monotonic())
                return attribute(**request)

            return counted

    run_import(
        job(ddb_local, table, paths["accounts"], "accounts", rate=25.0), Silent(), Counted(ddb_local.client)
    )

    assert len(calls) >= 2 * expected.counts["accounts"]["imported"]
    span = calls[-1] - calls[0]
    assert (len(calls) - 1) / span <= 25 * 1.1, "no more than --rate requests per second"

    # The CLI at its default --rate: the summary says how fast it went.
    process = subprocess.run(
        [
            *(PUSH_REGISTRY, "import", str(paths["camera"]), "--from", "camera", "--table", table),
            *("--endpoint-url", ddb_local.endpoint_url, "--progress", "none"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert "records/s at --rate 200 requests/s" in process.stdout
    assert f"rejected {expected.counts['camera']['rejected']}" in process.stdout
