"""What the batch needs from the Cart API, the table and the dead-letter queue: `cart.CartService`,
`store.orders.OrderTable` and `dead_letters.DeadLetterQueue` implement these; unit tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple, Protocol

from order_creator.models import Cart, Order


class CounterKey(NamedTuple):
    """One order-number sequence: a tenant's business day."""

    tenant_id: str
    day: date


class OrderKey(NamedTuple):
    """Where an order lives: the tenant and the order id."""

    tenant_id: str
    order_id: str


@dataclass(frozen=True)
class Snapshot:
    """What the store holds for a batch: existing orders (tenant and id → cartId) and counter values (absent = 0)."""

    existing: dict[OrderKey, str] = field(default_factory=dict)
    counters: dict[CounterKey, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NumberBlock:
    """A run of orders numbered `previous + 1 … previous + len(orders)` on one counter."""

    counter: CounterKey
    previous: int
    orders: tuple[Order, ...]

    @property
    def last(self) -> int:
        """The counter's value once this block is written."""
        return self.previous + len(self.orders)


@dataclass
class WriteResult:
    """One transaction's outcome. Not `committed`: nothing was written, and the rest says why: counters found
    moved (their value), orders that exist (their cartId), orders refused (the reason), whether the store was
    busy and, when it can tell, whose counters' items were (a conflict, throttling). A counter named in none of
    these was refused for the others' sake only."""

    committed: bool
    counters: dict[CounterKey, int] = field(default_factory=dict)
    existing: dict[OrderKey, str] = field(default_factory=dict)
    rejected: dict[OrderKey, str] = field(default_factory=dict)
    contention: bool = False
    busy: set[CounterKey] = field(default_factory=set)


@dataclass(frozen=True)
class DeadLetter:
    """A permanent failure on its way to the dead-letter queue, body byte for byte."""

    message_id: str
    body: str
    error_type: str
    error_message: str


class CartSource(Protocol):
    """The Cart API."""

    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        """The cart, or a PermanentError / TransientError saying why not."""
        ...


class OrderStore(Protocol):
    """The orders table."""

    def read(self, orders: Sequence[OrderKey], counters: Sequence[CounterKey]) -> Snapshot:
        """A strongly consistent view of these orders and counters; raises TransientError when unavailable."""
        ...

    def write(self, blocks: Sequence[NumberBlock]) -> WriteResult:
        """Every block's counter and orders atomically, or nothing (an order the store can never hold comes back in
        `rejected`); raises TransientError when unavailable."""
        ...

    def item_size(self, order: Order) -> int:
        """The bytes the order takes in the store, by the store's own rules (for packing transactions)."""
        ...


class DeadLetterSink(Protocol):
    """Where permanent failures go when a dead-letter queue is configured."""

    def send(self, letters: Sequence[DeadLetter], *, time_left: Callable[[], float]) -> set[str]:
        """Send the letters; return the message ids not sent, those that could not be sent within `time_left()`
        seconds included."""
        ...
