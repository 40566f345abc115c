"""The batch under pressure, against the fakes of the ports: a busy tenant beside quiet ones, stages that meet a
bug, calls that never answer, and the invocation's deadline over every wait (issue 21)."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import date
from zoneinfo import ZoneInfo

from order_creator.batch import OrderCreator, Record, Status, settle
from order_creator.deadlines import ANSWER_SECONDS, RETURN_SECONDS, WRITE_SECONDS
from order_creator.errors import DeadLetterFailed, DeadlineExceeded
from order_creator.ports import CounterKey, WriteResult
from tests.factories import cart, message, new_tenant
from tests.fakes import FakeCarts, FakeDeadLetters, FakeStore

DAY = date(2025, 12, 30)


def rec(body: dict[str, object] | str, message_id: str) -> Record:
    return Record(message_id, body if isinstance(body, str) else json.dumps(body), sent_timestamp_ms=1767089700000)


def plenty() -> float:
    return 60.0


class Clock:
    """An invocation's remaining time that passes only as the batch sleeps or the store takes time."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.slept: list[float] = []

    def remaining(self) -> float:
        return self.left

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.left -= seconds


def creator(carts: FakeCarts, store: FakeStore, clock: Clock | None = None, **options: object) -> OrderCreator:
    sleep = clock.sleep if clock is not None else (lambda _: None)
    return OrderCreator(carts, store, ZoneInfo("UTC"), cart_worst_case_seconds=1.0, sleep=sleep, **options)  # type: ignore[arg-type]


def busy_and_quiet(carts: FakeCarts) -> tuple[str, list[str], list[Record]]:
    """A batch of two orders of a busy tenant and one each of two quiet tenants, interleaved."""
    busy, quiet = new_tenant("busy"), [new_tenant("quiet"), new_tenant("quiet")]
    records = []
    for i, tenant in enumerate([busy, quiet[0], busy, quiet[1]]):
        carts.add(cart(tenant, f"c{i}"))
        records.append(rec(message(tenant, f"c{i}"), f"m{i}"))
    return busy, quiet, records


def test_a_busy_tenant_costs_the_quiet_ones_one_transaction_and_no_back_off():
    # Given a batch of a busy tenant and two quiet ones, and another consumer that takes the busy tenant's next
    # number before each of our first 40 transactions holding its counter
    carts, store, clock = FakeCarts(), FakeStore(), Clock(60.0)
    busy, quiet, records = busy_and_quiet(carts)
    busy_counter = CounterKey(busy, DAY)
    moved = 0
    transactions: list[set[str]] = []
    committed_quiet_at: list[int] = []

    def another_consumer(s: FakeStore) -> None:
        nonlocal moved
        tenants = {block.counter.tenant_id for block in s.pending}
        transactions.append(tenants)
        if busy in tenants and moved < 40:
            moved += 1
            s.counters[busy_counter] = s.counters.get(busy_counter, 0) + 1
        elif tenants & set(quiet):
            committed_quiet_at.append((len(transactions), len(clock.slept)))

    store.before_write = another_consumer

    # When the batch is processed
    report = creator(carts, store, clock).process(records, clock.remaining)

    # Then the quiet tenants are written by the second transaction, before any back-off (no sleep yet), never again
    # beside the busy tenant; the busy one is written once it wins, numbered after the 40 numbers taken
    assert [o.status for o in report.outcomes] == [Status.CREATED] * 4
    assert committed_quiet_at == [(2, 0)]
    assert all(not (t & set(quiet)) for t in transactions[2:])
    assert [report.outcomes[i].order_number for i in (0, 2)] == ["ORD-20251230-00041", "ORD-20251230-00042"]
    assert [report.outcomes[i].order_number for i in (1, 3)] == ["ORD-20251230-00001"] * 2


def test_contention_the_store_does_not_attribute_parts_every_group_of_that_transaction():
    # Given a store whose first transaction is cancelled as busy without saying whose items were
    carts, store = FakeCarts(), FakeStore()
    _busy, _quiet, records = busy_and_quiet(carts)
    sizes: list[int] = []

    def busy_once(s: FakeStore) -> WriteResult | None:
        sizes.append(len(s.pending))
        return WriteResult(committed=False, contention=True) if s.writes == 1 else None

    store.before_write = busy_once

    # When the batch is processed, Then every order is created, each tenant then in a transaction of its own
    report = creator(carts, store).process(records, plenty)
    assert [o.status for o in report.outcomes] == [Status.CREATED] * 4
    assert sizes == [3, 1, 1, 1]


