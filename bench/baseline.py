"""The seed's algorithm, for comparison: one message at a time, in sequence, as the seed's summary describes it.

Per record: validate the message, fetch the cart, take the next number with `UpdateItem ADD` on the counter
(`PK=COUNTER`, `SK=ORDER_NUMBER#{tenant}#{day}`: every tenant on one partition), then `PutItem` the order with
`attribute_not_exists(PK) AND attribute_not_exists(SK)`; a failed condition means a duplicate, and the number just
taken is lost (a gap). It uses this project's models (Pydantic v2; the seed had the slower v1) and writes the same
item with the seed's keys, through a kept-alive `requests.Session`: generous to the seed, never the opposite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from order_creator.models import Order, OrderStatus, load_json, parse_cart, parse_message
from order_creator.numbering import business_day, day_key, format_order_number, utc_millis
from order_creator.store.keys import order_item

_serializer = TypeSerializer()


class SeedBaseline:
    """Handles an SQS event the seed's way; `handle` returns the same response shape as the handler."""

    def __init__(self, table_name: str, cart_api_url: str, client: Any) -> None:
        self._table = table_name
        self._cart_api = cart_api_url.rstrip("/")
        self._client = client
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Process the records in sequence; report the ones that failed."""
        failures = []
        for record in event["Records"]:
            try:
                self._process(record)
            except Exception:  # the seed: any error puts the record in batchItemFailures
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _process(self, record: dict[str, Any]) -> None:
        order = self.order(record, self._next_number)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_marshal({k: v for k, v in order_item(order).items() if not k.startswith("GSI3")}),
                ConditionExpression="attribute_not_exists(PK) AND attribute_not_exists(SK)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":  # else: a duplicate, skipped
                raise  # (the seed's idempotency: the number just taken is burned)

    def order(self, record: dict[str, Any], next_number: Callable[[str, str], int]) -> Order:
        """The order `record` asks for, its cart fetched, numbered by `next_number(tenant, day key)`."""
        message = parse_message(record["body"])
        response = self._session.get(
            f"{self._cart_api}/carts/{message.cart_id}", params={"tenantId": message.tenant_id}, timeout=3
        )
        response.raise_for_status()
        cart = parse_cart(load_json(response.content))
        created = datetime.fromisoformat(message.date_created or utc_millis(datetime.now(UTC)))
        day = business_day(created, UTC)
        number = next_number(message.tenant_id, day_key(day))
        now = utc_millis(datetime.now(UTC))
        return Order(
            id=str(message.order_id),
            order_number=format_order_number(day, number),
            tenant_id=message.tenant_id,
            cart_id=message.cart_id,
            customer_email=message.customer_email,
            items=list(cart.items),
            subtotal=cart.subtotal,
            tax=cart.tax,
            total=cart.total,
            currency=cart.currency,
            status=OrderStatus.PENDING_PAYMENT,
            billing_address=message.billing_address,
            campaign=message.campaign,
            payment_details=message.payment_details,
            date_created=message.date_created or now,
            date_last_updated=now,
            created_by="OrderCreatorRecord",
            last_updated_by="OrderCreatorRecord",
            source_message_id=record["messageId"],
        )

    def _next_number(self, tenant_id: str, day: str) -> int:
        response = self._client.update_item(
            TableName=self._table,
            Key={"PK": {"S": "COUNTER"}, "SK": {"S": f"ORDER_NUMBER#{tenant_id}#{day}"}},
            UpdateExpression="ADD currentValue :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["currentValue"]["N"])


def _marshal(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items()}
