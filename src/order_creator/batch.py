"""The batch: parse → carts (concurrently with one store read) → group → number and write → outcomes.

Talks only to the ports in `order_creator.ports`. The algorithm, in short:

1. parse every record; a bad one is a permanent failure for that record only; a repeated order id in
   the batch follows the first record with that id;
2. fetch the carts concurrently, and while they are in flight read, in one strongly consistent request,
   the orders that may exist already and the counters of every (tenant, business day);
3. number the new orders of each (tenant, day) from the counter read, and write each counter and its
   orders in one transaction, round after round (`order_creator.writes`: a (tenant, day) whose counter
   another consumer moved is retried on its own, the others at once);
4. stop starting work when too little of the invocation's time is left (`order_creator.deadlines`), and
   report what was not done: every wait is bounded by the deadline, and a call the batch stops waiting for
   is abandoned (cancelled if not started; its worker pool replaced), its records transient.

Each stage contains its own faults to its records (an unexpected exception is that record's transient
outcome); a failure's status follows from its error class.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo
from typing import Any

from order_creator.deadlines import ANSWER_SECONDS, BATCH_MARGIN_SECONDS, RETURN_SECONDS, batch_minimum_seconds
from order_creator.errors import (
    DeadLetterFailed,
    DeadlineExceeded,
    InvalidCart,
    InvalidMessage,
    OrderConflict,
    OrderCreatorError,
    PermanentError,
    TransientError,
)
from order_creator.models import Cart, parse_message
from order_creator.numbering import business_day
from order_creator.outcomes import (
    BatchReport,
    Draft,
    Outcome,
    Record,
    Status,
    existing,
    failures,
    outcome,
    unexpected,
)
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
from order_creator.writes import WriteRounds

__all__ = ["BatchReport", "OrderCreator", "Outcome", "Record", "Status", "settle"]


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
        self._minimum = batch_minimum_seconds(cart_worst_case_seconds)
        self._clock = clock
        self._sleep = sleep
        self._workers = max_workers
        self._pool = self._new_pool()

    def process(self, records: Sequence[Record], remaining_seconds: Callable[[], float]) -> BatchReport:
        """Every record's outcome, in batch order, before `remaining_seconds()` runs out. Never raises for a
        record's fault."""
        if remaining_seconds() < self._minimum:
            late = DeadlineExceeded("too little time left to fetch a cart safely; not started")
            return BatchReport([Outcome(r, error=late) for r in records])
        drafts, followers, outcomes = self._parse(records)
        snapshot, latencies = self._fetch(drafts, remaining_seconds)
        conflicts = 0
        if isinstance(snapshot, TransientError):
            # Without the read we cannot tell a redelivered order (whose cart may be gone) from a new one,
            # so every record waits for a retry, even one whose cart failed permanently.
            outcomes.update(failures(drafts, snapshot))
        else:
            pending, decided = _resolve(drafts, snapshot)
            rounds = WriteRounds(
                lambda blocks: self._write(blocks, remaining_seconds),
                self._store.item_size,
                remaining_seconds,
                clock=self._clock,
                sleep=self._sleep,
            )
            rounds.run(pending, dict(snapshot.counters))
            outcomes.update(decided | rounds.outcomes)
            conflicts = rounds.conflicts
        for draft, first in followers:
            outcomes[draft.record.message_id] = _follow(draft, first, outcomes[first.record.message_id])
        return BatchReport([outcomes[r.message_id] for r in records], conflicts, latencies)

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="order-creator")

    def _abandon(self, futures: Sequence[Future[Any]]) -> None:
        """Stop waiting for these calls: those not started never will be, and the pool, whose workers may be stuck
        in the others, is replaced, so that nothing of this invocation holds up the rest of it or the next one."""
        for future in futures:
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    # 1. parse ---------------------------------------------------------------------------------

    def _parse(self, records: Sequence[Record]) -> tuple[list[Draft], list[tuple[Draft, Draft]], dict[str, Outcome]]:
        """The first record of each order id, the later ones with their first, and the records that do not parse."""
        firsts: dict[OrderKey, Draft] = {}
        followers: list[tuple[Draft, Draft]] = []
        invalid: dict[str, Outcome] = {}
        for record in records:
            try:
                draft = self._draft(record)
            except InvalidMessage as error:
                invalid[record.message_id] = Outcome(record, error=error)
                continue
            except Exception as bug:  # a bug in parsing must not fail the other records
                invalid[record.message_id] = Outcome(
                    record, error=unexpected("parsing the message", bug, message_id=record.message_id)
                )
                continue
            first = firsts.setdefault(draft.key, draft)
            if first is not draft:
                followers.append((draft, first))
        return list(firsts.values()), followers, invalid

    def _draft(self, record: Record) -> Draft:
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
        return Draft(record, message, created, CounterKey(message.tenant_id, day))

    # 2. carts, and the store read while they are in flight --------------------------------------

    def _fetch(
        self, drafts: list[Draft], remaining_seconds: Callable[[], float]
    ) -> tuple[Snapshot | TransientError, list[float]]:
        """The store's snapshot (or why it could not be read) and each cart fetch's seconds; sets each draft's cart.

        However long a fetch or the read is held up where no timeout of theirs reaches (a name lookup; a host of
        several addresses, each given the whole connect timeout), the batch stops waiting while the invocation
        still has `BATCH_MARGIN_SECONDS` left: what arrived is written, what did not is retried, the answer is in
        time. The calls it stopped waiting for are abandoned.
        """
        if not drafts:
            return Snapshot(), []
        give_up = time.monotonic() + remaining_seconds() - BATCH_MARGIN_SECONDS
        order_keys = [d.key for d in drafts]
        counter_keys = list(dict.fromkeys(d.counter for d in drafts))
        # The carts' requests leave first (they take longest), the read right after them, while a worker is still
        # free for it: its request's CPU no longer holds every cart back (0.8 ms here, 7 times that at 256 MB).
        first = min(len(drafts), self._workers - 1)
        carts = [self._pool.submit(self._timed_cart, d) for d in drafts[:first]]
        read = self._pool.submit(self._store.read, order_keys, counter_keys)
        carts += [self._pool.submit(self._timed_cart, d) for d in drafts[first:]]
        latencies: list[float] = []
        late: list[Future[Any]] = []
        for draft, future in zip(drafts, carts, strict=True):
            if not _finished(future, give_up):
                late.append(future)
                draft.cart = DeadlineExceeded("the cart had not arrived when the Lambda's time was running out")
                continue
            draft.cart, latency = _cart_of(future, draft)
            if latency is not None:
                latencies.append(latency)
        if not _finished(read, give_up):
            late.append(read)
        if late:
            self._abandon(late)
        return _snapshot_of(read), latencies

    def _timed_cart(self, draft: Draft) -> tuple[Cart | OrderCreatorError, float | None]:
        started = time.perf_counter()
        try:
            return self._carts.get_cart(draft.message.tenant_id, draft.message.cart_id), time.perf_counter() - started
        except OrderCreatorError as error:
            return error, time.perf_counter() - started

    # 3. number and write (order_creator.writes), each transaction bounded ---------------------------

    def _write(self, blocks: Sequence[NumberBlock], remaining_seconds: Callable[[], float]) -> WriteResult:
        """The store's answer to one transaction, waited for until the answer's margin; DeadlineExceeded when it
        has not come by then (the write may still land: its token and conditions make a redelivery a duplicate)."""
        future = self._pool.submit(self._store.write, blocks)
        if not _finished(future, time.monotonic() + remaining_seconds() - ANSWER_SECONDS):
            self._abandon([future])
            raise DeadlineExceeded("the store had not answered the write when the Lambda's time was running out")
        return future.result()


