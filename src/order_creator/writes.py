"""Numbering and writing: each (tenant, day)'s new orders numbered from its counter and written in transactions,
round after round, until each is decided or the deadline's margin is reached.

A round packs the ready groups into as few transactions as DynamoDB allows; a busy group (its counter moved, or
its items met contention) is retried alone after a back-off of its own, the others at once
(docs/how-a-batch-works.md, step 4). A transaction is sent only with WRITE_SECONDS left before the answer's
margin, and a back-off ends while one can still be sent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from order_creator.deadlines import ANSWER_SECONDS, WRITE_SECONDS
from order_creator.errors import DeadlineExceeded, TransientError
from order_creator.models import Cart, Order, OrderStatus
from order_creator.numbering import format_order_number, utc_millis
from order_creator.outcomes import Draft, Outcome, created, failures, outcome, refused, unexpected
from order_creator.ports import CounterKey, NumberBlock, WriteResult

SYSTEM_USER = "OrderCreatorRecord"
MAX_ITEMS_PER_TRANSACTION = 100  # DynamoDB's limit: a counter and up to 99 orders
# DynamoDB refuses a transaction whose items add up to over 4 MB (4,194,304 bytes), counted in UTF-8 bytes
# by its item-size rules (`OrderStore.item_size`); 4,000,000 leaves room for the counters.
MAX_TRANSACTION_BYTES = 4_000_000
MAX_BACKOFF_SECONDS = 2.0

Transaction = list[tuple[NumberBlock, list[Draft]]]


@dataclass
class _Group:
    """One (tenant, day)'s drafts still to write, and what its lost transactions taught."""

    drafts: list[Draft] = field(default_factory=list)
    alone: bool = False  # it was busy: written in a transaction of its own from now on
    losses: int = 0  # transactions lost while busy, since its last commit
    wait: float = 0.0  # seconds of back-off before it is tried again


