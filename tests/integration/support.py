"""Helpers for integration tests: serve carts from the real local Cart API, read orders back from moto."""

from __future__ import annotations

import os
from typing import Any
from zoneinfo import ZoneInfo

from boto3.dynamodb.types import TypeDeserializer

from order_creator.audit import NumberingAudit, describe
from order_creator.dao import OrderDAO
from order_creator.handler import lambda_handler
from tests.factories import LambdaContext, cart_json, sqs_event

_deserializer = TypeDeserializer()


def serve_cart(httpserver: Any, document: dict[str, Any], *, tenant_id: str | None = None) -> None:
    """Answer GET /v1.0/carts/{cartId}?tenantId=... with this cart, as the Cart API would."""
    httpserver.expect_request(
        f"/v1.0/carts/{document['cartId']}",
        method="GET",
        query_string={"tenantId": tenant_id or document["tenantId"]},
    ).respond_with_data(cart_json(document), content_type="application/json")


def invoke(*records: dict[str, Any], seconds: float = 30.0) -> list[str]:
    """Run the real handler on these records; return the message ids it reported as failed."""
    response = lambda_handler(sqs_event(*records), LambdaContext(seconds))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


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
    store = OrderDAO(table_name, dynamodb)
    zone = ZoneInfo(os.environ.get("ORDER_NUMBER_TIMEZONE") or "UTC")
    failed = [describe(v) for v in NumberingAudit(store, zone, recheck_seconds=None).tenant(tenant_id) if not v.ok]
    assert not failed, "; ".join(failed)
