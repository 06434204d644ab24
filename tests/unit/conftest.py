"""Unit-test fixtures: the registry over moto's in-memory DynamoDB, with a clock the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.template import create_table, load_template
from push_registry.registry import Registry
from push_registry.storage import RegistrationStore

TABLE = "push-registry-unit"


class Calls:
    """The DynamoDB requests a client sends, by operation name (retries would show here)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb.*", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


class Clock:
    """A settable clock: moto never deletes expired items, so tests see the expired-but-present case."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE, load_template())
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(dynamodb: object, clock: Clock) -> Registry:
    return Registry(RegistrationStore(dynamodb, TABLE), lifetime=timedelta(days=30), clock=clock)
