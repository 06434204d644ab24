"""Business metrics the registry records: names shared by the code, the dashboard and the alarms."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Metric(StrEnum):
    """Every custom metric (namespace PushRegistry, dimension `api`), one count per event."""

    REGISTRATIONS_CREATED = "RegistrationsCreated"
    REGISTRATIONS_REFRESHED = "RegistrationsRefreshed"
    REGISTRATIONS_MOVED = "RegistrationsMoved"  # a token changed hands: another owner held it
    TOKEN_CONFLICTS = "TokenConflicts"  # noqa: S105 - 409: the token is held by a live registration
    DEACTIVATIONS = "Deactivations"
    REGISTRATIONS_EVICTED = "RegistrationsEvicted"  # deactivated for a new one beyond the user's cap
    VALIDATION_FAILURES = "ValidationFailures"
    AUTH_FAILURES = "AuthFailures"
    RATE_LIMITED = "RateLimitedRequests"
    PRESIGNUP_CREATED = "PresignupRecordsCreated"
    PRESIGNUP_UPDATED = "PresignupRecordsUpdated"
    PRESIGNUP_MERGED = "PresignupRecordsMerged"
    EXPIRED_TOKEN_HITS = "ExpiredTokenHits"  # noqa: S105 - an expired item read before TTL removed it
    DEPENDENCY_FAILURES = "DependencyFailures"  # 503: DynamoDB kept failing after the retries
    UNHANDLED_ERRORS = "UnhandledErrors"  # 500: a bug; the handler answered, so Lambda saw no error
    SENDER_LOOKUPS = "SenderLookups"  # a backend read the live tokens of a user or a phone
    TOKENS_INVALIDATED = "TokensInvalidated"  # a provider-rejected token was retired
    ERASURES = "Erasures"  # a user or a phone was erased (right to erasure), once per request
    EXPORTS = "Exports"  # a user's or a phone's data was exported (right of access), once per request


class Recorder(Protocol):
    """Where the domain reports what happened; the runtime wires it to CloudWatch (EMF).

    `reason`, when given, becomes a dimension of its own (invalidations by provider reason).
    """

    def __call__(self, metric: Metric, reason: str | None = None) -> None: ...


def discard(metric: Metric, reason: str | None = None) -> None:
    """The recorder of tests and tools that do not publish metrics."""
