"""Generated exports of the four existing systems, with the outcome the import must reach for each row.

Every source gets `per_source` rows: most valid and recent, some last used more than 30 days ago, some
invalid (bad token, unknown platform, no owner, a bad date, a line that is not JSON), accounts rows
soft-deleted at the source, and tokens that two sources both hold (under the same user or two
users), each with a distinct last use so that exactly one of them must win.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ops import sources as import_sources

# The existing systems: the importer's sources (ops.sources) but Pinpoint, which has exports of its own.
SOURCES = tuple(name for name in import_sources.SOURCES if name != import_sources.PINPOINT)


@dataclass
class Expected:
    """What importing the files in SOURCES order must do."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: {s: Counter() for s in SOURCES})
    # token -> (owner, source, id or None, last use) of the row that must hold it at the end
    winners: dict[str, tuple[str, str, str | None, datetime]] = field(default_factory=dict)
    # kept ids and creation dates: (owner, token) -> (id, created_at or None)
    kept: dict[tuple[str, str], tuple[str, datetime | None]] = field(default_factory=dict)


@dataclass
class _Row:
    source: str
    owner: str
    token: str
    last_used: datetime
    created: datetime
    kept_id: str | None
    kind: str = "valid"  # valid | expired | invalid | inactive


def generate(
    directory: Path, per_source: int, now: datetime, seed: int = 15
) -> tuple[dict[str, Path], Expected]:
    rnd = random.Random(seed)
    rows: dict[str, list[_Row]] = {s: [] for s in SOURCES}
    used_moments: set[int] = set()

    def moment(days_ago_low: float, days_ago_high: float) -> datetime:
        while True:  # distinct to the second: the most recent use is never a tie
            value = now - timedelta(seconds=rnd.uniform(days_ago_low * 86400, days_ago_high * 86400))
            value = value.replace(microsecond=0)
            if int(value.timestamp()) not in used_moments:
                used_moments.add(int(value.timestamp()))
                return value

    def new_row(source: str, token: str | None = None, owner: str | None = None) -> _Row:
        last_used = moment(0.01, 29)
        return _Row(
            source=source,
            owner=owner or f"user-{rnd.randrange(per_source * 2):06d}",
            token=token or f"tok-{uuid.UUID(int=rnd.getrandbits(128)).hex}",
            last_used=last_used,
            created=(last_used - timedelta(days=rnd.uniform(0, 300))).replace(microsecond=0),
            kept_id=_kept_id(source, rnd),
        )

    shared = per_source * 15 // 100
    for _ in range(shared):  # one token in two sources
        first, second = rnd.sample(SOURCES, 2)
        a = new_row(first)
        b = new_row(second, token=a.token, owner=a.owner if rnd.random() < 0.5 else None)
        rows[first].append(a)
        rows[second].append(b)
    for source in SOURCES:
        while len(rows[source]) < per_source:
            row = new_row(source)
            draw = rnd.random()
            if draw < 0.08:
                row.kind = "expired"
                row.last_used = moment(31, 400)
                row.created = row.last_used - timedelta(days=10)
            elif draw < 0.11:
                row.kind = "invalid"
            elif draw < 0.12 and source == "accounts":
                row.kind = "inactive"
            rows[source].append(row)
        rnd.shuffle(rows[source])

    return _write(directory, rows, rnd)


