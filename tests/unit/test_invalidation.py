"""Provider feedback over moto: rejected tokens are retired from both namespaces, idempotently."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from push_registry.invalidation import Invalidation, Invalidations, InvalidationStatus
from push_registry.presignup import PreSignup, PreSignupPost
from push_registry.registry import NewDevice, Registry
from push_registry.storage import PreSignupStore
from push_registry.telemetry import Metric


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
