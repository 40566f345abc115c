"""In-memory fakes of the ports in `order_creator.ports`, for the batch's unit and property tests.

They keep the promises of the real adapters and no more: the Cart API fake parses the answer's text with
the functions `cart.CartService` uses; the store builds every item with the DAO's own `order_item`,
marshals it with boto3's serializer (which raises for a number DynamoDB cannot hold, as it would in the
DAO), measures it in UTF-8 bytes on its own (an order over 400 KB is refused, as DynamoDB would), and
applies a transaction's conditions all or nothing, answering with cancellation reasons as DynamoDB does.
Hooks let a unit test play a concurrent writer or a busy table.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable, Sequence
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from order_creator.errors import CartNotFound, InvalidCart, OrderCreatorError
from order_creator.models import Cart, Order, load_json, parse_cart
from order_creator.ports import CounterKey, DeadLetter, NumberBlock, OrderKey, Snapshot, WriteResult
from order_creator.store.keys import order_item
from order_creator.tooling import exact_json

_serializer = TypeSerializer()
_MAX_ITEM_BYTES = 400_000  # DynamoDB's 400 KB, as the DAO counts it


class FakeCarts:
    """`CartSource` over answers keyed by (tenant id, cart id): a cart's JSON text, or an error to raise."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], str | OrderCreatorError] = {}
        self.calls: list[tuple[str, str]] = []

    def add(self, document: dict[str, Any], tenant_id: str | None = None) -> None:
        """Serve this cart document (to `tenant_id`, by default its own tenant)."""
        self.answers[(tenant_id or str(document["tenantId"]), str(document["cartId"]))] = exact_json(document)

    def fail(self, tenant_id: str, cart_id: str, error: OrderCreatorError) -> None:
        """Raise `error` for this cart."""
        self.answers[(tenant_id, cart_id)] = error

    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        self.calls.append((tenant_id, cart_id))
        answer = self.answers.get((tenant_id, cart_id))
        if answer is None:
            raise CartNotFound(f"cart {cart_id} not found for tenant {tenant_id}")
        if isinstance(answer, OrderCreatorError):
            raise answer
        try:
            document = load_json(answer)
        except (ValueError, UnicodeError, RecursionError):
            raise InvalidCart("Cart API answered with malformed JSON") from None
        return parse_cart(document)


class FakeStore:
    """`OrderStore` in memory: items keyed by (PK, SK), counters by `CounterKey`."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.counters: dict[CounterKey, int] = {}
        self.reads = 0
        self.writes = 0
        self.pending: Sequence[NumberBlock] = ()  # the blocks of the write in progress, for `before_write`
        # Called before each write: a test plays a concurrent writer, or answers for a busy table.
        self.before_write: Callable[[FakeStore], WriteResult | None] | None = None

    def read(self, orders: Sequence[OrderKey], counters: Sequence[CounterKey]) -> Snapshot:
        self.reads += 1
        snapshot = Snapshot()
        for key in orders:
            item = self.items.get((f"TENANT#{key.tenant_id}", f"ORDER#{key.order_id}"))
            if item is not None:
                snapshot.existing[key] = item["cartId"]
        snapshot.counters.update((k, self.counters[k]) for k in counters if k in self.counters)
        return snapshot

    def write(self, blocks: Sequence[NumberBlock]) -> WriteResult:
        self.writes += 1
        self.pending = blocks
        if self.before_write is not None and (forced := self.before_write(self)) is not None:
            return forced
        result = WriteResult(committed=False)
        staged: list[dict[str, Any]] = []
        for block in blocks:
            current = self.counters.get(block.counter, 0)
            if current != block.previous:
                result.counters[block.counter] = current
            for order in block.orders:
                item, key = order_item(order), OrderKey(order.tenant_id, order.id)
                if (refusal := _dynamodb_refusal(item)) is not None:
                    result.rejected[key] = refusal
                if (stored := self.items.get((item["PK"], item["SK"]))) is not None:
                    result.existing[key] = stored["cartId"]
                staged.append(item)
        if result.rejected:  # refused before any request, as the DAO does
            return WriteResult(committed=False, rejected=result.rejected)
        if result.counters or result.existing:
            return result
        self.counters.update((block.counter, block.last) for block in blocks)
        self.items.update(((item["PK"], item["SK"]), item) for item in staged)
        return WriteResult(committed=True)

    def item_size(self, order: Order) -> int:
        return _size(order_item(order))

    def order_numbers(self) -> list[str]:
        """Every stored order's number, sorted."""
        return sorted(item["orderNumber"] for item in self.items.values())


class FakeDeadLetters:
    """`DeadLetterSink` that keeps every letter; message ids in `refuse` are reported as not sent, and so is every
    letter once `time_left` (kept in `times_left`, as it was at the call) has run out."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse = refuse or set()
        self.times_left: list[float] = []

    def send(self, letters: Sequence[DeadLetter], *, time_left: Callable[[], float]) -> set[str]:
        self.times_left.append(time_left())
        if time_left() <= 0:
            return {letter.message_id for letter in letters}
        self.letters.extend(letter for letter in letters if letter.message_id not in self.refuse)
        return {letter.message_id for letter in letters if letter.message_id in self.refuse}


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
