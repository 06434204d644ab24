"""The one Logger and Metrics of the process (Powertools), configured from the environment."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from push_registry.registration import token_fingerprint
from push_registry.telemetry import Metric

if TYPE_CHECKING:
    from push_registry.privacy import Action, Subject

# Service name, namespace and level come from POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE and
# POWERTOOLS_LOG_LEVEL. Events are never logged: they carry JWTs, phone numbers and raw push tokens.
logger = Logger()
metrics = Metrics()

# The AWS SDK logs whole requests (tokens, phone numbers) at DEBUG: never let it, whatever the root
# logger's level is set to.
for _name in ("boto3", "botocore", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)

# Requests that record no business metric (a list, a 404) are normal, not worth a warning each.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(metric: Metric, reason: str | None = None) -> None:
    """The registry's Recorder: one EMF count, flushed with the invocation's other metrics."""
    if reason is None:
        metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=1)
        return
    # A metric with an extra dimension is its own EMF document.
    with single_metric(
        name=metric.value, unit=MetricUnit.Count, value=1, default_dimensions=metrics.default_dimensions
    ) as one:
        one.add_dimension(name="reason", value=reason)


def identify_token(token: str) -> None:
    """Name the request's push token in every later log line of this invocation, as a short hash."""
    logger.append_keys(token=token_fingerprint(token))


def audit(
    action: Action, subject: Subject, fingerprint: str, caller: str | None, counts: dict[str, int]
) -> None:
    """The privacy requests' Auditor: one log line naming who asked and what, never the subject."""
    logger.info(
        "privacy request",
        extra={
            "audit": {
                "action": action.value,
                "subject_kind": subject.value,
                "subject": fingerprint,
                "caller": caller,
                "counts": counts,
            }
        },
    )
