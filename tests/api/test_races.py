"""Races over HTTP: concurrent requests through every API, each followed by a full-table invariant check.

Every race starts its requests together (a barrier), accepts whatever outcome the registry's rules
allow, and then scans the whole table (tests/api/invariants.py): no dangling guard, no unguarded live
registration or pre-signup record, one live registration per token. A separate table holds deliberately
broken items to show that the checker does fail.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local.template import create_table, load_template
from push_registry import catalog
from push_registry.presignup import PreSignup, PreSignupPost
from push_registry.registration import token_digest
from push_registry.registry import NewDevice, Registry
from push_registry.settings import settings
from push_registry.storage import PreSignupStore, RegistrationStore
from tests.api.helpers import live_devices, new_push_token, new_user, post
from tests.api.invariants import Item, audit, check_invariants, is_live, text

pytestmark = pytest.mark.integration

TAKEN = "DEVICE_TOKEN_ERR_04"
PIGEONS_KEY = "pk_local_pigeons"


# ---------------------------------------------------------------------- shared machinery


@dataclass(frozen=True)
class Call:
    """One HTTP request of a race."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    jwt: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds after the start: spreads a race over more interleavings


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def loopback_address() -> str:
    """A source address of its own (as helpers.new_client), so per-IP limits count each caller alone."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def race(base_url: str, calls: Sequence[Call]) -> list[Reply]:
    """Send every call at once, each on its own connection and thread; replies in call order.

    The connections are opened one by one before the start, then a barrier releases every request
    together: the local API's listen backlog (socketserver's 5) is never flooded by a burst of
    connects, which resets connections there (API Gateway has no such limit) and spreads the race.
    """
    where = urlsplit(base_url)
    connections = [
        http.client.HTTPConnection(
            where.hostname or "127.0.0.1", where.port, timeout=20, source_address=(loopback_address(), 0)
        )
        for _ in calls
    ]
    try:
        for connection in connections:
            connection.connect()
    except OSError:
        for connection in connections:
            connection.close()
        raise
    barrier = threading.Barrier(len(calls))

    def send(connection: http.client.HTTPConnection, call: Call) -> Reply:
        headers = {"Content-Type": "application/json", **dict(call.headers)}
        if call.jwt is not None:
            headers["Authorization"] = f"Bearer {call.jwt}"
        data = None if call.body is None else json.dumps(call.body).encode()
        barrier.wait(timeout=30)
        time.sleep(call.delay)
        try:
            connection.request(call.method, call.path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, json.loads(payload) if payload else None, headers)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(send, connections, calls))


def one(base_url: str, call: Call) -> Reply:
    return race(base_url, [call])[0]


def registration(api: str, user: str, push: str, jwt: str) -> Call:
    """Register `push` for `user` through one of the client APIs of the catalog."""
    match api:
        case catalog.ACCOUNTS.name:
            body: dict[str, Any] = {"device_token": push, "platform": "android"}
            return Call("POST", f"/api/accounts/{user}/devices", body, jwt)
        case catalog.CAMERA.name:
            return Call("POST", "/user/setusertoken", {"msgType": "FCM", "msgToken": push}, jwt)
        case catalog.USER_PUSH_TOKENS.name:
            return Call(
                "POST", "/v1/user-push-tokens/register", {"push_token": push, "device_os": "Android"}, jwt
            )
        case catalog.PIGEONS.name:
            body = {"token": push, "platform": "android"}
            return Call("POST", "/api/v1/pigeons/chat/devices", body, jwt, (("X-PUBLIC-KEY", PIGEONS_KEY),))
    raise AssertionError(api)


# Each API's answer to a valid registration: the accounts API refuses a held token (409), the others
# take it over (camera and user-push-tokens answer 200, the chat backoffice 201). The two whose answer
# names the record may also answer 503 with Retry-After when a crowd keeps handing the token on faster
# than they can take it: a success must name a registration that was written.
SUCCESS = {
    catalog.ACCOUNTS.name: 201,
    catalog.CAMERA.name: 200,
    catalog.USER_PUSH_TOKENS.name: 200,
    catalog.PIGEONS.name: 201,
}
ALLOWED = {
    catalog.ACCOUNTS.name: {201, 409},
    catalog.CAMERA.name: {200},
    catalog.USER_PUSH_TOKENS.name: {200, 503},
    catalog.PIGEONS.name: {201, 503},
}
# The races below register through every client API of the catalog, in its order.
CLIENT_APIS = [api.name for api in catalog.CLIENT_APIS]


def named_record(api: str, body: Any) -> str | None:
    """The registration id a success body names (the camera app's BaseResponse names none)."""
    match api:
        case catalog.ACCOUNTS.name | catalog.USER_PUSH_TOKENS.name:
            return str(body["id"])
        case catalog.PIGEONS.name:
            return str(body["data"]["id"])
    return None


def test_every_client_api_of_the_catalog_races_with_its_own_rules() -> None:
    """A client API added to the catalog without its registration call and answers fails here."""
    assert set(SUCCESS) == set(ALLOWED) == set(CLIENT_APIS)
    for api in CLIENT_APIS:
        assert registration(api, "user", "token", "jwt").method == "POST"
        assert SUCCESS[api] in ALLOWED[api]


def register_for_setup(base_url: str, user: str, push: str, jwt: str) -> str:
    """An accounts registration outside any race; its device id."""
    created = post(
        f"{base_url}/api/accounts/{user}/devices", {"device_token": push, "platform": "android"}, token=jwt
    )
    assert created.status_code == 201, created.text
    device_id: str = created.json()["id"]
    return device_id


@pytest.fixture
def invariants(ddb_local: Any, local_api: str) -> Callable[[], list[Item]]:
    """check_invariants after the race, blind only to what was already broken before the test began.

    The table is shared by the whole session: a test elsewhere that fakes the clock may leave items
    that look inconsistent in real time. test_the_shared_table_is_consistent_before_the_races reports
    those; each race is judged on what it changed.
    """
    _, before = audit(ddb_local)
    return lambda: check_invariants(ddb_local, tolerated=before)


def live_registrations(dump: list[Item], push: str) -> list[Item]:
    """The live, active registrations of one token in a dump (any owner)."""
    sk = f"TOKEN#{token_digest(push)}"
    return [i for i in dump if i["pk"]["S"].startswith("OWNER#") and i["sk"]["S"] == sk and is_live(i, now())]


def live_in(dump: list[Item], pk: str, kind: str) -> list[Item]:
    """The live items of one partition whose sort key starts with `kind` (registrations: active too)."""
    return [i for i in dump if i["pk"]["S"] == pk and i["sk"]["S"].startswith(kind) and is_live(i, now())]


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def test_the_shared_table_is_consistent_before_the_races(ddb_local: Any, local_api: str) -> None:
    check_invariants(ddb_local)


# ---------------------------------------------------------------------- a. one token, fifty users


def test_fifty_users_registering_one_token_through_every_api_leave_one_registration(
    local_api: str, make_token: Callable[..., str], invariants: Callable[[], list[Item]]
) -> None:
    push = new_push_token()
    apis = CLIENT_APIS
    racers = [(apis[i % len(apis)], new_user()) for i in range(50)]
    jwts = {user: make_token(user, abilities=["backoffice"]) for _, user in racers}

    replies = race(local_api, [registration(api, user, push, jwts[user]) for api, user in racers])

    # Safety first, whatever the statuses: the table is consistent and one registration holds the token.
    dump = invariants()
    [holder] = live_registrations(dump, push)
    statuses = [(api, reply.status) for (api, _), reply in zip(racers, replies, strict=True)]
    tally = sorted(Counter(statuses).items())
    # Then liveness: every request got an answer its API's rules allow, never a 5xx.
    assert all(status in ALLOWED[api] for api, status in statuses), f"(api, status) x count: {tally}"
    assert all(int(reply.headers["retry-after"]) >= 1 for reply in replies if reply.status == 503), tally
    # Nobody held the token before, so no refusal names one of the caller's own devices.
    refusals = [reply.body for reply in replies if reply.status == 409]
    assert all(body == {"message": "Device token already registered", "code": TAKEN} for body in refusals)
    # Nothing frees the token during this race: the accounts API can only have won it first, once.
    assert [status for api, status in statuses if api == catalog.ACCOUNTS.name].count(201) <= 1, tally
    winners = {
        user for (api, user), (_, status) in zip(racers, statuses, strict=True) if status == SUCCESS[api]
    }
    assert holder["owner"]["S"] in winners
    # The holder's own answer names the registration that holds the token (and its owner).
    owner = holder["owner"]["S"]
    [(holder_api, holder_reply)] = [
        (api, reply) for (api, user), reply in zip(racers, replies, strict=True) if user == owner
    ]
    assert named_record(holder_api, holder_reply.body) in (None, holder["id"]["S"])
    if holder_api == catalog.USER_PUSH_TOKENS.name:
        assert holder_reply.body["userid"] == holder["owner"]["S"]
    listed = {user: live_devices(local_api, user, jwts[user]) for _, user in racers}
    assert {user: [d["id"] for d in devices] for user, devices in listed.items() if devices} == {
        holder["owner"]["S"]: [holder["id"]["S"]]
    }


# ---------------------------------------------------------------------- b. PATCH token swaps


def test_patch_swaps_racing_for_one_new_token_leave_one_winner_and_the_losers_tokens(
    local_api: str, make_token: Callable[..., str], invariants: Callable[[], list[Item]]
) -> None:
    # One account with four devices, two with two: every device asks for the same new token at once.
    jwts = {user: make_token(user) for user in (new_user() for _ in range(3))}
    tokens: dict[str, str] = {}  # device id -> its current token
    owner_of: dict[str, str] = {}
    for owner, count in zip(jwts, (4, 2, 2), strict=True):
        for _ in range(count):
            push = new_push_token()
            device = register_for_setup(local_api, owner, push, jwts[owner])
            tokens[device], owner_of[device] = push, owner
    devices = list(tokens)

    for round_number in range(3):
        target = new_push_token()
        replies = race(
            local_api,
            [
                Call(
                    "PATCH",
                    f"/api/accounts/{owner_of[d]}/devices/{d}",
                    {"device_token": target},
                    jwts[owner_of[d]],
                )
                for d in devices
            ],
        )

        outcome = dict(zip(devices, replies, strict=True))
        context = f"round {round_number}: {[(r.status, r.body) for r in replies]}"
        assert sorted(r.status for r in replies) == [200] + [409] * (len(devices) - 1), context
        [winner] = [d for d, r in outcome.items() if r.status == 200]
        assert outcome[winner].body["id"] == winner
        for device, reply in outcome.items():
            if device == winner:
                continue
            assert reply.body["code"] == TAKEN, context
            # The accounts API names the holding device to its own account only.
            if owner_of[device] == owner_of[winner]:
                assert reply.body.get("device_id") == winner, context
            else:
                assert "device_id" not in reply.body, context
        released, tokens[winner] = tokens[winner], target

        dump = invariants()
        for device, push in tokens.items():
            [holder] = live_registrations(dump, push)  # ids never change on a token swap
            assert (holder["owner"]["S"], holder["id"]["S"]) == (owner_of[device], device), context
        assert live_registrations(dump, released) == [], context
        # The winner's old token is free at once; every loser still holds its own.
        outsider = new_user()
        outsider_jwt = make_token(outsider)
        assert one(local_api, registration("accounts", outsider, released, outsider_jwt)).status == 201
        for device in devices:
            if device != winner:
                refused = one(local_api, registration("accounts", outsider, tokens[device], outsider_jwt))
                assert refused.status == 409, context
        for owner, jwt in jwts.items():
            listed = {d["id"] for d in live_devices(local_api, owner, jwt)}
            assert listed == {d for d in devices if owner_of[d] == owner}, context


# ---------------------------------------------------------------------- c. deactivate vs re-register


@dataclass(frozen=True)
class Racer:
    name: str  # "delete", or "<api>:<role>" with role owner / rival / third
    user: str
    call: Call


def test_deactivate_racing_re_registration_by_the_same_and_other_accounts(
    local_api: str, make_token: Callable[..., str], invariants: Callable[[], list[Item]]
) -> None:
    # Who else races in each round: only the accounts API (which never takes a held token), or also
    # an upsert by the owner (keeps the registration's id) or by a third account (takes it over).
    extras = [None, "camera:third", "user-push-tokens:owner", "pigeons:third"]
    jitter = random.Random(7)
    for round_number in range(16):
        push = new_push_token()
        owner, rival, third = new_user(), new_user(), new_user()
        jwts = {u: make_token(u, abilities=["backoffice"]) for u in (owner, rival, third)}
        original = register_for_setup(local_api, owner, push, jwts[owner])

        racers = [
            Racer(
                "delete", owner, Call("DELETE", f"/api/accounts/{owner}/devices/{original}", jwt=jwts[owner])
            ),
            Racer("accounts:owner", owner, registration("accounts", owner, push, jwts[owner])),
            Racer("accounts:rival", rival, registration("accounts", rival, push, jwts[rival])),
        ]
        extra = extras[round_number % len(extras)]
        if extra is not None:
            api, role = extra.split(":")
            user = owner if role == "owner" else third
            racers.append(Racer(extra, user, registration(api, user, push, jwts[user])))
        # A deactivation takes a read and a transaction, a registration one transaction: starting each
        # request up to 20 ms late lets either side come first.
        calls = [replace(r.call, delay=jitter.uniform(0, 0.02)) for r in racers]
        replies = race(local_api, calls)
        status = {r.name: reply.status for r, reply in zip(racers, replies, strict=True)}
        context = f"round {round_number}: {status}"

        taken_over = extra is not None and extra.endswith(":third")
        # DELETE finds nothing only when a third account took the registration over first.
        assert status["delete"] in ({204, 404} if taken_over else {204}), context
        assert status["accounts:owner"] in {201, 409}, context
        assert status["accounts:rival"] in {201, 409}, context
        if extra is not None:
            assert status[extra] == SUCCESS[extra.split(":")[0]], context
        won_by_accounts = [name for name in ("accounts:owner", "accounts:rival") if status[name] == 201]
        # Only the deactivation frees the token, and only once.
        assert len(won_by_accounts) <= 1, context
        if won_by_accounts:
            assert status["delete"] == 204, context

        dump = invariants()
        holders = live_registrations(dump, push)
        assert len(holders) <= 1, context
        holder = (holders[0]["owner"]["S"], holders[0]["id"]["S"]) if holders else None
        if status["delete"] == 204:
            # A deactivated registration never comes back: registering again makes a new id.
            assert holder != (owner, original), context
        if holder is not None:
            succeeded = {r.user for r in racers if r.name != "delete" and status[r.name] in {200, 201}}
            assert holder[0] in succeeded, context
        if taken_over:
            # The third account's upsert always succeeds, and nothing takes the token from it after.
            assert holder is not None, context
            assert holder[0] == third, context
        elif extra is None:
            winners = [r.user for r in racers if r.name in won_by_accounts]
            assert (holder[0] if holder else None) == (winners[0] if winners else None), context


# ---------------------------------------------------------------------- c2. heartbeats renewing a lease


def lease_due(ddb_local: Any, owner: str, push: str, device_id: str) -> None:
    """Make the registration's next heartbeat renew its lease: lease_until, and its guard's and list
    entry's expiry, set to the registration's own expiry (a lease of zero, still a consistent state)."""
    client, table = ddb_local.client, ddb_local.table_name
    key = {"pk": {"S": f"OWNER#{owner}"}, "sk": {"S": f"TOKEN#{token_digest(push)}"}}
    stored = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    expires = stored["expires_at"]
    entry = {"pk": key["pk"], "sk": {"S": f"LIVE#{stored['created_at']['S']}#{device_id}"}}
    guard = {"pk": {"S": f"TOKEN#{token_digest(push)}"}, "sk": {"S": "GUARD"}}
    for item_key, attribute in ((key, "lease_until"), (entry, "expires_at"), (guard, "expires_at")):
        client.update_item(
            TableName=table,
            Key=item_key,
            UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":v": expires},
        )


