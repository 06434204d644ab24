"""Runtime configuration, validated once per cold start from the Lambda environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

HMAC_ALGORITHMS = ("HS256",)
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


class Settings(BaseModel):
    """Everything the registry reads from the environment; empty strings count as unset."""

    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3)
    dynamodb_endpoint_url: str | None = None
    jwt_secret: SecretStr | None = None
    jwt_secret_arn: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    registration_ttl_days: int = Field(default=30, ge=1, le=365)
    list_default_limit: int = Field(default=20, ge=1)
    list_max_limit: int = Field(default=100, ge=1, le=1000)
    max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    # Chat backoffice (pigeons): accepted X-PUBLIC-KEY values, "tenant=key,..." (a bare key names itself),
    # from the environment locally or from an SSM SecureString parameter in AWS.
    pigeons_public_keys: SecretStr | None = None
    pigeons_public_keys_parameter: str | None = None
    pigeons_requests_per_minute: int = Field(default=60, ge=1)
    # Pre-signup (public) API.
    presignup_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    presignup_default_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    presignup_requests_per_minute: int = Field(default=10, ge=1)
    # Live records one phone keeps: a post beyond it evicts the phone's least recently posted record.
    presignup_max_records_per_phone: int = Field(default=5, ge=1, le=100)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def jwt_algorithms(self) -> tuple[str, ...]:
        """The explicit allow-list: a JWKS deployment accepts only asymmetric keys, otherwise HS256."""
        return ASYMMETRIC_ALGORITHMS if self.jwt_jwks_url else HMAC_ALGORITHMS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        fields = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(fields)


@cache
def settings() -> Settings:
    """The process-wide settings (one cold start, one read)."""
    return Settings.from_env()
