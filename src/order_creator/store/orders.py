"""The batch's port (`ports.OrderStore`): its strongly consistent reads and its one-transaction writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import DecimalException
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from order_creator.errors import StoreUnavailable
from order_creator.models import Order
from order_creator.numbering import day_key, parse_day_key
from order_creator.ports import CounterKey, NumberBlock, OrderKey, Snapshot, WriteResult
from order_creator.store import TableAccess
from order_creator.store.attributes import marshal, marshal_sized, unmarshal
from order_creator.store.keys import counter_key, counters_of_day_partition, order_item, order_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_ITEM_BYTES = 400_000  # DynamoDB's 400 KB (409,600 bytes), less room for the estimate's rounding


class OrderTable(TableAccess):
    """Implements `ports.OrderStore` on one DynamoDB table with the low-level client."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        super().__init__(table_name, client)
        # `item_size`'s marshalled item (None: a number the table cannot hold) and size, for the write to reuse
        self._sized: dict[int, tuple[Order, dict[str, Any] | None, int]] = {}

    def read(self, orders: Sequence[OrderKey], counters: Sequence[CounterKey]) -> Snapshot:
        """Existing orders (id → cartId) and counter values, with strongly consistent BatchGetItem calls."""
        keys = [order_key(*k) for k in dict.fromkeys(orders)] + [counter_key(*k) for k in dict.fromkeys(counters)]
        snapshot = Snapshot()
        with _unavailable():
            for item in self._batch_get(keys, ConsistentRead=True, ProjectionExpression="PK, SK, cartId, currentValue"):
                pk, sk = item["PK"], item["SK"]
                if sk.startswith("ORDER#"):
                    key = OrderKey(pk.removeprefix("TENANT#"), sk.removeprefix("ORDER#"))
                    snapshot.existing[key] = item.get("cartId", "")
                else:
                    day = parse_day_key(sk.removeprefix("ORDER_NUMBER#"))
                    snapshot.counters[CounterKey(pk.removeprefix("COUNTER#"), day)] = int(item.get("currentValue", 0))
        return snapshot

    def write(self, blocks: Sequence[NumberBlock]) -> WriteResult:
        """Each block's counter (conditioned on its previous value) and orders, in one transaction; an order
        DynamoDB would refuse whatever happens is never sent: it comes back in `rejected`, and nothing is written."""
        items: list[Any] = []
        meaning: list[tuple[str, Any, CounterKey]] = []
        rejected: dict[OrderKey, str] = {}
        for block in blocks:
            items.append({"Update": self._counter_update(block)})
            meaning.append(("counter", block.counter, block.counter))
            for order in block.orders:
                key = OrderKey(order.tenant_id, order.id)
                try:
                    items.append({"Put": self._order_put(order)})
                except UnstorableItem as refusal:
                    rejected[key] = str(refusal)
                meaning.append(("order", key, block.counter))
        self._sized.clear()
        if rejected:
            return WriteResult(committed=False, rejected=rejected)
        try:
            with _unavailable():
                self._client.transact_write_items(TransactItems=items, ClientRequestToken=_request_token(blocks))
        except ClientError as error:  # only a cancelled transaction gets here
            reasons: Any = error.response.get("CancellationReasons", [])
            return _cancelled(reasons, meaning)
        return WriteResult(committed=True)

    def _counter_update(self, block: NumberBlock) -> dict[str, Any]:
        # a new counter gets its day's key (GSI1_PK, GSI1_SK) too: docs/design.md says why
        values: dict[str, Any] = {":new": block.last}
        expression = "SET currentValue = :new"
        if block.previous == 0:
            condition = "attribute_not_exists(currentValue)"
            expression += ", GSI1_PK = :day, GSI1_SK = :tenant"
            values[":day"] = counters_of_day_partition(block.counter.day)
            values[":tenant"] = block.counter.tenant_id
        else:
            condition = "currentValue = :previous"
            values[":previous"] = block.previous
        return {
            "TableName": self._table,
            "Key": marshal(counter_key(*block.counter)),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": marshal(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def item_size(self, order: Order) -> int:
        """The order's item size in bytes by DynamoDB's rules (UTF-8 names and strings, numbers by digits)."""
        try:
            marshalled, size = marshal_sized(order_item(order))
        except DecimalException:  # validation refuses these first; the table's own rule is kept here too
            marshalled, size = None, 0  # refused by the write, never sent
        self._sized[id(order)] = (order, marshalled, size)
        return size

    def _order_put(self, order: Order) -> dict[str, Any]:
        if id(order) not in self._sized:  # an entry holds its order: an id in it is this order's
            self.item_size(order)
        _, marshalled, size = self._sized[id(order)]
        if marshalled is None:
            raise UnstorableItem("the order holds a number DynamoDB cannot store")
        if size > MAX_ITEM_BYTES:
            raise UnstorableItem(f"the order is {size:,} bytes; DynamoDB stores at most 400 KB an item")
        return {
            "TableName": self._table,
            "Item": marshalled,
            "ConditionExpression": "attribute_not_exists(PK)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }


@contextmanager
def _unavailable() -> Iterator[None]:
    """DynamoDB's failures as StoreUnavailable, a cancelled transaction's aside."""
    try:
        yield
    except BotoCoreError as error:
        raise StoreUnavailable(f"DynamoDB unreachable: {type(error).__name__}") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        if code == "TransactionCanceledException":
            raise
        raise StoreUnavailable(f"DynamoDB failed with {code}") from None


class UnstorableItem(ValueError):
    """DynamoDB would refuse this item whatever happens: too large, or a number it cannot hold."""


def _request_token(blocks: Sequence[NumberBlock]) -> str:
    """TransactWriteItems' ClientRequestToken (36 characters at most): the same for a request sent again unchanged,
    another for any other request (it hashes what decides the content: docs/design.md)."""
    parts: list[str] = []
    for block in blocks:
        parts.append(f"{block.counter.tenant_id}#{day_key(block.counter.day)}#{block.previous}#{block.last}")
        parts.extend(
            f"{o.id}#{o.cart_id}#{o.order_number}#{o.source_message_id}#{o.date_last_updated}" for o in block.orders
        )
    return hashlib.blake2b("\n".join(parts).encode("utf-8", "surrogatepass"), digest_size=18).hexdigest()


def _cancelled(reasons: list[dict[str, Any]], meaning: list[tuple[str, Any, CounterKey]]) -> WriteResult:
    """What a cancelled transaction's reasons say, item by item; an item that met contention names its counter."""
    result = WriteResult(committed=False)
    for (kind, key, counter), reason in zip(meaning, reasons, strict=False):
        code = reason.get("Code", "None")
        old = unmarshal(reason.get("Item") or {})
        if code in ("None", None):
            continue
        if code == "ConditionalCheckFailed" and kind == "counter":
            result.counters[key] = int(old.get("currentValue", 0))
        elif code == "ConditionalCheckFailed" and kind == "order":
            result.existing[key] = str(old.get("cartId", ""))
        elif code == "ValidationError" and kind == "order":
            result.rejected[key] = f"DynamoDB refused the order: {reason.get('Message', 'validation error')}"
        else:
            result.contention = True
            result.busy.add(counter)
    if not (result.counters or result.existing or result.rejected):
        result.contention = True
    return result
