"""`make bench`: cold start, warm latency, DynamoDB work and cost per call, layer size, in one run.

Everything runs on this machine against DynamoDB Local; numbers are for comparison between runs and
against the baselines measured in the same run, not absolute Lambda timings. Cold starts are measured on
the code as Lambda loads it (local/shipped.py); costs use the list prices of local/prices.py.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local import bench_account_size, prices, sam_local, shipped
from local.devtoken import make_token
from local.dynamodb_local import DynamoDBLocal
from local.server import configure_environment, load_function
from local.template import ROOT, create_table, load_template
from ops.progress import Phases, phases_for_stream
from push_registry import catalog

if TYPE_CHECKING:
    from push_registry.storage import RegistrationStore

TABLE = "push-registry-bench"


@dataclass(frozen=True)
class Plan:
    """How much each part measures: the default's figures are the published ones; quick is a first look."""

    cold_runs: int  # fresh processes per function and variant, after one untimed round
    warm_requests: int  # per warm scenario, after one untimed request
    size_repeats: int  # per account-size row
    quick: bool = False


FULL = Plan(cold_runs=15, warm_requests=1000, size_repeats=bench_account_size.REPEATS)
QUICK = Plan(cold_runs=3, warm_requests=200, size_repeats=10, quick=True)
PHASES = 4  # the FastAPI baseline, warm, account size, cold starts
# One warm row: the scenario, p50 ms, p99 ms, outside-DynamoDB p50 ms, requests, capacity, $ per 1M.
Warm = list[tuple[str, float, float, float, float, float, float]]

