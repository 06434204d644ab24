"""The request's time budget: the Lambda context's remaining time, readable by the storage adapter.

A DynamoDB call that cannot finish its worst case (every botocore attempt timing out or throttled,
with the largest backoff) before the function's timeout is not started: the caller gets a 503 with
Retry-After in its API's dialect instead of Lambda killing the request mid-way (API Gateway's bare
502, no dialect, no Retry-After). Outside a handler (tests, scripts) there is no budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_remaining_ms: ContextVar[Callable[[], int] | None] = ContextVar("remaining_ms", default=None)


@contextmanager
def of_invocation(context: Any) -> Iterator[None]:
    """Budget the code run inside by the invocation's `context.get_remaining_time_in_millis()`."""
    token = _remaining_ms.set(getattr(context, "get_remaining_time_in_millis", None))
    try:
        yield
    finally:
        _remaining_ms.reset(token)


def seconds_left() -> float:
    remaining = _remaining_ms.get()
    return math.inf if remaining is None else remaining() / 1000
