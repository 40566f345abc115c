"""The batch: parse → carts (concurrently with one store read) → group → number and write → outcomes.

Talks only to the ports in `order_creator.ports`. The algorithm, in short:

1. parse every record; a bad one is a permanent failure for that record only; a repeated order id in
   the batch follows the first record with that id;
2. fetch the carts concurrently, and while they are in flight read, in one strongly consistent request,
   the orders that may exist already and the counters of every (tenant, business day);
3. number the new orders of each (tenant, day) from the counter read, and write each counter and its
   orders in one transaction (several groups share a transaction up to DynamoDB's item limit);
4. a cancelled transaction says why, item by item: a counter that moved gives its new value, an order
   that exists already is a duplicate (same cart) or a conflict (another cart); drop those and retry,
   bounded, with jitter;
5. stop starting work when the Lambda's remaining time is short, and report what was not done.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

from order_creator.errors import (
    DeadLetterFailed,
    DeadlineExceeded,
    InvalidCart,
    InvalidMessage,
    OrderConflict,
    OrderCreatorError,
    PermanentError,
    StoreUnavailable,
    TransientError,
    UnstorableOrder,
)
from order_creator.models import Cart, Order, OrderMessage, OrderStatus, parse_message
from order_creator.numbering import business_day, format_order_number, utc_millis
from order_creator.ports import (
    CartSource,
    CounterKey,
    DeadLetter,
    DeadLetterSink,
    NumberBlock,
    OrderKey,
    OrderStore,
    Snapshot,
)

logger = logging.getLogger(__name__)

SYSTEM_USER = "OrderCreatorRecord"
MAX_ITEMS_PER_TRANSACTION = 100  # DynamoDB's limit: a counter and up to 99 orders
# DynamoDB refuses a transaction whose items add up to over 4 MB (4,194,304 bytes), counted in UTF-8 bytes
# by its item-size rules (`OrderStore.item_size`); 4,000,000 leaves room for the counters.
MAX_TRANSACTION_BYTES = 4_000_000
MAX_WRITE_ATTEMPTS = 8
STORE_SAFETY_SECONDS = 1.0


@dataclass(frozen=True)
class Record:
    """The parts of an SQS record the batch needs."""

    message_id: str
    body: str
    sent_timestamp_ms: int | None = None
    receive_count: int = 1


class Status(StrEnum):
    """What became of a record."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    PERMANENT = "permanent"
    TRANSIENT = "transient"


@dataclass
class Outcome:
    """One record's result. `error` is set for the two failure statuses."""

    record: Record
    status: Status
    order_id: str | None = None
    tenant_id: str | None = None
    order_number: str | None = None
    total: str | None = None
    stored_cart_id: str | None = None  # the cart of the order as stored, when this record found or wrote it
    error: OrderCreatorError | None = None

    @property
    def succeeded(self) -> bool:
        """Created or duplicate: SQS may delete the message."""
        return self.status in (Status.CREATED, Status.DUPLICATE)


@dataclass
class BatchReport:
    """Every record's outcome in batch order, and what it took."""

    outcomes: list[Outcome]
    numbering_conflicts: int = 0
    cart_latencies: list[float] = field(default_factory=list)


@dataclass
class _Draft:
    """A parsed record on its way to becoming an order."""

    record: Record
    message: OrderMessage
    created: datetime
    counter: CounterKey
    cart: Cart | OrderCreatorError | None = None

    @property
    def order_id(self) -> str:
        return str(self.message.order_id)

    @property
    def key(self) -> OrderKey:
        """The order's identity: the same order id in two tenants is two orders (contract §4)."""
        return OrderKey(self.message.tenant_id, self.order_id)