def _finished(future: Future[Any], give_up: float) -> bool:
    """Whether the call finished before `give_up` (time.monotonic); its outcome is then `future.result()`.

    A finished call's own exception, a TimeoutError included, is not the wait's: `done()` tells them apart.
    """
    with contextlib.suppress(Exception):
        future.result(timeout=max(0.0, give_up - time.monotonic()))
    return future.done()


def _cart_of(
    future: Future[tuple[Cart | OrderCreatorError, float | None]], draft: Draft
) -> tuple[Cart | OrderCreatorError, float | None]:
    """A finished fetch's cart (or why there is none) and its seconds."""
    try:
        return future.result()
    except Exception as bug:  # a bug in an adapter must not fail the other records
        return unexpected("fetching the cart", bug, order_id=draft.order_id), None


def _snapshot_of(read: Future[Snapshot]) -> Snapshot | TransientError:
    """The read's snapshot, or why the batch has none (its failure, a bug, or no answer in time)."""
    if not read.done():
        return DeadlineExceeded("the store read had not answered when the Lambda's time was running out")
    try:
        return read.result()
    except TransientError as error:
        return error
    except Exception as bug:  # a bug in the store's adapter: every record waits for a retry
        return unexpected("reading the store", bug)


def _resolve(drafts: list[Draft], snapshot: Snapshot) -> tuple[list[Draft], dict[str, Outcome]]:
    """The drafts that need an order written, and the outcomes of those already decided."""
    pending: list[Draft] = []
    decided: dict[str, Outcome] = {}
    for draft in drafts:
        # An order that exists decides the record, whatever the cart says now (it may be gone).
        stored_cart_id = snapshot.existing.get(draft.key)
        if stored_cart_id is not None:
            decided[draft.record.message_id] = existing(draft, stored_cart_id)
        elif (refusal := _cart_refusal(draft)) is not None:
            decided[draft.record.message_id] = outcome(draft, error=refusal)
        else:
            pending.append(draft)
    return pending, decided


