"""DynamoDB faults at the network boundary of the real handlers, per API dialect, on DynamoDB Local.

The handlers are the real `functions/*/app.py` modules fed `events/*.json` (adapted to fresh users,
tokens and source IPs), as `sam local invoke` feeds them. Every one of them reaches DynamoDB through
the one botocore client `runtime._client()` builds and caches: the registry, the pre-signup store and
the rate limiters all hold it. The faults are put on that client through botocore's documented event
system (https://docs.aws.amazon.com/botocore/latest/topics/events.html); nothing in the layer or
the handlers is replaced:

- `before-call.dynamodb` marks each DynamoDB call the layer makes (once per call, before retries);
- `before-send.dynamodb` sees every HTTP attempt of a call, after serialising and signing; returning
  an `AWSResponse` answers the attempt instead of the network. The faults answer as DynamoDB does
  (its JSON 1.0 error bodies: throttling, 500, `TransactionCanceledException`), raise the timeout
  botocore's HTTP layer would raise, or deliver the real request and lose its answer;
- `after-call.dynamodb` reads the retry metadata botocore returns with the error (`RetryAttempts`,
  `MaxAttemptsReached`, `RetryQuotaReached`).

botocore's own retries run for real, with `runtime._CLIENT_CONFIG`: standard mode, 3 attempts per call
(`total_max_attempts`). Their backoff
(`t_i = rand(0, 1) * min(scale * 2**i, 20 s)`, scale 1 s for throttling and 25 ms otherwise for
DynamoDB) is the one thing not slept through: `botocore.endpoint` uses its `time` module only for that
sleep, and the `wire` fixture swaps it for a recorder, so that a hundred throttled requests do not cost
minutes. Time is then accounted rather than waited: what the request really took, plus the backoff
botocore asked for, plus the time a real network would have spent on each timeout (`connect_timeout`,
`read_timeout`). One test sleeps the backoff for real and checks that account against the wall clock.
The handlers get a Lambda context whose remaining time runs on that same account, so the layer's time
budget (`time_budget`: no DynamoDB call started that could outlive the function's timeout) sees the
time the request would really have spent.

botocore's retry quota (a token bucket per client, 500 units, 5 per throttled retry and 14 per other
retry, 1 back per call that succeeds at once) is real too: a long outage spends it, and then calls fail
at their first attempt (`test_a_long_outage_spends_the_retry_quota_then_fails_fast`). So that every test
starts as a fresh execution environment would, whatever ran before it, the fixture gives back what a test
spent the way botocore does: with calls that succeed at once (answered at the wire, never sent).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

from local.events import LambdaContext
from local.template import load_template
from push_registry import catalog, runtime
from tests.api.invariants import scan

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
CONFIG = runtime._CLIENT_CONFIG
ATTEMPTS = CONFIG.retries.get("total_max_attempts") or CONFIG.retries["max_attempts"] + 1
FUNCTION_TIMEOUT = float(load_template()["Globals"]["Function"]["Timeout"])
API_GATEWAY_TIMEOUT = 29.0
LAYER_CONFLICT_ATTEMPTS = 6  # storage.table.transact: a transaction cancelled by a TransactionConflict
RETRY_COST = 14  # botocore standard mode: the retry quota units a retry takes, at most
Q, T, G, U, B = "Query", "TransactWriteItems", "GetItem", "UpdateItem", "BatchGetItem"
Item = dict[str, Any]


# ---------------------------------------------------------------------- faults at the wire


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass(frozen=True)
class Fault:
    """What DynamoDB (or the network) does to one HTTP attempt."""

    name: str
    status: int = 0  # an HTTP answer with DynamoDB's error body, or 0 for a raised timeout
    error_type: str = ""
    message: str = ""
    timeout: Callable[..., Exception] | None = None  # raised instead of an answer
    wait: float = 0.0  # what a real network spends before the timeout is raised
    throttling: bool = False  # botocore backs off from 1 s instead of 25 ms
    only: str | None = None  # the only operation that can answer so
    delivers: bool = False  # the request reaches DynamoDB, only its answer is lost

    def strike(self, request: AWSPreparedRequest, network: URLLib3Session) -> AWSResponse:
        if self.delivers:
            network.send(request)
        if self.timeout is not None:
            raise self.timeout(endpoint_url=request.url, error=self.name)
        body: Item = {"__type": self.error_type, "message": self.message}
        if self.error_type.endswith("#TransactionCanceledException"):
            parts = len(json.loads(request.body)["TransactItems"])
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            body["CancellationReasons"] = reasons + [{"Code": "None"}] * (parts - 1)
        headers = {"x-amzn-RequestId": uuid.uuid4().hex, "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, self.status, headers, _Body(json.dumps(body).encode()))


DDB = "com.amazonaws.dynamodb.v20120810#"
PROVISIONED = Fault(
    "ProvisionedThroughputExceeded",
    400,
    DDB + "ProvisionedThroughputExceededException",
    "The level of configured provisioned throughput for the table was exceeded.",
    throttling=True,
)
THROTTLING = Fault(
    "Throttling",
    400,
    "com.amazon.coral.availability#ThrottlingException",
    "Rate of requests exceeds the allowed throughput.",
    throttling=True,
)
SERVER_ERROR = Fault("InternalServerError", 500, DDB + "InternalServerError", "Internal server error")
CONFLICT = Fault(
    "TransactionConflict",
    400,
    DDB + "TransactionCanceledException",
    "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
    only=T,
)
READ_TIMEOUT = Fault("ReadTimeout", timeout=ReadTimeoutError, wait=float(CONFIG.read_timeout))
CONNECT_TIMEOUT = Fault("ConnectTimeout", timeout=ConnectTimeoutError, wait=float(CONFIG.connect_timeout))
LOST_ANSWER = Fault("LostAnswer", timeout=ReadTimeoutError, wait=float(CONFIG.read_timeout), delivers=True)
RETRIED_BY_BOTOCORE = [PROVISIONED, THROTTLING, SERVER_ERROR, READ_TIMEOUT, CONNECT_TIMEOUT]
FAULTS = [*RETRIED_BY_BOTOCORE, CONFLICT]


@dataclass(frozen=True)
class Rule:
    """Which attempts a fault answers: calls `first`..`last` (by position), their first `attempts`."""

    fault: Fault
    first: int = 0
    last: int | None = None
    attempts: int | None = None

    def strikes(self, index: int, call: Call) -> bool:
        return (
            self.first <= index
            and (self.last is None or index <= self.last)
            and (self.fault.only is None or call.operation == self.fault.only)
            and (self.attempts is None or call.attempts <= self.attempts)
        )


@dataclass
class Call:
    """One DynamoDB call of the layer and what happened to its attempts."""

    operation: str
    started: float = 0.0  # on the request's clock (Wire.now)
    attempts: int = 0
    struck: int = 0
    waited: float = 0.0  # network time the struck attempts stand for
    backoff: list[float] = field(default_factory=list)  # what botocore asked to sleep before retrying
    metadata: dict[str, Any] = field(default_factory=dict)
    throttled: bool = False

    def worst_case(self) -> float:
        """Network waits plus the largest backoff botocore's jitter could have drawn for these retries."""
        scale = 1.0 if self.throttled else 0.025
        caps = [min(scale * 2.0**retry, 20.0) for retry in range(self.attempts - 1)]
        assert all(slept <= cap for slept, cap in zip(self.backoff, caps, strict=True))
        return self.waited + sum(caps)


