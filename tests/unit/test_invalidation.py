"""Provider feedback over moto: rejected tokens are retired from both namespaces, idempotently."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from push_registry.invalidation import (
    DELIVERY_STATUSES,
    REASONS,
    UNREGISTERED_MESSAGE,
    Invalidation,
    Invalidations,
    InvalidationStatus,
    death_of,
)
from push_registry.presignup import PreSignup, PreSignupPost
from push_registry.registry import NewDevice, Registry
from push_registry.storage import PreSignupStore
from push_registry.telemetry import Metric
from tests.unit.conftest import Calls


def test_a_rejected_token_is_retired_everywhere_once(registry: Registry, dynamodb: Any, clock: Any) -> None:
    presignup = PreSignup(PreSignupStore(dynamodb, "push-registry-unit"), timedelta(hours=24), clock=clock)
    recorded: list[tuple[Metric, str | None]] = []
    invalidations = Invalidations(
        registry, presignup, record=lambda m, reason=None: recorded.append((m, reason))
    )
    registry.register_device("u1", NewDevice("tok-1", "android"), "accounts")
    presignup.register(PreSignupPost(phone="+919876543210", token="tok-1", device_id="d1"))

    first = invalidations.apply(Invalidation("tok-1", "UNREGISTERED"))
    second = invalidations.apply(Invalidation("tok-1", "UNREGISTERED"))

    assert (first, second) == (InvalidationStatus.DEACTIVATED, InvalidationStatus.NOT_FOUND)
    assert registry.list_devices("u1", limit=10).devices == []
    assert presignup.live_tokens("+919876543210") == []
    assert recorded == [(Metric.TOKENS_INVALIDATED, "fcm_unregistered")]
    # The token is free again: whoever registers it next gets it.
    assert registry.register_device("u2", NewDevice("tok-1", "android"), "accounts").owner == "u2"


def test_an_unknown_token_is_not_found(registry: Registry, dynamodb: Any) -> None:
    presignup = PreSignup(PreSignupStore(dynamodb, "push-registry-unit"))
    assert (
        Invalidations(registry, presignup).apply(Invalidation("nope", "410")) == InvalidationStatus.NOT_FOUND
    )


# End User Messaging's StatusMessage as SendMessages returns it (a JSON string), as reported in
# aws-amplify/amplify-js#13111 (GCM) and aws-amplify/aws-sdk-ios#4291 (APNS_SANDBOX).
def status_message(
    provider_error: str | None, channel: str = "GCM", message: str = UNREGISTERED_MESSAGE
) -> str:
    detail = {"errorMessage": message, "channelType": channel, "pushProviderStatusCode": "410"}
    if provider_error is not None:
        detail["pushProviderError"] = provider_error
        detail["pushProviderResponse"] = json.dumps({"reason": provider_error})
    return json.dumps(detail)


@pytest.mark.parametrize(
    ("reason", "message", "death"),
    [
        *((reason, None, metric) for reason, metric in REASONS.items()),
        ("PERMANENT_FAILURE", status_message("NotRegistered"), "eum_unregistered"),
        ("PERMANENT_FAILURE", status_message("UNREGISTERED"), "eum_unregistered"),
        ("PERMANENT_FAILURE", status_message("Unregistered", "APNS"), "eum_unregistered"),
        ("PERMANENT_FAILURE", status_message("BadDeviceToken", "APNS_SANDBOX"), "eum_unregistered"),
        ("PERMANENT_FAILURE", status_message(None), "eum_unregistered"),  # errorMessage alone
        ("PERMANENT_FAILURE", UNREGISTERED_MESSAGE, "eum_unregistered"),  # not JSON: the message itself
        ("PERMANENT_FAILURE", " unregistered OR expired token ", "eum_unregistered"),
        # The sender's fault, not the token's: the token stays.
        ("PERMANENT_FAILURE", status_message("DeviceTokenNotForTopic", "APNS_SANDBOX"), None),
        ("PERMANENT_FAILURE", status_message("MismatchSenderId"), None),
        ("PERMANENT_FAILURE", status_message(None, message="Invalid notification"), None),
        ("PERMANENT_FAILURE", "Request entity too large", None),
        ("PERMANENT_FAILURE", None, None),  # nothing says why
        ("PERMANENT_FAILURE", '{"errorMessage": 410}', None),
        ("PERMANENT_FAILURE", "[1, 2]", None),
        ("OPT_OUT", None, "eum_opt_out"),
        *(
            (status, status_message("NotRegistered"), None)
            for status, death in DELIVERY_STATUSES.items()
            if not death
        ),
    ],
)
def test_what_each_report_says_of_the_token(reason: str, message: str | None, death: str | None) -> None:
    assert death_of(Invalidation("tok", reason, message)) == death


def test_a_delivery_status_that_is_no_death_reads_nothing_and_keeps_the_token(
    registry: Registry, dynamodb: Any
) -> None:
    presignup = PreSignup(PreSignupStore(dynamodb, "push-registry-unit"))
    registry.register_device("u1", NewDevice("tok-1", "android"), "accounts")
    registry.register_device("u1", NewDevice("tok-2", "android"), "accounts")
    kept = [
        Invalidation("tok-1", "THROTTLED"),
        Invalidation("tok-1", "PERMANENT_FAILURE", status_message("DeviceTokenNotForTopic", "APNS")),
    ]
    calls = Calls(dynamodb)

    assert Invalidations(registry, presignup).apply_all(kept) == [InvalidationStatus.KEPT] * 2
    assert Invalidations(registry, presignup).apply(kept[0]) is InvalidationStatus.KEPT
    assert calls.names == [], "a report that says nothing of the token's death costs no request"

    dead = Invalidation("tok-2", "PERMANENT_FAILURE", status_message("NotRegistered"))
    statuses = Invalidations(registry, presignup).apply_all([*kept, dead])

    assert statuses == [InvalidationStatus.KEPT, InvalidationStatus.KEPT, InvalidationStatus.DEACTIVATED]
    assert [r.token for r in registry.list_devices("u1", limit=10).devices] == ["tok-1"]
