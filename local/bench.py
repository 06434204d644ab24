"""`make bench`: cold start, warm latency, DynamoDB requests and capacity per call, layer size, in one run.

Everything runs on this machine against DynamoDB Local; numbers are for comparison between runs and
against the baselines measured in the same run, not absolute Lambda timings.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local import bench_account_size
from local.devtoken import make_token
from local.dynamodb_local import DynamoDBLocal
from local.server import configure_environment, load_function
from local.template import ROOT, create_table, load_template

TABLE = "push-registry-bench"
COLD_RUNS = 7
WARM_REQUESTS = 1000

COLD_SCRIPT = """
import json, sys, time
started = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
event = json.load(open(sys.argv[3]))
class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "bench"
app.handler(event, Context())
print(json.dumps({"ms": (time.perf_counter() - started) * 1000}))
"""
BOTO3_BASELINE = """
import json, time
started = time.perf_counter()
import boto3
boto3.client("dynamodb")
print(json.dumps({"ms": (time.perf_counter() - started) * 1000}))
"""
FASTAPI_BASELINE = """
import json, sys, time
started = time.perf_counter()
import boto3
from fastapi import FastAPI
from mangum import Mangum
client = boto3.client("dynamodb")
app = FastAPI()
@app.get("/ping")
def ping():
    return {"ok": True}
