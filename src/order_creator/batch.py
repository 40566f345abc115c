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
   with jitter, for as long as the Lambda's time allows;
5. stop starting work when the Lambda's remaining time is short, and report what was not done.

Each stage returns the outcomes it decides; a failure's status follows from its error class.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any

from order_creator.errors import (
    DeadLetterFailed,
    DeadlineExceeded,
    InvalidCart,
    InvalidMessage,
    OrderConflict,
    OrderCreatorError,
    PermanentError,
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
    WriteResult,
)

logger = logging.getLogger(__name__)

SYSTEM_USER = "OrderCreatorRecord"
MAX_ITEMS_PER_TRANSACTION = 100  # DynamoDB's limit: a counter and up to 99 orders
# DynamoDB refuses a transaction whose items add up to over 4 MB (4,194,304 bytes), counted in UTF-8 bytes
# by its item-size rules (`OrderStore.item_size`); 4,000,000 leaves room for the counters.
MAX_TRANSACTION_BYTES = 4_000_000
STORE_SAFETY_SECONDS = 1.0
# The time kept, when carts or the read are late, for a write round of what did arrive and for the answer.
FETCH_MARGIN_SECONDS = 2 * STORE_SAFETY_SECONDS
MAX_BACKOFF_SECONDS = 2.0


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
    """One record's result. Its status follows from what is set: a failure's from its error class, a
    success is `CREATED` when this record wrote the order (it has the order number), else `DUPLICATE`."""

    record: Record
    order_id: str | None = None
    tenant_id: str | None = None
    order_number: str | None = None
    stored_cart_id: str | None = None  # the cart of the order as stored, when this record found or wrote it
    error: OrderCreatorError | None = None

    @property
    def status(self) -> Status:
        """What became of the record."""
        if self.error is not None:
            return Status.PERMANENT if isinstance(self.error, PermanentError) else Status.TRANSIENT
        return Status.CREATED if self.order_number else Status.DUPLICATE

    @property
    def succeeded(self) -> bool:
        """Created or duplicate: SQS may delete the message."""
        return self.error is None


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


