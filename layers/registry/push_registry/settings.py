"""Runtime configuration, validated once per cold start from the Lambda environment.

A frozen dataclass checked by hand, not a pydantic model: every function reads its settings, and
pydantic costs ~100 ms of cold start (measured on the shipped layer) that only the routes validating a
request body need to pay.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

HMAC_ALGORITHMS = ("HS256",)
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True, slots=True)
class Secret:
    """A configured key or key list: its repr and str never show the value (settings may be logged)."""

    _value: str

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


def _bounded(default: int, low: int, high: int | None = None) -> Any:
    """An integer setting with its allowed range (inclusive)."""
    return field(default=default, metadata={"range": (low, high)})


_SECRETS = frozenset({"jwt_secret", "pigeons_public_keys"})
_PATTERNS = {"presignup_default_region": re.compile(r"[A-Z]{2}")}
_MIN_LENGTHS = {"table_name": 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the registry reads from the environment; empty strings count as unset."""

    table_name: str = ""  # required: an empty or missing name fails validation
    dynamodb_endpoint_url: str | None = None
    jwt_secret: Secret | None = None
    jwt_secret_arn: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = _bounded(30, 0, 300)
    # More than the 7-day lease of a registration's guard and list entry (storage.registration_items.LEASE):
    # a lifetime within it lets a heartbeat's blind write revive a registration whose token was taken.
    registration_ttl_days: int = _bounded(30, 8, 365)
    # Live registrations one user keeps: one beyond it evicts the user's least recently used (0: no cap).
    max_devices_per_user: int = _bounded(20, 0, 1000)
    list_default_limit: int = _bounded(20, 1)
    list_max_limit: int = _bounded(100, 1, 1000)
    max_body_bytes: int = _bounded(16 * 1024, 1024)
    # Chat backoffice (pigeons): accepted X-PUBLIC-KEY values, "tenant=key,..." (a bare key names itself),
    # from the environment locally or from an SSM SecureString parameter in AWS.
    pigeons_public_keys: Secret | None = None
    pigeons_public_keys_parameter: str | None = None
    pigeons_requests_per_minute: int = _bounded(60, 1)
    # Pre-signup (public) API.
    presignup_ttl_hours: int = _bounded(24, 1, 24 * 30)
    presignup_default_region: str = "US"
    presignup_requests_per_minute: int = _bounded(10, 1)
    # Live records one phone keeps: a post beyond it evicts the phone's least recently posted record.
    presignup_max_records_per_phone: int = _bounded(5, 1, 100)

    def __post_init__(self) -> None:
        problems = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            try:
                checked = _checked(spec.name, value, spec.metadata.get("range"))
            except ValueError as problem:
                problems.append(f"{spec.name.upper()}: {problem}")
                continue
            if checked is not value:
                # Frozen: normalising (empty -> unset, text -> int or Secret) happens once, here.
                object.__setattr__(self, spec.name, checked)
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))

    @property
    def jwt_algorithms(self) -> tuple[str, ...]:
        """The explicit allow-list: a JWKS deployment accepts only asymmetric keys, otherwise HS256."""
        return ASYMMETRIC_ALGORITHMS if self.jwt_jwks_url else HMAC_ALGORITHMS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        # Text as the environment holds it; __post_init__ turns it into the declared types.
        raw: dict[str, Any] = {
            spec.name: env[spec.name.upper()] for spec in fields(cls) if spec.name.upper() in env
        }
        return cls(**raw)


def _checked(name: str, value: object, bounds: tuple[int, int | None] | None) -> object:
    """The value as stored, or ValueError saying what is wrong with it."""
    if value == "":
        value = None
    if value is None:
        if name in _MIN_LENGTHS:
            raise ValueError("required")
        return None
    if bounds is not None:
        number = _integer(value)
        low, high = bounds
        if number < low or (high is not None and number > high):
            raise ValueError(f"must be between {low} and {high}" if high is not None else f"must be >= {low}")
        return number
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) < _MIN_LENGTHS.get(name, 0):
        raise ValueError(f"must be at least {_MIN_LENGTHS[name]} characters")
    if (pattern := _PATTERNS.get(name)) and not pattern.fullmatch(value):
        raise ValueError(f"must match {pattern.pattern}")
    return Secret(value) if name in _SECRETS else value


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError("must be an integer")


@cache
def settings() -> Settings:
    """The process-wide settings (one cold start, one read)."""
    return Settings.from_env()
