"""`make bench`, account size: what by-id calls and list pages cost on an account of 1 registration and
on one of 1,000 (half of them deactivated), in DynamoDB requests and capacity units.

The handlers run in-process against DynamoDB Local, as in `local/bench.py`'s warm table, whose
`DynamoDBMeter` counts the requests. A page is measured at `limit=1` on both accounts, so that the two
pages return the same (one device) and only the account's size differs; the `limit=20` pages of the
large account are shown too, with their cost per device returned.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from local.devtoken import make_token
from local.server import load_function
from local.template import ROOT
from ops.progress import Phases

LARGE = 1000
REPEATS = 50


@dataclass(frozen=True)
class Row:
    call: str
    registrations: int
    returned: int  # devices in the answer (pages), 0 otherwise
    requests: float
    capacity: float
    p50_ms: float


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


def _event(name: str, **changes: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    loaded.update(changes)
    loaded["requestContext"]["identity"]["sourceIp"] = (
        f"10.3.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    )
    return loaded


class _Account:
    """One account, driven through the accounts API's own handlers."""

    def __init__(self, size: int, progress: Phases) -> None:
        self.owner = f"bench-size-{size}-{uuid.uuid4().hex[:6]}"
        self.headers = {"Authorization": f"Bearer {make_token(self.owner, ttl=3600)}"}
        self.size = size
        created = []
        for number in range(size):
            created.append(self.register())
            progress.step(f"an account of {size}: registration {number + 1}/{size}")
        # Half of a large account deactivated, interleaved with the live half in creation order.
        for device_id in created[1::2] if size > 1 else []:
            self.call("accounts_deactivate_device", deviceId=device_id)
            progress.step(f"an account of {size}: deactivating half")
        self.live = created[0::2] if size > 1 else created

    def call(self, function: str, body: Any = None, query: dict[str, str] | None = None, **path: str) -> Any:
        handler = load_function(ROOT / "functions" / function).handler
        event = _event(
            function,
            headers=self.headers,
            pathParameters={"accountId": self.owner, "userId": self.owner, **path},
            body=None if body is None else json.dumps(body),
            queryStringParameters=query,
        )
        result = handler(event, _Context())
        assert result["statusCode"] < 300, (function, result)
        return json.loads(result["body"]) if result.get("body") else None

    def register(self) -> str:
        body = {"device_token": f"bench-size-{uuid.uuid4().hex}", "platform": "android"}
        device_id: str = self.call("accounts_register_device", body)["id"]
        return device_id


def measure(meter: Any, repeats: int, progress: Phases) -> list[Row]:
    """Every row, on a fresh account of 1 registration and one of LARGE, `repeats` requests each.
    `meter`: bench.DynamoDBMeter."""
    sizes = (1, LARGE)
    # Each account's registrations and deactivations, then each row's requests: the phase's steps.
    rows_per_account = {size: 2 + 2 * len(_limits(size)) for size in sizes}
    setup = sum(size + len(range(1, size, 2)) for size in sizes)
    progress.phase("account size", setup + repeats * sum(rows_per_account.values()))
    accounts = [_Account(size, progress) for size in sizes]
    rows: list[Row] = []

    def timed(
        label: str, account: _Account, run: Callable[[], Any], prepare: Callable[[], None] | None = None
    ) -> None:
        requests, capacity, latencies, returned = 0.0, 0.0, [], 0
        for request in range(repeats):
            if prepare is not None:
                prepare()  # not counted
            meter.reset()
            started = time.perf_counter()
            answer = run()
            latencies.append((time.perf_counter() - started) * 1000)
            requests += meter.requests
            capacity += meter.capacity
            if isinstance(answer, dict):
                listed: list[Any] = answer.get("devices") or answer.get("tokens") or []
                returned = len(listed)
            progress.step(f"{label}, {account.size} registrations, request {request + 1}/{repeats}")
        rows.append(
            Row(label, account.size, returned, requests / repeats, capacity / repeats, _p50(latencies))
        )

    for account in accounts:
        newest = account.live[-1]
        timed(
            "accounts PATCH (heartbeat)",
            account,
            partial(account.call, "accounts_update_device", deviceId=newest),
        )
        # Each DELETE needs a live device: one is registered just before it, not counted.
        doomed: list[str] = []
        timed(
            "accounts DELETE",
            account,
            partial(_deactivate_last, account, doomed),
            partial(_register_into, account, doomed),
        )
        for limit in _limits(account.size):
            for label, function in (
                ("accounts GET", "accounts_list_devices"),
                ("sender look-up", "internal_user_tokens"),
            ):
                timed(
                    f"{label} page (limit={limit})",
                    account,
                    partial(account.call, function, query={"limit": limit}),
                )
    return rows


def _limits(size: int) -> tuple[str, ...]:
    return ("1", "20") if size > 1 else ("1",)


def _deactivate_last(account: _Account, doomed: list[str]) -> None:
    account.call("accounts_deactivate_device", deviceId=doomed.pop())


def _register_into(account: _Account, doomed: list[str]) -> None:
    doomed.append(account.register())


def _p50(values: list[float]) -> float:
    return statistics.median(values)


def report(rows: list[Row], repeats: int) -> None:
    print(f"\nAccount size: 1 registration against {LARGE} (half deactivated), {repeats} requests each")
    print(
        f"  {'call':36} {'account':>8} {'returned':>9} {'DDB req':>8} {'capacity':>9}"
        f" {'per device':>11} {'x 1-reg':>8} {'p50 ms':>7}"
    )
    small = {row.call: row for row in rows if row.registrations == 1}
    for row in rows:
        base = small.get(row.call)
        ratio = f"{row.capacity / base.capacity:8.2f}" if base and base.capacity else f"{'':8}"
        per_device = f"{row.capacity / row.returned:11.2f}" if row.returned else f"{'':11}"
        print(
            f"  {row.call:36} {row.registrations:8d} {row.returned or '':>9} {row.requests:8.2f}"
            f" {row.capacity:9.2f} {per_device} {ratio} {row.p50_ms:7.2f}"
        )
