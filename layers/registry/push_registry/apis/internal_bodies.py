"""The internal routes' request bodies and erasure messages (pydantic models), imported only by the
functions that take a body."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from push_registry.apis.internal import MAX_INVALIDATIONS, MAX_USER_ID_BYTES, Reason
from push_registry.validation import PushToken


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LookupBody(_Body):
    phone: Annotated[str, Field(min_length=1, max_length=64)]


class HolderBody(_Body):
    token: PushToken


class InvalidationItem(_Body):
    token: PushToken
    reason: Reason


class InvalidationsBody(_Body):
    invalidations: Annotated[list[InvalidationItem], Field(min_length=1, max_length=MAX_INVALIDATIONS)]


class ErasureMessage(_Body):
    """A message of the erasure queue: exactly one of the two subjects."""

    erase_user: Annotated[str, Field(min_length=1, max_length=MAX_USER_ID_BYTES)] | None = None
    erase_phone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
