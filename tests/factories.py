"""Builders for real-shaped messages, carts, SQS events and Lambda contexts, shared by every test."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any


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
    text = json.dumps(document, default=lambda value: f"{_MARK}{value}{_MARK}" if isinstance(value, Decimal) else None)
    return re.sub(f'"{_MARK}(.*?){_MARK}"', r"\1", text)


_MARK = "@@decimal@@"


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


class LambdaContext:
    """A Lambda context whose remaining time counts down from `seconds`."""

    function_name = "OrderCreatorRecord-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OrderCreatorRecord-test"
    memory_limit_in_mb = 256
    log_group_name = "/aws/lambda/OrderCreatorRecord-test"
    log_stream_name = "test"

    def __init__(self, seconds: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