class BatchProcessor:
    """Turns a batch of records into orders. Safe to reuse across invocations (a warm Lambda does)."""

    def __init__(
        self,
        carts: CartSource,
        store: OrderStore,
        zone: tzinfo,
        *,
        cart_worst_case_seconds: float,
        max_workers: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._carts = carts
        self._store = store
        self._zone = zone
        self._cart_worst_case = cart_worst_case_seconds
        self._clock = clock
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="order-creator")

    def process(self, records: Sequence[Record], remaining_seconds: Callable[[], float]) -> BatchReport:
        """Every record's outcome, in batch order. Never raises for a record's fault."""
        outcomes: dict[str, Outcome] = {}
        report = BatchReport(outcomes=[])
        if remaining_seconds() < self._cart_worst_case + 1.0:
            reason = DeadlineExceeded("too little time left to fetch a cart safely; not started")
            return BatchReport([Outcome(r, Status.TRANSIENT, error=reason) for r in records])

        drafts, followers = self._parse(records, outcomes)
        snapshot, snapshot_error = self._fetch(drafts, report)
        pending = self._resolve(drafts, snapshot, snapshot_error, outcomes)
        if pending:
            counters = dict(snapshot.counters) if snapshot else {}
            report.numbering_conflicts = self._number_and_write(pending, counters, outcomes, remaining_seconds)
        for draft, first in followers:
            outcomes[draft.record.message_id] = _follow(draft, first, outcomes[first.record.message_id])
        report.outcomes = [outcomes[r.message_id] for r in records]
        return report

    # 1. parse ---------------------------------------------------------------------------------

    def _parse(
        self, records: Sequence[Record], outcomes: dict[str, Outcome]
    ) -> tuple[list[_Draft], list[tuple[_Draft, _Draft]]]:
        drafts: list[_Draft] = []
        firsts: dict[OrderKey, _Draft] = {}
        followers: list[tuple[_Draft, _Draft]] = []
        for record in records:
            try:
                draft = self._draft(record)
            except InvalidMessage as error:
                outcomes[record.message_id] = Outcome(record, Status.PERMANENT, error=error)
                continue
            first = firsts.get(draft.key)
            if first is None:
                firsts[draft.key] = draft
                drafts.append(draft)
            else:
                followers.append((draft, first))
        return drafts, followers

    def _draft(self, record: Record) -> _Draft:
        message = parse_message(record.body)
        try:
            if message.date_created is not None:
                created = datetime.fromisoformat(message.date_created)
            elif record.sent_timestamp_ms is not None:
                created = datetime.fromtimestamp(record.sent_timestamp_ms / 1000, UTC)
            else:
                raise InvalidMessage("dateCreated is absent and the record has no SentTimestamp")
            day = business_day(created, self._zone)
        except (OverflowError, OSError, ValueError):
            raise InvalidMessage("dateCreated is outside the range of dates an order can have") from None
        return _Draft(record, message, created, CounterKey(message.tenant_id, day))

    # 2. carts, and the store read while they are in flight --------------------------------------

    def _fetch(self, drafts: list[_Draft], report: BatchReport) -> tuple[Snapshot | None, TransientError | None]:
        if not drafts:
            return Snapshot(), None
        order_keys = [d.key for d in drafts]
        counter_keys = list(dict.fromkeys(d.counter for d in drafts))
        read = self._pool.submit(self._store.read, order_keys, counter_keys)
        carts = [self._pool.submit(self._timed_cart, d) for d in drafts]
        for draft, future in zip(drafts, carts, strict=True):
            draft.cart, latency = _result_or_error(future, draft)
            if latency is not None:
                report.cart_latencies.append(latency)
        try:
            return read.result(), None
        except TransientError as error:
            return None, error

    def _timed_cart(self, draft: _Draft) -> tuple[Cart | OrderCreatorError, float | None]:
        started = time.perf_counter()
        try:
            cart = self._carts.get_cart(draft.message.tenant_id, draft.message.cart_id)
        except OrderCreatorError as error:
            return error, time.perf_counter() - started
        return cart, time.perf_counter() - started

    # 3. decide what each record needs -----------------------------------------------------------

    def _resolve(
        self,
        drafts: list[_Draft],
        snapshot: Snapshot | None,
        snapshot_error: TransientError | None,
        outcomes: dict[str, Outcome],
    ) -> list[_Draft]:
        pending: list[_Draft] = []
        for draft in drafts:
            # An order that exists decides the record, whatever the cart says now (it may be gone).
            if snapshot is not None and draft.key in snapshot.existing:
                outcomes[draft.record.message_id] = _existing(draft, snapshot.existing[draft.key])
            elif snapshot_error is not None:
                # Without the read we cannot tell a redelivered order (whose cart may be gone) from a
                # new one, so even a permanent cart failure waits for a retry.
                outcomes[draft.record.message_id] = _outcome(draft, Status.TRANSIENT, error=snapshot_error)
            elif isinstance(draft.cart, OrderCreatorError):
                outcomes[draft.record.message_id] = _failure(draft, draft.cart)
            elif (mismatch := _cart_mismatch(draft)) is not None:
                outcomes[draft.record.message_id] = _outcome(draft, Status.PERMANENT, error=mismatch)
            else:
                pending.append(draft)
        return pending

    # 4. number and write ------------------------------------------------------------------------

    def _number_and_write(
        self,
        pending: list[_Draft],
        counters: dict[CounterKey, int],
        outcomes: dict[str, Outcome],
        remaining_seconds: Callable[[], float],
    ) -> int:
        queue: dict[CounterKey, list[_Draft]] = defaultdict(list)
        for draft in pending:
            queue[draft.counter].append(draft)
        conflicts = 0
        failed_rounds = 0
        while queue:
            if remaining_seconds() < STORE_SAFETY_SECONDS:
                self._give_up(queue, outcomes, DeadlineExceeded("Lambda time ran out before the order was written"))
                break
            if failed_rounds >= MAX_WRITE_ATTEMPTS:
                self._give_up(queue, outcomes, StoreUnavailable("order numbering kept conflicting; retry later"))
                break
            contention = False
            progressed = False
            for transaction in list(_pack(queue, counters, self._clock(), self._store.item_size)):
                try:
                    result = self._store.write([block for block, _ in transaction])
                except TransientError as error:
                    for _, drafts in transaction:
                        for draft in drafts:
                            outcomes[draft.record.message_id] = _outcome(draft, Status.TRANSIENT, error=error)
                        _settle(queue, drafts)
                    continue
                if result.committed:
                    progressed = True
                    for block, drafts in transaction:
                        counters[block.counter] = block.last
                        for order, draft in zip(block.orders, drafts, strict=True):
                            outcomes[draft.record.message_id] = _created(draft, order)
                        _settle(queue, drafts)
                    continue
                contention = contention or result.contention
                moved = {k: v for k, v in result.counters.items() if counters.get(k, 0) != v}
                conflicts += len(moved)
                counters.update(result.counters)
                for _, drafts in transaction:
                    for draft in drafts:
                        if draft.key in result.existing:
                            outcome = _existing(draft, result.existing[draft.key])
                        elif draft.key in result.rejected:
                            refusal = UnstorableOrder(result.rejected[draft.key])
                            outcome = _outcome(draft, Status.PERMANENT, error=refusal)
                        else:
                            continue
                        outcomes[draft.record.message_id] = outcome
                        _settle(queue, [draft])
            if not progressed:
                failed_rounds += 1
                if queue:
                    self._back_off(failed_rounds, contention)
        return conflicts

    def _back_off(self, attempt: int, contention: bool) -> None:
        # Full jitter. A moved counter is retried almost at once (we already know its new value);
        # throttling and transaction conflicts wait longer, exponentially.
        cap = min(1.0, 0.05 * 2**attempt) if contention else 0.02
        self._sleep(random.uniform(0, cap))  # noqa: S311 - jitter, not cryptography

    @staticmethod
    def _give_up(queue: dict[CounterKey, list[_Draft]], outcomes: dict[str, Outcome], error: TransientError) -> None:
        for drafts in queue.values():
            for draft in drafts:
                outcomes[draft.record.message_id] = _outcome(draft, Status.TRANSIENT, error=error)
        queue.clear()


