"""The chat backoffice's platform public keys (X-PUBLIC-KEY): which platform (tenant) a request is for."""

from __future__ import annotations

import hashlib
import hmac
from functools import cached_property

from push_registry.errors import Unavailable, UnknownPlatformKey
from push_registry.settings import Settings


def parse_keys(configured: str) -> dict[str, str]:
    """`tenant=key,key2` → {key: tenant}; a bare key names its tenant by a short hash of itself."""
    keys: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in configured.split(","))):
        tenant, separator, key = entry.partition("=")
        if not separator:
            tenant, key = f"key-{hashlib.sha256(entry.encode()).hexdigest()[:8]}", entry
        keys[key.strip()] = tenant.strip()
    return keys


def parameter_name(configured: str) -> str:
    """The name SSM is asked for. The stack parameter is written without the leading slash, as SAM's
    SSMParameterReadPolicy and the parameter's ARN want it; SSM refuses a hierarchical name without it
    (`a/b` is a ValidationException, `/a/b` the parameter), and a flat name has none."""
    return f"/{configured}" if "/" in configured and not configured.startswith("/") else configured


class PlatformKeys:
    """Looks up the tenant of an X-PUBLIC-KEY value; keys are read once and cached (SSM: 5 minutes)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def tenant_of(self, key: str | None) -> str:
        if not key:
            raise UnknownPlatformKey(missing=True)
        for known, tenant in self._keys().items():
            if hmac.compare_digest(known.encode(), key.encode()):
                return tenant
        raise UnknownPlatformKey(missing=False)

    def _keys(self) -> dict[str, str]:
        if self._settings.pigeons_public_keys_parameter:
            # Imported here: only the chat backoffice's functions read SSM.
            from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

            try:
                value = parameters.get_parameter(
                    parameter_name(self._settings.pigeons_public_keys_parameter), decrypt=True, max_age=300
                )
            except parameters.exceptions.GetParameterError as error:
                raise Unavailable() from error
            return parse_keys(str(value))
        return self._from_environment

    @cached_property
    def _from_environment(self) -> dict[str, str]:
        configured = self._settings.pigeons_public_keys
        return parse_keys(configured.get_secret_value()) if configured else {}
