"""Bearer-JWT verification with pyjwt: explicit algorithm allow-list, required `exp`, optional iss/aud."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt

from push_registry.bounds import utf8_size
from push_registry.errors import Unauthenticated, Unavailable
from push_registry.settings import Settings

# Far above any real access token, far below what could cost us to parse.
_MAX_TOKEN_CHARS = 8192
_MAX_SUBJECT_CHARS = 256
# How old a verification key may be: the HS256 key from Secrets Manager and the issuer's JWK set are
# re-read after this, so a rotated or removed key stops (or starts) working within 5 minutes.
KEY_MAX_AGE_SECONDS = 300
# A token that no cached key verifies may force one early re-read per cooldown: a rotation is picked up
# at once, and a flood of forged tokens or unknown `kid`s costs at most one fetch per cooldown.
KEY_REFRESH_COOLDOWN_SECONDS = 30

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller; `subject` is the JWT `sub` when it is a usable owner id."""

    subject: str | None
    claims: Mapping[str, Any] = field(default_factory=dict)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The JWT of an `Authorization: Bearer <jwt>` header (header names are case-insensitive)."""
    value = headers.get("authorization", "").strip()
    if not value:
        raise Unauthenticated("missing")
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > _MAX_TOKEN_CHARS:
        raise Unauthenticated("invalid")
    return token


class HmacKeys:
    """The HS256 keys a token may be signed with: the configured secret, or Secrets Manager's AWSCURRENT
    and, while a rotation is under way, AWSPREVIOUS; each read through Powertools' cache (5 minutes)."""

    def __init__(self, settings: Settings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._monotonic = monotonic
        self._providers: tuple[SecretsProvider, SecretsProvider] | None = None
        # The AWSCURRENT key under which AWSPREVIOUS was found absent: a rotation changes AWSCURRENT,
        # so absence is re-checked when the current key changes (an absence is never cached by
        # Powertools, and every forged token would otherwise ask Secrets Manager again).
        self._no_previous_under: str | None = None
        self._last_refresh: float | None = None

    def keys(self) -> tuple[str, ...]:
        """The keys to try, current first; fails closed (Unauthenticated) when none is configured."""
        if self._settings.jwt_secret is not None:
            return (self._settings.jwt_secret.get_secret_value(),)
        if not self._settings.jwt_secret_arn:
            raise Unauthenticated("invalid")
        return self._from_secrets_manager(force=False)

    def refreshed(self) -> tuple[str, ...] | None:
        """The keys read again now, at most once per cooldown; None when nothing may be re-read."""
        if self._settings.jwt_secret is not None or not self._settings.jwt_secret_arn:
            return None
        now = self._monotonic()
        if self._last_refresh is not None and now - self._last_refresh < KEY_REFRESH_COOLDOWN_SECONDS:
            return None
        self._last_refresh = now
        return self._from_secrets_manager(force=True)

    def forget(self) -> None:
        """Drop every cached key (for example after a SnapStart restore): the next token re-reads them."""
        if self._providers is not None:
            for provider in self._providers:
                provider.clear_cache()  # type: ignore[no-untyped-call]
        self._no_previous_under = None
        self._last_refresh = None

    def _from_secrets_manager(self, force: bool) -> tuple[str, ...]:
        current = self._read("AWSCURRENT", force)
        if current is None:
            raise Unavailable()  # the secret itself is missing: a deployment fault, not a bad token
        if self._no_previous_under == current and not force:
            return (current,)
        previous = self._read("AWSPREVIOUS", force)
        if previous is None:
            self._no_previous_under = current
            return (current,)
        self._no_previous_under = None
        return (current,) if previous == current else (current, previous)

    def _read(self, stage: str, force: bool) -> str | None:
        # Imported here: only deployments that keep the key in Secrets Manager pay for it.
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415
        from botocore.exceptions import ClientError  # noqa: PLC0415

        current, previous = self._secrets_providers()
        # One provider per stage: Powertools' cache key is the secret's name, not the SDK options, so
        # one provider would answer AWSPREVIOUS from the cached AWSCURRENT.
        provider = current if stage == "AWSCURRENT" else previous
        try:
            value = provider.get(
                self._settings.jwt_secret_arn or "",
                max_age=KEY_MAX_AGE_SECONDS,
                force_fetch=force,
                VersionStage=stage,
            )
        except parameters.exceptions.GetParameterError as error:
            cause = error.__context__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == (
                "ResourceNotFoundException"
            ):
                return None
            raise Unavailable() from error
        return value.decode() if isinstance(value, bytes) else str(value)

    def _secrets_providers(self) -> tuple[SecretsProvider, SecretsProvider]:
        if self._providers is None:
            import boto3  # noqa: PLC0415
            from aws_lambda_powertools.utilities.parameters import SecretsProvider  # noqa: PLC0415
            from botocore.config import Config  # noqa: PLC0415

            # Short timeouts: a slow Secrets Manager must end in a 503 within the request's budget.
            client = boto3.client(
                "secretsmanager",
                config=Config(
                    connect_timeout=0.5,
                    read_timeout=1.0,
                    retries={"mode": "standard", "total_max_attempts": 2},
                ),
            )
            self._providers = (SecretsProvider(boto3_client=client), SecretsProvider(boto3_client=client))
        return self._providers


class Authenticator:
    """Verifies access tokens against the configured key: an HS256 secret or the issuer's JWKS.

    Every cached key lives here, in `_hmac` and `_jwks_client`; `forget_cached_keys()` drops them all.
    """

    def __init__(self, settings: Settings, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._hmac = HmacKeys(settings, monotonic)
        self._jwks_client: jwt.PyJWKClient | None = None

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        token = bearer_token(headers)
        settings = self._settings
        try:
            # Refuse foreign algorithms before looking up any key (no JWKS fetch for junk tokens).
            if jwt.get_unverified_header(token).get("alg") not in settings.jwt_algorithms:
                raise Unauthenticated("invalid")
            if settings.jwt_jwks_url:
                claims = self._decode(token, self._jwks().get_signing_key_from_jwt(token).key)
            else:
                claims = self._decode_hmac(token)
        except jwt.PyJWKClientConnectionError as error:
            raise Unavailable() from error
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise Unauthenticated("invalid") from error
        subject = claims.get("sub")
        # A `sub` that is not Unicode (a lone surrogate from a `\ud800` escape) names no user: it could
        # never be a key. 256 characters are at most 1,024 bytes, within a partition key.
        usable = (
            isinstance(subject, str)
            and 0 < len(subject) <= _MAX_SUBJECT_CHARS
            and utf8_size(subject) is not None
        )
        return Principal(subject if usable else None, claims)

    def subject_of(self, headers: Mapping[str, str], without_subject: str = "invalid") -> str:
        """The verified caller's `sub`; a valid token naming no user is Unauthenticated(without_subject)."""
        subject = self.authenticate(headers).subject
        if subject is None:
            raise Unauthenticated(without_subject)
        return subject

    def forget_cached_keys(self) -> None:
        """Drop every cached verification key; the next token reads them again."""
        self._hmac.forget()
        self._jwks_client = None

    def _decode_hmac(self, token: str) -> dict[str, Any]:
        keys = self._hmac.keys()
        try:
            return self._decode_with_any(token, keys)
        except jwt.InvalidSignatureError as refused:
            # Perhaps signed with a key newer than the cached ones (a rotation minutes ago). Secrets
            # Manager failing now leaves the answer as it was: this token is not signed by a known key.
            try:
                fresh = self._hmac.refreshed()
            except Unavailable:
                raise refused from None
            if fresh is None or fresh == keys:
                raise
            return self._decode_with_any(token, fresh)

    def _decode_with_any(self, token: str, keys: tuple[str, ...]) -> dict[str, Any]:
        for key in keys[:-1]:
            try:
                return self._decode(token, key)
            except jwt.InvalidSignatureError:
                continue
        return self._decode(token, keys[-1])

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        settings = self._settings
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(settings.jwt_algorithms),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            # Explicit, not pyjwt's defaults: those have changed between releases (iat was not
            # checked in 1.5-2.5); a token issued in the future is refused like one not yet valid.
            options={
                "require": ["exp"],
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_aud": settings.jwt_audience is not None,
            },
        )
        return claims

    def _jwks(self) -> jwt.PyJWKClient:
        if self._jwks_client is None:
            # Keys come from the JWK set cache only (cache_keys=False): pyjwt's per-kid LRU has no
            # expiry, so a key the issuer removed would be trusted for the life of the environment.
            # An unknown kid forces at most one re-fetch per cooldown (pyjwt's own cooldown_duration).
            self._jwks_client = jwt.PyJWKClient(
                self._settings.jwt_jwks_url or "",
                cache_keys=False,
                cache_jwk_set=True,
                lifespan=KEY_MAX_AGE_SECONDS,
                cooldown_duration=KEY_REFRESH_COOLDOWN_SECONDS,
                timeout=2,
            )
        return self._jwks_client