def _pack(
    queue: dict[CounterKey, list[_Draft]],
    counters: dict[CounterKey, int],
    now: datetime,
    item_size: Callable[[Order], int],
) -> Iterable[list[tuple[NumberBlock, list[_Draft]]]]:
    """The next chunk of every group, numbered, packed into as few transactions as DynamoDB allows."""
    stamp = utc_millis(now)
    transaction: list[tuple[NumberBlock, list[_Draft]]] = []
    items = size = 0
    for key, drafts in queue.items():
        previous = counters.get(key, 0)
        chunk: list[_Draft] = []
        orders: list[Order] = []
        chunk_size = 0
        for draft in drafts[: MAX_ITEMS_PER_TRANSACTION - 1]:
            order = _order(draft, format_order_number(key.day, previous + len(chunk) + 1), stamp)
            order_size = item_size(order)
            if chunk and chunk_size + order_size > MAX_TRANSACTION_BYTES:
                break
            chunk.append(draft)
            orders.append(order)
            chunk_size += order_size
        if transaction and (
            items + len(chunk) + 1 > MAX_ITEMS_PER_TRANSACTION or size + chunk_size > MAX_TRANSACTION_BYTES
        ):
            yield transaction
            transaction, items, size = [], 0, 0
        transaction.append((NumberBlock(key, previous, tuple(orders)), chunk))
        items += len(chunk) + 1
        size += chunk_size
    if transaction:
        yield transaction


def _settle(queue: dict[CounterKey, list[_Draft]], drafts: list[_Draft]) -> None:
    """Take `drafts` out of the queue: their outcome is decided."""
    for draft in drafts:
        group = queue.get(draft.counter)
        if group is not None:
            group[:] = [d for d in group if d is not draft]
            if not group:
                del queue[draft.counter]