def test_heartbeats_renewing_a_lease_racing_a_delete_a_patch_and_a_take_over(
    ddb_local: Any, local_api: str, make_token: Callable[..., str], invariants: Callable[[], list[Item]]
) -> None:
    # Every heartbeat of a round finds the lease due; the first to write renews it, the others find it
    # renewed (or the registration gone). Whatever the order, the lease covers the registration, the
    # guard and the list entry follow it, and a deactivated or taken-over registration stays so.
    jitter = random.Random(11)
    for round_number in range(6):
        push = new_push_token()
        owner, third = new_user(), new_user()
        jwts = {u: make_token(u) for u in (owner, third)}
        device_id = register_for_setup(local_api, owner, push, jwts[owner])
        lease_due(ddb_local, owner, push, device_id)
        path = f"/api/accounts/{owner}/devices/{device_id}"
        racers = [Racer("heartbeat", owner, Call("PATCH", path, {}, jwts[owner])) for _ in range(8)]
        racers.append(
            Racer("info", owner, Call("PATCH", path, {"device_info": {"app_version": "9"}}, jwts[owner]))
        )
        if round_number % 3 == 1:
            racers.append(Racer("delete", owner, Call("DELETE", path, jwt=jwts[owner])))
        elif round_number % 3 == 2:
            racers.append(Racer("camera:third", third, registration("camera", third, push, jwts[third])))
        calls = [replace(r.call, delay=jitter.uniform(0, 0.02)) for r in racers]

        replies = race(local_api, calls)

        statuses = [(r.name, reply.status) for r, reply in zip(racers, replies, strict=True)]
        context = f"round {round_number}: {statuses}"
        dump = invariants()
        holders = live_registrations(dump, push)
        assert all(status in {200, 204, 404} for _, status in statuses), context
        ended = dict(statuses).get("delete") == 204 or dict(statuses).get("camera:third") == 200
        if ended:
            assert [(h["owner"]["S"], h["id"]["S"]) for h in holders] in ([], [(third, device_id)]), context
        # Every heartbeat before the end answered the stored record: the device's platform and id.
        for (name, status), reply in zip(statuses, replies, strict=True):
            if name in ("heartbeat", "info") and status == 200:
                assert (reply.body["id"], reply.body["platform"]) == (device_id, "android"), context
        if round_number % 3 == 0:  # heartbeats and a PATCH only: all answered, the lease renewed
            assert {status for _, status in statuses} == {200}, context
            [holder] = holders
            assert int(holder["lease_until"]["N"]) > int(holder["expires_at"]["N"]), context
            assert holder["device_info"]["M"]["app_version"] == {"S": "9"}, context