class OrderCreator:
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
        self._workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="order-creator")

    def process(self, records: Sequence[Record], remaining_seconds: Callable[[], float]) -> BatchReport:
        """Every record's outcome, in batch order. Never raises for a record's fault."""
        if remaining_seconds() < self._cart_worst_case + 1.0:
            late = DeadlineExceeded("too little time left to fetch a cart safely; not started")
            return BatchReport([Outcome(r, error=late) for r in records])
        drafts, followers, outcomes = self._parse(records)
        snapshot, latencies = self._fetch(drafts, remaining_seconds)
        conflicts = 0
        if isinstance(snapshot, TransientError):
            # Without the read we cannot tell a redelivered order (whose cart may be gone) from a new one,
            # so every record waits for a retry, even one whose cart failed permanently.
            outcomes.update(_failures(drafts, snapshot))
        else:
            pending, decided = _resolve(drafts, snapshot)
            written, conflicts = self._number_and_write(pending, dict(snapshot.counters), remaining_seconds)
            outcomes.update(decided | written)
        for draft, first in followers:
            outcomes[draft.record.message_id] = _follow(draft, first, outcomes[first.record.message_id])
        return BatchReport([outcomes[r.message_id] for r in records], conflicts, latencies)

    # 1. parse ---------------------------------------------------------------------------------

    def _parse(self, records: Sequence[Record]) -> tuple[list[_Draft], list[tuple[_Draft, _Draft]], dict[str, Outcome]]:
        """The first record of each order id, the later ones with their first, and the records that do not parse."""
        firsts: dict[OrderKey, _Draft] = {}
        followers: list[tuple[_Draft, _Draft]] = []
        invalid: dict[str, Outcome] = {}
        for record in records:
            try:
                draft = self._draft(record)
            except InvalidMessage as error:
                invalid[record.message_id] = Outcome(record, error=error)
                continue
            except Exception as unexpected:  # a bug in parsing must not fail the other records
                bug = _unexpected("parsing the message", unexpected, message_id=record.message_id)
                invalid[record.message_id] = Outcome(record, error=bug)
                continue
            first = firsts.setdefault(draft.key, draft)
            if first is not draft:
                followers.append((draft, first))
        return list(firsts.values()), followers, invalid

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

    def _fetch(
        self, drafts: list[_Draft], remaining_seconds: Callable[[], float]
    ) -> tuple[Snapshot | TransientError, list[float]]:
        """The store's snapshot (or why it could not be read) and each cart fetch's seconds; sets each draft's cart.

        However long a fetch or the read is held up where no timeout of theirs reaches (a name lookup; a host of
        several addresses, each given the whole connect timeout), the batch stops waiting while the Lambda still
        has `FETCH_MARGIN_SECONDS` left: what arrived is written, what did not is retried, the answer is in time.
        """
        if not drafts:
            return Snapshot(), []
        give_up = time.monotonic() + remaining_seconds() - FETCH_MARGIN_SECONDS
        order_keys = [d.key for d in drafts]
        counter_keys = list(dict.fromkeys(d.counter for d in drafts))
        # The carts' requests leave first (they take longest), the read right after them, while a worker is still
        # free for it: its request's CPU no longer holds every cart back (0.8 ms here, 7 times that at 256 MB).
        first = min(len(drafts), self._workers - 1)
        carts = [self._pool.submit(self._timed_cart, d) for d in drafts[:first]]
        read = self._pool.submit(self._store.read, order_keys, counter_keys)
        carts += [self._pool.submit(self._timed_cart, d) for d in drafts[first:]]
        latencies: list[float] = []
        for draft, future in zip(drafts, carts, strict=True):
            draft.cart, latency = _result_or_error(future, draft, give_up)
            if latency is not None:
                latencies.append(latency)
        try:
            return read.result(timeout=max(0.0, give_up - time.monotonic())), latencies
        except TransientError as error:
            return error, latencies
        except TimeoutError:
            if read.done():  # the read's own error (not a TransientError: a bug), not the wait's
                raise
            return DeadlineExceeded("the store read had not answered when the Lambda's time was running out"), latencies

    def _timed_cart(self, draft: _Draft) -> tuple[Cart | OrderCreatorError, float | None]:
        started = time.perf_counter()
        try:
            return self._carts.get_cart(draft.message.tenant_id, draft.message.cart_id), time.perf_counter() - started
        except OrderCreatorError as error:
            return error, time.perf_counter() - started

    # 3. number and write --------------------------------------------------------------------------

    def _number_and_write(
        self, pending: list[_Draft], counters: dict[CounterKey, int], remaining_seconds: Callable[[], float]
    ) -> tuple[dict[str, Outcome], int]:
        """Write rounds until every draft is decided or the Lambda's time runs short (not a count of rounds: a
        hot counter has a winner every round); the outcomes, and how many counters were found moved."""
        queue: dict[CounterKey, list[_Draft]] = defaultdict(list)
        for draft in pending:
            queue[draft.counter].append(draft)
        outcomes: dict[str, Outcome] = {}
        conflicts = failed_rounds = 0
        while queue:
            budget = remaining_seconds() - STORE_SAFETY_SECONDS
            if budget < 0:
                late = DeadlineExceeded("Lambda time ran out before the order was written")
                outcomes.update(_failures([d for drafts in queue.values() for d in drafts], late))
                break
            written = self._write_round(queue, counters)
            outcomes.update(written.outcomes)
            conflicts += written.conflicts
            _dequeue(queue, written.outcomes)
            failed_rounds = 0 if written.progressed else failed_rounds + 1
            if queue and not written.progressed:
                self._back_off(failed_rounds, written, budget)
        return outcomes, conflicts

    def _write_round(self, queue: dict[CounterKey, list[_Draft]], counters: dict[CounterKey, int]) -> _Round:
        """Number the next chunk of every group from `counters`, write them, and learn from what was refused."""
        decided, started = _Round(), time.perf_counter()
        for transaction in list(_pack(queue, counters, self._clock(), self._store.item_size)):
            drafts = [d for _, chunk in transaction for d in chunk]
            try:
                result = self._store.write([block for block, _ in transaction])
            except TransientError as error:
                decided.outcomes.update(_failures(drafts, error))
                continue
            if result.committed:
                decided.progressed = True
                for block, chunk in transaction:
                    counters[block.counter] = block.last
                    decided.outcomes.update(
                        (d.record.message_id, _created(d, o)) for o, d in zip(block.orders, chunk, strict=True)
                    )
                continue
            decided.contention = decided.contention or result.contention
            decided.conflicts += sum(counters.get(k, 0) != v for k, v in result.counters.items())
            counters.update(result.counters)
            decided.outcomes.update((d.record.message_id, o) for d in drafts if (o := _refused(d, result)) is not None)
        decided.seconds = time.perf_counter() - started
        return decided

    def _back_off(self, failed_rounds: int, lost: _Round, budget: float) -> None:
        # Full jitter over a window that starts at what a write round takes (queueing included) and doubles
        # per round lost: losers that come back at once only queue behind the winner's next write (on DynamoDB,
        # conflict with it); spread out, they keep it moving. Throttling and conflicts start from a longer base.
        base = max(lost.seconds, 0.05 if lost.contention else 0.01)
        window = min(MAX_BACKOFF_SECONDS, base * 2**failed_rounds)
        self._sleep(min(budget, random.uniform(0, window)))  # noqa: S311 - jitter, not cryptography


