"""In-memory fakes of the ports in `order_creator.ports`, for property tests that need thousands of examples.

They keep the promises of the real adapters and no more: the Cart API fake parses the answer's text with
the same functions `cart.CartService` uses, and the store builds every item the way `dao.OrderDAO` does,
marshals it with boto3's serializer (which raises for a number DynamoDB cannot hold, as it would in the
DAO), measures it in UTF-8 bytes on its own (an item over 400 KB is refused, as DynamoDB would), and
applies a transaction's conditions all or nothing.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from order_creator.dao import order_item
from order_creator.errors import CartNotFound, InvalidCart
from order_creator.models import Cart, Order, load_json, parse_cart
from order_creator.ports import CounterKey, DeadLetter, NumberBlock, OrderKey, Snapshot, WriteResult

_serializer = TypeSerializer()
_MAX_ITEM_BYTES = 400_000  # DynamoDB's 400 KB, as the DAO counts it


class FakeCarts:
    """`CartSource` over cart texts keyed by (tenant id, cart id); an unknown cart is a 404."""

    def __init__(self) -> None:
        self.texts: dict[tuple[str, str], str] = {}

    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        text = self.texts.get((tenant_id, cart_id))
        if text is None:
            raise CartNotFound(f"cart {cart_id} not found for tenant {tenant_id}")
        try:
            document = load_json(text)
        except (ValueError, UnicodeError, RecursionError):
            raise InvalidCart("Cart API answered with malformed JSON") from None
        return parse_cart(document)


class FakeStore:
    """`OrderStore` in memory: DynamoDB's marshalling and item limits, transactions all or nothing."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.counters: dict[CounterKey, int] = {}

    def read(self, orders: Sequence[OrderKey], counters: Sequence[CounterKey]) -> Snapshot:
        snapshot = Snapshot()
        for key in orders:
            item = self.items.get((f"TENANT#{key.tenant_id}", f"ORDER#{key.order_id}"))
            if item is not None:
                snapshot.existing[key] = item["cartId"]
        for counter in counters:
            if counter in self.counters:
                snapshot.counters[counter] = self.counters[counter]
        return snapshot

    def write(self, blocks: Sequence[NumberBlock]) -> WriteResult:
        result = WriteResult(committed=False)
        staged: list[dict[str, Any]] = []
        for block in blocks:
            current = self.counters.get(block.counter, 0)
            if current != block.previous:
                result.counters[block.counter] = current
            for order in block.orders:
                item = order_item(order)
                key = OrderKey(order.tenant_id, order.id)
                refusal = _dynamodb_refusal(item)
                if refusal is not None:
                    result.rejected[key] = refusal
                if (item["PK"], item["SK"]) in self.items:
                    result.existing[key] = self.items[(item["PK"], item["SK"])]["cartId"]
                staged.append(item)
        if result.rejected:
            return WriteResult(committed=False, rejected=result.rejected)
        if result.counters or result.existing:
            return result
        for block in blocks:
            self.counters[block.counter] = block.last
        for item in staged:
            self.items[(item["PK"], item["SK"])] = item
        return WriteResult(committed=True)

    def item_size(self, order: Order) -> int:
        return _size(order_item(order))


class FakeDeadLetters:
    """`DeadLetterSink` that keeps every letter."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        self.letters.extend(letters)
        return set()


def _dynamodb_refusal(item: dict[str, Any]) -> str | None:
    """Why boto3 or DynamoDB would refuse the item, or None. Raises nothing: the DAO refuses it per order."""
    try:
        for value in item.values():
            _serializer.serialize(value)
    except decimal.DecimalException:
        return "a number DynamoDB cannot store"
    if _size(item) > _MAX_ITEM_BYTES:
        return "over DynamoDB's 400 KB"
    return None


def _size(item: dict[str, Any]) -> int:
    # An upper bound of DynamoDB's item size, independent of the DAO's: the item as JSON, in UTF-8.
    return len(json.dumps(item, default=str, ensure_ascii=False).encode("utf-8"))
