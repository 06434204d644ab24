"""Pre-signup tokens: FCM tokens posted with a phone number before the user has an account (seed 003).

They live apart from account registrations. A record is identified by its token, or by (phone, device id)
when a device id is given; re-posting updates it, a rotated token updates the device's record, and a post
that matches two records merges them (the device's record is kept). Records expire 24 hours after the
last post.
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


class PreSignupStorage(Protocol):
    """What PreSignup needs from storage (implemented by storage.PreSignupStore)."""

    def snapshot(self, post: PreSignupPost, now: datetime) -> PreSignupSnapshot: ...

    def save(
        self, target: PreSignupRecord, seen: PreSignupSnapshot, previous: list[PreSignupRecord], now: datetime
    ) -> bool:
        """Write `target` and retire `previous` if the guards are still as `seen`; False otherwise."""
        ...

    def live_for_phone(self, phone: str, now: datetime) -> list[PreSignupRecord]: ...

    def find_by_token(self, token: str, now: datetime) -> PreSignupRecord | None: ...

    def retire(self, record: PreSignupRecord) -> bool: ...


class PreSignup:
    def __init__(
        self,
        store: PreSignupStorage,
        lifetime: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
        record: Recorder = discard,
    ) -> None:
        self._store = store
        self._lifetime = lifetime
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
            if self._store.save(target, seen, previous, now):
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

    def live_tokens(self, phone: str) -> list[PreSignupRecord]:
        """The phone's live pre-signup records, newest post first (for the OTP sender)."""
        records = self._store.live_for_phone(phone, self._clock())
        return sorted(records, key=lambda r: r.updated_at, reverse=True)

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


_METRICS = {
    PreSignupOutcome.CREATED: Metric.PRESIGNUP_CREATED,
    PreSignupOutcome.UPDATED: Metric.PRESIGNUP_UPDATED,
    PreSignupOutcome.MERGED: Metric.PRESIGNUP_MERGED,
}
