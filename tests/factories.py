"""The test kit: builders for real-shaped messages, carts, SQS events and Lambda contexts, the real handler's
invocation, and readers of what the table holds. Shared by every test; the fakes of the ports are in `tests.fakes`."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from boto3.dynamodb.types import TypeDeserializer

from order_creator.tooling import exact_json
from order_creator.worker import WorkerContext

_deserializer = TypeDeserializer()

# The Detail fields of an OrderCreated event, written from contract §7 rather than taken from the publisher,
# so that a test comparing the publisher's output with them can fail.
ORDER_CREATED_FIELDS = frozenset(
    {
        "version",
        "orderId",
        "tenantId",
        "orderNumber",
        "cartId",
        "status",
        "currency",
        "subtotal",
        "tax",
        "total",
        "itemCount",
        "dateCreated",
        "sourceMessageId",
    }
)


def new_tenant(prefix: str = "t") -> str:
    """A tenant id no other test uses, so tests never see each other's data."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def message(tenant_id: str, cart_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid create-order message (contract §2); `overrides` replace top-level fields (None removes)."""
    body: dict[str, Any] = {
        "orderId": str(uuid.uuid4()),
        "tenantId": tenant_id,
        "cartId": cart_id,
        "customerEmail": "jane@example.com",
        "billingAddress": {
            "street": "1 Long St",
            "city": "Cape Town",
            "province": "Western Cape",
            "postalCode": "8001",
            "country": "ZA",
        },
        "dateCreated": "2025-12-30T10:15:00+02:00",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def cart(tenant_id: str, cart_id: str, prices: Iterable[str] = ("149.99",), tax: str = "43.50") -> dict[str, Any]:
    """A consistent cart document: one item per price, quantity 1, no discount."""
    items = [
        {
            "id": f"li-{i}",
            "productId": f"p-{i}",
            "productName": f"Product {i}",
            "quantity": 1,
            "unitPrice": Decimal(p),
            "discount": Decimal("0"),
            "subtotal": Decimal(p),
        }
        for i, p in enumerate(prices, 1)
    ]
    subtotal = sum((item["subtotal"] for item in items), Decimal(0))
    return {
        "cartId": cart_id,
        "tenantId": tenant_id,
        "currency": "ZAR",
        "items": items,
        "subtotal": subtotal,
        "tax": Decimal(tax),
        "total": subtotal + Decimal(tax),
    }


def cart_json(document: dict[str, Any]) -> str:
    """The cart as the Cart API sends it: Decimals written as JSON numbers, never through float."""
    return exact_json(document)


def record(body: str | dict[str, Any], message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    """One SQS record as Lambda delivers it."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle-" + uuid.uuid4().hex,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    """A Lambda SQS event of these records."""
    return {"Records": list(records)}


def lambda_context(seconds: float = 30.0) -> WorkerContext:
    """A Lambda context whose remaining time counts down from `seconds` (the worker's, the one context class)."""
    return WorkerContext(time.monotonic() + seconds)


def serve_cart(httpserver: Any, document: dict[str, Any], *, tenant_id: str | None = None) -> None:
    """Answer GET /v1.0/carts/{cartId}?tenantId=... with this cart, as the Cart API would."""
    httpserver.expect_request(
        f"/v1.0/carts/{document['cartId']}",
        method="GET",
        query_string={"tenantId": tenant_id or document["tenantId"]},
    ).respond_with_data(cart_json(document), content_type="application/json")


def invoke(*records: dict[str, Any], seconds: float = 30.0) -> list[str]:
    """Run the real handler on these records; return the message ids it reported as failed."""
    from order_creator.handler import lambda_handler

    response = lambda_handler(sqs_event(*records), lambda_context(seconds))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def forget_clients() -> None:
    """Let the handlers create their AWS clients (and the events publisher) afresh, from a new session: they are
    created once per process from AWS_ENDPOINT_URL, so a test that moves the endpoint (to the proxy and back)
    calls this."""
    from order_creator import clients, events, publishing
    from order_creator.local import stream

    cached_clients = (clients.dynamodb, clients.sqs, publishing.eventbridge, stream.dynamodb_streams, clients._session)
    for cached in (*cached_clients, events._publisher):
        cached.cache_clear()


def unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values (numbers as Decimal)."""
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def orders_of(dynamodb: Any, table_name: str, tenant_id: str) -> list[dict[str, Any]]:
    """Every order item of a tenant (PK query, all pages)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :order)",
        "ExpressionAttributeValues": {":pk": {"S": f"TENANT#{tenant_id}"}, ":order": {"S": "ORDER#"}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**kwargs)
        items.extend(unmarshal(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def counters_of(dynamodb: Any, table_name: str, tenant_id: str) -> dict[str, int]:
    """The tenant's counters: YYYYMMDD → currentValue."""
    page = dynamodb.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"COUNTER#{tenant_id}"}},
        ConsistentRead=True,
    )
    return {
        item["SK"].removeprefix("ORDER_NUMBER#"): int(item["currentValue"]) for item in map(unmarshal, page["Items"])
    }


def assert_gapless(dynamodb: Any, table_name: str, tenant_id: str) -> None:
    """The product's numbering audit (contract §8) holds for every day of the tenant, in the zone the handler
    numbers in (ORDER_NUMBER_TIMEZONE, else UTC): exactly 1..N each once, N the counter, numbers of their day."""
    from order_creator.cli.audit import describe
    from order_creator.numbering_audit import NumberingAudit
    from order_creator.store.table import Table

    store = Table(table_name, dynamodb)
    zone = ZoneInfo(os.environ.get("ORDER_NUMBER_TIMEZONE") or "UTC")
    failed = [describe(v) for v in NumberingAudit(store, zone, recheck_seconds=None).tenant(tenant_id) if not v.ok]
    assert not failed, "; ".join(failed)
