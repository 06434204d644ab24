"""Fixed-window request counters (per user, per IP) in the registry table, removed by TTL."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from push_registry.storage.table import call, code, n, s


class RequestCounter:
    """Fixed-window request counters (per user, per IP) in the same table, removed by TTL."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def count(self, key: str, window_start: int, limit: int, expires_at: int) -> bool:
        """Count one request in the window; False, counting nothing, when `limit` were already counted."""
        try:
            call(
                self._client,
                "update_item",
                TableName=self._table,
                Key={"pk": s(f"RATE#{key}"), "sk": s(str(window_start))},
                UpdateExpression="ADD hits :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                ExpressionAttributeValues={":one": n(1), ":limit": n(limit), ":expires": n(expires_at)},
            )
        except ClientError as error:
            if code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True
