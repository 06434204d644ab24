"""Provider feedback: tokens FCM, APNs, a web-push service or AWS End User Messaging rejected stop being
handed to senders.

What each reported reason says of the token is stated here, once (`death_of`): the routes, the queue,
the operator CLI and the documentation take their lists from REASONS and DELIVERY_STATUSES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from push_registry.errors import IncompleteBatch, Unavailable
from push_registry.presignup import PreSignup
from push_registry.registry import Registry
from push_registry.telemetry import Metric, Recorder, discard

# The providers' own words for "this token will never work again", each with its metric reason.
REASONS = {
    "UNREGISTERED": "fcm_unregistered",
    "INVALID_ARGUMENT": "fcm_invalid_argument",
    "Unregistered": "apns_unregistered",
    "410 Unregistered": "apns_unregistered",
    "BadDeviceToken": "apns_bad_device_token",
    "404": "webpush_not_found",
    "410": "webpush_gone",
}

# AWS End User Messaging's per-address DeliveryStatus (a SendMessages Result's), reported as is: a sender
# may report every address's. OPT_OUT retires the token (its person wants no more messages);
# PERMANENT_FAILURE only with a StatusMessage that says the token is unregistered (`_unregistered`),
# since it also reports the sender's own faults (a payload refused, a channel's credentials expired)
# for every address of a request; the others never (None: the token stays, status `kept`).
DELIVERY_STATUSES: dict[str, str | None] = {
    "PERMANENT_FAILURE": "eum_unregistered",
    "OPT_OUT": "eum_opt_out",
    "SUCCESSFUL": None,
    "THROTTLED": None,
    "TEMPORARY_FAILURE": None,
    "UNKNOWN_FAILURE": None,
    "DUPLICATE": None,
    "TIMEOUT": None,
}
# End User Messaging's `errorMessage` for a token its provider no longer knows.
UNREGISTERED_MESSAGE = "Unregistered or expired token"
# `pushProviderError`s (FCM's, legacy GCM's, APNs') that name a dead token. When the StatusMessage
# names one, it decides: DeviceTokenNotForTopic, for one, comes with UNREGISTERED_MESSAGE, but the
# token is fine; the sender's app or topic is not.
DEAD_PROVIDER_ERRORS = frozenset(
    {"UNREGISTERED", "NotRegistered", "InvalidRegistration", "Unregistered", "BadDeviceToken", "ExpiredToken"}
)
STATUS_MESSAGE_MAX_LENGTH = 4096

# Items per request and per SQS message. Sized to the time budget: after one batched read of every
# token's guards, an item found in both namespaces takes 3 reads and 2 transactions, 36 ms at 4 ms a
# read and 12 ms a transaction, so a full batch of 50 takes under 2 s of the ~7 s a request has for
# calls (15 s timeout less one call's 7.5 s worst case and 0.5 s to answer), a margin over 3x
# (tests/api/test_sender_side.py measures it). The SQS consumer takes one message per invocation
# (BatchSize 1 in template.yaml) for the same margin.
MAX_INVALIDATIONS = 50


class InvalidationStatus(StrEnum):
    DEACTIVATED = "deactivated"
    NOT_FOUND = "not_found"
    # The reported status does not say the token is dead (a success, a throttle...): nothing changed.
    KEPT = "kept"
    # Not (or not wholly) applied: the batch stopped before or during it. Sending it again is safe.
    NOT_PROCESSED = "not_processed"


@dataclass(frozen=True, slots=True)
class Invalidation:
    token: str
    reason: str  # a key of REASONS or of DELIVERY_STATUSES
    status_message: str | None = None  # End User Messaging's StatusMessage, as it came


def death_of(invalidation: Invalidation) -> str | None:
    """The metric reason when the report says the token is dead; None when it does not."""
    if invalidation.reason in REASONS:
        return REASONS[invalidation.reason]
    if invalidation.reason == "PERMANENT_FAILURE" and not _unregistered(invalidation.status_message):
        return None
    return DELIVERY_STATUSES.get(invalidation.reason)


def _unregistered(status_message: str | None) -> bool:
    """Whether a PERMANENT_FAILURE's StatusMessage says the token is unregistered: a JSON object
    (`errorMessage`, `pushProviderError`, ...) as End User Messaging writes it, or its errorMessage alone."""
    message: object = status_message
    try:
        detail = json.loads(status_message or "")
    except ValueError:
        detail = None
    if isinstance(detail, dict):
        provider_error = detail.get("pushProviderError")
        if isinstance(provider_error, str) and provider_error:
            return provider_error in DEAD_PROVIDER_ERRORS
        message = detail.get("errorMessage")
    return isinstance(message, str) and message.strip().casefold() == UNREGISTERED_MESSAGE.casefold()


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
        deaths = [death_of(invalidation) for invalidation in batch]
        tokens = [item.token for item, death in zip(batch, deaths, strict=True) if death is not None]
        try:
            holders, presignup = self._registry.holders(tokens), self._presignup.held(tokens)
        except Unavailable as error:
            statuses = [
                InvalidationStatus.NOT_PROCESSED if death else InvalidationStatus.KEPT for death in deaths
            ]
            results = [(item.token, status.value) for item, status in zip(batch, statuses, strict=True)]
            raise IncompleteBatch(results, error.retry_after) from error
        for invalidation, death in zip(batch, deaths, strict=True):
            if death is None:
                done.append(InvalidationStatus.KEPT)
                continue
            try:
                done.append(self._apply(invalidation, death, holders, presignup))
            except Unavailable as error:
                statuses = done + [InvalidationStatus.NOT_PROCESSED] * (len(batch) - len(done))
                results = [(item.token, status.value) for item, status in zip(batch, statuses, strict=True)]
                raise IncompleteBatch(results, error.retry_after) from error
        return done

    def apply(self, invalidation: Invalidation) -> InvalidationStatus:
        death = death_of(invalidation)
        if death is None:
            return InvalidationStatus.KEPT
        # Both namespaces: the token may be registered to an account, pre-signup, or both.
        registration = self._registry.invalidate(invalidation.token)
        presignup = self._presignup.invalidate(invalidation.token)
        return self._status(death, registration or presignup)

    def _apply(
        self,
        invalidation: Invalidation,
        death: str,
        holders: dict[str, tuple[str, str]],
        presignup_held: set[str],
    ) -> InvalidationStatus:
        token = invalidation.token
        registration = token in holders and self._registry.invalidate(token, holders[token])
        presignup = token in presignup_held and self._presignup.invalidate(token)
        return self._status(death, registration or presignup)

    def _status(self, death: str, retired: bool) -> InvalidationStatus:
        if retired:
            self._record(Metric.TOKENS_INVALIDATED, reason=death)
            return InvalidationStatus.DEACTIVATED
        return InvalidationStatus.NOT_FOUND