# ---------------------------------------------------------------------- d. pre-signup merges

Post = tuple[str, str | None]  # (token, device id)
State = frozenset[Post]


def merge_rules(state: State, posted: Post) -> State:
    """The pre-signup rules (presignup.py) on one phone's records, as (token, device id) pairs.

    A post matches the record holding its token and the record of its device; the device's record is
    kept (else the token's) and takes the posted token and device (a post without a device id keeps the
    record's); a second matched record is merged into it, i.e. removed.
    """
    token, device = posted
    by_token = next((r for r in state if r[0] == token), None)
    by_device = next((r for r in state if device is not None and r[1] == device), None)
    kept = by_device or by_token
    target = (token, device if device is not None else (kept[1] if kept else None))
    return frozenset(r for r in state if r not in (by_token, by_device)) | {target}


def serial_outcomes(start: State, posts: Sequence[Post]) -> set[State]:
    """Every end state some serial order of `posts` reaches from `start`."""
    outcomes = set()
    for order in itertools.permutations(posts):
        state = start
        for posted in order:
            state = merge_rules(state, posted)
        outcomes.add(state)
    return outcomes


def test_the_merge_rules_model_follows_the_presignup_examples() -> None:
    # The model the race below is judged by, on the cases test_presignup_api.py shows over HTTP.
    assert merge_rules(frozenset({("a", None)}), ("a", None)) == {("a", None)}
    assert merge_rules(frozenset({("a", "d1")}), ("a", None)) == {("a", "d1")}
    assert merge_rules(frozenset({("a", "d1")}), ("b", "d1")) == {("b", "d1")}
    assert merge_rules(frozenset({("a", None), ("b", "d1")}), ("a", "d1")) == {("a", "d1")}
    assert merge_rules(frozenset({("a", "d1")}), ("a", "d2")) == {("a", "d2")}
    assert merge_rules(frozenset({("a", "d1")}), ("b", "d2")) == {("a", "d1"), ("b", "d2")}