def _write(
    directory: Path, rows: dict[str, list[_Row]], rnd: random.Random
) -> tuple[dict[str, Path], Expected]:
    """The files, and what importing them in SOURCES order must do to each row."""
    expected = Expected()
    holders: dict[str, _Row] = {}
    paths = {}
    for source in SOURCES:
        lines = []
        for row in rows[source]:
            if row.kind == "invalid":
                lines.append(_invalid_line(row, rnd))
                expected.counts[source]["rejected"] += 1
                continue
            lines.append(json.dumps(_exported(row, rnd)))
            if row.kind != "valid":
                expected.counts[source][row.kind] += 1
                continue
            holder = holders.get(row.token)
            if holder is None:
                expected.counts[source]["imported"] += 1
            elif holder.last_used < row.last_used:
                expected.counts[source]["won"] += 1
            else:
                expected.counts[source]["lost"] += 1
                continue
            holders[row.token] = row
        path = directory / f"{source}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths[source] = path
    for token, row in holders.items():
        expected.winners[token] = (row.owner, row.source, row.kept_id, row.last_used)
        if row.kept_id is not None:
            expected.kept[row.owner, token] = (row.kept_id, row.created)
    return paths, expected


def _kept_id(source: str, rnd: random.Random) -> str | None:
    if source == "user-push-tokens":
        return str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    if source in ("accounts", "pigeons"):
        return f"{rnd.getrandbits(96):024x}"  # a MongoDB ObjectId
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _exported(row: _Row, rnd: random.Random) -> dict[str, Any]:
    if row.source == "accounts":
        return {
            "_id": {"$oid": row.kept_id},
            "account_id": row.owner,
            "device_token": row.token,
            "platform": rnd.choice(["android", "ios"]),
            "device_info": {"app_version": "1.0.0", "os_version": "14", "device_model": "Pixel 8"},
            "active": row.kind != "inactive",
            "created_at": {"$date": _iso(row.created)},
            "updated_at": {"$date": _iso(row.last_used)},
            "last_used_at": {"$date": _iso(row.last_used)},
        }
    if row.source == "camera":
        kind = rnd.choice(["FCM", "APNS"])
        return {
            "userId": row.owner,
            "msgType": kind,
            "msgToken": row.token,
            "app": {"type": "ios" if kind == "APNS" else "android", "version": "1.2.3"},
            "countryNo": "US",
            "language": "en",
            "tenantId": None,
            "createTime": _ms(row.created),
            "updateTime": _ms(row.last_used),
        }
    if row.source == "user-push-tokens":
        return {
            "id": row.kept_id,
            "user_id": row.owner,
            "device_os": "iOS",
            "push_token": row.token,
            "app_ver": "1.0.0",
            "module": "main",
            "registered_date": _iso(row.created),
            "updated_date": _iso(row.last_used),
        }
    return {
        "_id": row.kept_id,
        "user_id": row.owner,
        "tenant": "local",
        "token": row.token,
        "platform": rnd.choice(["android", "ios", "web"]),
        "device": {"type": "mobile", "os": "Android", "app_version": "1.0.0", "model": "Galaxy S23"},
        "created_at": _iso(row.created),
        "updated_at": _iso(row.last_used),
    }


def _invalid_line(row: _Row, rnd: random.Random) -> str:
    exported = _exported(row, rnd)
    token_field = {"accounts": "device_token", "camera": "msgToken", "user-push-tokens": "push_token"}.get(
        row.source, "token"
    )
    owner_field = {"accounts": "account_id", "camera": "userId"}.get(row.source, "user_id")
    match rnd.randrange(5):
        case 0:
            exported[token_field] = "has a space"
        case 1:
            if row.source == "accounts":
                exported["platform"] = "windows"
            elif row.source == "camera":
                exported["msgType"] = "HMS"
            elif row.source == "pigeons":
                exported["platform"] = "blackberry"
            else:
                exported[token_field] = "tök-non-ascii"
        case 2:
            exported.pop(owner_field)
        case 3:
            key = {"accounts": "last_used_at", "camera": "updateTime", "user-push-tokens": "updated_date"}
            exported[key.get(row.source, "updated_at")] = "last tuesday"
            if row.source == "accounts":
                exported["updated_at"] = "never"
            if row.source == "camera":
                exported["createTime"] = "never"
            if row.source == "user-push-tokens":
                exported["registered_date"] = "never"
        case _:
            return '{"truncated": '
    return json.dumps(exported)
