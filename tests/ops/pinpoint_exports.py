"""A generated Amazon Pinpoint export, and the outcome importing it must reach for each endpoint.

What an export job writes (newline-delimited endpoint definitions in several files, some
gzip-compressed) plus one user's saved `aws pinpoint get-user-endpoints` output, `total` endpoints in
all. They mix every ChannelType Pinpoint knows, INACTIVE endpoints, opt-outs, anonymous endpoints,
endpoints unused for longer than the lifetime, invalid rows, tokens under two users with different
EffectiveDates, users beyond the per-user cap, and tokens a push provider declared dead before the
import (their rows must not come back).
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOT_PUSH = ("EMAIL", "SMS", "VOICE", "IN_APP", "CUSTOM")
UNSERVED = ("ADM", "BAIDU", "PUSH")
PUSH = ("GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX")
PUSH_WEIGHTS = (50, 25, 10, 8, 7)
# Files in import order: (name, share of the export's lines, gzip-compressed).
FILES = (("part-00000.gz", 0.4, True), ("part-00001", 0.4, False), ("part-00002.gz", 0.2, True))
USER_ENDPOINTS = "user-endpoints.json"  # the saved get-user-endpoints output, imported last
HEAVY_USERS = 3  # users with more endpoints than the cap the test imports with
HEAVY_ENDPOINTS = 14  # within Pinpoint's own 15 per user
PAIRS = 60  # tokens under two users


@dataclass
class Row:
    owner: str | None
    token: str
    channel: str
    last_used: datetime
    created: datetime
    kind: str = "valid"  # valid | expired | rejected | not_push | opted_out | inactive | anonymous | dead
    endpoint_id: str = ""


@dataclass
class Expected:
    """What importing the files in order must do."""

    files: list[Path] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    # token -> (owner, channel type, endpoint id, last use) of the row that must hold it at the end
    winners: dict[str, tuple[str, str, str, datetime]] = field(default_factory=dict)
    dead: list[str] = field(default_factory=list)  # tokens to declare dead before the import
    # tokens of rows that must leave no registration (opted out, anonymous, inactive, expired...)
    absent: set[str] = field(default_factory=set)
    # the same files imported again: what each row's registration, as the first pass left it, makes of it
    again: dict[str, Counter[str]] = field(default_factory=dict)
    lines: int = 0


def generate(directory: Path, total: int, now: datetime, cap: int, seed: int = 23) -> Expected:
    rnd = random.Random(seed)
    used: set[int] = set()

    def moment(days_low: float, days_high: float) -> datetime:
        while True:  # distinct to the second: the most recent use is never a tie
            value = (now - timedelta(seconds=rnd.uniform(days_low * 86400, days_high * 86400))).replace(
                microsecond=0
            )
            if int(value.timestamp()) not in used:
                used.add(int(value.timestamp()))
                return value

    def token(channel: str) -> str:
        raw = uuid.UUID(int=rnd.getrandbits(128)).hex
        return raw * 2 if channel.startswith("APNS") else f"fcm-{raw}:APA91b{raw[:12]}"

    def row(owner: str | None = None, channel: str | None = None, address: str | None = None) -> Row:
        channel = channel or rnd.choices(PUSH, PUSH_WEIGHTS)[0]
        last_used = moment(0.01, 29)
        return Row(
            owner=owner or f"user-{rnd.randrange(total * 2):06d}",
            token=address or token(channel),
            channel=channel,
            last_used=last_used,
            created=(last_used - timedelta(days=rnd.uniform(0, 300))).replace(microsecond=0),
        )

    rows: list[Row] = []
    for _ in range(PAIRS):  # the same token under two users, each with its own EffectiveDate
        first = row()
        rows += [first, row(channel=first.channel, address=first.token)]
    heavy = [[row(owner=f"heavy-{h}") for _ in range(HEAVY_ENDPOINTS)] for h in range(HEAVY_USERS)]
    for endpoints in heavy[:-1]:
        rows += endpoints
    for kind, share in (("dead", 0.004), ("expired", 0.06), ("inactive", 0.06), ("opted_out", 0.06)):
        for _ in range(int(total * share)):
            extra = row()
            extra.kind = kind
            if kind == "expired":
                extra.last_used = moment(31, 400)
                extra.created = extra.last_used - timedelta(days=10)
            rows.append(extra)
    for _ in range(int(total * 0.08)):
        anonymous = row()
        anonymous.kind, anonymous.owner = "anonymous", None
        rows.append(anonymous)
    for channel in (*NOT_PUSH, *UNSERVED):  # every other ChannelType, email addresses and all
        for _ in range(int(total * (0.05 if channel in NOT_PUSH else 0.01))):
            other = row(channel=channel, address=f"person-{rnd.getrandbits(40)}@example.com")
            other.kind = "not_push" if channel in NOT_PUSH else "rejected"
            rows.append(other)
    for _ in range(int(total * 0.03)):
        invalid = row()
        invalid.kind = "rejected"
        rows.append(invalid)
    user_endpoints = heavy[-1]
    while len(rows) + len(user_endpoints) < total:
        rows.append(row())
    rnd.shuffle(rows)
    for number, each in enumerate([*rows, *user_endpoints]):
        each.endpoint_id = f"ep-{number:05d}-{uuid.UUID(int=rnd.getrandbits(128)).hex[:8]}"
    return _write(directory, rows, user_endpoints, cap=cap, rnd=rnd)


def _write(
    directory: Path, rows: list[Row], user_endpoints: list[Row], *, cap: int, rnd: random.Random
) -> Expected:
    """The files, and what importing them in order must do: each row decided as the importer decides
    it, in the order it reads them (most recent use wins a token; a user keeps the `cap` most recently
    used live registrations). Workers adopt rows concurrently, so a user's rows close together may be
    decided in another order: see `order_free`."""
    expected = Expected(lines=len(rows) + len(user_endpoints))
    holders: dict[str, Row] = {}
    live: dict[str, dict[str, Row]] = {}  # owner -> token -> row of a live registration
    parts, start = [], 0
    for name, share, packed in FILES:
        end = len(rows) if name == FILES[-1][0] else start + int(len(rows) * share)
        parts.append((directory / name, rows[start:end], packed))
        start = end
    parts.append((directory / USER_ENDPOINTS, user_endpoints, False))
    fates: dict[str, str] = {}  # endpoint id -> "capped" or "evicted", for the second pass
    for path, part, packed in parts:
        counts: Counter[str] = Counter()
        lines = []
        for each in part:
            if each.kind == "rejected" and each.channel in PUSH:
                lines.append(_invalid_line(each, rnd))
            else:
                lines.append(json.dumps(_endpoint(each)))
            if each.kind == "valid":
                _adopt(each, holders=holders, live=live, cap=cap, counts=counts, fates=fates)
                continue
            expected.absent.add(each.token)
            if each.kind == "dead":
                expected.dead.append(each.token)
            counts["retired" if each.kind == "dead" else each.kind] += 1
        if path.name == USER_ENDPOINTS:
            document = {"EndpointsResponse": {"Item": [json.loads(line) for line in lines]}}
            path.write_text(json.dumps(document, indent=4), encoding="utf-8")
        else:
            text = "".join(line + "\n" for line in lines).encode()
            path.write_bytes(gzip.compress(text) if packed else text)
        expected.files.append(path)
        expected.counts[path.name] = counts
    for address, winner in holders.items():
        assert winner.owner is not None
        expected.winners[address] = (winner.owner, winner.channel, winner.endpoint_id, winner.last_used)
    winning = {row.endpoint_id for row in holders.values()}
    for path, part, _ in parts:
        expected.again[path.name] = Counter(_again(each, winning, fates) for each in part)
    return expected


def _again(each: Row, winning: set[str], fates: dict[str, str]) -> str:
    """A row's outcome when its file is imported a second time."""
    if each.kind == "dead":
        return "retired"
    if each.kind != "valid":
        return each.kind
    if each.endpoint_id in winning:
        return "unchanged"
    # An eviction deactivated the row's registration after its last use: not brought back.
    return {"capped": "capped", "evicted": "retired"}.get(fates.get(each.endpoint_id, ""), "lost")