def presignup_post(phone: str, posted: Post) -> Call:
    token, device = posted
    body: dict[str, Any] = {"phone": phone, "fcmToken": token, "deviceType": "android"}
    if device is not None:
        body["deviceId"] = device
    return Call("POST", "/api/public/fcm-token", body)  # each from its own source address


def test_presignup_posts_racing_on_one_phone_end_as_some_serial_order_of_the_merge_rules(
    local_api: str, invariants: Callable[[], list[Item]]
) -> None:
    for round_number in range(4):
        phone = f"+9198{random.randint(0, 10**8 - 1):08d}"
        t = [f"fcm-race-{uuid.uuid4().hex}" for _ in range(5)]
        setup: list[Post] = [(t[0], "d1"), (t[1], "d2"), (t[2], None)]
        for posted in setup:
            body = presignup_post(phone, posted).body
            assert post(f"{local_api}/api/public/fcm-token", body).status_code == 201
        candidates: list[Post] = [
            (t[0], "d2"),  # matches d1's record by token and d2's by device: a merge
            (t[1], "d1"),  # the reverse merge
            (t[2], "d1"),  # merges the record without a device into d1's
            (t[3], "d2"),  # a new token for d2
            (t[0], None),  # d1's token again, without a device id
            (t[4], "d3"),  # a new device
            (t[1], None),
            (t[3], "d1"),  # d1 wants the token d2 is rotating to
        ]
        racing = random.Random(round_number).sample(candidates, 6)

        replies = race(local_api, [presignup_post(phone, posted) for posted in racing])

        assert [r.status for r in replies] == [201] * len(racing), [(r.status, r.body) for r in replies]
        dump = invariants()
        final = frozenset(
            (item["token"]["S"], text(item, "device_id"))
            for item in dump
            if item["pk"]["S"] == f"PHONE#{phone}"
            and item["sk"]["S"].startswith("PRESIGNUP#")
            and is_live(item, now())
        )
        names = {token: f"t{i}" for i, token in enumerate(t)}
        assert final in serial_outcomes(frozenset(setup), racing), (
            f"round {round_number}: {sorted((names[k], d or '-') for k, d in final)} is the outcome of no "
            f"serial order of {[(names[k], d or '-') for k, d in racing]}"
        )