def test_a_bug_sizing_one_order_fails_that_record_alone(caplog):
    # Given three orders, the sizing of the second meeting a bug whose message echoes a value
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    records = []
    for i in range(3):
        carts.add(cart(tenant, f"c{i}"))
        records.append(rec(message(tenant, f"c{i}"), f"m{i}"))
    buggy = json.loads(records[1].body)["orderId"]
    plain_size = store.item_size

    def item_size(order):
        if order.id == buggy:
            raise ValueError("secret@example.com")
        return plain_size(order)

    store.item_size = item_size  # type: ignore[method-assign]

    # When the batch is processed
    report = creator(carts, store).process(records, plenty)

    # Then that record is transient, the others are numbered 1 and 2 without a gap, and the message is not logged
    assert [o.status for o in report.outcomes] == [Status.CREATED, Status.TRANSIENT, Status.CREATED]
    assert str(report.outcomes[1].error) == "unexpected error sizing the order: ValueError"
    assert store.order_numbers() == ["ORD-20251230-00001", "ORD-20251230-00002"]
    assert "secret@example.com" not in caplog.text


def test_a_bug_in_the_stores_write_fails_that_transactions_records_not_the_batch():
    # Given a store whose write meets a bug, and a record that fails on its own (its cart is gone)
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    def broken(_s: FakeStore) -> None:
        raise KeyError("currentValue")

    store.before_write = broken
    records = [rec(message(tenant, "c1"), "m1"), rec(message(tenant, "gone"), "m2")]

    # When the batch is processed, Then nothing escapes: the written record is transient, the other permanent
    report = creator(carts, store).process(records, plenty)
    assert [o.status for o in report.outcomes] == [Status.TRANSIENT, Status.PERMANENT]
    assert str(report.outcomes[0].error) == "unexpected error writing the orders: KeyError"


def test_a_read_that_raises_a_timeout_of_its_own_is_that_batchs_transient_outcome():
    # Given a store whose read raises TimeoutError itself (a bug), at once
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    def read(*_args):
        raise TimeoutError("not the wait's")

    store.read = read  # type: ignore[method-assign]

    # When the batch is processed, Then the error does not leave it: the record waits for a retry
    report = creator(carts, store).process([rec(message(tenant, "c1"), "m1")], plenty)
    assert report.outcomes[0].status is Status.TRANSIENT
    assert str(report.outcomes[0].error) == "unexpected error reading the store: TimeoutError"


def _hung(function, release: threading.Event, when=lambda *args: True):
    def hung(*args):
        if when(*args):
            release.wait(timeout=30)
        return function(*args)

    return hung


def test_a_write_that_never_answers_is_abandoned_before_the_deadline_and_the_next_batch_is_not_held_up():
    # Given a store whose first write hangs, and 3 s left
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    for i in range(2):
        carts.add(cart(tenant, f"c{i}"))
    release = threading.Event()
    plain_write = store.write
    calls = []

    def write(blocks):
        calls.append(len(calls))
        if len(calls) == 1:
            release.wait(timeout=30)
        return plain_write(blocks)

    store.write = write  # type: ignore[method-assign]
    processor = creator(carts, store, max_workers=2)
    deadline = time.monotonic() + 3.0
    try:
        # When the batch is processed
        report = processor.process([rec(message(tenant, "c0"), "m0")], lambda: deadline - time.monotonic())
        answered = time.monotonic()

        # Then it answers before the deadline, with the answer's margin kept, the record transient
        assert answered < deadline - ANSWER_SECONDS / 2
        assert report.outcomes[0].status is Status.TRANSIENT
        assert isinstance(report.outcomes[0].error, DeadlineExceeded)

        # And the next batch of the same process is written at once, not behind the stuck worker
        started = time.monotonic()
        again = processor.process([rec(message(tenant, "c1"), "m1")], plenty)
        assert [o.status for o in again.outcomes] == [Status.CREATED]
        assert time.monotonic() - started < 2.0
    finally:
        release.set()


