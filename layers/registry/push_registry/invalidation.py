"""Provider feedback: tokens FCM, APNs or a web-push service rejected stop being handed to senders."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from push_registry.errors import IncompleteBatch, Unavailable
from push_registry.presignup import PreSignup
from push_registry.registry import Registry
from push_registry.telemetry import Metric, Recorder, discard

# The providers' own words for "this token will never work again".
REASONS = {
    "UNREGISTERED": "fcm_unregistered",
    "INVALID_ARGUMENT": "fcm_invalid_argument",
    "Unregistered": "apns_unregistered",
    "410 Unregistered": "apns_unregistered",
    "BadDeviceToken": "apns_bad_device_token",
    "404": "webpush_not_found",
    "410": "webpush_gone",
}


class InvalidationStatus(StrEnum):
    DEACTIVATED = "deactivated"
    NOT_FOUND = "not_found"
    # Not (or not wholly) applied: the batch stopped before or during it. Sending it again is safe.
    NOT_PROCESSED = "not_processed"


@dataclass(frozen=True, slots=True)
class Invalidation:
    token: str
    reason: str  # a key of REASONS


class Invalidations:
    """Deactivates the registration and removes the pre-signup record a rejected token names."""

    def __init__(self, registry: Registry, presignup: PreSignup, record: Recorder = discard) -> None:
        self._registry = registry
        self._presignup = presignup
        self._record = record

    def apply_all(self, batch: list[Invalidation]) -> list[InvalidationStatus]:
        """Apply a batch in order; IncompleteBatch, listing what was done, when one item cannot be.

        Both namespaces' guards of the whole batch are read first, in one request each (per 100
        tokens): most tokens are in one namespace or none, so most items then take no read of their
        own. A token absent at that read is not found, the answer it would have got then.
        """
        done: list[InvalidationStatus] = []
        tokens = [invalidation.token for invalidation in batch]
        try:
            holders, presignup = self._registry.holders(tokens), self._presignup.held(tokens)
        except Unavailable as error:
            not_done = InvalidationStatus.NOT_PROCESSED.value
            raise IncompleteBatch([(token, not_done) for token in tokens], error.retry_after) from error
        for invalidation in batch:
            try:
                done.append(self._apply(invalidation, holders, presignup))
            except Unavailable as error:
                statuses = done + [InvalidationStatus.NOT_PROCESSED] * (len(batch) - len(done))
                results = [(item.token, status.value) for item, status in zip(batch, statuses, strict=True)]
                raise IncompleteBatch(results, error.retry_after) from error
        return done

    def apply(self, invalidation: Invalidation) -> InvalidationStatus:
        # Both namespaces: the token may be registered to an account, pre-signup, or both.
        registration = self._registry.invalidate(invalidation.token)
        presignup = self._presignup.invalidate(invalidation.token)
        return self._status(invalidation, registration or presignup)

    def _apply(
        self, invalidation: Invalidation, holders: dict[str, tuple[str, str]], presignup_held: set[str]
    ) -> InvalidationStatus:
        token = invalidation.token
        registration = token in holders and self._registry.invalidate(token, holders[token])
        presignup = token in presignup_held and self._presignup.invalidate(token)
        return self._status(invalidation, registration or presignup)

    def _status(self, invalidation: Invalidation, retired: bool) -> InvalidationStatus:
        if retired:
            self._record(Metric.TOKENS_INVALIDATED, reason=REASONS[invalidation.reason])
            return InvalidationStatus.DEACTIVATED
        return InvalidationStatus.NOT_FOUND
