"""The registration: one push token held by one owner, and the rules every API shares about it."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

TOKEN_MAX_LENGTH = 4096
# Short descriptive values (versions, models, languages) every API accepts.
LABEL_MAX_LENGTH = 256
# FCM, APNs and web-push tokens are all printable ASCII; anything else (spaces, controls, non-ASCII)
# is a client bug, and rejecting it keeps one token from having two spellings.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")
_APNS_SHAPE = re.compile(r"[0-9a-fA-F]{64}")


class Provider(StrEnum):
    """The push service that issued the token and will deliver to it."""

    FCM = "fcm"
    APNS = "apns"
    WEBPUSH = "webpush"


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class ChannelType(StrEnum):
    """AWS End User Messaging's push channels (`ChannelType` of SendMessages' AddressConfiguration).

    An APNs token works in one environment (production or the sandbox of development builds: a sandbox
    token sent to production fails with BadDeviceToken) and is of one kind (an app's alert token, or
    PushKit's VoIP token): the channel type names both.
    """

    GCM = "GCM"
    APNS = "APNS"
    APNS_SANDBOX = "APNS_SANDBOX"
    APNS_VOIP = "APNS_VOIP"
    APNS_VOIP_SANDBOX = "APNS_VOIP_SANDBOX"


# Each provider's channel types, the first being its token's when no source named one (the seeds' APIs
# never do: their APNs tokens are production alert tokens). End User Messaging has no web push channel.
CHANNEL_TYPES: dict[Provider, tuple[ChannelType, ...]] = {
    Provider.FCM: (ChannelType.GCM,),
    Provider.APNS: (
        ChannelType.APNS,
        ChannelType.APNS_SANDBOX,
        ChannelType.APNS_VOIP,
        ChannelType.APNS_VOIP_SANDBOX,
    ),
    Provider.WEBPUSH: (),
}


def is_well_formed_token(token: str) -> bool:
    return 0 < len(token) <= TOKEN_MAX_LENGTH and _TOKEN_SHAPE.fullmatch(token) is not None


def token_digest(token: str) -> str:
    """The token's storage key: a SHA-256, because tokens (≤ 4096 chars) outgrow DynamoDB's 2048-byte keys."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def token_fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, safe to log."""
    return token_digest(token)[:12]


def guess_provider(token: str, platform: str | None) -> Provider:
    """Best guess when the API does not say: APNs device tokens are 64 hex digits, web push uses URLs."""
    if token.startswith("https://"):
        return Provider.WEBPUSH
    if platform == Platform.IOS and _APNS_SHAPE.fullmatch(token):
        return Provider.APNS
    return Provider.FCM


def new_registration_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second, as every seed shows timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class RegistrationFields:
    """What an upsert gives: each field left as None (device_info: each key not given) keeps its value."""

    device_info: dict[str, str]
    platform: str | None = None
    provider: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """A push token registered to an owner (the JWT `sub`), alive until `expires_at` unless deactivated."""

    id: str
    owner: str
    token: str
    provider: Provider
    platform: str | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime
    expires_at: int
    source: str
    active: bool = True
    device_info: dict[str, str] = field(default_factory=dict)
    tenant: str | None = None
    # The channel type the source named (a Pinpoint endpoint's ChannelType); None: the provider's own.
    channel_type: ChannelType | None = None

    @property
    def token_digest(self) -> str:
        return token_digest(self.token)

    def is_live(self, now: datetime) -> bool:
        """Deactivated and expired registrations are absent, even before DynamoDB's TTL removes them."""
        return self.active and self.expires_at > int(now.timestamp())

    def used(self, now: datetime, lifetime: timedelta, **changes: object) -> Registration:
        """This registration after a use at `now`: last use and expiry move forward, never back.

        Concurrent requests read their clocks before they write, so the one that writes last may have
        read an earlier `now` than what it replaces: time on a registration only moves forward.
        """
        now = max(now, self.updated_at, self.last_used_at)
        return replace(
            self,
            updated_at=now,
            last_used_at=now,
            expires_at=expiry_after(now, lifetime),
            **changes,  # type: ignore[arg-type]
        )


def channel_type_of(registration: Registration) -> ChannelType | None:
    """The End User Messaging channel type a sender names for the token; None for web push.

    The stored one when it is one of the provider's (a token moved to another provider keeps no stale
    one), otherwise the provider's first.
    """
    types = CHANNEL_TYPES[registration.provider]
    if registration.channel_type in types:
        return registration.channel_type
    return types[0] if types else None


def expiry_after(last_use: datetime, lifetime: timedelta) -> int:
    """Epoch seconds for the table's TTL attribute."""
    return int((last_use + lifetime).timestamp())


def require_lifetime_beyond_lease(lifetime: timedelta, lease: timedelta) -> None:
    """ValueError unless registrations live longer than the lease of their guards and list entries.

    A heartbeat or refresh writes the registration alone, without the guard, while the new expiry stays
    within the lease (now + lifetime <= expiry + lease). With a lifetime beyond the lease, such a write
    happens only while the registration still has (lifetime - lease) to live, when no one can take its
    token. Within the lease, a registration about to expire could be renewed just after another owner
    took its token: one token live under two owners.
    """
    if lifetime <= lease:
        raise ValueError(f"a registration's lifetime ({lifetime}) must exceed the lease ({lease})")


# Ids kept from a source system by an import are path segments of its clients' later calls
# (`/devices/{id}`): URL-safe characters only, and short enough for any log line. Every id that is not
# one issued here has this shape, so an id of neither shape names no registration.
_KEPT_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")


def is_keepable_id(value: str) -> bool:
    return _KEPT_ID.fullmatch(value) is not None
