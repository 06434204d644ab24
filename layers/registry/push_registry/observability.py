"""The one Logger and Metrics of the process (Powertools), configured from the environment."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

# Service name, namespace and level come from POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE and
# POWERTOOLS_LOG_LEVEL. Events are never logged: they carry JWTs and raw push tokens.
logger = Logger()
metrics = Metrics()

# Requests that record no business metric (a list, a 404) are normal, not worth a warning each.
warnings.filterwarnings("ignore", message="No application metrics to publish")
