"""Helpers for integration tests: serve carts from the real local Cart API, read orders back from moto."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer

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
    """For every day of the tenant: the orders carry exactly 1..N, each once, and N is the counter."""
    by_day: dict[str, list[int]] = {}
    for order in orders_of(dynamodb, table_name, tenant_id):
        _, day, sequence = order["orderNumber"].split("-")
        by_day.setdefault(day, []).append(int(sequence))
    counters = counters_of(dynamodb, table_name, tenant_id)
    assert set(by_day) == set(counters), (by_day.keys(), counters)
    for day, numbers in by_day.items():
        assert sorted(numbers) == list(range(1, counters[day] + 1)), (day, sorted(numbers), counters[day])
