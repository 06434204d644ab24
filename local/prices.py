"""List prices behind `make bench`'s cost column, in one place: us-east-1, on-demand, no free tier.

Read from the AWS pricing pages for Lambda, DynamoDB and API Gateway on PRICES_AS_OF; check them before
relying on the totals. Lambda durations measured on this machine are not Lambda's, so each request is
assumed to last ASSUMED_MS_BASE plus ASSUMED_MS_PER_DYNAMODB_REQUEST per DynamoDB request it made.
"""

from __future__ import annotations

PRICES_AS_OF = "2026-11-30"

DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625  # on-demand write request units
DYNAMODB_PER_MILLION_READ_UNITS = 0.125  # on-demand read request units
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
API_GATEWAY_REST_PER_MILLION = 3.50  # first 333 million requests a month
# SnapStart (Python): snapshot cache per GB-second of memory while a version is active (3 hours at
# least), and each restore per GB of memory.
SNAPSTART_CACHE_PER_GB_SECOND = 0.0000015046
SNAPSTART_RESTORE_PER_GB = 0.0001397998

MEMORY_GB = 512 / 1024
ASSUMED_MS_BASE = 5.0
ASSUMED_MS_PER_DYNAMODB_REQUEST = 8.0


def per_million_requests(dynamodb_requests: float, read_units: float, write_units: float) -> float:
    """Dollars per million calls of an endpoint, given what one call does on average."""
    duration_s = (ASSUMED_MS_BASE + ASSUMED_MS_PER_DYNAMODB_REQUEST * dynamodb_requests) / 1000
    per_call = (
        read_units * DYNAMODB_PER_MILLION_READ_UNITS / 1e6
        + write_units * DYNAMODB_PER_MILLION_WRITE_UNITS / 1e6
        + LAMBDA_PER_MILLION_REQUESTS / 1e6
        + duration_s * MEMORY_GB * LAMBDA_ARM64_PER_GB_SECOND
        + API_GATEWAY_REST_PER_MILLION / 1e6
    )
    return per_call * 1e6
