"""The batch: parse → carts (concurrently with one store read) → number and write → outcomes.

Talks only to the ports (`order_creator.ports`); docs/how-a-batch-works.md walks through the stages. Each stage
keeps its faults to its own records (an unexpected exception is that record's transient outcome), and every wait
is bounded by the invocation's deadline (`order_creator.deadlines`): a call the batch stops waiting for is
abandoned (cancelled if not started, its worker pool replaced), its records transient.
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
from order_creator.outcomes import BatchReport, Draft, Outcome, Record, Status, existing, failures, outcome, unexpected
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
        """Stop waiting for these calls: cancel those not started, and replace the pool whose workers may be stuck
        in the others, so nothing of this invocation holds up the rest of it or the next one."""
        for future in futures:
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

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

    def _fetch(
        self, drafts: list[Draft], remaining_seconds: Callable[[], float]
    ) -> tuple[Snapshot | TransientError, list[float]]:
        """The store's snapshot (or why there is none) and each cart fetch's seconds; sets each draft's cart.

        However long a call is held up where no timeout of its own reaches (a name lookup, a host of several
        addresses), the batch stops waiting while `BATCH_MARGIN_SECONDS` are left, and abandons what is late.
        """
        if not drafts:
            return Snapshot(), []
        give_up = time.monotonic() + remaining_seconds() - BATCH_MARGIN_SECONDS
        # The carts leave first (they take longest), the read right after them while a worker is still free.
        first = min(len(drafts), self._workers - 1)
        carts = [self._pool.submit(self._timed_cart, d) for d in drafts[:first]]
        read = self._pool.submit(self._read, drafts)
        carts += [self._pool.submit(self._timed_cart, d) for d in drafts[first:]]
        latencies: list[float] = []
        late: list[Future[Any]] = []
        for draft, future in zip(drafts, carts, strict=True):
            if _finished(future, give_up):
                draft.cart, latency = future.result()
                if latency is not None:
                    latencies.append(latency)
            else:
                late.append(future)
                draft.cart = DeadlineExceeded("the cart had not arrived when the Lambda's time was running out")
        snapshot = read.result() if _finished(read, give_up) else None
        if snapshot is None:
            late.append(read)
            snapshot = DeadlineExceeded("the store read had not answered when the Lambda's time was running out")
        if late:
            self._abandon(late)
        return snapshot, latencies

    def _timed_cart(self, draft: Draft) -> tuple[Cart | OrderCreatorError, float | None]:
        started = time.perf_counter()
        try:
            cart: Cart | OrderCreatorError = self._carts.get_cart(draft.message.tenant_id, draft.message.cart_id)
        except OrderCreatorError as error:
            cart = error
        except Exception as bug:  # a bug in the adapter fails this record alone
            return unexpected("fetching the cart", bug, order_id=draft.order_id), None
        return cart, time.perf_counter() - started

    def _read(self, drafts: list[Draft]) -> Snapshot | TransientError:
        """The existing orders and the counters of these drafts, or why they could not be read."""
        try:
            return self._store.read([d.key for d in drafts], list(dict.fromkeys(d.counter for d in drafts)))
        except TransientError as error:
            return error
        except Exception as bug:  # a bug in the store's adapter: every record waits for a retry
            return unexpected("reading the store", bug)

    def _write(self, blocks: Sequence[NumberBlock], remaining_seconds: Callable[[], float]) -> WriteResult:
        """The store's answer to one transaction, waited for until the answer's margin; DeadlineExceeded when it
        has not come by then (the write may still land: its token and conditions make a redelivery a duplicate)."""
        future = self._pool.submit(self._store.write, blocks)
        if not _finished(future, time.monotonic() + remaining_seconds() - ANSWER_SECONDS):
            self._abandon([future])
            raise DeadlineExceeded("the store had not answered the write when the Lambda's time was running out")
        return future.result()


def _finished(future: Future[Any], give_up: float) -> bool:
    """Whether the call finished before `give_up` (time.monotonic); `done()` tells its own TimeoutError apart."""
    with contextlib.suppress(Exception):
        future.result(timeout=max(0.0, give_up - time.monotonic()))
    return future.done()


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
    """A later record of an order already in the batch: its outcome follows the first's (docs/failure-semantics.md)."""
    if decided.stored_cart_id is not None:
        return existing(draft, decided.stored_cart_id)
    if draft.message.cart_id == first.message.cart_id:
        return outcome(draft, error=decided.error)
    if decided.status is Status.TRANSIENT:
        waiting = TransientError(f"order {draft.order_id} appears earlier in the batch, with another cartId, unsettled")
        return outcome(draft, error=waiting)
    conflict = OrderConflict(f"order {draft.order_id} appears earlier in the batch with another cartId")
    return outcome(draft, error=conflict)


def settle(outcomes: Sequence[Outcome], sink: DeadLetterSink | None, time_left: Callable[[], float]) -> list[str]:
    """The one place outcomes become SQS results: the message ids SQS must keep (`batchItemFailures`).

    Transient failures are kept for redelivery. Permanent ones go to the dead-letter queue when there is one
    (kept, now transient, when a send fails or would end within `RETURN_SECONDS` of the deadline); without one
    they are kept for the queue's redrive policy.
    """
    if sink is None:
        return [o.record.message_id for o in outcomes if o.error is not None]
    permanent = [(o, o.error) for o in outcomes if isinstance(o.error, PermanentError)]
    if permanent:
        letters = [DeadLetter(o.record.message_id, o.record.body, e.error_type, str(e)) for o, e in permanent]
        try:
            unsent = sink.send(letters, time_left=lambda: time_left() - RETURN_SECONDS)
        except Exception as bug:  # a bug in the sink leaves the letters to SQS rather than failing the batch
            unexpected("sending the dead letters", bug)
            unsent = {letter.message_id for letter in letters}
        for failed, error in permanent:
            if failed.record.message_id in unsent:
                failed.error = DeadLetterFailed(f"could not dead-letter ({error.error_type}: {error})")
    return [o.record.message_id for o in outcomes if o.status is Status.TRANSIENT]


def contained(records: Sequence[Record], bug: Exception) -> BatchReport:
    """Every record transient, for a bug that escaped the stages' own containment: no record is lost for it."""
    error = unexpected("processing the batch", bug)
    return BatchReport([Outcome(record, error=error) for record in records])
