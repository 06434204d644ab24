"""Fixed-window request counters (per user, per IP) in the registry table, removed by TTL."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from push_registry.storage.table import call, code, delete_all, n, plain, query_partition, s


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

    def windows(self, key: str) -> list[dict[str, Any]]:
        """Every stored window of one counter (expired ones not yet removed by TTL included)."""
        return [
            {
                "window_start": int(item["sk"]["S"]),
                "hits": plain(item["hits"]) if "hits" in item else 0,
                "expires_at": plain(item["expires_at"]) if "expires_at" in item else None,
            }
            for item in query_partition(self._client, self._table, f"RATE#{key}")
        ]

    def erase(self, key: str) -> int:
        """Delete every window of one counter; how many there were."""
        windows = query_partition(self._client, self._table, f"RATE#{key}")
        return delete_all(self._client, self._table, windows)