def _adopt(
    each: Row,
    *,
    holders: dict[str, Row],
    live: dict[str, dict[str, Row]],
    cap: int,
    counts: Counter[str],
    fates: dict[str, str],
) -> None:
    """The outcome of one valid row, as `push_registry.adoption` decides it."""
    assert each.owner is not None
    holder = holders.get(each.token)
    if holder is not None and holder.last_used > each.last_used:
        counts["lost"] += 1
        return
    mine = live.setdefault(each.owner, {})
    others = [r for r in mine.values() if r.token != each.token]  # the user's own is replaced in place
    if len(others) >= cap:
        oldest = min(others, key=lambda r: r.last_used)
        if oldest.last_used > each.last_used:
            counts["capped"] += 1
            fates[each.endpoint_id] = "capped"
            return
        del mine[oldest.token], holders[oldest.token]
        counts["evicted"] += 1
        fates[oldest.endpoint_id] = "evicted"
    if holder is not None:
        assert holder.owner is not None
        del live[holder.owner][holder.token]
    counts["won" if holder is not None else "imported"] += 1
    holders[each.token] = mine[each.token] = each


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _endpoint(each: Row) -> dict[str, Any]:
    """An endpoint definition with the fields an export job writes."""
    ios = each.channel.startswith("APNS")
    endpoint: dict[str, Any] = {
        "ApplicationId": "6e0b7591a90841d2b5d93fa11143e5a7",
        "Id": each.endpoint_id,
        "ChannelType": each.channel,
        "Address": each.token,
        "EndpointStatus": "INACTIVE" if each.kind == "inactive" else "ACTIVE",
        "OptOut": "ALL" if each.kind == "opted_out" else "NONE",
        "CohortId": "17",
        "CreationDate": _iso(each.created),
        "EffectiveDate": _iso(each.last_used),
        "Demographic": {
            "AppVersion": "4.1.0",
            "Make": "Apple" if ios else "samsung",
            "Model": "iPhone" if ios else "SM-S918B",
            "Platform": "ios" if ios else "android",
            "PlatformVersion": "18.1" if ios else "14",
            "Locale": "en_US",
            "Timezone": "America/New_York",
        },
        "Location": {"Country": "US"},
        "Attributes": {},
        "Metrics": {},
        "User": {"UserAttributes": {}} if each.owner is None else {"UserId": each.owner},
    }
    return endpoint


def _invalid_line(each: Row, rnd: random.Random) -> str:
    endpoint = _endpoint(each)
    match rnd.randrange(4):
        case 0:
            endpoint["Address"] = "has a space"
        case 1:
            endpoint["EffectiveDate"] = endpoint["CreationDate"] = "last tuesday"
        case 2:
            endpoint["OptOut"] = "MAYBE"
        case _:
            return '{"truncated": '
    return json.dumps(endpoint)


def order_free(counts: dict[str, int]) -> dict[str, int]:
    """Counts with what concurrent workers may decide either way merged. A user's records adopted at
    once at the cap are one capped, or both imported and one of them then evicted by the other; the
    same record imported again is then capped, or retired (its registration deactivated since). The
    registrations that stay are the same either way: the cap's most recently used."""
    c = Counter(counts)
    merged = {k: v for k, v in c.items() if k not in ("imported", "capped", "evicted", "retired")}
    merged["imported + capped + retired"] = c["imported"] + c["capped"] + c["retired"]
    merged["imported - evicted"] = c["imported"] - c["evicted"]
    return {k: v for k, v in merged.items() if v}