def live_phones_of(dump: list[Item], token: str) -> list[str]:
    """The phones under which a pre-signup token has a live record (one entry per record)."""
    return sorted(
        item["phone"]["S"]
        for item in dump
        if item["sk"]["S"].startswith("PRESIGNUP#") and item["token"]["S"] == token and is_live(item, now())
    )


def test_one_token_posted_to_two_phones_at_once_ends_live_under_one_phone(
    local_api: str, invariants: Callable[[], list[Item]]
) -> None:
    # Both posts read one snapshot: the post to P2 moves the record, the post to P1 keeps it where it
    # was. Unconditioned, the second re-created the moved record on P1 (8 of 12 rounds in the report).
    for round_number in range(12):
        p1, p2 = (f"+9197{random.randint(0, 10**8 - 1):08d}" for _ in range(2))
        token = f"fcm-two-phones-{uuid.uuid4().hex}"
        body = presignup_post(p1, (token, None)).body
        assert post(f"{local_api}/api/public/fcm-token", body).status_code == 201

        replies = race(local_api, [presignup_post(p2, (token, None)), presignup_post(p1, (token, None))])

        context = f"round {round_number}: {[(r.status, r.body) for r in replies]}"
        assert [r.status for r in replies] == [201, 201], context
        # Each post answers the record's id: the token has one record, kept across the move.
        assert replies[0].body["id"] == replies[1].body["id"], context
        phones = live_phones_of(invariants(), token)
        assert len(phones) == 1, f"{context}: live under {len(phones)} phones"
        assert phones[0] in (p1, p2), context


def test_many_posts_for_one_phone_from_many_addresses_leave_at_most_the_cap_live(
    local_api: str, invariants: Callable[[], list[Item]]
) -> None:
    # The report: 25 posts from 25 source addresses left 25 live records for one phone.
    cap = settings().presignup_max_records_per_phone
    phone = f"+9195{random.randint(0, 10**8 - 1):08d}"
    tokens = [f"fcm-crowd-{uuid.uuid4().hex}" for _ in range(25)]
    for token in tokens[:3]:  # some already there, so that the race must evict as it adds
        assert post(f"{local_api}/api/public/fcm-token", presignup_post(phone, (token, None)).body).ok

    replies = race(local_api, [presignup_post(phone, (token, None)) for token in tokens[3:]])

    assert {r.status for r in replies} <= {201, 503}, [(r.status, r.body) for r in replies]
    assert all(int(r.headers["retry-after"]) >= 1 for r in replies if r.status == 503)
    dump = invariants()
    live = live_in(dump, f"PHONE#{phone}", "PRESIGNUP#")
    assert len(live) == cap, f"{len(live)} live records for one phone, cap {cap}"
    # The OTP sender gets those, newest post first.
    looked_up = requests.post(
        f"{local_api}/internal/presignup-tokens/lookup", json={"phone": phone}, timeout=10
    )
    answered = looked_up.json()["tokens"]
    assert sorted(t["id"] for t in answered) == sorted(item["id"]["S"] for item in live)
    posted = [t["last_posted_at"] for t in answered]
    assert posted == sorted(posted, reverse=True)


def test_many_registrations_for_one_user_through_every_api_leave_at_most_the_cap_live(
    local_api: str, make_token: Callable[..., str], invariants: Callable[[], list[Item]]
) -> None:
    """Issue 21, item 9: one JWT registering in a loop, from four APIs at once, never passes
    MaxDevicesPerUser; each eviction is of the least recently used, in the adding transaction."""
    cap = settings().max_devices_per_user
    user = new_user()
    jwt = make_token(user, abilities=["backoffice"])
    for _ in range(cap - 4):  # nearly full already, so that the race must evict as it adds
        register_for_setup(local_api, user, new_push_token(), jwt)
    apis = CLIENT_APIS
    calls = [registration(apis[i % len(apis)], user, new_push_token(), jwt) for i in range(24)]

    replies = race(local_api, calls)

    statuses = [(call.path, reply.status) for call, reply in zip(calls, replies, strict=True)]
    assert {status for _, status in statuses} <= {200, 201, 503}, sorted(Counter(statuses).items())
    assert all(int(r.headers["retry-after"]) >= 1 for r in replies if r.status == 503)
    dump = invariants()  # among them: no owner above the cap, and its roster counts every live one
    live = live_in(dump, f"OWNER#{user}", "TOKEN#")
    assert len(live) == cap, f"{len(live)} live registrations for one user, cap {cap}"
    assert {d["id"] for d in live_devices(local_api, user, jwt)} == {item["id"]["S"] for item in live}


class PostsAfterAnotherPost(PreSignupStore):
    """A real store whose next save first lets another post run to completion: the race, made certain."""

    def __init__(self, client: Any, table: str, meanwhile: Callable[[], object]) -> None:
        super().__init__(client, table)
        self._meanwhile: Callable[[], object] | None = meanwhile

    def save(self, *args: Any, **kwargs: Any) -> bool:
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return super().save(*args, **kwargs)


