"""Pre-signup tokens: FCM tokens posted with a phone number before the user has an account (seed 003).

They live apart from account registrations. A record is identified by its token, or by (phone, device id)
when a device id is given; re-posting updates it, a rotated token updates the device's record, and a post
that matches two records merges them (the device's record is kept). Records expire 24 hours after the
last post. A phone keeps at most a few live records (5 by default): a post that brings one more evicts
the phone's least recently posted record in the same transaction.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from push_registry.errors import Contention, Unavailable
from push_registry.registration import new_registration_id, utc_now
from push_registry.telemetry import Metric, Recorder, discard

_ATTEMPTS = 8


class PreSignupOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    MERGED = "merged"


@dataclass(frozen=True, slots=True)
class PreSignupRecord:
    id: str
    phone: str  # E.164
    token: str
    device_id: str | None
    device_type: str | None
    meta: str | None  # the client's JSON object, serialised
    source_ip: str | None
    user_agent: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: int

    def is_live(self, now: datetime) -> bool:
        return self.expires_at > int(now.timestamp())


@dataclass(frozen=True, slots=True)
class PreSignupPost:
    """One POST of the pre-signup API, already validated and normalised."""

    phone: str
    token: str
    device_id: str | None = None
    device_type: str | None = None
    meta: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """What a guard pointed at when read: `record` is None when the guard was absent or expired, or
    its record was gone by the time it was read; `phone` is the phone a token guard named."""

    record_id: str | None
    record: PreSignupRecord | None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class PreSignupSnapshot:
    by_token: Sighting
    by_device: Sighting | None  # None when the post has no device id
    # The version of the posted phone's set of records, changed by every post that adds one to it
    # (None when no record was ever added, or it expired): arrivals on one phone are serialised, so
    # the cap cannot be overrun by concurrent posts.
    phone_version: str | None = None


class PreSignupStorage(Protocol):
    """What PreSignup needs from storage (implemented by storage.PreSignupStore)."""

    def snapshot(self, post: PreSignupPost, now: datetime) -> PreSignupSnapshot: ...

    def save(
        self,
        target: PreSignupRecord,
        seen: PreSignupSnapshot,
        previous: list[PreSignupRecord],
        now: datetime,
        evicted: list[PreSignupRecord] | None = None,
    ) -> bool:
        """Write `target` and retire `previous` if the guards are still as `seen`; False otherwise.

        `evicted` (records `target` displaces from its phone) are retired too, if unchanged; when it is
        given (None means `target` adds no record to its phone), the phone's version must still be
        `seen.phone_version`, and it changes.
        """
        ...

    def live_for_phone(self, phone: str, now: datetime) -> list[PreSignupRecord]: ...

    def find_by_token(self, token: str, now: datetime) -> PreSignupRecord | None: ...

    def guarded(self, tokens: list[str], now: datetime) -> set[str]: ...

    def retire(self, record: PreSignupRecord) -> bool: ...


class PreSignup:
    def __init__(
        self,
        store: PreSignupStorage,
        lifetime: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
        record: Recorder = discard,
        max_per_phone: int = 5,
    ) -> None:
        self._store = store
        self._lifetime = lifetime
        self._max_per_phone = max_per_phone
        self._clock = clock
        self._record = record

    def register(self, post: PreSignupPost) -> tuple[PreSignupRecord, PreSignupOutcome]:
        """Store or update the record for this token and (phone, device id), atomically."""
        for attempt in range(_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0.005, 0.025) * min(attempt, 4))  # noqa: S311 - jitter
            now = self._clock()
            seen = self._store.snapshot(post, now)
            by_token = self._live(seen.by_token, now)
            by_device = self._live(seen.by_device, now)
            kept = by_device or by_token
            merged = [by_token] if by_token and by_device and by_token.id != by_device.id else []
            target = self._target(post, kept, now)
            previous = [r for r in (kept, *merged) if r is not None]
            arrives = kept is None or kept.phone != target.phone
            evicted = self._evicted_by(target, previous, now) if arrives else None
            if self._store.save(target, seen, previous, now, evicted):
                outcome = (
                    PreSignupOutcome.MERGED
                    if merged
                    else PreSignupOutcome.UPDATED
                    if kept
                    else PreSignupOutcome.CREATED
                )
                self._record(_METRICS[outcome])
                return target, outcome
        raise Unavailable() from Contention()

    def invalidate(self, token: str) -> bool:
        """Remove the live record a rejected token identifies; False when there is none (a no-op)."""
        for attempt in range(_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0.005, 0.025) * min(attempt, 4))  # noqa: S311 - jitter
            record = self._store.find_by_token(token, self._clock())
            if record is None:
                return False
            if self._store.retire(record):
                return True
        raise Unavailable() from Contention()

    def held(self, tokens: list[str]) -> set[str]:
        """The tokens, among many, that identify a live record (one read per 100 tokens)."""
        return self._store.guarded(tokens, self._clock())

    def live_tokens(self, phone: str) -> list[PreSignupRecord]:
        """The phone's live pre-signup records, newest post first, at most the cap (for the OTP sender).

        More than the cap only exist if they were stored before it (or it was lowered); the newest win.
        """
        records = self._store.live_for_phone(phone, self._clock())
        return _newest_first(records)[: self._max_per_phone]

    def _evicted_by(
        self, target: PreSignupRecord, previous: list[PreSignupRecord], now: datetime
    ) -> list[PreSignupRecord]:
        """The phone's least recently posted records that `target` displaces to stay within the cap."""
        leaving = {(r.phone, r.id) for r in previous}
        staying = [
            r
            for r in self._store.live_for_phone(target.phone, now)
            if (r.phone, r.id) not in leaving and r.id != target.id
        ]
        excess = len(staying) + 1 - self._max_per_phone
        return _newest_first(staying)[-excess:] if excess > 0 else []

    def _target(self, post: PreSignupPost, kept: PreSignupRecord | None, now: datetime) -> PreSignupRecord:
        expires_at = int((now + self._lifetime).timestamp())
        if kept is None:
            return PreSignupRecord(
                id=new_registration_id(),
                phone=post.phone,
                token=post.token,
                device_id=post.device_id,
                device_type=post.device_type,
                meta=post.meta,
                source_ip=post.source_ip,
                user_agent=post.user_agent,
                created_at=now,
                updated_at=now,
                expires_at=expires_at,
            )
        same_phone = kept.phone == post.phone
        return replace(
            kept,
            phone=post.phone,
            token=post.token,
            # A post without a device id keeps the record's device, unless the phone changed with it.
            device_id=post.device_id or (kept.device_id if same_phone else None),
            device_type=post.device_type or kept.device_type,
            meta=post.meta if post.meta is not None else kept.meta,
            source_ip=post.source_ip,
            user_agent=post.user_agent,
            updated_at=now,
            expires_at=expires_at,
        )

    def _live(self, sighting: Sighting | None, now: datetime) -> PreSignupRecord | None:
        if sighting is None or sighting.record is None:
            return None
        if not sighting.record.is_live(now):
            self._record(Metric.EXPIRED_TOKEN_HITS)
            return None
        return sighting.record


def _newest_first(records: list[PreSignupRecord]) -> list[PreSignupRecord]:
    return sorted(records, key=lambda r: (r.updated_at, r.id), reverse=True)


_METRICS = {
    PreSignupOutcome.CREATED: Metric.PRESIGNUP_CREATED,
    PreSignupOutcome.UPDATED: Metric.PRESIGNUP_UPDATED,
    PreSignupOutcome.MERGED: Metric.PRESIGNUP_MERGED,
}
