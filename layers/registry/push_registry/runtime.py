"""Cold-start wiring: settings, one DynamoDB client, the registry and the authenticator, built once."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

import botocore.session
from botocore.config import Config

from push_registry import snapstart
from push_registry.holders import TokenHolders
from push_registry.invalidation import Invalidations
from push_registry.observability import audit, count
from push_registry.platform_keys import PlatformKeys
from push_registry.presignup import PreSignup
from push_registry.privacy import Privacy
from push_registry.rate_limit import RateLimiter
from push_registry.registry import Registry
from push_registry.settings import Settings, settings
from push_registry.storage import PreSignupStore, RegistrationStore, RequestCounter

if TYPE_CHECKING:
    from push_registry.auth import Authenticator

# Bounded so that a struggling DynamoDB gives a 503 inside the function's 15 s timeout: one call
# takes at most 3 attempts x (0.5 s connect + 1.0 s read) + standard-mode backoff (<= 1 s + 2 s)
# = 7.5 s, and the storage adapter starts no call that the request's remaining time cannot cover
# (time_budget). `total_max_attempts` counts the first attempt; `max_attempts` would not.
# parameter_validation off: botocore walks every request against the service model before sending
# it, which DynamoDB does again on arrival. That walk was the largest part of the warm time outside
# DynamoDB (about a third on a 20-item eviction transaction); a malformed request is still refused,
# by DynamoDB, as a ValidationException.
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=0.5,
    read_timeout=1.0,
    tcp_keepalive=True,
    parameter_validation=False,
)

# Under SnapStart, each environment restored from the snapshot reseeds `random` and forgets cached keys.
snapstart.register_hooks()


def dynamodb_client(config: Settings) -> object:
    # botocore directly: boto3's resource layer is never used and costs import time at cold start.
    session = botocore.session.get_session()
    return session.create_client("dynamodb", endpoint_url=config.dynamodb_endpoint_url, config=_CLIENT_CONFIG)


@cache
def _client() -> object:
    return dynamodb_client(settings())


@cache
def registry() -> Registry:
    config = settings()
    store = RegistrationStore(_client(), config.table_name, max_devices_per_user=config.max_devices_per_user)
    return Registry(store, lifetime=timedelta(days=config.registration_ttl_days), record=count)


@cache
def holders() -> TokenHolders:
    return TokenHolders(RegistrationStore(_client(), settings().table_name))


@cache
def authenticator() -> Authenticator:
    # Imported here: pyjwt and cryptography cost cold-start time that the IAM-authorised internal
    # functions, the SQS consumer and the unauthenticated pre-signup post never need.
    from push_registry.auth import Authenticator  # noqa: PLC0415

    built = Authenticator(settings())
    snapstart.forget_on_restore(built.forget_cached_keys)
    return built


@cache
def presignup() -> PreSignup:
    config = settings()
    store = PreSignupStore(_client(), config.table_name)
    return PreSignup(
        store,
        lifetime=timedelta(hours=config.presignup_ttl_hours),
        record=count,
        max_per_phone=config.presignup_max_records_per_phone,
    )


@cache
def per_ip_limiter() -> RateLimiter:
    config = settings()
    return RateLimiter(
        RequestCounter(_client(), config.table_name), limit=config.presignup_requests_per_minute
    )


@cache
def invalidations() -> Invalidations:
    return Invalidations(registry(), presignup(), record=count)


@cache
def platform_keys() -> PlatformKeys:
    return PlatformKeys(settings())


@cache
def per_user_limiter() -> RateLimiter:
    config = settings()
    counter = RequestCounter(_client(), config.table_name)
    return RateLimiter(counter, limit=config.pigeons_requests_per_minute)


@cache
def privacy() -> Privacy:
    config = settings()
    return Privacy(
        RegistrationStore(_client(), config.table_name),
        PreSignupStore(_client(), config.table_name),
        RequestCounter(_client(), config.table_name),
        record=count,
        audit=audit,
    )
