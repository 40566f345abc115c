"""Each TransactWriteItems carries a ClientRequestToken derived from what decides its content: the same request
sent again is the same token (DynamoDB answers it with the first one's outcome), any other request another."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import boto3

from order_creator.models import Order
from order_creator.ports import CounterKey, NumberBlock
from order_creator.store.table import Table


def _order(tenant: str, number: int, stamp: str = "2026-12-07T03:00:00.000Z") -> Order:
    return Order.model_validate(
        {
            "id": f"00000000-0000-4000-8000-{number:012d}",
            "orderNumber": f"ORD-20251230-{number:05d}",
            "tenantId": tenant,
            "cartId": f"cart-{number}",
            "customerEmail": "jane@example.com",
            "items": [
                {
                    "id": "li-1",
                    "productId": "p-1",
                    "productName": "Hosting",
                    "quantity": 1,
                    "unitPrice": Decimal("10.00"),
                    "discount": Decimal("0"),
                    "subtotal": Decimal("10.00"),
                }
            ],
            "subtotal": Decimal("10.00"),
            "tax": Decimal("1.50"),
            "total": Decimal("11.50"),
            "currency": "ZAR",
            "status": "PENDING_PAYMENT",
            "billingAddress": {
                "street": "1 Long St",
                "city": "Cape Town",
                "province": "Western Cape",
                "postalCode": "8001",
                "country": "ZA",
            },
            "dateCreated": "2025-12-30T10:15:00+02:00",
            "dateLastUpdated": stamp,
            "createdBy": "OrderCreatorRecord",
            "lastUpdatedBy": "OrderCreatorRecord",
            "sourceMessageId": f"message-{number}",
        }
    )


def test_a_write_carries_a_token_of_its_content(moto_url: str, table_name: str) -> None:
    # Given the DAO on a real client, whose TransactWriteItems requests are read as they leave
    client = boto3.client("dynamodb", endpoint_url=moto_url)
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-send.dynamodb.TransactWriteItems", lambda request, **_: sent.append(json.loads(request.body))
    )
    dao = Table(table_name, client)
    counter = CounterKey("token-tenant", date(2025, 12, 30))

    def block(previous: int, stamp: str = "2026-12-07T03:00:00.000Z") -> list[NumberBlock]:
        return [NumberBlock(counter, previous, (_order("token-tenant", previous + 1, stamp),))]

    # When the same request is written twice (the second is refused: the counter has moved), then others
    assert dao.write(block(0)).committed
    assert not dao.write(block(0)).committed
    dao.write(block(0, stamp="2026-12-07T03:00:00.001Z"))
    dao.write(block(1))

    # Then each carries a token of 36 characters or fewer; the same content the same token, other content another
    tokens = [request["ClientRequestToken"] for request in sent]
    assert all(0 < len(token) <= 36 for token in tokens)
    assert tokens[0] == tokens[1]
    assert len({tokens[0], tokens[2], tokens[3]}) == 3