@dataclass
class _Round:
    """What one write round decided, and what it learnt about the store."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    conflicts: int = 0  # counters found moved by another writer
    progressed: bool = False  # a transaction committed
    contention: bool = False  # the store was busy (throttling, transaction conflicts)
    seconds: float = 0.0  # how long the round's writes took


def _resolve(drafts: list[_Draft], snapshot: Snapshot) -> tuple[list[_Draft], dict[str, Outcome]]:
    """The drafts that need an order written, and the outcomes of those already decided."""
    pending: list[_Draft] = []
    decided: dict[str, Outcome] = {}
    for draft in drafts:
        # An order that exists decides the record, whatever the cart says now (it may be gone).
        stored_cart_id = snapshot.existing.get(draft.key)
        if stored_cart_id is not None:
            decided[draft.record.message_id] = _existing(draft, stored_cart_id)
        elif (refusal := _cart_refusal(draft)) is not None:
            decided[draft.record.message_id] = _outcome(draft, error=refusal)
        else:
            pending.append(draft)
    return pending, decided


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


def _dequeue(queue: dict[CounterKey, list[_Draft]], decided: dict[str, Outcome]) -> None:
    """Take the decided drafts out of the queue, and the groups left empty."""
    for key in list(queue):
        queue[key] = [d for d in queue[key] if d.record.message_id not in decided]
        if not queue[key]:
            del queue[key]


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
    future: Future[tuple[Cart | OrderCreatorError, float | None]], draft: _Draft, give_up: float
) -> tuple[Cart | OrderCreatorError, float | None]:
    try:
        return future.result(timeout=max(0.0, give_up - time.monotonic()))
    except Exception as unexpected:  # a bug in an adapter must not fail the other records
        if not future.done():  # the wait ran out, not the fetch
            return DeadlineExceeded("the cart had not arrived when the Lambda's time was running out"), None
        return _unexpected("fetching the cart", unexpected, order_id=draft.order_id), None


def _unexpected(doing: str, error: Exception, **ids: str) -> TransientError:
    """A bug met while `doing` one record's work: that record alone is retried (transient; the queue's redrive
    policy ends it if the bug stays). Logged with its type and its frames, never its message: a library's
    message may echo a field's value (contract §5)."""
    frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
    logger.error(f"unexpected error {doing}", extra={**ids, "error_type": type(error).__name__, "frames": frames})
    return TransientError(f"unexpected error {doing}: {type(error).__name__}")