class Wire:
    """The runtime client's network boundary: records every call and attempt, strikes by the rule."""

    _EVENTS = ("before-call.dynamodb", "before-send.dynamodb", "after-call.dynamodb")

    def __init__(self, client: Any, real_sleep: Callable[[float], None]) -> None:
        self.client = client
        self.calls: list[Call] = []
        self.rule: Rule | None = None
        self.real_backoff = False
        self.retries = 0  # in the whole test, for the quota given back at the end
        self._real_sleep = real_sleep
        self._network = URLLib3Session()
        self._refilling = False
        self._request_started = time.monotonic()
        self._request_first_call = 0  # calls before it belong to earlier requests

    def install(self) -> None:
        hooks: list[Callable[..., Any]] = [self._call, self._send, self._answer]
        for event, hook in zip(self._EVENTS, hooks, strict=True):
            self.client.meta.events.register(event, hook, unique_id=f"faults-per-dialect:{event}")

    def remove(self) -> None:
        for event in self._EVENTS:
            self.client.meta.events.unregister(event, unique_id=f"faults-per-dialect:{event}")
        self._network.close()

    def refill_retry_quota(self) -> None:
        """One unit back per call that succeeds at its first attempt, as botocore gives them back."""
        self.rule, self._refilling = None, True
        try:
            for _ in range(self.retries * RETRY_COST):
                self.client.describe_limits()
        finally:
            self._refilling, self.retries = False, 0

    def arm(self, rule: Rule) -> None:
        self.rule, self.calls, self._request_first_call = rule, [], 0

    def heal(self) -> None:
        self.rule, self.calls, self._request_first_call = None, [], 0

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def struck(self) -> list[Call]:
        return [call for call in self.calls if call.struck]

    def accounted(self, answer: Answer) -> float:
        """The request's duration had every timeout waited and every backoff slept as drawn."""
        slept = sum(sum(call.backoff) for call in self.calls)
        return answer.elapsed + (0 if self.real_backoff else slept) + sum(c.waited for c in self.calls)

    def worst_case(self) -> float:
        """When the request's calls could have ended, had each one's attempts all waited their timeouts and
        its backoffs drawn their maximum (each started when it really did, on the request's clock)."""
        request = self.calls[self._request_first_call :]
        return max((call.started + call.worst_case() for call in request), default=0.0)

    def now(self) -> float:
        """Seconds since the request started, as Lambda counts them: the backoff botocore asked for and
        the timeouts struck attempts stand for are counted as if they had been waited."""
        request = self.calls[self._request_first_call :]
        slept = 0.0 if self.real_backoff else sum(sum(call.backoff) for call in request)
        return time.monotonic() - self._request_started + slept + sum(c.waited for c in request)

    def context(self, function: str) -> LambdaContext:
        """The invocation's Lambda context, its remaining time read off the request's clock."""
        self._request_first_call, self._request_started = len(self.calls), time.monotonic()
        return ClockedContext(function, lambda: FUNCTION_TIMEOUT - self.now())

    def sleep(self, seconds: float) -> None:  # stands in for time.sleep inside botocore.endpoint
        self.retries += 1
        self.calls[-1].backoff.append(seconds)
        if self.real_backoff:
            self._real_sleep(seconds)

    def _call(self, model: Any, **_: Any) -> None:
        if not self._refilling:
            self.calls.append(Call(model.name, started=self.now()))

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        if self._refilling:
            return AWSResponse(request.url, 200, {"x-amzn-RequestId": "refill"}, _Body(b"{}"))
        call = self.calls[-1]
        call.attempts += 1
        if self.rule is None or not self.rule.strikes(len(self.calls) - 1, call):
            return None
        call.struck += 1
        call.waited += self.rule.fault.wait
        call.throttled = call.throttled or self.rule.fault.throttling
        return self.rule.fault.strike(request, self._network)

    def _answer(self, parsed: Item, **_: Any) -> None:
        if not self._refilling:
            self.calls[-1].metadata = dict(parsed.get("ResponseMetadata", {}))