# Run with -S and PYTHONDONTWRITEBYTECODE=1 on the unpacked artifact, as Lambda's read-only /var/task
# and /opt: nothing but the function, the layer and the runtime's boto3 is importable.
COLD_SCRIPT = """
import json, sys, time
started = time.perf_counter()
sys.path[:0] = sys.argv[1].split(":")
import app
event = json.load(open(sys.argv[2]))
class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "bench"
result = app.handler(event, Context())
ms = (time.perf_counter() - started) * 1000
# A cold start is measured on a request served as asked (an error answer would be cheaper, not a start);
# each queue event holds one malformed message, so a batch is served when only that one failed.
if "Records" in event:
    served = len(result.get("batchItemFailures", [])) <= 1
else:
    served = result.get("statusCode", 500) < 300
print(json.dumps({"ms": ms, "served": served, "result": None if served else result}))
"""
BOTO3_BASELINE = """
import json, sys, time
started = time.perf_counter()
sys.path[:0] = sys.argv[1].split(":")
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

# What each call must do at the least, given its semantics (see docs/architecture.md, "DynamoDB
# requests per call").
MINIMUM = {
    "accounts POST (first registration)": 1,  # the roster's Update rides in the registration's transaction
    # Beyond MaxDevicesPerUser: the refused fast path, the list entries and their registrations read,
    # then one transaction that adds the new one, evicts the least recently used and writes the roster.
    "accounts POST (evicting)": 4,
    # A user's first registration ever: the refused fast path (no roster), the list entries (none) that
    # seed the roster, the transaction. Once per user, and only with a cap.
    "accounts POST (new user)": 3,
    "accounts GET": 2,  # the list entries, then the registrations they point at
    "accounts PATCH (heartbeat)": 1,  # one UpdateItem that returns the record (lease renewals: 2)
    "camera POST (token refresh)": 1,  # one UpdateItem merging the given fields (lease renewals: 2)
    "camera POST (first registration)": 1,
    "user-push-tokens POST (refresh)": 1,
    "pigeons POST (re-create own)": 2,
    "presignup POST (first)": 2,
    "internal user tokens": 2,
}


class DynamoDBMeter:
    """Counts DynamoDB requests, their time and consumed capacity, through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.requests = 0
        self.capacity = 0.0
        self.read_units = 0.0
        self.seconds = 0.0
        self._started = 0.0
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._ask_for_capacity)
        events.register("before-call.dynamodb.*", self._before)
        events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.requests, self.capacity, self.read_units, self.seconds = 0, 0.0, 0.0, 0.0

    def _ask_for_capacity(self, params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _before(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started
        self.requests += 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            units = float(entry.get("CapacityUnits", 0))
            self.capacity += units
            # Priced apart (on-demand read units cost a fifth of write units).
            if model.name in _READS:
                self.read_units += units


_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


# Events on one device (`<collection>/{id}`) get a device of their own before each run, created by the
# collection's POST in this process (untimed); a body that names a token gets one never registered. Without
# this, every run after the first answered 404 or 409: an error path, not the route's work. Both come from
# the catalog: the routes on one item and their collection's POST, and the token field of the APIs that
# have such collections (accounts, pigeons). The upserts (camera, user-push-tokens) keep their event's
# token: a repeated one is their refresh, the route's own work.
_CREATED_BY = {f.folder: c.folder for f in catalog.FUNCTIONS if (c := catalog.creator_of(f)) is not None}
_TOKEN_FIELD = {
    function.folder: api.push_field
    for api in catalog.CLIENT_APIS
    if api.push_field is not None and any(catalog.creator_of(f) for f in api.functions)
    for function in api.functions
    if function.method in ("POST", "PATCH")
}


class _Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    if name in _TOKEN_FIELD:
        body = json.loads(event["body"])
        body[_TOKEN_FIELD[name]] = f"bench-cold-{uuid.uuid4().hex}"
        event["body"] = json.dumps(body)
    event.setdefault("requestContext", {}).setdefault("identity", {})["sourceIp"] = (
        f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    )
    return event


def first_event(name: str) -> dict[str, Any]:
    """The function's event as a cold start serves it, with the device it names created first."""
    event = _event(name)
    if name in _CREATED_BY:
        creator = _CREATED_BY[name]
        post = _event(creator)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # its EMF metrics
            response = load_function(ROOT / "functions" / creator).handler(post, _Context())
        created = sam_local.created_id(post, response)
        if created is None:
            raise RuntimeError(f"{creator} created no device for {name}: {response}")
        event = sam_local.with_created_ids(event, {str(post["resource"]): created})
    return event


@dataclass(frozen=True)
class ColdStart:
    """One function's cold starts: median milliseconds, and median ratios to the floor of the same round."""

    function: str
    floor_ms: float
    plain_ms: float
    shipped_ms: float
    plain_ratio: float
    shipped_ratio: float


def cold_starts(env: dict[str, str], plan: Plan, progress: Phases) -> tuple[float, list[ColdStart]]:
    """Each function as a plain build would ship it and as the project ships it, with the boto3 floor
    measured between them: (all floors' median, one ColdStart per function).

    Each round runs the floor, the plain build and the shipped build back to back, and a ratio is taken
    within the round: this VM's speed drifts by ±20% over a run (the floor's median moved from 298 to
    430 ms between rows of one run), and a slow stretch then slows a function and its floor alike. The
    median of the rounds' ratios is what compares, not the absolute times."""
    rows = []
    layer = shipped.layer_twin()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        runtime = shipped.runtime_folder(root / "runtime")
        layers = {
            "plain": shipped.as_lambda_loads_it(
                shipped.without_bytecode(layer, root / "plain-layer"), root / "opt-plain"
            ),
            "shipped": shipped.as_lambda_loads_it(layer, root / "opt-shipped"),
        }
        shipped_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
        floors: list[float] = []
        events = [path for path in sorted((ROOT / "events").glob("*.json")) if path.stem != "env"]
        progress.phase("cold starts", len(events) * (plan.cold_runs + 1))
        try:
            for events_file in events:
                built = shipped.function_build(events_file.stem, root / "built")
                tasks = {
                    "plain": shipped.as_lambda_loads_it(
                        shipped.without_bytecode(built, root / "plain" / built.name),
                        root / "task-plain" / built.name,
                    ),
                    "shipped": shipped.as_lambda_loads_it(built, root / "task-shipped" / built.name),
                }
                times: dict[str, list[float]] = {"floor": [], "plain": [], "shipped": []}
                # One untimed round first: the artifact's files are then in the page cache, as the
                # floor's are, and DynamoDB Local has served this event's requests once.
                for run in range(plan.cold_runs + 1):
                    timed = run > 0
                    what = f"round {run}/{plan.cold_runs}" if timed else "untimed round"
                    progress.step(f"{events_file.stem} {what}")
                    floor_ms = _fresh_process([BOTO3_BASELINE, str(runtime)], shipped_env, isolated=True)
                    if timed:
                        times["floor"].append(floor_ms)
                    for variant in ("plain", "shipped"):
                        path = ":".join([str(tasks[variant]), str(layers[variant] / "python"), str(runtime)])
                        event_path = root / f"{uuid.uuid4().hex}.json"
                        event_path.write_text(json.dumps(first_event(events_file.stem)))
                        ms = _fresh_process(
                            [COLD_SCRIPT, path, str(event_path)], shipped_env, tasks[variant], isolated=True
                        )
                        if timed:
                            times[variant].append(ms)
                floors.extend(times["floor"])
                medians = {name: statistics.median(values) for name, values in times.items()}

                def ratio(variant: str, times: dict[str, list[float]] = times) -> float:
                    return statistics.median(
                        ms / floor for ms, floor in zip(times[variant], times["floor"], strict=True)
                    )

                rows.append(
                    ColdStart(
                        events_file.stem,
                        medians["floor"],
                        medians["plain"],
                        medians["shipped"],
                        ratio("plain"),
                        ratio("shipped"),
                    )
                )
        finally:
            shipped.make_writable(root)
    return statistics.median(floors), rows


def _fresh_process(
    args: list[str], env: dict[str, str], cwd: Path | None = None, isolated: bool = False
) -> float:
    # -S: no site-packages, so only what the arguments put on sys.path can be imported.
    command = [sys.executable, *(["-S"] if isolated else []), "-c", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not result.get("served", True):
        raise RuntimeError(f"the event was not served: {str(result['result'])[:500]}")
    return float(result["ms"])


def warm(database: DynamoDBLocal, plan: Plan, progress: Phases) -> tuple[Warm, list[Any]]:
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

    register = load_function(ROOT / "functions" / "accounts_register_device").handler

    def accounts_post(account: str) -> dict[str, Any]:
        return event(
            "accounts_register_device",
            headers={"Authorization": f"Bearer {make_token(account, ttl=3600)}"},
            pathParameters={"accountId": account},
            body=json.dumps({"device_token": f"bench-{uuid.uuid4().hex}", "platform": "android"}),
        )

    cap = _adapter(runtime).max_devices_per_user
    roomy = _Roomy(cap, lambda account: register(accounts_post(account), Context()))
    # An account at the cap: every POST evicts its least recently used registration.
    full = f"bench-full-{uuid.uuid4().hex[:6]}"
    for _ in range(cap):
        register(accounts_post(full), Context())

    scenarios: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
        "accounts POST (first registration)": (
            "accounts_register_device",
            lambda: accounts_post(roomy.account()),
        ),
        "accounts POST (evicting)": ("accounts_register_device", lambda: accounts_post(full)),
        "accounts POST (new user)": (
            "accounts_register_device",
            lambda: accounts_post(f"bench-new-{uuid.uuid4().hex[:12]}"),
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
                headers={"Authorization": f"Bearer {make_token(roomy.account(), ttl=3600)}"},
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
    progress.phase("warm latency", len(scenarios) * plan.warm_requests)
    for label, (function, make_event) in scenarios.items():
        handler = load_function(ROOT / "functions" / function).handler
        handler(make_event(), Context())  # warm-up
        latencies, outside = [], []
        requests = capacity = read_units = 0.0
        for request in range(plan.warm_requests):
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
            read_units += meter.read_units
            progress.step(f"{label} request {request + 1}/{plan.warm_requests}")
        cuts = statistics.quantiles(latencies, n=100)
        rows.append(
            (
                label,
                cuts[49],
                cuts[98],
                statistics.median(outside),
                requests / plan.warm_requests,
                capacity / plan.warm_requests,
                prices.per_million_requests(
                    requests / plan.warm_requests,
                    read_units / plan.warm_requests,
                    (capacity - read_units) / plan.warm_requests,
                ),
            )
        )
    # Accounts of 1,000 registrations exist only without a cap (or from before one): measured without.
    _adapter(runtime).max_devices_per_user = 0
    return rows, bench_account_size.measure(meter, plan.size_repeats, progress)


def _adapter(runtime: Any) -> RegistrationStore:
    """The registry's store as the runtime wires it: the DynamoDB adapter, whose cap the bench sets
    (the registry sees only its port, `RegistrationStorage`)."""
    from push_registry.storage import RegistrationStore  # noqa: PLC0415 - on sys.path only now

    store = runtime.registry()._store
    assert isinstance(store, RegistrationStore)
    return store


class _Roomy:
    """Accounts with room under the cap, so that a first registration measures no eviction: each
    account's first registration (which seeds its roster) is made here, before the meter starts, and
    each takes `cap - 1` more before the next account is used. Without a cap, one account serves all."""

    def __init__(self, cap: int, register: Callable[[str], Any]) -> None:
        self._room, self._register = cap - 1, register
        self._left, self._name = 0, ""

    def account(self) -> str:
        if self._left == 0 or not self._name:
            self._name = f"bench-roomy-{uuid.uuid4().hex[:8]}"
            self._register(self._name)  # seeds the roster: before the meter's reset, not counted
            self._left = self._room if self._room > 0 else -1
        self._left -= 1
        return self._name


def layer_size() -> str:
    """The deployed layer (`sam build`'s, for the template's architecture): zipped as uploaded, unzipped."""
    build = ROOT / ".aws-sam" / "build" / "RegistryLayer"
    if not build.exists():
        return "n/a (run `make build`)"
    mib = 1024 * 1024
    return (
        f"{shipped.zipped_size(build) / mib:.1f} MiB zipped (as `sam deploy` uploads it),"
        f" {shipped.unpacked_size(build) / mib:.1f} MiB unzipped"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a first look: {QUICK.cold_runs} cold rounds, {QUICK.warm_requests} warm requests"
        f" (default {FULL.cold_runs} and {FULL.warm_requests})",
    )
    plan = QUICK if parser.parse_args(argv).quick else FULL
    # Progress on stderr, the tables on stdout: a bar on a terminal, plain lines in a log.
    progress = phases_for_stream("bench", PHASES, sys.stderr)
    if plan.quick:
        print(_quick_notice(plan), file=sys.stderr, flush=True)
    try:
        measured = _measure(plan, progress)
    finally:
        progress.stop()
    _report(plan, measured)


def _quick_notice(plan: Plan) -> str:
    return (
        f"Quick mode (make bench QUICK=1): {plan.cold_runs} cold-start rounds, {plan.warm_requests} warm"
        f" requests, {plan.size_repeats} account-size requests (default {FULL.cold_runs},"
        f" {FULL.warm_requests}, {FULL.size_repeats}): a first look, not figures to publish"
    )


@dataclass(frozen=True)
class Measured:
    fastapi_ms: float
    warms: Warm
    by_size: list[Any]
    boto3_ms: float
    colds: list[ColdStart]


def _measure(plan: Plan, progress: Phases) -> Measured:
    os.environ.setdefault("JWT_SECRET", "local-development-secret-change-me-0123456789")
    # One pigeons user sends ~100 requests in two minutes here, over the seed's 60 a minute. The limiter
    # still counts each one (the same DynamoDB write); it just never refuses, so every run is served.
    os.environ["PIGEONS_REQUESTS_PER_MINUTE"] = "1000000"
    with DynamoDBLocal() as database:
        client = database.client()
        create_table(client, TABLE, load_template())
        configure_environment(TABLE, database.endpoint_url)
        env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as ping:
            event = json.loads((ROOT / "events" / "accounts_list_devices.json").read_text())
            event.update(path="/ping", resource="/ping", httpMethod="GET")
            json.dump(event, ping)
        progress.phase("FastAPI baseline", plan.cold_runs)
        fastapi_runs = []
        for run in range(plan.cold_runs):
            progress.step(f"FastAPI + Mangum round {run + 1}/{plan.cold_runs}")
            fastapi_runs.append(_fresh_process([FASTAPI_BASELINE, ping.name], env))
        fastapi_ms = statistics.median(fastapi_runs)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        # Warm first: DynamoDB Local is a JVM that answers its first thousands of requests 5-10x slower
        # than later ones (JIT). Measured the other way round, the cold starts were charged for the
        # emulator's warm-up (~40 ms a request), which DynamoDB itself never has.
        # Handlers print their EMF metrics as in Lambda (part of the cost); the terminal is spared.
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            warms, by_size = warm(database, plan, progress)
        boto3_ms, colds = cold_starts(env, plan, progress)
    return Measured(fastapi_ms, warms, by_size, boto3_ms, colds)


def _report(plan: Plan, measured: Measured) -> None:
    fastapi_ms, boto3_ms, colds = measured.fastapi_ms, measured.boto3_ms, measured.colds
    if plan.quick:
        print(f"\n{_quick_notice(plan)}")
    print(
        f"\nCold start: {plan.cold_runs} rounds of fresh Python {sys.version.split()[0]} processes"
        " (import the handler, serve the first event), on the code as Lambda loads it: zipped by SAM,"
        " unpacked read-only with the zip's dates, no bytecode written;"
        f" layer built for {shipped.host_architecture()}; ms are medians, each x floor is the median of"
        " the rounds' ratios to the floor run in the same round"
    )
    print(
        f"  floor `import boto3; boto3.client('dynamodb')` (runtime's boto3): {boto3_ms:7.1f} ms"
        " (median of every round)"
    )
    print(f"  baseline FastAPI + Mangum, one route, boto3 client (dev venv): {fastapi_ms:7.1f} ms")
    print(
        f"  {'function':32} {'floor ms':>9} {'plain build ms':>15} {'x floor':>8} {'shipped ms':>11}"
        f" {'x floor':>8} {'x fastapi':>10}"
    )
    for row in colds:
        print(
            f"  {row.function:32} {row.floor_ms:9.1f} {row.plain_ms:15.1f} {row.plain_ratio:8.2f}"
            f" {row.shipped_ms:11.1f} {row.shipped_ratio:8.2f} {row.shipped_ms / fastapi_ms:10.2f}"
        )
    print(f"\nWarm, in-process against DynamoDB Local, {plan.warm_requests} requests each")
    print(
        f"  {'endpoint':36} {'p50 ms':>7} {'p99 ms':>7} {'outside DDB p50':>16}"
        f" {'DDB req':>8} {'min':>4} {'capacity':>9} {'$ per 1M':>9}"
    )
    for label, p50, p99, outside, requests, capacity, cost in measured.warms:
        print(
            f"  {label:36} {p50:7.2f} {p99:7.2f} {outside:16.2f}"
            f" {requests:8.2f} {MINIMUM[label]:4d} {capacity:9.2f} {cost:9.2f}"
        )
    print(
        f"  $ per 1M: DynamoDB on-demand units + Lambda 512 MB arm64 + API Gateway REST, us-east-1 list"
        f" prices of {prices.PRICES_AS_OF} (local/prices.py); Lambda time assumed"
        f" {prices.ASSUMED_MS_BASE:.0f} ms"
        f" + {prices.ASSUMED_MS_PER_DYNAMODB_REQUEST:.0f} ms per DynamoDB request"
    )
    bench_account_size.report(measured.by_size, plan.size_repeats)
    print(f"\nBuilt layer: {layer_size()}")


if __name__ == "__main__":
    main()