def _cart_refusal(draft: _Draft) -> OrderCreatorError | None:
    """Why the cart cannot make this order (its fetch failed, or it is another tenant's or cart), or None."""
    cart = draft.cart
    if not isinstance(cart, Cart):
        assert cart is not None  # _fetch gives every draft its cart or the reason it has none
        return cart
    if cart.tenant_id != draft.message.tenant_id:
        return InvalidCart("the cart belongs to another tenant")
    if cart.cart_id != draft.message.cart_id:
        return InvalidCart(f"the Cart API answered with cart {cart.cart_id}, not {draft.message.cart_id}")
    return None


def _outcome(draft: _Draft, **fields: Any) -> Outcome:
    return Outcome(draft.record, order_id=draft.order_id, tenant_id=draft.message.tenant_id, **fields)


def _failures(drafts: Iterable[_Draft], error: OrderCreatorError) -> dict[str, Outcome]:
    return {draft.record.message_id: _outcome(draft, error=error) for draft in drafts}


def _created(draft: _Draft, order: Order) -> Outcome:
    return _outcome(draft, order_number=order.order_number, stored_cart_id=order.cart_id)


def _existing(draft: _Draft, stored_cart_id: str) -> Outcome:
    """A duplicate when the stored order has this record's cart, else a conflict."""
    if stored_cart_id == draft.message.cart_id:
        return _outcome(draft, stored_cart_id=stored_cart_id)
    conflict = OrderConflict(f"order {draft.order_id} already exists for another cart")
    return _outcome(draft, error=conflict, stored_cart_id=stored_cart_id)


def _refused(draft: _Draft, result: WriteResult) -> Outcome | None:
    """The outcome a cancelled transaction decided for this draft, or None when it is to be written again."""
    if draft.key in result.existing:
        return _existing(draft, result.existing[draft.key])
    if draft.key in result.rejected:
        return _outcome(draft, error=UnstorableOrder(result.rejected[draft.key]))
    return None


def _follow(draft: _Draft, first: _Draft, decided: Outcome) -> Outcome:
    """A later record of an order already in the batch. A stored order's cart decides (same cart: a duplicate,
    another: a conflict); else the first failed: the same cart ends as it did, another is a conflict once the
    first is settled, and retried while the first is (its cart may yet be the one that wins)."""
    if decided.stored_cart_id is not None:
        return _existing(draft, decided.stored_cart_id)
    if draft.message.cart_id == first.message.cart_id:
        return _outcome(draft, error=decided.error)
    if decided.status is Status.TRANSIENT:
        waiting = TransientError(f"order {draft.order_id} appears earlier in the batch, with another cartId, unsettled")
        return _outcome(draft, error=waiting)
    return _outcome(
        draft, error=OrderConflict(f"order {draft.order_id} appears earlier in the batch with another cartId")
    )


def settle(outcomes: Sequence[Outcome], dead_letters: DeadLetterSink | None) -> list[str]:
    """The one place outcomes become SQS results: the message ids SQS must keep (`batchItemFailures`).

    Transient failures are kept for redelivery. Permanent ones go to the dead-letter queue when one is
    configured (and are kept, now transient, if sending fails), otherwise they are kept for the queue's
    redrive policy.
    """
    if dead_letters is None:
        return [o.record.message_id for o in outcomes if not o.succeeded]
    permanent = [(o, o.error) for o in outcomes if isinstance(o.error, PermanentError)]
    if permanent:
        letters = [DeadLetter(o.record.message_id, o.record.body, e.error_type, str(e)) for o, e in permanent]
        unsent = dead_letters.send(letters)
        for outcome, error in permanent:
            if outcome.record.message_id in unsent:
                outcome.error = DeadLetterFailed(f"could not dead-letter ({error.error_type}: {error})")
    return [o.record.message_id for o in outcomes if o.status is Status.TRANSIENT]