class ClockedContext(LambdaContext):
    """A Lambda context whose remaining time is `timeout - now()` on the given clock."""

    def __init__(self, function: str, seconds_left: Callable[[], float]) -> None:
        super().__init__(function)
        self._seconds_left = seconds_left

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._seconds_left() * 1000))


@pytest.fixture
def wire(
    load_handler: Callable[[str], ModuleType], world: World, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Wire]:
    load_handler("accounts_register_device")  # the environment is set before runtime builds its client
    wire = Wire(runtime._client(), time.sleep)
    monkeypatch.setattr(botocore.endpoint, "time", wire)  # its only use there: the retry backoff sleep
    world.context = wire.context  # the layer's time budget reads the same clock as the accounting
    wire.install()
    try:
        yield wire
    finally:
        try:
            wire.refill_retry_quota()
        finally:
            wire.remove()


# ---------------------------------------------------------------------- the handlers and the table


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str
    elapsed: float

    @property
    def body(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass(frozen=True)
class Scenario:
    """One request, and what it leaves when it goes through (`settled`), whatever faults came first."""

    function: str
    event: dict[str, Any]
    answered: Callable[[Answer], None]  # the answer when the request takes effect now
    settled: Callable[[], None]
    replayed: Callable[[Answer], None] | None = None  # the answer when it had already taken effect
    tokens: tuple[str, ...] = ()  # account tokens whose guard and registrations must always agree
    owners: tuple[str, ...] = ()


class World:
    """Fresh users, tokens and events; the handlers; the table read with a client of its own."""

    def __init__(
        self, db: Any, load_handler: Callable[[str], ModuleType], make_token: Callable[..., str]
    ) -> None:
        self._db = db
        self._load = load_handler
        self._make_token = make_token
        self.context: Callable[[str], LambdaContext] = LambdaContext

    @staticmethod
    def name(kind: str) -> str:
        return f"fault-{kind}-{uuid.uuid4().hex[:12]}"

    @staticmethod
    def phone() -> str:
        return "+9198" + "".join(random.choices("0123456789", k=8))

    def event(
        self,
        function: str,
        user: str | None = None,
        body: Item | None = None,
        path: dict[str, str] | None = None,
        backoffice: bool = False,
    ) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((EVENTS / f"{function}.json").read_text())
        if user is not None:
            claims = {"abilities": ["backoffice"]} if backoffice else {}
            bearer = f"Bearer {self._make_token(user, **claims)}"
            loaded["headers"]["Authorization"] = bearer
            loaded["multiValueHeaders"]["Authorization"] = [bearer]
        if body is not None:
            loaded["body"] = json.dumps({**json.loads(loaded["body"]), **body})
        if path is not None:
            loaded["pathParameters"] = {**loaded["pathParameters"], **path}
        # Each event its own source IP: the pre-signup route counts requests per IP.
        loaded["requestContext"]["identity"]["sourceIp"] = (
            f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.7"
        )
        loaded["requestContext"]["requestId"] = str(uuid.uuid4())
        return loaded

    def send(self, function: str, event: dict[str, Any]) -> Answer:
        started = time.monotonic()
        context = self.context(function)
        result = self._load(function).handler(json.loads(json.dumps(event)), context)
        elapsed = time.monotonic() - started
        return Answer(result["statusCode"], dict(result.get("headers") or {}), result["body"], elapsed)

    def seed(self, function: str, event: dict[str, Any]) -> Any:
        answer = self.send(function, event)
        assert answer.status in (200, 201), answer.text
        return answer.body

    def dump(self) -> dict[tuple[str, str], Item]:
        """Every item but the rate counters (and items expiring now, which TTL may delete meanwhile)."""
        horizon = time.time() + 60
        return {
            (item["pk"]["S"], item["sk"]["S"]): item
            for item in scan(self._db.client, self._db.table_name)
            if not item["pk"]["S"].startswith("RATE#") and int(item["expires_at"]["N"]) > horizon
        }

    def _query(self, pk: str, prefix: str) -> list[Item]:
        items: list[Item] = self._db.client.query(
            TableName=self._db.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        )["Items"]
        return items

    def _guard(self, pk: str) -> Item | None:
        key = {"pk": {"S": pk}, "sk": {"S": "GUARD"}}
        item = self._db.client.get_item(TableName=self._db.table_name, Key=key, ConsistentRead=True)
        found: Item | None = item.get("Item")
        return found if found and int(found["expires_at"]["N"]) > time.time() else None

    def live(self, owner: str) -> dict[str, str]:
        """The owner's live registrations: token -> registration id."""
        return {
            item["token"]["S"]: item["id"]["S"]
            for item in self._query(f"OWNER#{owner}", "TOKEN#")
            if item["active"]["BOOL"] and int(item["expires_at"]["N"]) > time.time()
        }

    def holder(self, token: str) -> tuple[str, str] | None:
        guard = self._guard(f"TOKEN#{digest(token)}")
        return (guard["owner"]["S"], guard["device_id"]["S"]) if guard else None

    def presignup(self, phone: str) -> dict[str, str]:
        """The phone's live pre-signup records: token -> record id."""
        records = self._query(f"PHONE#{phone}", "PRESIGNUP#")
        return {r["token"]["S"]: r["id"]["S"] for r in records if int(r["expires_at"]["N"]) > time.time()}

    def presignup_holder(self, token: str) -> str | None:
        guard = self._guard(f"PRESIGNUP_TOKEN#{digest(token)}")
        return guard["record_id"]["S"] if guard else None

    def coherent(self, scenario: Scenario) -> None:
        """Each token is held by a guard exactly when one live registration has it, the guard's."""
        for token in scenario.tokens:
            holding = [
                (owner, self.live(owner)[token]) for owner in scenario.owners if token in self.live(owner)
            ]
            holder = self.holder(token)
            assert holding == ([holder] if holder else []), (token, holding, holder)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@pytest.fixture
def world(ddb_local: Any, load_handler: Callable[[str], ModuleType], make_token: Callable[..., str]) -> World:
    return World(ddb_local, load_handler, make_token)


# ---------------------------------------------------------------------- one scenario per route


def accounts_register(w: World) -> Scenario:
    user, token = w.name("user"), w.name("token")
    event = w.event("accounts_register_device", user, {"device_token": token}, {"accountId": user})

    def answered(a: Answer) -> None:
        assert (a.status, a.body["device_token"], a.body["id"]) == (201, token, w.live(user)[token])

    def replayed(a: Answer) -> None:
        assert (a.status, a.body["code"], a.body["device_id"]) == (
            409,
            "DEVICE_TOKEN_ERR_04",
            w.live(user)[token],
        )

    def settled() -> None:
        live = w.live(user)
        assert list(live) == [token]
        assert w.holder(token) == (user, live[token])

    return Scenario("accounts_register_device", event, answered, settled, replayed, (token,), (user,))


def _accounts_device(w: World) -> tuple[str, str, str]:
    user, token = w.name("user"), w.name("token")
    body = w.seed(
        "accounts_register_device",
        w.event("accounts_register_device", user, {"device_token": token}, {"accountId": user}),
    )
    return user, token, body["id"]


def accounts_list(w: World) -> Scenario:
    user, token, device = _accounts_device(w)
    event = w.event("accounts_list_devices", user, path={"accountId": user})

    def answered(a: Answer) -> None:
        assert (a.status, [d["id"] for d in a.body["devices"]]) == (200, [device])

    def settled() -> None:
        assert (w.live(user), w.holder(token)) == ({token: device}, (user, device))

    return Scenario("accounts_list_devices", event, answered, settled, None, (token,), (user,))


def accounts_update(w: World) -> Scenario:
    user, old, device = _accounts_device(w)
    new = w.name("token")
    path = {"accountId": user, "deviceId": device}
    event = w.event("accounts_update_device", user, {"device_token": new}, path)

    def answered(a: Answer) -> None:
        assert (a.status, a.body["id"]) == (200, device)
        assert a.body["device_info"] == json.loads(event["body"])["device_info"]

    def settled() -> None:
        assert (w.live(user), w.holder(new), w.holder(old)) == ({new: device}, (user, device), None)

    return Scenario("accounts_update_device", event, answered, settled, None, (old, new), (user,))


def accounts_heartbeat(w: World) -> Scenario:
    user, token, device = _accounts_device(w)
    event = w.event("accounts_update_device", user, path={"accountId": user, "deviceId": device})
    event["body"] = "{}"  # an empty PATCH: the heartbeat

    def answered(a: Answer) -> None:
        assert (a.status, a.body["id"], a.body["platform"]) == (200, device, "android")

    def settled() -> None:
        assert (w.live(user), w.holder(token)) == ({token: device}, (user, device))

    return Scenario("accounts_update_device", event, answered, settled, None, (token,), (user,))


def accounts_deactivate(w: World) -> Scenario:
    user, token, device = _accounts_device(w)
    event = w.event("accounts_deactivate_device", user, path={"accountId": user, "deviceId": device})

    def answered(a: Answer) -> None:
        assert (a.status, a.text) == (204, "")

    def replayed(a: Answer) -> None:
        assert (a.status, a.body["code"]) == (404, "DEVICE_TOKEN_ERR_01")

    def settled() -> None:
        assert (w.live(user), w.holder(token)) == ({}, None)

    return Scenario("accounts_deactivate_device", event, answered, settled, replayed, (token,), (user,))


def _moved(w: World, user: str, other: str, token: str) -> Callable[[], None]:
    def settled() -> None:
        assert (list(w.live(user)), w.live(other)) == ([token], {})
        assert w.holder(token) == (user, w.live(user)[token])

    return settled


def camera(w: World) -> Scenario:
    """The token is another user's: read mine, create (cancelled), read the holder, take over."""
    user, other, token = w.name("user"), w.name("other"), w.name("token")
    w.seed("camera_set_user_token", w.event("camera_set_user_token", other, {"msgToken": token}))
    event = w.event("camera_set_user_token", user, {"msgToken": token})

    def answered(a: Answer) -> None:
        assert (a.status, a.body) == (200, {"result": 0, "msg": "Success"})

    return Scenario(
        "camera_set_user_token", event, answered, _moved(w, user, other, token), None, (token,), (user, other)
    )


def user_push_tokens(w: World) -> Scenario:
    """The token is another user's: read mine, create (cancelled), read the holder, take over."""
    user, other, token = w.name("user"), w.name("other"), w.name("token")
    w.seed("user_push_tokens_register", w.event("user_push_tokens_register", other, {"push_token": token}))
    event = w.event("user_push_tokens_register", user, {"push_token": token})

    def answered(a: Answer) -> None:
        assert (a.status, a.body["userid"], a.body["push_token"]) == (200, user, token)
        assert a.body["id"] == w.live(user)[token]

    settled = _moved(w, user, other, token)
    return Scenario("user_push_tokens_register", event, answered, settled, None, (token,), (user, other))


def pigeons_register(w: World) -> Scenario:
    """The token is another user's: count the request, create (cancelled), read the holder, take over."""
    user, other, token = w.name("user"), w.name("other"), w.name("token")
    w.seed(
        "pigeons_register_device",
        w.event("pigeons_register_device", other, {"token": token}, backoffice=True),
    )
    event = w.event("pigeons_register_device", user, {"token": token}, backoffice=True)

    def answered(a: Answer) -> None:
        assert (a.status, a.body["message"], a.body["data"]["token"]) == (
            201,
            "Device token registered",
            token,
        )
        assert a.body["data"]["id"] == w.live(user)[token]

    settled = _moved(w, user, other, token)
    return Scenario("pigeons_register_device", event, answered, settled, None, (token,), (user, other))


def pigeons_delete(w: World) -> Scenario:
    user, token = w.name("user"), w.name("token")
    created = w.seed(
        "pigeons_register_device", w.event("pigeons_register_device", user, {"token": token}, backoffice=True)
    )
    event = w.event("pigeons_delete_device", user, path={"id": created["data"]["id"]}, backoffice=True)

    def answered(a: Answer) -> None:
        assert (a.status, a.text) == (204, "")

    def replayed(a: Answer) -> None:
        assert a.status == 404

    def settled() -> None:
        assert (w.live(user), w.holder(token)) == ({}, None)

    return Scenario("pigeons_delete_device", event, answered, settled, replayed, (token,), (user,))


def presignup(w: World) -> Scenario:
    """The device's token rotates: count the IP, read the guards, read the record, write it."""
    phone, device, old, new = w.phone(), w.name("device"), w.name("token"), w.name("token")
    fields = {"phone": phone, "deviceId": device}
    record = w.seed(
        "presignup_register_token", w.event("presignup_register_token", body={**fields, "fcmToken": old})
    )
    event = w.event("presignup_register_token", body={**fields, "fcmToken": new})

    def answered(a: Answer) -> None:
        assert (a.status, a.body) == (201, {"status": "ok", "id": record["id"]})

    def settled() -> None:
        assert w.presignup(phone) == {new: record["id"]}
        assert (w.presignup_holder(new), w.presignup_holder(old)) == (record["id"], None)

    return Scenario("presignup_register_token", event, answered, settled)


def internal_user_tokens(w: World) -> Scenario:
    user, token, device = _accounts_device(w)
    event = w.event("internal_user_tokens", path={"userId": user})

    def answered(a: Answer) -> None:
        assert (a.status, [(t["id"], t["token"]) for t in a.body["tokens"]]) == (200, [(device, token)])

    def settled() -> None:
        assert w.live(user) == {token: device}

    return Scenario("internal_user_tokens", event, answered, settled, None, (token,), (user,))


def internal_presignup_lookup(w: World) -> Scenario:
    phone, token = w.phone(), w.name("token")
    record = w.seed(
        "presignup_register_token",
        w.event(
            "presignup_register_token", body={"phone": phone, "fcmToken": token, "deviceId": w.name("device")}
        ),
    )
    event = w.event("internal_presignup_lookup", body={"phone": phone})

    def answered(a: Answer) -> None:
        assert (a.status, [(t["id"], t["token"]) for t in a.body["tokens"]]) == (200, [(record["id"], token)])

    def settled() -> None:
        assert w.presignup(phone) == {token: record["id"]}

    return Scenario("internal_presignup_lookup", event, answered, settled)


def internal_invalidations(w: World) -> Scenario:
    """Two tokens: both namespaces' guards read at once, then each: read the registration, deactivate."""
    first, second = _accounts_device(w), _accounts_device(w)
    tokens = (first[1], second[1])
    reasons = ("UNREGISTERED", "BadDeviceToken")
    body = {"invalidations": [{"token": t, "reason": r} for t, r in zip(tokens, reasons, strict=True)]}
    event = w.event("internal_token_invalidations", body=body)

    def answered(a: Answer) -> None:
        assert (a.status, a.body["results"]) == (200, [{"token": t, "status": "deactivated"} for t in tokens])

    def replayed(a: Answer) -> None:  # a batch is applied item by item: repeating it is a no-op per item
        assert a.status == 200
        assert [r["token"] for r in a.body["results"]] == list(tokens)
        assert {r["status"] for r in a.body["results"]} <= {"deactivated", "not_found"}

    def settled() -> None:
        assert (w.live(first[0]), w.live(second[0])) == ({}, {})
        assert (w.holder(tokens[0]), w.holder(tokens[1])) == (None, None)

    owners = (first[0], second[0])
    return Scenario("internal_token_invalidations", event, answered, settled, replayed, tokens, owners)


@dataclass(frozen=True)
class Route:
    function: catalog.Function  # the function the scenario calls
    build: Callable[[World], Scenario]
    ops: tuple[str, ...]  # the DynamoDB calls the request makes when nothing fails
    unavailable: Item  # the API's own 503 body (dialects/*.py, docs/apis/)
    batch: bool = False  # applied item by item: a fault may leave the earlier items done


ACCOUNTS_503 = {"message": "Service temporarily unavailable", "code": "SERVICE_UNAVAILABLE"}
INTERNAL_503 = {"message": "temporarily unavailable, retry later"}
ROUTES = {
    # A new user's first registration: refused for want of a roster (MaxDevicesPerUser), which the
    # list entries then seed (none), in a second transaction.
    "accounts-register": Route(
        catalog.ACCOUNTS.function("accounts_register_device"), accounts_register, (T, Q, T), ACCOUNTS_503
    ),
    # A page: the list entries, then the registrations they point at.
    "accounts-list": Route(
        catalog.ACCOUNTS.function("accounts_list_devices"), accounts_list, (Q, B), ACCOUNTS_503
    ),
    # By id: the registration is read by the key its id names; a delete is one transaction, read nothing.
    "accounts-update": Route(
        catalog.ACCOUNTS.function("accounts_update_device"), accounts_update, (G, T), ACCOUNTS_503
    ),
    # A heartbeat: one conditional write that returns the record.
    "accounts-heartbeat": Route(
        catalog.ACCOUNTS.function("accounts_update_device"), accounts_heartbeat, (U,), ACCOUNTS_503
    ),
    "accounts-deactivate": Route(
        catalog.ACCOUNTS.function("accounts_deactivate_device"), accounts_deactivate, (T,), ACCOUNTS_503
    ),
    # An upsert of a token another user holds: the refused refresh (nothing of the caller's stored), the
    # refused registration, the holder's record, the take-over refused for want of the new holder's
    # roster, its list entries (none), the take-over with the roster seeded.
    "camera": Route(
        catalog.CAMERA.function("camera_set_user_token"),
        camera,
        (U, T, G, T, Q, T),
        {"result": -1, "msg": "Error setting push token, retry later"},
    ),
    "user-push-tokens": Route(
        catalog.USER_PUSH_TOKENS.function("user_push_tokens_register"),
        user_push_tokens,
        (U, T, G, T, Q, T),
        {"statusCode": 503, "message": "Service Unavailable", "error": "Service Unavailable"},
    ),
    # The register event asks for English; the delete event sends no Accept-Language: pt-BR.
    "pigeons-register": Route(
        catalog.PIGEONS.function("pigeons_register_device"),
        pigeons_register,
        (U, T, G, T, Q, T),
        {"message": "Service temporarily unavailable."},
    ),
    "pigeons-delete": Route(
        catalog.PIGEONS.function("pigeons_delete_device"),
        pigeons_delete,
        (U, T),
        {"message": "Serviço temporariamente indisponível."},
    ),
    "presignup": Route(
        catalog.PRESIGNUP.function("presignup_register_token"),
        presignup,
        (U, B, B, T),
        {"error": "unavailable", "message": "temporarily unavailable, retry later"},
    ),
    "internal-user-tokens": Route(
        catalog.INTERNAL.function("internal_user_tokens"), internal_user_tokens, (Q, B), INTERNAL_503
    ),
    "internal-presignup-lookup": Route(
        catalog.INTERNAL.function("internal_presignup_lookup"), internal_presignup_lookup, (Q,), INTERNAL_503
    ),
    "internal-invalidations": Route(
        catalog.INTERNAL.function("internal_token_invalidations"),
        internal_invalidations,
        (B, B, G, T, G, T),
        INTERNAL_503,
        batch=True,
    ),
}
WRITES = [name for name, route in ROUTES.items() if T in route.ops]


def test_every_api_of_the_catalog_and_its_dialect_is_in_the_fault_suite() -> None:
    """A route per API at least, its function the catalog's: a new API without one fails here."""
    assert {catalog.api_of(route.function.folder) for route in ROUTES.values()} == set(catalog.APIS)
    assert {route.function for route in ROUTES.values()} <= set(catalog.FUNCTIONS)


def commit_of(route: Route) -> int:
    """The position of the request's last transaction: the call after which it has taken effect."""
    return len(route.ops) - 1 - route.ops[::-1].index(T)


def send(w: World, scenario: Scenario) -> Answer:
    return w.send(scenario.function, scenario.event)


def assert_unavailable(answer: Answer, body: Item) -> None:
    assert answer.status == 503, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    if isinstance(answer.body, dict) and "results" in answer.body:
        # A batch's 503 says which items were done: a prefix of them, every later one not_processed.
        seen = dict(answer.body)
        statuses = [r["status"] for r in seen.pop("results")]
        done = [s for s in statuses if s != "not_processed"]
        assert statuses == done + ["not_processed"] * (len(statuses) - len(done)), statuses
        assert set(done) <= {"deactivated", "not_found"}, statuses
        assert len(done) < len(statuses), statuses
        assert seen == body
    else:
        assert answer.body == body
    internals = ("Traceback", "botocore", "ClientError", "Exception", "InternalServerError", "Throttl")
    for leak in (*internals, "Timeout", "Transaction", "dynamodb", "TOKEN#", "127.0.0.1"):
        assert leak not in answer.text


def assert_inside_the_timeouts(wire: Wire, answer: Answer) -> None:
    """Past the function's timeout Lambda kills the request: API Gateway's generic 502, no dialect."""
    worst, drawn = wire.worst_case(), wire.accounted(answer)
    calls = ", ".join(f"{c.operation} x{c.attempts}" for c in wire.calls)
    assert worst < FUNCTION_TIMEOUT < API_GATEWAY_TIMEOUT, (
        f"up to {worst:.1f} s (this run's jitter: {drawn:.1f} s) against a {FUNCTION_TIMEOUT:.0f} s "
        f"function timeout, for {calls}"
    )


def assert_retries_bounded(wire: Wire, fault: Fault) -> None:
    assert all(call.attempts <= ATTEMPTS for call in wire.calls)
    struck = wire.struck()
    if fault is CONFLICT:
        # botocore does not retry a cancelled transaction (a 400); the layer does, a bounded number of times.
        assert [(c.operation, c.attempts) for c in struck] == [(T, 1)] * LAYER_CONFLICT_ATTEMPTS
        assert wire.calls[-LAYER_CONFLICT_ATTEMPTS:] == struck
        return
    # The first call whose attempts all fail ends the request: no call after it, none of the layer's loops.
    assert struck == wire.calls[-1:]
    assert struck[0].attempts == ATTEMPTS
    if fault.timeout is None:  # botocore's own account, returned with the error
        assert struck[0].metadata["RetryAttempts"] == ATTEMPTS - 1
        assert struck[0].metadata["MaxAttemptsReached"]


# ---------------------------------------------------------------------- botocore's retries and their cost


@pytest.mark.parametrize("fault", RETRIED_BY_BOTOCORE, ids=lambda f: f.name)
def test_one_failed_attempt_per_call_is_absorbed_by_botocore(fault: Fault, world: World, wire: Wire) -> None:
    scenario = camera(world)
    wire.arm(Rule(fault, attempts=1))

    answer = send(world, scenario)

    scenario.answered(answer)
    scenario.settled()
    assert [(c.operation, c.attempts, c.struck) for c in wire.calls] == [
        (op, 2, 1) for op in ROUTES["camera"].ops
    ]
    assert_inside_the_timeouts(wire, answer)


@pytest.mark.parametrize("route", WRITES)
def test_an_answer_lost_after_the_commit_is_replayed_idempotently(
    route: str, world: World, wire: Wire
) -> None:
    """The transaction reaches DynamoDB, its answer does not: botocore's retry carries the same
    ClientRequestToken (an idempotency token it fills in), so DynamoDB answers it as done."""
    scenario = ROUTES[route].build(world)
    commit = commit_of(ROUTES[route])
    wire.arm(Rule(LOST_ANSWER, first=commit, last=commit, attempts=1))

    answer = send(world, scenario)

    scenario.answered(answer)
    scenario.settled()
    assert wire.operations() == list(ROUTES[route].ops)
    assert (wire.calls[commit].attempts, wire.calls[commit].struck) == (2, 1)


def test_the_backoff_really_slept_stays_inside_the_function_timeout(world: World, wire: Wire) -> None:
    scenario = accounts_register(world)
    before = world.dump()
    wire.real_backoff = True
    wire.arm(Rule(THROTTLING))

    answer = send(world, scenario)

    assert_unavailable(answer, ACCOUNTS_503)
    assert_retries_bounded(wire, THROTTLING)
    slept = sum(wire.calls[0].backoff)
    # What the other tests account instead of sleeping: the backoff drawn, plus the handler's own time.
    assert slept <= answer.elapsed < slept + 1.0
    assert_inside_the_timeouts(wire, answer)
    assert world.dump() == before


def test_a_long_outage_spends_the_retry_quota_then_fails_fast(world: World, wire: Wire) -> None:
    """botocore's retry quota: once a persistent fault has spent it, calls fail at their first attempt."""
    scenario = accounts_list(world)
    attempts = []
    while len(attempts) < 100 and attempts[-1:] != [1]:  # 500 units of quota, 5 per retry
        wire.arm(Rule(SERVER_ERROR))
        assert_unavailable(send(world, scenario), ACCOUNTS_503)
        (call,) = wire.calls
        assert call.attempts == ATTEMPTS or call.metadata["RetryQuotaReached"]
        attempts.append(call.attempts)

    assert attempts == sorted(attempts, reverse=True)
    assert (attempts[0], attempts[-1]) == (ATTEMPTS, 1)

    wire.heal()
    scenario.answered(send(world, scenario))


# ---------------------------------------------------------------------- the fault matrix


@pytest.mark.parametrize(
    ("route", "fault"),
    [
        pytest.param(name, fault, id=f"{name}-{fault.name}")
        for name, route in ROUTES.items()
        for fault in FAULTS
        if fault.only is None or fault.only in route.ops
    ],
)
def test_a_persistent_fault_is_the_apis_503_and_writes_nothing(
    route: str, fault: Fault, world: World, wire: Wire
) -> None:
    """Every attempt of every call fails (conflicts: every transaction), then DynamoDB recovers."""
    scenario = ROUTES[route].build(world)
    assert scenario.function == ROUTES[route].function.folder
    before = world.dump()
    wire.arm(Rule(fault))

    answer = send(world, scenario)

    assert_unavailable(answer, ROUTES[route].unavailable)
    assert_retries_bounded(wire, fault)
    assert_inside_the_timeouts(wire, answer)
    assert world.dump() == before

    wire.heal()
    again = send(world, scenario)

    assert wire.operations() == list(ROUTES[route].ops)
    scenario.answered(again)
    scenario.settled()


@pytest.mark.parametrize(
    ("route", "done", "fault"),
    [
        pytest.param(name, done, fault, id=f"{name}-after-{done}-{fault.name}")
        for name, route in ROUTES.items()
        for done in range(1, len(route.ops))
        for fault in [RETRIED_BY_BOTOCORE[done % len(RETRIED_BY_BOTOCORE)]]
    ],
)
def test_a_fault_after_part_of_the_work_leaves_nothing_half_done(
    route: str, done: int, fault: Fault, world: World, wire: Wire
) -> None:
    """The first `done` calls go through, every later one fails: only a batch may be left part done,
    each of its items whole, and the same request sent again finishes the work."""
    scenario = ROUTES[route].build(world)
    before = world.dump()
    wire.arm(Rule(fault, first=done))

    answer = send(world, scenario)

    assert_unavailable(answer, ROUTES[route].unavailable)
    assert wire.operations() == list(ROUTES[route].ops[: done + 1])
    assert_retries_bounded(wire, fault)
    assert_inside_the_timeouts(wire, answer)
    world.coherent(scenario)
    part_done = world.dump() != before
    assert not part_done or ROUTES[route].batch

    wire.heal()
    again = send(world, scenario)

    (scenario.replayed if part_done and scenario.replayed else scenario.answered)(again)
    scenario.settled()


@pytest.mark.parametrize("route", WRITES)
def test_every_answer_lost_after_the_commit_leaves_it_whole_and_the_retry_converges(
    route: str, world: World, wire: Wire
) -> None:
    """The commit reaches DynamoDB on every attempt, no answer comes back: the client gets a 503 for
    a request that took effect, whole; sending it again answers as a repeat does (`replayed`)."""
    scenario = ROUTES[route].build(world)
    commit = commit_of(ROUTES[route])
    wire.arm(Rule(LOST_ANSWER, first=commit, last=commit))

    answer = send(world, scenario)

    assert_unavailable(answer, ROUTES[route].unavailable)
    assert_retries_bounded(wire, LOST_ANSWER)
    assert_inside_the_timeouts(wire, answer)
    scenario.settled()  # DynamoDB committed the whole transaction; only its answer was lost
    world.coherent(scenario)

    wire.heal()
    again = send(world, scenario)

    (scenario.replayed or scenario.answered)(again)
    scenario.settled()
    world.coherent(scenario)


# ---------------------------------------------------------------------- the time budget of a whole request


@pytest.mark.parametrize(
    "route", ["accounts-register", "accounts-update", "camera", "presignup", "internal-invalidations"]
)
def test_a_brownout_answers_inside_the_function_timeout(route: str, world: World, wire: Wire) -> None:
    """Every call throttled on all its attempts but its last, as in a throttling storm on a hot partition.

    botocore's retries carry each call through, but their time budget is per call (up to 1 + 2 s of
    throttling backoff each). The layer starts no call that could outlive the function's timeout
    (time_budget): a request either goes through or answers its API's 503 with Retry-After before
    Lambda would kill it (API Gateway's bare 502, no dialect), and the same request later converges.
    """
    scenario = ROUTES[route].build(world)
    before = world.dump()
    wire.arm(Rule(THROTTLING, attempts=ATTEMPTS - 1))

    answer = send(world, scenario)

    assert_inside_the_timeouts(wire, answer)
    assert all(c.attempts == ATTEMPTS for c in wire.calls)
    if answer.status != 503:
        scenario.answered(answer)
    else:
        assert_unavailable(answer, ROUTES[route].unavailable)
        assert len(wire.calls) < len(ROUTES[route].ops)  # it stopped before a call it had no time for
        if not ROUTES[route].batch:
            assert world.dump() == before
        wire.heal()
        again = send(world, scenario)
        # A batch keeps the items it finished, each one whole: those are not_found the second time.
        (scenario.replayed if ROUTES[route].batch and scenario.replayed else scenario.answered)(again)
    scenario.settled()
