"""Bearer-JWT verification with pyjwt: explicit algorithm allow-list, required `exp`, optional iss/aud."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jwt

from push_registry.errors import Unauthenticated, Unavailable
from push_registry.settings import Settings

# Far above any real access token, far below what could cost us to parse.
_MAX_TOKEN_CHARS = 8192
_MAX_SUBJECT_CHARS = 256


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


class Authenticator:
    """Verifies access tokens against the configured key: an HS256 secret or the issuer's JWKS."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        token = bearer_token(headers)
        settings = self._settings
        try:
            # Refuse foreign algorithms before looking up any key (no JWKS fetch for junk tokens).
            if jwt.get_unverified_header(token).get("alg") not in settings.jwt_algorithms:
                raise Unauthenticated("invalid")
            claims = jwt.decode(
                token,
                self._verification_key(token),
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
        except jwt.PyJWKClientConnectionError as error:
            raise Unavailable() from error
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise Unauthenticated("invalid") from error
        subject = claims.get("sub")
        usable = isinstance(subject, str) and 0 < len(subject) <= _MAX_SUBJECT_CHARS
        return Principal(subject if usable else None, claims)

    def subject_of(self, headers: Mapping[str, str], without_subject: str = "invalid") -> str:
        """The verified caller's `sub`; a valid token naming no user is Unauthenticated(without_subject)."""
        subject = self.authenticate(headers).subject
        if subject is None:
            raise Unauthenticated(without_subject)
        return subject

    def forget_cached_keys(self) -> None:
        """Drops the cached HS256 secret and JWKS client, so the next request reads them afresh."""
        for cached in ("_jwks", "_hmac_secret"):
            self.__dict__.pop(cached, None)

    def _verification_key(self, token: str) -> Any:
        if self._settings.jwt_jwks_url:
            return self._jwks.get_signing_key_from_jwt(token).key
        return self._hmac_secret

    @cached_property
    def _jwks(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(self._settings.jwt_jwks_url or "", cache_keys=True, lifespan=300, timeout=2)

    @cached_property
    def _hmac_secret(self) -> str:
        if self._settings.jwt_secret is not None:
            return self._settings.jwt_secret.get_secret_value()
        if self._settings.jwt_secret_arn:
            # Imported here: only deployments that keep the key in Secrets Manager pay for it.
            from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

            try:
                return str(parameters.get_secret(self._settings.jwt_secret_arn, max_age=300))
            except parameters.exceptions.GetParameterError as error:
                raise Unavailable() from error
        # No key configured: fail closed, every token is invalid.
        raise Unauthenticated("invalid")
