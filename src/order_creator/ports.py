"""The domain's view of the outside world: what the batch needs from the Cart API, the table and the DLQ.

The real adapters (`cart.CartService`, `store.orders.OrderTable`, `dead_letters.DeadLetterQueue`) implement these
protocols; unit tests implement them with plain in-memory fakes.
"""

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
    """The outcome of writing a set of blocks in one transaction.

    When `committed` is false nothing was written, and the other fields say why: counters whose value
    was not the one expected (with the value found), orders that exist already (with their cartId),
    orders the store refused (with the reason), whether the store was merely busy, and, when it can tell,
    the counters whose items met that business (a conflicting transaction, throttling). A counter named in
    none of these was refused for the others' sake only.
    """

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
        """Write every block's counter and orders atomically, or nothing; raises TransientError when unavailable.

        An order the store can never hold is not sent: it comes back in `rejected`, with the reason.
        """
        ...

    def item_size(self, order: Order) -> int:
        """The bytes the order takes in the store, by the store's own rules (for packing transactions)."""
        ...


class DeadLetterSink(Protocol):
    """Where permanent failures go when a dead-letter queue is configured."""

    def send(self, letters: Sequence[DeadLetter], *, time_left: Callable[[], float] | None = None) -> set[str]:
        """Send the letters; return the message ids that could not be sent. With `time_left` (seconds left before
        the sends must have ended), no send outlasts it: what could not be sent in time is returned too."""
        ...