def test_work_the_first_invocation_abandoned_never_runs_in_the_second():
    # Given a process of two workers, and a first invocation whose three carts hang (one left queued)
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    for i in range(4):
        carts.add(cart(tenant, f"c{i}"))
    release = threading.Event()
    carts.get_cart = _hung(carts.get_cart, release, when=lambda _t, cart_id: cart_id != "c3")  # type: ignore[method-assign]
    processor = creator(carts, store, max_workers=2)
    deadline = time.monotonic() + 3.0
    first = processor.process(
        [rec(message(tenant, f"c{i}"), f"m{i}") for i in range(3)], lambda: deadline - time.monotonic()
    )
    assert [o.status for o in first.outcomes] == [Status.TRANSIENT] * 3

    # When the second invocation runs, and only then the first one's calls come loose
    try:
        second = processor.process([rec(message(tenant, "c3"), "m3")], lambda: 3.0)
    finally:
        release.set()
    time.sleep(0.5)

    # Then the second's record was created in its own time, and the cart that was still queued was never fetched
    assert [o.status for o in second.outcomes] == [Status.CREATED]
    assert sorted(cart_id for _, cart_id in carts.calls) == ["c0", "c1", "c3"]


def test_a_back_off_ends_while_a_write_can_still_start_however_long_the_round_took(monkeypatch):
    # Given 3 s left, a store that takes 1.5 s to refuse each transaction as busy, and the longest jitter each time
    # (its window starts at what the round took: 1.5 s, doubled, capped at 2 s)
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    def slow_and_busy(_s: FakeStore) -> WriteResult:
        time.sleep(1.5)
        return WriteResult(committed=False, contention=True)

    store.before_write = slow_and_busy
    monkeypatch.setattr(random, "uniform", lambda _low, high: high)
    processor = OrderCreator(carts, store, ZoneInfo("UTC"), cart_worst_case_seconds=1.0)
    deadline = time.monotonic() + 3.0

    # When the batch is processed
    report = processor.process([rec(message(tenant, "c1"), "m1")], lambda: deadline - time.monotonic())

    # Then the back-off did not sleep into the time kept for the answer (the budget is what is left after the
    # round, not before it), and the record is transient
    assert deadline - time.monotonic() > ANSWER_SECONDS / 2
    assert report.outcomes[0].status is Status.TRANSIENT
    assert store.writes == 1


def test_dead_letters_are_sent_only_within_the_time_left_for_them():
    # Given two invalid records, and a dead-letter queue
    outcomes = creator(FakeCarts(), FakeStore()).process([rec("nope", "a"), rec("{", "b")], plenty).outcomes
    letters = FakeDeadLetters()

    # When they are settled with 5 s left, Then the sink is told the time it has: all but the answer's margin
    assert settle(outcomes, letters, lambda: 5.0) == []
    assert letters.times_left == [5.0 - RETURN_SECONDS]

    # And with only the answer's margin left, nothing is sent: both stay with SQS, transient
    late = creator(FakeCarts(), FakeStore()).process([rec("nope", "c")], plenty).outcomes
    assert settle(late, letters, lambda: RETURN_SECONDS) == ["c"]
    assert isinstance(late[0].error, DeadLetterFailed)
    assert [letter.message_id for letter in letters.letters] == ["a", "b"]


def test_a_back_off_cut_short_by_the_deadline_gives_the_group_its_last_try_and_ends():
    # Given a store that refuses every transaction as busy, leaving just over what a write round and the answer
    # need after the first one (so any back-off is cut to nothing by the deadline)
    carts, store, tenant, clock = FakeCarts(), FakeStore(), new_tenant(), Clock(3.0)
    carts.add(cart(tenant, "c1"))
    calls = 0

    def remaining() -> float:
        nonlocal calls
        calls += 1
        assert calls < 10_000, "the write loop spins without sleeping or writing"
        return clock.remaining()

    def busy(s: FakeStore) -> WriteResult:
        clock.left = WRITE_SECONDS + ANSWER_SECONDS + 1e-12 if s.writes == 1 else clock.left - 0.05
        return WriteResult(committed=False, contention=True)

    store.before_write = busy

    # When the batch is processed, Then the group is tried once more at the last moment, and the batch ends
    report = creator(carts, store, clock).process([rec(message(tenant, "c1"), "m1")], remaining)
    assert report.outcomes[0].status is Status.TRANSIENT
    assert store.writes == 2