def test_a_post_that_read_the_record_before_another_moved_it_does_not_bring_it_back(
    ddb_local: Any, invariants: Callable[[], list[Item]]
) -> None:
    p1, p2 = (f"+9196{random.randint(0, 10**8 - 1):08d}" for _ in range(2))
    token = f"fcm-moved-meanwhile-{uuid.uuid4().hex}"
    plain = PreSignup(PreSignupStore(ddb_local.client, ddb_local.table_name))
    record, _ = plain.register(PreSignupPost(phone=p1, token=token))
    moved = PostsAfterAnotherPost(
        ddb_local.client,
        ddb_local.table_name,
        meanwhile=lambda: plain.register(PreSignupPost(phone=p2, token=token)),
    )

    # Reads the record on P1, then the other post moves it to P2, then this one writes what it read.
    kept, _ = PreSignup(moved).register(PreSignupPost(phone=p1, token=token))

    assert kept.id == record.id
    assert live_phones_of(invariants(), token) == [p1]  # moved back by the later post, once


# ---------------------------------------------------------------------- the checker can fail


@dataclass
class Scratch:
    """A table of its own, filled through the real stores, for the checker to inspect."""

    client: Any
    table: str
    tokens: dict[str, str]  # name -> raw token (must never appear in a report)

    def get(self, pk: str, sk: str) -> Item:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        item: Item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)["Item"]
        return item

    def put(self, item: Item) -> None:
        self.client.put_item(TableName=self.table, Item=item)

    def remove(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def registration(self, owner: str, name: str) -> tuple[str, str]:
        return f"OWNER#{owner}", f"TOKEN#{token_digest(self.tokens[name])}"

    def entry(self, owner: str, name: str) -> tuple[str, str]:
        registration = self.get(*self.registration(owner, name))
        return f"OWNER#{owner}", f"LIVE#{registration['created_at']['S']}#{registration['id']['S']}"

    def guard(self, name: str) -> tuple[str, str]:
        return f"TOKEN#{token_digest(self.tokens[name])}", "GUARD"

    def presignup_guard(self, name: str) -> tuple[str, str]:
        return f"PRESIGNUP_TOKEN#{token_digest(self.tokens[name])}", "GUARD"

    def record_of(self, name: str) -> Item:
        guard = self.get(*self.presignup_guard(name))
        return self.get(f"PHONE#{guard['phone']['S']}", f"PRESIGNUP#{guard['record_id']['S']}")


SCRATCH_PHONE = "+919876500001"


@pytest.fixture
def scratch(ddb_local: Any, local_api: str) -> Iterator[Scratch]:
    # local_api first: it completes the handlers' environment before anything reads settings().
    table = f"push-registry-races-{uuid.uuid4().hex[:8]}"
    create_table(ddb_local.client, table, load_template())
    config = settings()
    lifetime = timedelta(days=config.registration_ttl_days)
    registry = Registry(RegistrationStore(ddb_local.client, table), lifetime=lifetime)
    presignup = PreSignup(
        PreSignupStore(ddb_local.client, table), lifetime=timedelta(hours=config.presignup_ttl_hours)
    )
    tokens = {
        name: f"raw-secret-token-{name}-{uuid.uuid4().hex}" for name in ("live", "off", "old", "p1", "p2")
    }
    registry.register_device("alice", NewDevice(tokens["live"], "android"), catalog.ACCOUNTS.name)
    off = registry.register_device("bob", NewDevice(tokens["off"], "ios"), catalog.CAMERA.name)
    registry.deactivate_device("bob", off.id)
    past = datetime.now(UTC) - timedelta(days=config.registration_ttl_days + 1)
    stale = Registry(RegistrationStore(ddb_local.client, table), lifetime=lifetime, clock=lambda: past)
    stale.register_device(
        "carol", NewDevice(tokens["old"], "android"), catalog.PIGEONS.name
    )  # expired, still stored
    presignup.register(PreSignupPost(phone=SCRATCH_PHONE, token=tokens["p1"], device_id="dev-1"))
    presignup.register(PreSignupPost(phone=SCRATCH_PHONE, token=tokens["p2"]))
    ddb_local.client.put_item(
        TableName=table, Item={"pk": {"S": "RATE#ip#abc"}, "sk": {"S": "0"}, "hits": {"N": "3"}}
    )
    yield Scratch(ddb_local.client, table, tokens)
    ddb_local.client.delete_table(TableName=table)


def _roster_under_counts(s: Scratch) -> None:
    s.put(
        {
            "pk": {"S": "OWNER#alice"},
            "sk": {"S": "ROSTER"},
            **{k: {"N": "0"} for k in ("count", "version")},
            "expires_at": {"N": str(int(time.time()) + 3600)},
        }
    )


def _owner_over_the_cap(s: Scratch) -> None:
    """More live registrations than MaxDevicesPerUser, as a store without the cap writes them."""
    uncapped = Registry(RegistrationStore(s.client, s.table), lifetime=timedelta(days=30))
    for i in range(settings().max_devices_per_user + 1):
        uncapped.register_device(
            "dave", NewDevice(f"raw-secret-token-dave-{i}-{uuid.uuid4().hex}", "ios"), catalog.ACCOUNTS.name
        )


def _dangling_guard(s: Scratch) -> None:
    s.remove(*s.registration("alice", "live"))


def _guard_deleted(s: Scratch) -> None:
    s.remove(*s.guard("live"))


def _guard_names_another_device(s: Scratch) -> None:
    s.put({**s.get(*s.guard("live")), "device_id": {"S": str(uuid.uuid4())}})


def _guard_names_deactivated(s: Scratch) -> None:
    registration = s.get(*s.registration("bob", "off"))
    pk, sk = s.guard("off")
    s.put(
        {
            "pk": {"S": pk},
            "sk": {"S": sk},
            "owner": {"S": "bob"},
            "device_id": registration["id"],
            "expires_at": registration["lease_until"],
            "held_until": registration["expires_at"],
            "tenure": {"S": uuid.uuid4().hex},
        }
    )


def _second_live_registration(s: Scratch) -> None:
    registration = s.get(*s.registration("alice", "live"))
    s.put(
        {
            **registration,
            "pk": {"S": "OWNER#mallory"},
            "owner": {"S": "mallory"},
            "id": {"S": str(uuid.uuid4())},
        }
    )


def _guard_expires_early(s: Scratch) -> None:
    guard = s.get(*s.guard("live"))
    s.put({**guard, "expires_at": {"N": str(int(guard["expires_at"]["N"]) - 3600)}})


def _registration_missing_field(s: Scratch) -> None:
    registration = s.get(*s.registration("alice", "live"))
    s.put({k: v for k, v in registration.items() if k != "provider"})


def _registration_under_wrong_digest(s: Scratch) -> None:
    registration = s.get(*s.registration("bob", "off"))
    s.put({**registration, "sk": {"S": f"TOKEN#{token_digest('something-else')}"}})


def _registration_bad_values(s: Scratch) -> None:
    registration = s.get(*s.registration("alice", "live"))
    s.put({**registration, "source": {"S": "fax"}, "raw_copy": registration["token"]})


def _entry_deleted(s: Scratch) -> None:
    s.remove(*s.entry("alice", "live"))


def _entry_stale(s: Scratch) -> None:
    pk, sk = s.entry("alice", "live")
    entry = s.get(pk, sk)
    s.put({**entry, "expires_at": {"N": str(int(entry["expires_at"]["N"]) - 60)}})


def _entry_of_deactivated(s: Scratch) -> None:
    registration = s.get(*s.registration("bob", "off"))
    s.put(
        {
            "pk": registration["pk"],
            "sk": {"S": f"LIVE#{registration['created_at']['S']}#{registration['id']['S']}"},
            "id": registration["id"],
            "token_digest": {"S": registration["sk"]["S"].removeprefix("TOKEN#")},
            "expires_at": registration["lease_until"],
        }
    )


def _entry_left_by_a_moved_token(s: Scratch) -> None:
    pk, sk = s.entry("alice", "live")
    entry = s.get(pk, sk)
    s.put({**entry, "token_digest": {"S": token_digest(s.tokens["p1"])}})


def _lease_shorter_than_registration(s: Scratch) -> None:
    pk, sk = s.registration("alice", "live")
    registration = s.get(pk, sk)
    s.put({**registration, "lease_until": {"N": str(int(registration["expires_at"]["N"]) - 1)}})


def _guard_held_beyond_registration(s: Scratch) -> None:
    guard = s.get(*s.guard("live"))
    s.put({**guard, "held_until": {"N": str(int(guard["held_until"]["N"]) + 60)}})


def _stale_entry_before_its_time(s: Scratch) -> None:
    # alice's registration moved to another token's key, its guard and entry left pointing at the old
    # one, while their lease says the registration there cannot have expired.
    pk, sk = s.registration("alice", "live")
    s.put({**s.get(pk, sk), "sk": {"S": f"TOKEN#{token_digest('elsewhere')}"}, "token": {"S": "elsewhere"}})
    s.remove(pk, sk)


def _entry_under_another_key(s: Scratch) -> None:
    pk, sk = s.entry("alice", "live")
    s.put({**s.get(pk, sk), "sk": {"S": sk.replace("LIVE#2", "LIVE#1")}})


def _id_not_naming_created_at(s: Scratch) -> None:
    pk, sk = s.registration("alice", "live")
    registration = s.get(pk, sk)
    entry_key = s.entry("alice", "live")
    other = "2001-01-01T00:00:00.000000+00:00"
    entry = s.get(*entry_key)
    s.put({**registration, "created_at": {"S": other}})
    s.remove(*entry_key)
    s.put({**entry, "sk": {"S": f"LIVE#{other}#{registration['id']['S']}"}})


def _registration_unsafe_id(s: Scratch) -> None:
    registration = s.get(*s.registration("bob", "off"))
    s.put({**registration, "id": {"S": "65a1/../b2c3"}})


def _registration_kept_id(s: Scratch) -> None:
    """An id kept by an import (a MongoDB ObjectId of seed 004) is well formed."""
    registration = s.get(*s.registration("bob", "off"))
    s.put({**registration, "id": {"S": "65a1b2c3d4e5f60718293a4b"}})


def _record_deleted(s: Scratch) -> None:
    record = s.record_of("p1")
    s.remove(record["pk"]["S"], record["sk"]["S"])


def _record_token_guard_deleted(s: Scratch) -> None:
    s.remove(*s.presignup_guard("p2"))


def _device_guard_names_other_record(s: Scratch) -> None:
    other = s.record_of("p2")
    s.put(
        {
            "pk": {"S": f"PHONE#{SCRATCH_PHONE}"},
            "sk": {"S": "DEVICE#dev-1"},
            "record_id": other["id"],
            "expires_at": other["expires_at"],
        }
    )


def _two_records_for_one_token(s: Scratch) -> None:
    record = s.record_of("p2")
    copy = str(uuid.uuid4())
    s.put({**record, "sk": {"S": f"PRESIGNUP#{copy}"}, "id": {"S": copy}})


def _token_under_two_phones(s: Scratch) -> None:
    # What the unconditioned pre-signup race left: the record re-created on its old phone.
    record = s.record_of("p2")
    s.put({**record, "pk": {"S": "PHONE#+919876500002"}, "phone": {"S": "+919876500002"}})


def _unknown_item(s: Scratch) -> None:
    s.put({"pk": {"S": "SESSION#x"}, "sk": {"S": "1"}})


def _expired_garbage_only(s: Scratch) -> None:
    # Expired items are absent: an expired dangling guard and an expired unguarded record break nothing.
    gone = int(datetime.now(UTC).timestamp()) - 60
    s.put(
        {
            "pk": {"S": f"TOKEN#{token_digest('never-registered')}"},
            "sk": {"S": "GUARD"},
            "owner": {"S": "nobody"},
            "device_id": {"S": "x"},
            "expires_at": {"N": str(gone)},
            "held_until": {"N": str(gone)},
            "tenure": {"S": uuid.uuid4().hex},
        }
    )
    s.remove(*s.guard("old"))  # carol's registration is expired: unguarded, it breaks nothing either
    stamp = datetime.fromtimestamp(gone, UTC) - timedelta(hours=settings().presignup_ttl_hours)
    s.put(
        {
            "pk": {"S": f"PHONE#{SCRATCH_PHONE}"},
            "sk": {"S": "PRESIGNUP#expired"},
            "id": {"S": "expired"},
            "phone": {"S": SCRATCH_PHONE},
            "token": {"S": s.tokens["p1"]},
            "created_at": {"S": stamp.isoformat()},
            "updated_at": {"S": stamp.isoformat()},
            "expires_at": {"N": str(gone)},
        }
    )


@pytest.mark.parametrize(
    ("corrupt", "rules"),
    [
        pytest.param(lambda s: None, set(), id="consistent"),
        pytest.param(_expired_garbage_only, set(), id="expired-items-are-absent"),
        pytest.param(_dangling_guard, {"dangling-guard", "dangling-entry"}, id="guard-without-registration"),
        pytest.param(_guard_deleted, {"unguarded-registration"}, id="registration-without-guard"),
        pytest.param(
            _guard_names_another_device, {"dangling-guard", "unguarded-registration"}, id="guard-other-device"
        ),
        pytest.param(_guard_names_deactivated, {"dangling-guard"}, id="guard-of-deactivated"),
        pytest.param(
            _second_live_registration,
            {"unguarded-registration", "unlisted-registration", "shared-token"},
            id="two-live-registrations",
        ),
        pytest.param(_guard_expires_early, {"expiry-mismatch"}, id="guard-expiry-differs"),
        pytest.param(
            _registration_missing_field,
            {"missing-field", "dangling-guard", "dangling-entry"},
            id="missing-field",
        ),
        pytest.param(_registration_under_wrong_digest, {"key-mismatch"}, id="wrong-digest-key"),
        pytest.param(_registration_bad_values, {"bad-value", "unknown-field"}, id="bad-values"),
        pytest.param(
            _lease_shorter_than_registration,
            {"bad-lease", "expiry-mismatch", "stale-entry"},
            id="short-lease",
        ),
        pytest.param(_guard_held_beyond_registration, {"expiry-mismatch"}, id="guard-held-too-long"),
        pytest.param(
            _stale_entry_before_its_time,
            {"dangling-guard", "dangling-entry", "unguarded-registration", "stale-entry"},
            id="guard-and-entry-of-a-registration-that-cannot-have-expired",
        ),
        pytest.param(_entry_deleted, {"unlisted-registration"}, id="registration-without-list-entry"),
        pytest.param(_entry_stale, {"stale-entry"}, id="list-entry-differs"),
        pytest.param(_entry_of_deactivated, {"dangling-entry"}, id="list-entry-of-deactivated"),
        pytest.param(
            _entry_left_by_a_moved_token, {"dangling-entry", "stale-entry"}, id="list-entry-of-another-token"
        ),
        pytest.param(_entry_under_another_key, {"key-mismatch"}, id="list-entry-wrong-key"),
        pytest.param(_id_not_naming_created_at, {"bad-id"}, id="id-not-naming-created-at"),
        pytest.param(_registration_unsafe_id, {"bad-id"}, id="unsafe-id"),
        pytest.param(_registration_kept_id, set(), id="id-kept-by-an-import"),
        pytest.param(_record_deleted, {"dangling-guard"}, id="presignup-guards-without-record"),
        pytest.param(_record_token_guard_deleted, {"unguarded-record"}, id="presignup-record-without-guard"),
        pytest.param(
            _device_guard_names_other_record,
            {"dangling-guard", "unguarded-record"},
            id="device-guard-other-record",
        ),
        pytest.param(
            _two_records_for_one_token, {"unguarded-record", "shared-token"}, id="two-records-one-token"
        ),
        pytest.param(
            _token_under_two_phones,
            {"unguarded-record", "shared-token", "token-on-two-phones"},
            id="presignup-token-under-two-phones",
        ),
        pytest.param(_unknown_item, {"unknown-item"}, id="unknown-item"),
        pytest.param(_roster_under_counts, {"roster-under-counts"}, id="roster-counts-fewer-than-live"),
        pytest.param(_owner_over_the_cap, {"over-the-cap"}, id="owner-above-the-cap"),
    ],
)
def test_the_checker_reports_each_broken_invariant(
    ddb_local: Any, scratch: Scratch, corrupt: Callable[[Scratch], None], rules: set[str]
) -> None:
    corrupt(scratch)

    if not rules:
        check_invariants(ddb_local, table_name=scratch.table)
        return
    with pytest.raises(AssertionError) as failure:
        check_invariants(ddb_local, table_name=scratch.table)
    report = str(failure.value)
    assert {line.split("]")[0].split("[")[1] for line in report.splitlines()[1:]} == rules, report
    assert not any(token in report for token in scratch.tokens.values()), "a raw token in the report"
