"""The reliability rig: the fault Cart API (once per session; the proxy is tests/conftest.py's `wire_proxy`), a
fresh table and DLQ per test, the handler wired through both.

Tests marked `soak` run only under `make soak` (ORDER_CREATOR_SOAK=1); otherwise they are deselected,
so `make test` never spends its minutes on them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.factories import forget_clients
from tests.reliability.faults import CartApi, WireProxy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ORDER_CREATOR_SOAK") == "1":
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
        config.hook.pytest_deselected(items=soak)


@pytest.fixture(scope="session")
def cart_api() -> Iterator[CartApi]:
    """The misbehaving Cart API; the handler's CART_LAMBDA_API_URL in these tests."""
    api = CartApi()
    api.start()
    yield api
    api.stop()


@dataclass
class Rig:
    """Everything one reliability test works with. `dynamodb` and `sqs` reach moto directly (no faults)."""

    proxy: WireProxy
    carts: CartApi
    dynamodb: Any
    sqs: Any
    table: str
    dead_letter_queue: str
    monkeypatch: pytest.MonkeyPatch

    tables: list[str] = field(default_factory=list)

    def new_table(self) -> str:
        """Another table with the contract's schema, deleted after the test."""
        from order_creator.store.keys import table_definition

        name = f"rel-{uuid.uuid4().hex[:12]}"
        self.dynamodb.create_table(**table_definition(name))
        self.tables.append(name)
        return name

    def configure(self, **variables: str | None) -> None:
        """Set (or, with None, remove) environment variables of the handler."""
        for name, value in variables.items():
            if value is None:
                self.monkeypatch.delenv(name, raising=False)
            else:
                self.monkeypatch.setenv(name, value)


@pytest.fixture
def rig(
    monkeypatch: pytest.MonkeyPatch, wire_proxy: WireProxy, cart_api: CartApi, dynamodb: Any, sqs: Any
) -> Iterator[Rig]:
    """A fresh table and dead-letter queue, the handler wired through the proxy and the fault Cart API."""
    queue = str(sqs.create_queue(QueueName=f"rel-dlq-{uuid.uuid4().hex[:12]}")["QueueUrl"])
    rig = Rig(wire_proxy, cart_api, dynamodb, sqs, "", queue, monkeypatch)
    rig.table = rig.new_table()
    rig.configure(
        DYNAMODB_TABLE_NAME=rig.table,
        CART_LAMBDA_API_URL=cart_api.url,
        CART_API_TIMEOUT_SECONDS="0.5",
        CART_API_MAX_RETRIES="1",
        AWS_ENDPOINT_URL=wire_proxy.url,
        DEAD_LETTER_QUEUE_URL=queue,
        ORDER_NUMBER_TIMEZONE="Africa/Johannesburg",
        LOG_LEVEL="INFO",
    )
    wire_proxy.reset()
    cart_api.reset()
    forget_clients()
    yield rig
    wire_proxy.reset()
    cart_api.reset()
    forget_clients()
    for table in rig.tables:  # moto copies a whole table for every item of a transaction: keep them few
        dynamodb.delete_table(TableName=table)
    sqs.delete_queue(QueueUrl=queue)