def _cart_refusal(draft: Draft) -> OrderCreatorError | None:
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


def _follow(draft: Draft, first: Draft, decided: Outcome) -> Outcome:
    """A later record of an order already in the batch. A stored order's cart decides (same cart: a duplicate,
    another: a conflict); else the first failed: the same cart ends as it did, another is a conflict once the
    first is settled, and retried while the first is (its cart may yet be the one that wins)."""
    if decided.stored_cart_id is not None:
        return existing(draft, decided.stored_cart_id)
    if draft.message.cart_id == first.message.cart_id:
        return outcome(draft, error=decided.error)
    if decided.status is Status.TRANSIENT:
        waiting = TransientError(f"order {draft.order_id} appears earlier in the batch, with another cartId, unsettled")
        return outcome(draft, error=waiting)
    conflict = OrderConflict(f"order {draft.order_id} appears earlier in the batch with another cartId")
    return outcome(draft, error=conflict)


def settle(
    outcomes: Sequence[Outcome],
    dead_letters: DeadLetterSink | None,
    remaining_seconds: Callable[[], float] | None = None,
) -> list[str]:
    """The one place outcomes become SQS results: the message ids SQS must keep (`batchItemFailures`).

    Transient failures are kept for redelivery. Permanent ones go to the dead-letter queue when one is
    configured (and are kept, now transient, if sending fails or would outlast the invocation's time, less
    `RETURN_SECONDS` for the answer), otherwise they are kept for the queue's redrive policy.
    """
    if dead_letters is None:
        return [o.record.message_id for o in outcomes if not o.succeeded]
    permanent = [(o, o.error) for o in outcomes if isinstance(o.error, PermanentError)]
    if permanent:
        letters = [DeadLetter(o.record.message_id, o.record.body, e.error_type, str(e)) for o, e in permanent]
        unsent = _send(dead_letters, letters, remaining_seconds)
        for failed, error in permanent:
            if failed.record.message_id in unsent:
                failed.error = DeadLetterFailed(f"could not dead-letter ({error.error_type}: {error})")
    return [o.record.message_id for o in outcomes if o.status is Status.TRANSIENT]


def _send(
    dead_letters: DeadLetterSink, letters: list[DeadLetter], remaining_seconds: Callable[[], float] | None
) -> set[str]:
    """The ids of the letters not sent: none is sent once the time for the sends is over, and a bug in the sink
    leaves them all to SQS rather than failing the batch."""
    every = {letter.message_id for letter in letters}

    def time_left() -> float:
        return float("inf") if remaining_seconds is None else remaining_seconds() - RETURN_SECONDS

    if time_left() <= 0:
        return every
    try:
        return dead_letters.send(letters, time_left=time_left)
    except Exception as bug:
        unexpected("sending the dead letters", bug)
        return every


def contained(records: Sequence[Record], bug: Exception) -> BatchReport:
    """Every record transient, for a bug that escaped the stages' own containment: no record is lost for it."""
    error = unexpected("processing the batch", bug)
    return BatchReport([Outcome(record, error=error) for record in records])
