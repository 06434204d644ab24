"""What every store shares: one DynamoDB call or transaction under the request's time budget, errors
translated to domain errors, and the marshalling of attribute values."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from push_registry import time_budget
from push_registry.errors import Contention, Unavailable

Item = dict[str, Any]

GUARD = "GUARD"
ROSTER = "ROSTER"  # the sort key of a partition's roster (an owner's registrations, a phone's records)
_RETRYABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)
# A crowd upserting one token makes every transaction touch that token's guard: 6 attempts, backing off
# 5-20 ms doubling each time (about 0.6 s at most in all), outlast such a burst where 4 did not always
# (a camera upsert answered 503 in one of two fresh-clone runs of the 50-way race).
_CONFLICT_ATTEMPTS = 6
# Kept back from the function's timeout for answering once the last call returns.
_ANSWER_RESERVE_SECONDS = 0.5


class Cancelled(Exception):
    """A transaction whose conditions failed; `items` are the old images DynamoDB returned, by position."""

    def __init__(self, reasons: Sequence[Mapping[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
        self.items = [reason.get("Item") for reason in reasons]


def transact(client: Any, items: list[Item]) -> None:
    """Run one transaction, retrying only when another transaction held one of its items."""
    for attempt in range(_CONFLICT_ATTEMPTS):
        _ensure_time_for_one_call(client)
        try:
            client.transact_write_items(TransactItems=items)
            return
        except ClientError as error:
            if code(error) != "TransactionCanceledException":
                raise translate(error) from error
            reasons = error.response.get("CancellationReasons", [])
            codes = {reason.get("Code") for reason in reasons}
            if "ConditionalCheckFailed" in codes:
                raise Cancelled(reasons) from None
            if not codes & {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
                raise
        except BotoCoreError as error:
            raise unavailable(error) from error
        if attempt + 1 < _CONFLICT_ATTEMPTS:
            # Jittered backoff: colliding writers should not collide again on the next attempt.
            time.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311 - jitter, not crypto
    raise Unavailable(cause=Contention.__name__) from Contention()


def call(client: Any, operation: str, **request: Any) -> dict[str, Any]:
    """One DynamoDB call; throttling and faults that outlived botocore's retries become Unavailable."""
    _ensure_time_for_one_call(client)
    try:
        response: dict[str, Any] = getattr(client, operation)(**request)
        return response
    except ClientError as error:
        if code(error) == "ConditionalCheckFailedException":
            raise
        raise translate(error) from error
    except BotoCoreError as error:
        raise unavailable(error) from error


_BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
_BATCH_GET_ROUNDS = 5


def batch_get(client: Any, table: str, keys: list[dict[str, Any]]) -> dict[tuple[str, str], Item]:
    """Strongly consistent reads of many keys, 100 per call, by key; keys DynamoDB left unprocessed
    are asked again a few times, then Unavailable."""
    unique = list({key_id(k): k for k in keys}.values())
    found: dict[tuple[str, str], Item] = {}
    for start in range(0, len(unique), _BATCH_GET_KEYS):
        request = {table: {"Keys": unique[start : start + _BATCH_GET_KEYS], "ConsistentRead": True}}
        for _ in range(_BATCH_GET_ROUNDS):
            response = call(client, "batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[key_id(item)] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.01)
        else:
            raise Unavailable()
    return found


def _ensure_time_for_one_call(client: Any) -> None:
    """Unavailable now, rather than a call that the function's timeout could cut off mid-way."""
    if time_budget.seconds_left() < _worst_case_seconds(client) + _ANSWER_RESERVE_SECONDS:
        raise Unavailable(cause="time budget")


def _worst_case_seconds(client: Any) -> float:
    """One call with botocore's retries: every attempt timing out, every backoff at its maximum.

    Standard retry mode sleeps up to min(2**i, 20) s before retry i+1 (throttling's base scale, the
    largest) -- botocore.retries.standard.ExponentialBackoff.
    """
    config = client.meta.config
    retries = config.retries or {}
    attempts = int(retries.get("total_max_attempts") or retries.get("max_attempts", 2) + 1)
    waits = attempts * (float(config.connect_timeout) + float(config.read_timeout))
    return waits + sum(min(2.0**retry, 20.0) for retry in range(attempts - 1))


# ---------------------------------------------------------------------- marshalling


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def translate(error: ClientError) -> Exception:
    """Throttling and server faults that outlived botocore's retries become Unavailable; the rest are bugs."""
    if code(error) in _RETRYABLE:
        return unavailable(error)
    return cast(Exception, error)


def unavailable(error: ClientError | BotoCoreError) -> Unavailable:
    """Unavailable naming its cause for the log: an AWS error code, or the connection error's class
    (EndpointConnectionError: wrong endpoint or nothing listening; ReadTimeoutError: too slow)."""
    return Unavailable(cause=code(error) if isinstance(error, ClientError) else type(error).__name__)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def key_id(item: Mapping[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def plain(value: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as plain JSON-ready Python (S, N, BOOL, NULL, M, L, SS, NS).

    For exports, which hand back every stored attribute, including kinds this code does not model.
    Numbers become int when integral, else their decimal text (no float rounding of stored data).
    """
    [(kind, inner)] = value.items()
    if kind in ("S", "BOOL"):
        return inner
    if kind == "N":
        return int(inner) if inner.lstrip("-").isdigit() else inner
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: plain(item) for name, item in inner.items()}
    if kind == "L":
        return [plain(item) for item in inner]
    if kind in ("SS", "NS"):
        return sorted(plain({kind[0]: item}) for item in inner)
    return base64.b64encode(inner).decode("ascii") if isinstance(inner, bytes) else str(inner)


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored item's attributes, keys (pk, sk) left out, as plain Python."""
    return {name: plain(value) for name, value in sorted(item.items()) if name not in ("pk", "sk")}


_BATCH_ROUNDS = 5


def query_partition(client: Any, table: str, pk: str) -> list[Item]:
    """Every item of one partition (every sk), strongly consistent, page by page."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": s(pk)},
        "ConsistentRead": True,
    }
    items: list[Item] = []
    while True:
        page = call(client, "query", **request)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def delete_all(client: Any, table: str, keys: Sequence[Mapping[str, Any]]) -> int:
    """Delete every item under `keys`, without conditions, 25 a call; the number of keys."""
    unique = [{"pk": key["pk"], "sk": key["sk"]} for key in {key_id(k): k for k in keys}.values()]
    for start in range(0, len(unique), 25):
        request: dict[str, Any] = {
            table: [{"DeleteRequest": {"Key": key}} for key in unique[start : start + 25]]
        }
        for _ in range(_BATCH_ROUNDS):
            response = call(client, "batch_write_item", RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter, not crypto
        else:
            raise Unavailable()
    return len(unique)