def _order(draft: _Draft, order_number: str, now: str) -> Order:
    message, cart = draft.message, draft.cart
    assert isinstance(cart, Cart)  # _resolve only lets drafts with a valid cart through
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


def _result_or_error(
    future: Future[tuple[Cart | OrderCreatorError, float | None]], draft: _Draft
) -> tuple[Cart | OrderCreatorError, float | None]:
    try:
        return future.result()
    except Exception as unexpected:  # a bug in an adapter must not fail the other records
        logger.exception("cart fetch failed unexpectedly", extra={"order_id": draft.order_id})
        return TransientError(f"unexpected error fetching the cart: {type(unexpected).__name__}"), None


def _cart_mismatch(draft: _Draft) -> InvalidCart | None:
    cart = draft.cart
    assert isinstance(cart, Cart)
    if cart.tenant_id != draft.message.tenant_id:
        return InvalidCart("the cart belongs to another tenant")
    if cart.cart_id != draft.message.cart_id:
        return InvalidCart(f"the Cart API answered with cart {cart.cart_id}, not {draft.message.cart_id}")
    return None


def _outcome(draft: _Draft, status: Status, **fields: object) -> Outcome:
    return Outcome(draft.record, status, order_id=draft.order_id, tenant_id=draft.message.tenant_id, **fields)  # type: ignore[arg-type]


def _created(draft: _Draft, order: Order) -> Outcome:
    total = f"{order.total} {order.currency}"
    return _outcome(draft, Status.CREATED, order_number=order.order_number, total=total, stored_cart_id=order.cart_id)


def _existing(draft: _Draft, stored_cart_id: str) -> Outcome:
    if stored_cart_id == draft.message.cart_id:
        return _outcome(draft, Status.DUPLICATE, stored_cart_id=stored_cart_id)
    conflict = OrderConflict(f"order {draft.order_id} already exists for another cart")
    return _outcome(draft, Status.PERMANENT, error=conflict, stored_cart_id=stored_cart_id)


def _failure(draft: _Draft, error: OrderCreatorError) -> Outcome:
    status = Status.PERMANENT if isinstance(error, PermanentError) else Status.TRANSIENT
    return _outcome(draft, status, error=error)


def _follow(draft: _Draft, first: _Draft, decided: Outcome) -> Outcome:
    """A later record with an order id already in the batch: the stored order, else the first record, decides.

    When the first record found or wrote the order, the stored cart decides (same cart: a duplicate;
    another: a conflict). Otherwise, same cart as the first: it ends as the first did. Another cart: it is a
    permanent conflict once the first is settled; while the first is still to be retried, so is this
    one, since its cart may yet be the one that wins (it would be wrong to dead-letter it then).
    """
    if decided.stored_cart_id is not None:
        # The order is stored: its cart decides, whatever the first record of the batch asked for.
        return _existing(draft, decided.stored_cart_id)
    if draft.message.cart_id == first.message.cart_id:
        status = Status.DUPLICATE if decided.succeeded else decided.status
        return _outcome(draft, status, error=decided.error)
    if decided.status is Status.TRANSIENT:
        waiting = TransientError(f"order {draft.order_id} appears earlier in the batch, with another cartId, unsettled")
        return _outcome(draft, Status.TRANSIENT, error=waiting)
    conflict = OrderConflict(f"order {draft.order_id} appears earlier in the batch with another cartId")
    return _outcome(draft, Status.PERMANENT, error=conflict)


def settle(outcomes: Sequence[Outcome], dead_letters: DeadLetterSink | None) -> list[str]:
    """The one place outcomes become SQS results: the message ids SQS must keep (`batchItemFailures`).

    Transient failures are kept for redelivery. Permanent ones go to the dead-letter queue when one is
    configured (and are kept if sending fails), otherwise they are kept for the queue's redrive policy.
    """
    permanent = [o for o in outcomes if o.status is Status.PERMANENT]
    unsent: set[str] = {o.record.message_id for o in permanent}
    if dead_letters is not None and permanent:
        letters = [
            DeadLetter(o.record.message_id, o.record.body, _error(o).error_type, str(_error(o))) for o in permanent
        ]
        unsent = dead_letters.send(letters)
        for outcome in permanent:
            if outcome.record.message_id in unsent:
                outcome.status = Status.TRANSIENT
                outcome.error = DeadLetterFailed(
                    f"could not dead-letter ({_error(outcome).error_type}: {_error(outcome)})"
                )
    return [o.record.message_id for o in outcomes if o.status is Status.TRANSIENT or o.record.message_id in unsent]


def _error(outcome: Outcome) -> OrderCreatorError:
    assert outcome.error is not None
    return outcome.error
