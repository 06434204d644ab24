"""End User Messaging channel types over moto: derived for every API's tokens, kept with the token."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from push_registry.registration import (
    CHANNEL_TYPES,
    ChannelType,
    Provider,
    Registration,
    channel_type_of,
    token_digest,
)
from push_registry.registry import NewDevice, Registry

APNS_TOKEN = "a" * 64
MOMENT = datetime(2026, 11, 1, tzinfo=UTC)


def registration(provider: Provider, channel_type: ChannelType | None = None) -> Registration:
    return Registration(
        id="r-1",
        owner="u-1",
        token=APNS_TOKEN,
        provider=provider,
        platform=None,
        created_at=MOMENT,
        updated_at=MOMENT,
        last_used_at=MOMENT,
        expires_at=0,
        source="camera",
        channel_type=channel_type,
    )


@pytest.mark.parametrize(
    ("provider", "stored", "shown"),
    [
        (Provider.FCM, None, ChannelType.GCM),
        (Provider.APNS, None, ChannelType.APNS),  # every client API's APNs token: production, alerts
        (Provider.WEBPUSH, None, None),  # End User Messaging has no web push channel
        *((Provider.APNS, kind, kind) for kind in CHANNEL_TYPES[Provider.APNS]),
        (Provider.FCM, ChannelType.GCM, ChannelType.GCM),
        # A stored type of another provider (the token moved provider since) is not shown.
        (Provider.FCM, ChannelType.APNS_SANDBOX, ChannelType.GCM),
        (Provider.APNS, ChannelType.GCM, ChannelType.APNS),
        (Provider.WEBPUSH, ChannelType.APNS_VOIP, None),
    ],
)
def test_each_tokens_channel_type(provider: Provider, stored: ChannelType | None, shown: str | None) -> None:
    assert channel_type_of(registration(provider, stored)) == shown


def test_every_channel_type_belongs_to_exactly_one_provider() -> None:
    owners = [provider for provider, kinds in CHANNEL_TYPES.items() for _ in kinds]
    assert sorted(kind for kinds in CHANNEL_TYPES.values() for kind in kinds) == sorted(ChannelType)
    assert len(owners) == len(ChannelType)


def test_the_stored_channel_type_survives_every_api_reregistering_the_token(registry: Registry) -> None:
    """A sandbox token registered again through an API that cannot say so stays a sandbox token: sent
    to production it would fail (BadDeviceToken), and the sender would invalidate a working token."""
    sandbox = NewDevice(
        token=APNS_TOKEN, platform="ios", provider=Provider.APNS, channel_type=ChannelType.APNS_SANDBOX
    )
    registry.register_device("u-1", sandbox, "pinpoint")
    plain = replace(sandbox, channel_type=None)

    registry.upsert_device("u-1", plain, "user-push-tokens")  # the same user, another API
    assert registry.list_devices("u-1", 10).devices[0].channel_type is ChannelType.APNS_SANDBOX
    registry.refresh_or_register("u-2", plain, "camera")  # taken over by another user
    assert registry.list_devices("u-2", 10).devices[0].channel_type is ChannelType.APNS_SANDBOX
    registry.replace_device("u-3", plain, "pigeons")  # a new registration (new id) of the token
    (moved,) = registry.list_devices("u-3", 10).devices
    assert channel_type_of(moved) is ChannelType.APNS_SANDBOX
    assert moved.token_digest == token_digest(APNS_TOKEN)
