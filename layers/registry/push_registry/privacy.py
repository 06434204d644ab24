"""Privacy requests: erase, or export, everything the registry stores about one user or one phone number.

A user is an owner (the JWT `sub` of the client APIs): their registrations from every API, live or
not, the token guards they hold, any other item of their partition, and their per-user rate-limit
counters. A phone is a pre-signup subject: its records and their guards. Every request is audited
without the subject itself: who asked, what, the counts, and a short hash of the subject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from push_registry.rate_limit import USER_SCOPE, counter_key
from push_registry.registration import iso, utc_now
from push_registry.telemetry import Metric, Recorder, discard


class Subject(StrEnum):
    USER = "user"
    PHONE = "phone"


class Action(StrEnum):
    ERASE = "erase"
    EXPORT = "export"


def subject_fingerprint(kind: Subject, subject: str) -> str:
    """A short, stable hash naming the subject in audit lines, never the subject itself.

    Not anonymous: whoever can enumerate candidates (phone numbers, user ids) can find the one that
    matches, as an operator confirming an erasure would. Audit lines are therefore kept no longer than
    the logs they are in (see docs/privacy.md, "Data we keep").
    """
    return hashlib.sha256(f"{kind.value}:{subject}".encode()).hexdigest()[:12]


class OwnerData(Protocol):
    """What privacy requests need from the registrations store (storage.RegistrationStore)."""

    def export_owner(self, owner: str) -> dict[str, list[dict[str, Any]]]: ...

    def erase_owner(self, owner: str) -> dict[str, int]: ...


class PhoneData(Protocol):
    """What privacy requests need from the pre-signup store (storage.PreSignupStore)."""

    def export_phone(self, phone: str) -> dict[str, list[dict[str, Any]]]: ...

    def erase_phone(self, phone: str) -> dict[str, int]: ...


class CounterData(Protocol):
    """What privacy requests need from the rate-limit counters (storage.RequestCounter)."""

    def windows(self, key: str) -> list[dict[str, Any]]: ...

    def erase(self, key: str) -> int: ...


class Auditor(Protocol):
    """Where each privacy request is recorded; the runtime writes one log line (observability.audit)."""

    def __call__(
        self, action: Action, subject: Subject, fingerprint: str, caller: str | None, counts: dict[str, int]
    ) -> None: ...


def no_audit(
    action: Action, subject: Subject, fingerprint: str, caller: str | None, counts: dict[str, int]
) -> None:
    """The auditor of tests and tools that keep no audit trail."""


class Privacy:
    """The right of access and the right to erasure, over every item family the registry stores."""

    def __init__(
        self,
        owners: OwnerData,
        phones: PhoneData,
        counters: CounterData,
        *,
        record: Recorder = discard,
        audit: Auditor = no_audit,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._owners = owners
        self._phones = phones
        self._counters = counters
        self._record = record
        self._audit = audit
        self._clock = clock

    def erase_user(self, user: str, caller: str | None) -> dict[str, int]:
        """Delete everything stored about the user; counts by kind (all zero when nothing was left)."""
        counts = self._owners.erase_owner(user)
        counts["rate_counters"] = self._counters.erase(counter_key(USER_SCOPE, user))
        self._done(Action.ERASE, Subject.USER, user, caller, counts)
        return counts

    def export_user(self, user: str, caller: str | None) -> dict[str, Any]:
        """Everything stored about the user, every stored field (raw tokens included: they are theirs)."""
        stored = self._owners.export_owner(user)
        document: dict[str, Any] = {
            "user_id": user,
            "exported_at": iso(self._clock()),
            **stored,
            "rate_counters": [
                {"scope": USER_SCOPE, **window}
                for window in self._counters.windows(counter_key(USER_SCOPE, user))
            ],
        }
        self._done(Action.EXPORT, Subject.USER, user, caller, _sizes(document))
        return document

    def erase_phone(self, phone: str, caller: str | None) -> dict[str, int]:
        """Delete every pre-signup record and guard of the phone (E.164); counts by kind."""
        counts = self._phones.erase_phone(phone)
        self._done(Action.ERASE, Subject.PHONE, phone, caller, counts)
        return counts

    def export_phone(self, phone: str, caller: str | None) -> dict[str, Any]:
        """Everything stored about the phone (E.164), every stored field."""
        document: dict[str, Any] = {
            "phone": phone,
            "exported_at": iso(self._clock()),
            **self._phones.export_phone(phone),
        }
        self._done(Action.EXPORT, Subject.PHONE, phone, caller, _sizes(document))
        return document

    def _done(
        self, action: Action, kind: Subject, subject: str, caller: str | None, counts: dict[str, int]
    ) -> None:
        self._record(Metric.ERASURES if action is Action.ERASE else Metric.EXPORTS)
        self._audit(action, kind, subject_fingerprint(kind, subject), caller, counts)


def _sizes(document: dict[str, Any]) -> dict[str, int]:
    return {name: len(value) for name, value in document.items() if isinstance(value, list)}
