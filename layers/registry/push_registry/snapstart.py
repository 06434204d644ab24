"""SnapStart: what an execution environment restored from a snapshot must redo before serving.

Lambda resumes many environments from one snapshot of the init phase. Each would start with the same
`random` state (retry jitter in step across every copy) and with whatever keys and secrets init had
cached, at ages that are no longer true. Parts that cache such things register how to forget them with
`forget_on_restore`; the runtime calls `after_restore` once per restored environment.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable

_forgetters: list[Callable[[], None]] = []


def forget_on_restore(forget: Callable[[], None]) -> Callable[[], None]:
    """Registers a callable that drops a cache of keys or secrets after a restore; returns it."""
    _forgetters.append(forget)
    return forget


def forget_cached_keys() -> None:
    """Drops every registered cache of keys and secrets, and Powertools' parameter cache if loaded."""
    for forget in list(_forgetters):
        forget()
    # Only if some part already loaded it: importing it here would cost every function its import.
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()


def after_restore() -> None:
    # From os.urandom: each restored copy draws its own jitter.
    random.seed()
    forget_cached_keys()


def register_hooks() -> bool:
    """Registers `after_restore` with the runtime when this init is a SnapStart snapshot's; True if so."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return False
    # Shipped by the Lambda python runtime (3.12+), not by the layer.
    from snapshot_restore_py import register_after_restore  # noqa: PLC0415

    register_after_restore(after_restore)
    return True
