"""In-memory fakes of the ports, with DynamoDB's transaction semantics where the batch depends on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from order_creator.errors import CartNotFound, OrderCreatorError
from order_creator.models import Cart, Order, parse_cart
from order_creator.ports import CounterKey, DeadLetter, NumberBlock, OrderKey, Snapshot, WriteResult


class FakeCarts:
    """Carts by (tenant, cart id); a stored exception is raised instead of answering."""

    def __init__(self) -> None:
        self.carts: dict[tuple[str, str], dict[str, object] | OrderCreatorError] = {}
        self.calls: list[tuple[str, str]] = []

    def add(self, document: dict[str, object], tenant_id: str | None = None) -> None:
        self.carts[(tenant_id or str(document["tenantId"]), str(document["cartId"]))] = document

    def fail(self, tenant_id: str, cart_id: str, error: OrderCreatorError) -> None:
        self.carts[(tenant_id, cart_id)] = error

    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        self.calls.append((tenant_id, cart_id))
        found = self.carts.get((tenant_id, cart_id))
        if found is None:
            raise CartNotFound(f"cart {cart_id} not found")
        if isinstance(found, OrderCreatorError):
            raise found
        return parse_cart(found)


class FakeStore:
    """Orders and counters in dicts; `write` is all-or-nothing with cancellation reasons like DynamoDB's."""

    def __init__(self) -> None:
        self.orders: dict[OrderKey, Order] = {}
        self.counters: dict[CounterKey, int] = {}
        self.reads = 0
        self.writes = 0
        self.pending: Sequence[NumberBlock] = ()  # the blocks of the write in progress, for `before_write`
        # Called before each write: lets a test simulate a concurrent writer or a busy table.
        self.before_write: Callable[[FakeStore], WriteResult | None] | None = None

    def read(self, orders: Sequence[OrderKey], counters: Sequence[CounterKey]) -> Snapshot:
        self.reads += 1
        return Snapshot(
            existing={k: self.orders[k].cart_id for k in orders if k in self.orders},
            counters={k: self.counters[k] for k in counters if k in self.counters},
        )

    def write(self, blocks: Sequence[NumberBlock]) -> WriteResult:
        self.writes += 1
        self.pending = blocks
        if self.before_write is not None and (forced := self.before_write(self)) is not None:
            return forced
        result = WriteResult(committed=False)
        for block in blocks:
            if self.counters.get(block.counter, 0) != block.previous:
                result.counters[block.counter] = self.counters.get(block.counter, 0)
            for order in block.orders:
                key = OrderKey(order.tenant_id, order.id)
                if key in self.orders:
                    result.existing[key] = self.orders[key].cart_id
        if result.counters or result.existing:
            return result
        for block in blocks:
            self.counters[block.counter] = block.last
            for order in block.orders:
                self.orders[OrderKey(order.tenant_id, order.id)] = order
        return WriteResult(committed=True)

    def item_size(self, order: Order) -> int:
        return len(order.model_dump_json().encode("utf-8"))


class FakeDeadLetters:
    """Collects letters; message ids in `refuse` are reported as not sent."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse = refuse or set()

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        self.letters.extend(letter for letter in letters if letter.message_id not in self.refuse)
        return {letter.message_id for letter in letters if letter.message_id in self.refuse}