handler = Mangum(app, lifespan="off")
event = json.load(open(sys.argv[1]))
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
handler(event, Context())
print(json.dumps({"ms": (time.perf_counter() - started) * 1000}))
"""

# What each call must do at the least, given its semantics (see README, "DynamoDB requests per call").
MINIMUM = {
    "accounts POST (first registration)": 1,
    "accounts GET": 1,
    "accounts PATCH (heartbeat)": 2,  # the answer shows stored fields: read by id, then one transaction
    "camera POST (token refresh)": 2,  # the list entry's key (created_at, id) is read with the record
    "camera POST (first registration)": 1,
    "user-push-tokens POST (refresh)": 2,
    "pigeons POST (re-create own)": 2,
    "presignup POST (first)": 2,
    "internal user tokens": 1,
}


class DynamoDBMeter:
    """Counts DynamoDB requests, their time and consumed capacity, through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.requests = 0
        self.capacity = 0.0
        self.seconds = 0.0
        self._started = 0.0
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._ask_for_capacity)
        events.register("before-call.dynamodb.*", self._before)
        events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.requests, self.capacity, self.seconds = 0, 0.0, 0.0

    def _ask_for_capacity(self, params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _before(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started
        self.requests += 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.capacity += float(entry.get("CapacityUnits", 0))


def cold_starts(database: DynamoDBLocal, env: dict[str, str]) -> list[tuple[str, float]]:
    rows = []
    layer = str(ROOT / "layers" / "registry")
    with tempfile.TemporaryDirectory() as work:
        for events_file in sorted((ROOT / "events").glob("*.json")):
            if events_file.stem in ("env", "token_invalidations_queue"):
                continue
            event = json.loads(events_file.read_text())
            times = []
            for _ in range(COLD_RUNS):
                event.setdefault("requestContext", {}).setdefault("identity", {})["sourceIp"] = (
                    f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
                )
                path = Path(work) / f"{uuid.uuid4().hex}.json"
                path.write_text(json.dumps(event))
                times.append(
                    _fresh_process(
                        [COLD_SCRIPT, str(ROOT / "functions" / events_file.stem), layer, str(path)], env
                    )
                )
            rows.append((events_file.stem, statistics.median(times)))
    return rows


def _fresh_process(args: list[str], env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", *args], env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result["ms"]


def warm(database: DynamoDBLocal) -> tuple[list[tuple[str, float, float, float, float, float]], list[Any]]:
    configure_environment(TABLE, database.endpoint_url)
    load_function(ROOT / "functions" / "accounts_register_device")
    # Importable only now: configure_environment put the layer on sys.path, as Lambda's /opt/python.
    from push_registry import runtime  # noqa: PLC0415

    meter = DynamoDBMeter(runtime._client())

    class Context:
        function_name = "bench"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        aws_request_id = "bench"

    def event(name: str, **changes: Any) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
        loaded.update(changes)
        loaded["requestContext"]["identity"]["sourceIp"] = (
            f"10.2.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
        )
        return loaded

    user = "bench-user"
    jwt = make_token(user, ttl=3600, abilities=["backoffice"])
    auth = {"Authorization": f"Bearer {jwt}", "X-PUBLIC-KEY": "pk_local_pigeons"}
    own_token = f"bench-own-{uuid.uuid4().hex}"
    load_function(ROOT / "functions" / "camera_set_user_token").handler(
        event(
            "camera_set_user_token", headers=auth, body=json.dumps({"msgType": "FCM", "msgToken": own_token})
        ),
        Context(),
    )
    # The heartbeat's device belongs to an account of its own: by-id calls read the account's partition.
    owner = f"bench-owner-{uuid.uuid4().hex[:6]}"
    owner_auth = {"Authorization": f"Bearer {make_token(owner, ttl=3600)}"}
    device = load_function(ROOT / "functions" / "accounts_register_device").handler(
        event(
            "accounts_register_device",
            headers=owner_auth,
            pathParameters={"accountId": owner},
            body=json.dumps({"device_token": f"bench-dev-{uuid.uuid4().hex}", "platform": "ios"}),
        ),
        Context(),
    )
    device_id = json.loads(device["body"])["id"]
    # A reader with three devices: listing cost grows with an account's registrations.
    reader = f"bench-reader-{uuid.uuid4().hex[:6]}"
    reader_auth = {"Authorization": f"Bearer {make_token(reader, ttl=3600)}"}
    for _ in range(3):
        load_function(ROOT / "functions" / "accounts_register_device").handler(
            event(
                "accounts_register_device",
                headers=reader_auth,
                pathParameters={"accountId": reader},
                body=json.dumps({"device_token": f"bench-r-{uuid.uuid4().hex}", "platform": "ios"}),
            ),
            Context(),
        )

    scenarios: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
        "accounts POST (first registration)": (
            "accounts_register_device",
            lambda: event(
                "accounts_register_device",
                headers=auth,
                pathParameters={"accountId": user},
                body=json.dumps({"device_token": f"bench-{uuid.uuid4().hex}", "platform": "android"}),
            ),
        ),
        "accounts GET": (
            "accounts_list_devices",
            lambda: event("accounts_list_devices", headers=reader_auth, pathParameters={"accountId": reader}),
        ),
        "accounts PATCH (heartbeat)": (
            "accounts_update_device",
            lambda: event(
                "accounts_update_device",
                headers=owner_auth,
                pathParameters={"accountId": owner, "deviceId": device_id},
                body=None,
            ),
        ),
        "camera POST (token refresh)": (
            "camera_set_user_token",
            lambda: event(
                "camera_set_user_token",
                headers=auth,
                body=json.dumps({"msgType": "FCM", "msgToken": own_token}),
            ),
        ),
        "camera POST (first registration)": (
            "camera_set_user_token",
            lambda: event(
                "camera_set_user_token",
                headers=auth,
                body=json.dumps({"msgType": "FCM", "msgToken": f"bench-{uuid.uuid4().hex}"}),
            ),
        ),
        "user-push-tokens POST (refresh)": (
            "user_push_tokens_register",
            lambda: event(
                "user_push_tokens_register", headers=auth, body=json.dumps({"push_token": own_token})
            ),
        ),
        "presignup POST (first)": (
            "presignup_register_token",
            lambda: event(
                "presignup_register_token",
                body=json.dumps({"phone": "+14155550142", "fcmToken": f"bench-{uuid.uuid4().hex}"}),
            ),
        ),
        "internal user tokens": (
            "internal_user_tokens",
            lambda: event("internal_user_tokens", pathParameters={"userId": reader}),
        ),
    }
    rows = []
    for label, (function, make_event) in scenarios.items():
        handler = load_function(ROOT / "functions" / function).handler
        handler(make_event(), Context())  # warm-up
        latencies, outside = [], []
        requests = capacity = 0.0
        for _ in range(WARM_REQUESTS):
            payload = make_event()
            meter.reset()
            started = time.perf_counter()
            result = handler(payload, Context())
            elapsed = time.perf_counter() - started
            assert result["statusCode"] < 300, (label, result)
            latencies.append(elapsed * 1000)
            outside.append((elapsed - meter.seconds) * 1000)
            requests += meter.requests
            capacity += meter.capacity
        cuts = statistics.quantiles(latencies, n=100)
        rows.append(
            (
                label,
                cuts[49],
                cuts[98],
                statistics.median(outside),
                requests / WARM_REQUESTS,
                capacity / WARM_REQUESTS,
            )
        )
    return rows, bench_account_size.measure(meter)


def layer_size() -> str:
    build = ROOT / ".aws-sam" / "build" / "RegistryLayer"
    if not build.exists():
        return "n/a (run `make build`)"
    total = sum(f.stat().st_size for f in build.rglob("*") if f.is_file())
    return f"{total / 1024 / 1024:.1f} MiB"


def main() -> None:
    os.environ.setdefault("JWT_SECRET", "local-development-secret-change-me-0123456789")
    with DynamoDBLocal() as database:
        client = database.client()
        create_table(client, TABLE, load_template())
        configure_environment(TABLE, database.endpoint_url)
        env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
        boto3_ms = statistics.median(_fresh_process([BOTO3_BASELINE], env) for _ in range(COLD_RUNS))
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as ping:
            event = json.loads((ROOT / "events" / "accounts_list_devices.json").read_text())
            event.update(path="/ping", resource="/ping", httpMethod="GET")
            json.dump(event, ping)
        fastapi_ms = statistics.median(
            _fresh_process([FASTAPI_BASELINE, ping.name], env) for _ in range(COLD_RUNS)
        )
        colds = cold_starts(database, env)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        # Handlers print their EMF metrics as in Lambda (part of the cost); the terminal is spared.
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            warms, by_size = warm(database)

    print(
        f"\nCold start: median of {COLD_RUNS} fresh Python {sys.version.split()[0]} processes"
        " (import the handler, serve the first event)"
    )
    print(f"  baseline `import boto3; boto3.client('dynamodb')`: {boto3_ms:7.1f} ms")
    print(f"  baseline FastAPI + Mangum, one route, boto3 client: {fastapi_ms:7.1f} ms")
    print(f"  {'function':32} {'ms':>8} {'x boto3':>8} {'x fastapi':>10}")
    for name, ms in colds:
        print(f"  {name:32} {ms:8.1f} {ms / boto3_ms:8.2f} {ms / fastapi_ms:10.2f}")
    print(f"\nWarm, in-process against DynamoDB Local, {WARM_REQUESTS} requests each")
    print(
        f"  {'endpoint':36} {'p50 ms':>7} {'p99 ms':>7} {'outside DDB p50':>16}"
        f" {'DDB req':>8} {'min':>4} {'capacity':>9}"
    )
    for label, p50, p99, outside, requests, capacity in warms:
        print(
            f"  {label:36} {p50:7.2f} {p99:7.2f} {outside:16.2f}"
            f" {requests:8.2f} {MINIMUM[label]:4d} {capacity:9.2f}"
        )
    bench_account_size.report(by_size)
    print(f"\nBuilt layer, unzipped: {layer_size()}")


if __name__ == "__main__":
    main()