class WriteRounds:
    """One batch's numbering and writing. `run` once; then `outcomes` holds every draft's, `conflicts` how many
    counters were found moved by another writer."""

    def __init__(
        self,
        write: Callable[[Sequence[NumberBlock]], WriteResult],
        item_size: Callable[[Order], int],
        remaining_seconds: Callable[[], float],
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._write = write
        self._item_size = item_size
        self._remaining = remaining_seconds
        self._clock = clock
        self._sleep = sleep
        self._stamp = ""
        self._stamped: datetime | None = None
        self._groups: dict[CounterKey, _Group] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.conflicts = 0

    def run(self, pending: Sequence[Draft], counters: dict[CounterKey, int]) -> None:
        """Write rounds until every draft is decided or the time left is too short to send another transaction
        (not a count of rounds: a hot counter has a winner every round)."""
        groups = self._groups
        for draft in pending:
            groups.setdefault(draft.counter, _Group()).drafts.append(draft)
        while groups:
            if not self._time_for_a_write():
                late = DeadlineExceeded("Lambda time ran out before the order was written")
                self.outcomes.update(failures([d for g in groups.values() for d in g.drafts], late))
                return
            ready = {key: group for key, group in groups.items() if group.wait <= 0}
            if ready:
                self._round(ready, counters)
            else:
                self._back_off()
            _dequeue(groups, self.outcomes)

    def _time_for_a_write(self) -> bool:
        return self._remaining() - ANSWER_SECONDS >= WRITE_SECONDS

    def _back_off(self) -> None:
        """Sleep until the first busy group is due, but not past the last moment a transaction can be sent: that
        group then goes at that moment, its last chance. Either way it is due after this."""
        due = min(g.wait for g in self._groups.values())
        pause = min(due, self._remaining() - ANSWER_SECONDS - WRITE_SECONDS)
        started = time.perf_counter()
        if pause > 0:
            self._sleep(pause)
        self._pass(max(time.perf_counter() - started, due))

    def _pass(self, seconds: float) -> None:
        """`seconds` went by: the groups backing off are that much nearer their next try."""
        for group in self._groups.values():
            group.wait -= seconds

    def _round(self, ready: dict[CounterKey, _Group], counters: dict[CounterKey, int]) -> None:
        self._stamp = self._next_stamp()
        for transaction in self._pack(ready, counters):
            if not self._time_for_a_write():
                return  # the rest waits for `run` to report it late
            self._send(transaction, ready, counters)

    def _send(
        self, transaction: Transaction, groups: dict[CounterKey, _Group], counters: dict[CounterKey, int]
    ) -> None:
        """Write one transaction and learn from its answer."""
        drafts = [d for _, chunk in transaction for d in chunk]
        started = time.perf_counter()
        try:
            result = self._write([block for block, _ in transaction])
        except TransientError as error:
            self.outcomes.update(failures(drafts, error))
            return
        except Exception as bug:  # a bug in the store's adapter fails this transaction's records only
            self.outcomes.update(failures(drafts, unexpected("writing the orders", bug)))
            return
        took = time.perf_counter() - started
        self._pass(took)
        if result.committed:
            for block, chunk in transaction:
                counters[block.counter] = block.last
                groups[block.counter].losses = 0
                self.outcomes.update(
                    (d.record.message_id, created(d, o)) for o, d in zip(block.orders, chunk, strict=True)
                )
            return
        self.conflicts += sum(counters.get(k, 0) != v for k, v in result.counters.items())
        counters.update(result.counters)
        decided = {d.record.message_id: o for d in drafts if (o := refused(d, result)) is not None}
        self.outcomes.update(decided)
        busy = set(result.counters) | result.busy
        if not busy and (result.contention or not decided):  # the store did not say whose items: all of them
            busy = {block.counter for block, _ in transaction}
        base = max(took, 0.05 if result.contention else 0.01)
        for key in busy & groups.keys():
            group = groups[key]
            group.alone, group.losses = True, group.losses + 1
            group.wait = random.uniform(0, min(MAX_BACKOFF_SECONDS, base * 2**group.losses))  # noqa: S311 - jitter

    def _next_stamp(self) -> str:
        """The round's write time (`dateLastUpdated`), to the millisecond and later than the last round's: a group
        sent again is another request, with another idempotency token, never the one its cancellation answered."""
        now = self._clock()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._stamped is not None and now <= self._stamped:
            now = self._stamped + timedelta(milliseconds=1)
        self._stamped = now
        return utc_millis(now)

    def _pack(self, ready: dict[CounterKey, _Group], counters: dict[CounterKey, int]) -> Iterator[Transaction]:
        """The next chunk of every ready group, numbered: the quiet groups together in as few transactions as
        DynamoDB allows, then each busy one in its own."""
        transaction: Transaction = []
        items = size = 0
        for key in sorted(ready, key=lambda k: ready[k].alone):
            block, chunk, chunk_size = self._chunk(key, ready[key].drafts, counters.get(key, 0))
            if not chunk:
                continue
            if transaction and (
                ready[key].alone
                or items + len(chunk) + 1 > MAX_ITEMS_PER_TRANSACTION
                or size + chunk_size > MAX_TRANSACTION_BYTES
            ):
                yield transaction
                transaction, items, size = [], 0, 0
            transaction.append((block, chunk))
            items += len(chunk) + 1
            size += chunk_size
        if transaction:
            yield transaction

    def _chunk(self, key: CounterKey, drafts: list[Draft], previous: int) -> tuple[NumberBlock, list[Draft], int]:
        """The group's next orders, numbered from `previous`, as many as one transaction holds; a draft whose order
        cannot be built or sized (a bug) is decided transient, alone."""
        chunk: list[Draft] = []
        orders: list[Order] = []
        size = 0
        for draft in drafts[: MAX_ITEMS_PER_TRANSACTION - 1]:
            try:
                order = _order(draft, format_order_number(key.day, previous + len(chunk) + 1), self._stamp)
                order_size = self._item_size(order)
            except Exception as bug:  # a bug building or sizing one order fails that record alone
                error = unexpected("sizing the order", bug, order_id=draft.order_id)
                self.outcomes[draft.record.message_id] = outcome(draft, error=error)
                continue
            if chunk and size + order_size > MAX_TRANSACTION_BYTES:
                break
            chunk.append(draft)
            orders.append(order)
            size += order_size
        return NumberBlock(key, previous, tuple(orders)), chunk, size


def _dequeue(groups: dict[CounterKey, _Group], decided: dict[str, Outcome]) -> None:
    """Take the decided drafts out of their groups, and the groups left empty."""
    for key in list(groups):
        group = groups[key]
        group.drafts = [d for d in group.drafts if d.record.message_id not in decided]
        if not group.drafts:
            del groups[key]


def _order(draft: Draft, order_number: str, now: str) -> Order:
    message, cart = draft.message, draft.cart
    assert isinstance(cart, Cart)  # only drafts with a valid cart are written
    paid = message.payment_details is not None and message.payment_details.paid_at is not None
    # Built without validating again: every part comes from the validated message and cart, or is made here.
    return Order.model_construct(
        id=draft.order_id,
        order_number=order_number,
        tenant_id=message.tenant_id,
        cart_id=message.cart_id,
        customer_email=message.customer_email,
        items=cart.items,
        subtotal=cart.subtotal,
        tax=cart.tax,
        total=cart.total,
        currency=cart.currency,
        status=OrderStatus.PAID if paid else OrderStatus.PENDING_PAYMENT,
        billing_address=message.billing_address,
        campaign=message.campaign,
        payment_details=message.payment_details,
        date_created=message.date_created or utc_millis(draft.created),
        date_last_updated=now,
        created_by=SYSTEM_USER,
        last_updated_by=SYSTEM_USER,
        source_message_id=draft.record.message_id,
    )
