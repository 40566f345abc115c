"""The batch algorithm against in-memory fakes of the ports."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from order_creator import batch as batch_module
from order_creator.batch import OrderCreator, Record, Status, settle
from order_creator.deadlines import ANSWER_SECONDS, WRITE_SECONDS
from order_creator.errors import (
    CartNotFound,
    CartUnavailable,
    DeadLetterFailed,
    DeadlineExceeded,
    InvalidCart,
    InvalidMessage,
    OrderConflict,
    StoreUnavailable,
)
from order_creator.models import Cart
from order_creator.ports import CounterKey, OrderKey, WriteResult
from order_creator.tooling import exact_json
from order_creator.writes import MAX_BACKOFF_SECONDS
from tests.factories import cart, message, new_tenant
from tests.fakes import FakeCarts, FakeDeadLetters, FakeStore

DAY = date(2025, 12, 30)


def processor(carts: FakeCarts, store: FakeStore, zone: str = "UTC") -> OrderCreator:
    return OrderCreator(carts, store, ZoneInfo(zone), cart_worst_case_seconds=3.0, sleep=lambda _: None)


def rec(body: dict[str, object] | str, message_id: str) -> Record:
    return Record(message_id, body if isinstance(body, str) else json.dumps(body), sent_timestamp_ms=1767089700000)


def plenty() -> float:
    return 60.0


def served_records(carts: FakeCarts, tenant: str, count: int) -> list[Record]:
    """`count` valid records of `tenant` (carts c0.., messages m0..), each cart served."""
    for i in range(count):
        carts.add(cart(tenant, f"c{i}"))
    return [rec(message(tenant, f"c{i}"), f"m{i}") for i in range(count)]


def test_one_tenant_batch_is_numbered_in_batch_order_with_one_read_and_one_write():
    # Given ten valid messages of one tenant and day
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    records = served_records(carts, tenant, 10)

    # When the batch is processed
    report = processor(carts, store).process(records, plenty)

    # Then every record is created, numbered 1..10 in batch order, with one read and one transaction
    assert [o.status for o in report.outcomes] == [Status.CREATED] * 10
    assert [o.order_number for o in report.outcomes] == [f"ORD-20251230-{i:05d}" for i in range(1, 11)]
    assert store.counters == {CounterKey(tenant, DAY): 10}
    assert (store.reads, store.writes) == (1, 1)


def test_the_read_gets_a_worker_even_when_the_carts_outnumber_the_workers():
    # Given more orders than the processor has workers, and carts that answer only once the store has been read
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    records = served_records(carts, tenant, 6)
    read_done = threading.Event()
    plain_read, plain_get = store.read, carts.get_cart

    def read(*args):
        snapshot = plain_read(*args)
        read_done.set()
        return snapshot

    def get_cart(*args):
        assert read_done.wait(timeout=5), "the read waited behind every cart"
        return plain_get(*args)

    store.read, carts.get_cart = read, get_cart
    creator = OrderCreator(carts, store, ZoneInfo("UTC"), cart_worst_case_seconds=3.0, max_workers=3)

    # When the batch is processed, Then the read is sent while a worker is free, and every order is created
    report = creator.process(records, plenty)
    assert [o.status for o in report.outcomes] == [Status.CREATED] * 6


def test_ten_tenants_share_one_transaction_and_each_starts_at_one():
    carts, store = FakeCarts(), FakeStore()
    tenants = [new_tenant() for _ in range(10)]
    records = []
    for i, tenant in enumerate(tenants):
        carts.add(cart(tenant, "c"))
        records.append(rec(message(tenant, "c"), f"m{i}"))

    report = processor(carts, store).process(records, plenty)

    assert {o.order_number for o in report.outcomes} == {"ORD-20251230-00001"}
    assert store.writes == 1
    assert all(store.counters[CounterKey(t, DAY)] == 1 for t in tenants)


def test_more_than_ninety_nine_orders_of_one_day_are_split_into_chunks_without_gaps():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    records = []
    for i in range(150):
        carts.add(cart(tenant, f"c{i}"))
        records.append(rec(message(tenant, f"c{i}"), f"m{i}"))

    report = processor(carts, store).process(records, plenty)

    assert sorted(int(o.order_number[-5:]) for o in report.outcomes if o.order_number) == list(range(1, 151))
    assert store.writes == 2  # 99 + 51: a counter and at most 99 orders per transaction


def test_a_bad_record_fails_alone_and_permanently():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "good"))
    bad_schema = message(tenant, "good", customerEmail="not-an-address")
    records = [rec("{not json", "m1"), rec(bad_schema, "m2"), rec(message(tenant, "good"), "m3")]

    report = processor(carts, store).process(records, plenty)

    assert [o.status for o in report.outcomes] == [Status.PERMANENT, Status.PERMANENT, Status.CREATED]
    assert isinstance(report.outcomes[0].error, InvalidMessage)
    assert "customerEmail" in str(report.outcomes[1].error)
    assert "not-an-address" not in str(report.outcomes[1].error)  # reasons never echo personal data


def test_duplicates_within_a_batch_follow_the_first_record():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    carts.add(cart(tenant, "c2"))
    first = message(tenant, "c1")
    same_again = dict(first)
    other_cart = {**first, "cartId": "c2"}

    report = processor(carts, store).process([rec(first, "m1"), rec(same_again, "m2"), rec(other_cart, "m3")], plenty)

    assert [o.status for o in report.outcomes] == [Status.CREATED, Status.DUPLICATE, Status.PERMANENT]
    assert isinstance(report.outcomes[2].error, OrderConflict)
    assert len(store.items) == 1
    assert store.counters[CounterKey(tenant, DAY)] == 1


def test_a_repeat_of_a_transiently_failed_record_is_retried_too():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.fail(tenant, "c1", CartUnavailable("503"))
    body = message(tenant, "c1")

    report = processor(carts, store).process([rec(body, "m1"), rec(body, "m2")], plenty)

    assert [o.status for o in report.outcomes] == [Status.TRANSIENT, Status.TRANSIENT]


def test_redelivery_writes_nothing_and_keeps_the_number():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    body = message(tenant, "c1")
    processor(carts, store).process([rec(body, "m1")], plenty)
    writes = store.writes

    report = processor(carts, store).process([rec(body, "m1-again")], plenty)

    assert report.outcomes[0].status is Status.DUPLICATE
    assert store.writes == writes
    assert store.counters[CounterKey(tenant, DAY)] == 1


def test_an_existing_order_decides_even_when_the_cart_is_gone():
    # Given an order that was created, and a cart that has since been deleted
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    body = message(tenant, "c1")
    processor(carts, store).process([rec(body, "m1")], plenty)
    carts.fail(tenant, "c1", CartNotFound("gone"))

    # When the message is redelivered
    report = processor(carts, store).process([rec(body, "m1")], plenty)

    # Then it is a duplicate, not a dead letter
    assert report.outcomes[0].status is Status.DUPLICATE


def test_same_order_id_stored_with_another_cart_is_permanent():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    carts.add(cart(tenant, "c2"))
    body = message(tenant, "c1")
    processor(carts, store).process([rec(body, "m1")], plenty)

    report = processor(carts, store).process([rec({**body, "cartId": "c2"}, "m2")], plenty)

    assert report.outcomes[0].status is Status.PERMANENT
    assert isinstance(report.outcomes[0].error, OrderConflict)


@pytest.mark.parametrize(
    ("served_tenant", "served_cart", "reason"),
    [("other-tenant", "c1", "another tenant"), (None, "c9", "not c1")],
)
def test_a_cart_of_another_tenant_or_id_is_refused(served_tenant, served_cart, reason):
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    document = cart(served_tenant or tenant, served_cart)
    carts.answers[(tenant, "c1")] = exact_json(document)

    report = processor(carts, store).process([rec(message(tenant, "c1"), "m1")], plenty)

    assert report.outcomes[0].status is Status.PERMANENT
    assert isinstance(report.outcomes[0].error, InvalidCart)
    assert reason in str(report.outcomes[0].error)
    assert store.items == {}


def test_a_counter_moved_by_another_lambda_is_renumbered_from_its_new_value():
    # Given another writer that takes numbers 1 and 2 between our read and our write
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    def concurrent_writer(s: FakeStore) -> None:
        if s.writes == 1:
            s.counters[CounterKey(tenant, DAY)] = 2

    store.before_write = concurrent_writer

    # When our batch is processed
    report = processor(carts, store).process([rec(message(tenant, "c1"), "m1")], plenty)

    # Then it retries with the value found, and takes number 3
    assert report.outcomes[0].order_number == "ORD-20251230-00003"
    assert report.numbering_conflicts == 1
    assert store.counters[CounterKey(tenant, DAY)] == 3


def test_an_order_created_between_read_and_write_is_a_duplicate_and_the_rest_close_the_gap():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    carts.add(cart(tenant, "c2"))
    first, second = message(tenant, "c1"), message(tenant, "c2")

    # Another Lambda creates the first order (number 1) after our read, before our write
    sequence = iter([True])

    def inject(s: FakeStore) -> None:
        if next(sequence, False):
            helper = FakeStore()
            OrderCreator(carts, helper, ZoneInfo("UTC"), cart_worst_case_seconds=3.0).process(
                [rec(first, "elsewhere")], plenty
            )
            s.items.update(helper.items)
            s.counters.update(helper.counters)

    store.before_write = inject

    report = processor(carts, store).process([rec(first, "m1"), rec(second, "m2")], plenty)

    assert [o.status for o in report.outcomes] == [Status.DUPLICATE, Status.CREATED]
    assert report.outcomes[1].order_number == "ORD-20251230-00002"
    assert store.order_numbers() == ["ORD-20251230-00001", "ORD-20251230-00002"]


class LambdaClock:
    """A Lambda's remaining time that passes only as the batch sleeps or the store takes time."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds

    def remaining(self) -> float:
        return self.left

    def spend(self, seconds: float) -> None:
        self.left -= seconds


def test_endless_contention_is_retried_until_the_deadline_then_ends_transient_with_nothing_written():
    # Given a store that refuses every transaction as busy (each try takes 50 ms), and 30 s left
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    clock = LambdaClock(30.0)

    def busy(_s: FakeStore) -> WriteResult:
        clock.spend(0.05)
        return WriteResult(committed=False, contention=True)

    store.before_write = busy
    creator = OrderCreator(carts, store, ZoneInfo("UTC"), cart_worst_case_seconds=3.0, sleep=clock.spend)

    # When the batch is processed
    report = creator.process([rec(message(tenant, "c1"), "m1")], clock.remaining)

    # Then it kept trying while time remained (more rounds than the fixed count of 8 there once was, each
    # wait at most MAX_BACKOFF_SECONDS), and gave up only then
    assert report.outcomes[0].status is Status.TRANSIENT
    assert isinstance(report.outcomes[0].error, DeadlineExceeded)
    assert store.writes > 29 / (MAX_BACKOFF_SECONDS + 0.05) > 8
    assert 0 <= clock.left < WRITE_SECONDS + ANSWER_SECONDS
    assert store.items == {}


def test_a_record_that_keeps_losing_the_counter_is_written_while_time_remains():
    # Given a hot tenant: another consumer wins the counter in each of our first 30 write rounds
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    def another_consumer_wins(s: FakeStore) -> None:
        if s.writes <= 30:
            s.counters[CounterKey(tenant, DAY)] = s.counters.get(CounterKey(tenant, DAY), 0) + 1

    store.before_write = another_consumer_wins

    # When our batch is processed with plenty of time
    report = processor(carts, store).process([rec(message(tenant, "c1"), "m1")], plenty)

    # Then it is not given up for contention: it takes the next number once it wins
    assert report.outcomes[0].status is Status.CREATED
    assert report.outcomes[0].order_number == "ORD-20251230-00031"
    assert report.numbering_conflicts == 30


def test_a_store_outage_is_transient():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    def outage(_s: FakeStore) -> None:
        raise StoreUnavailable("DynamoDB failed with InternalServerError")

    store.before_write = outage

    report = processor(carts, store).process([rec(message(tenant, "c1"), "m1")], plenty)

    assert report.outcomes[0].status is Status.TRANSIENT


def test_too_little_time_starts_nothing():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    report = processor(carts, store).process([rec(message(tenant, "c1"), "m1")], lambda: 3.9)

    assert report.outcomes[0].status is Status.TRANSIENT
    assert isinstance(report.outcomes[0].error, DeadlineExceeded)
    assert carts.calls == []
    assert store.reads == 0


def test_time_running_out_before_the_write_reports_transient():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    clock = iter([10.0, 10.0, 0.5])  # at the start, when the carts are awaited, before the write

    report = processor(carts, store).process([rec(message(tenant, "c1"), "m1")], lambda: next(clock, 0.0))

    assert report.outcomes[0].status is Status.TRANSIENT
    assert "before the order was written" in str(report.outcomes[0].error)
    assert store.writes == 0


def _hanging(function, when=lambda *args: True):
    """`function`, hanging (as a name lookup can, beyond any timeout) on the calls `when` picks until released."""
    release = threading.Event()

    def hung(*args):
        if when(*args):
            release.wait(timeout=30)
        return function(*args)

    return hung, release


def _answer_with_4_seconds_left(carts: FakeCarts, store: FakeStore, records: list[Record], release: threading.Event):
    """The report of a batch run with 4 s of Lambda time left, checked to come before they run out."""
    creator = OrderCreator(carts, store, ZoneInfo("UTC"), cart_worst_case_seconds=0.5)
    deadline = time.monotonic() + 4.0
    try:
        report = creator.process(records, lambda: deadline - time.monotonic())
    finally:
        release.set()
    assert time.monotonic() < deadline
    return report


def test_a_cart_held_up_past_the_lambdas_time_is_retried_and_the_others_are_written():
    # Given three orders, one of whose cart fetch hangs
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    records = served_records(carts, tenant, 3)
    carts.get_cart, release = _hanging(carts.get_cart, when=lambda tenant_id, cart_id: cart_id == "c1")

    # When the batch runs with 4 s left, Then it answers in time: that record retried, the others created
    # and numbered without a gap
    report = _answer_with_4_seconds_left(carts, store, records, release)
    assert [o.status for o in report.outcomes] == [Status.CREATED, Status.TRANSIENT, Status.CREATED]
    assert isinstance(report.outcomes[1].error, DeadlineExceeded)
    assert [report.outcomes[i].order_number for i in (0, 2)] == ["ORD-20251230-00001", "ORD-20251230-00002"]


def test_a_store_read_held_up_past_the_lambdas_time_leaves_every_record_to_a_retry():
    # Given a store whose read hangs
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    records = served_records(carts, tenant, 2)
    store.read, release = _hanging(store.read)

    # When the batch runs with 4 s left, Then it answers in time: every record transient, nothing written
    report = _answer_with_4_seconds_left(carts, store, records, release)
    assert [o.status for o in report.outcomes] == [Status.TRANSIENT] * 2
    assert all(isinstance(o.error, DeadlineExceeded) for o in report.outcomes)
    assert store.writes == 0


def test_the_business_day_is_the_calendar_day_in_the_configured_zone():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    late_utc = message(tenant, "c1", dateCreated="2025-12-30T22:30:00Z")

    report = processor(carts, store, zone="Africa/Johannesburg").process([rec(late_utc, "m1")], plenty)

    assert report.outcomes[0].order_number == "ORD-20251231-00001"


def test_settle_dead_letters_permanent_failures_and_keeps_transient_ones():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.fail(tenant, "down", CartUnavailable("503"))
    records = [rec("nope", "bad"), rec(message(tenant, "down"), "later")]
    outcomes = processor(carts, store).process(records, plenty).outcomes
    dead_letters = FakeDeadLetters()

    failures = settle(outcomes, dead_letters, plenty)

    assert failures == ["later"]
    assert [(d.message_id, d.body, d.error_type) for d in dead_letters.letters] == [("bad", "nope", "InvalidMessage")]


def test_settle_without_a_dead_letter_queue_reports_permanent_failures():
    outcomes = processor(FakeCarts(), FakeStore()).process([rec("nope", "bad")], plenty).outcomes

    assert settle(outcomes, None, plenty) == ["bad"]


def test_a_failed_dead_letter_send_keeps_the_message_as_transient():
    outcomes = processor(FakeCarts(), FakeStore()).process([rec("nope", "bad")], plenty).outcomes

    failures = settle(outcomes, FakeDeadLetters(refuse={"bad"}), plenty)

    assert failures == ["bad"]
    assert outcomes[0].status is Status.TRANSIENT
    assert isinstance(outcomes[0].error, DeadLetterFailed)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-00:00", "0001-01-01T00:00:00+00:00"])
def test_a_date_at_the_edge_of_the_calendar_is_a_permanent_failure_not_a_crash(stamp):
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))

    report = processor(carts, store, zone="Pacific/Kiritimati").process(
        [rec(message(tenant, "c1", dateCreated=stamp), "m1")], plenty
    )

    assert report.outcomes[0].status in (Status.PERMANENT, Status.CREATED)
    if report.outcomes[0].status is Status.PERMANENT:
        assert isinstance(report.outcomes[0].error, InvalidMessage)


def test_a_record_without_date_created_or_sent_timestamp_is_permanent():
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    body = json.dumps(message(tenant, "c1", dateCreated=None))

    report = processor(carts, store).process([Record("m1", body, sent_timestamp_ms=None)], plenty)

    assert report.outcomes[0].status is Status.PERMANENT
    assert "SentTimestamp" in str(report.outcomes[0].error)


def test_when_the_store_read_fails_even_a_missing_cart_waits_for_a_retry():
    # Given a store that cannot be read, and a cart that is gone (the order may exist already)
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()

    def unreadable(*_args: object) -> None:
        raise StoreUnavailable("DynamoDB failed with InternalServerError")

    store.read = unreadable  # type: ignore[method-assign]

    # When the record is processed
    report = processor(carts, store).process([rec(message(tenant, "gone"), "m1")], plenty)

    # Then it is transient, not dead-lettered
    assert report.outcomes[0].status is Status.TRANSIENT
    assert isinstance(report.outcomes[0].error, StoreUnavailable)


def test_a_later_record_with_another_cart_waits_while_the_first_is_unsettled():
    # Given one order id in two records with different carts, the first cart unavailable for now
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.fail(tenant, "c1", CartUnavailable("503"))
    carts.add(cart(tenant, "c2"))
    first = message(tenant, "c1")

    # When the batch is processed
    report = processor(carts, store).process([rec(first, "m1"), rec({**first, "cartId": "c2"}, "m2")], plenty)

    # Then neither is decided: both come back, and nothing is dead-lettered or written
    assert [o.status for o in report.outcomes] == [Status.TRANSIENT, Status.TRANSIENT]
    assert store.items == {}


def test_a_repeat_of_a_stored_order_after_a_conflicting_record_is_a_duplicate():
    # Given an order stored for cart c1
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    carts.add(cart(tenant, "c1"))
    carts.add(cart(tenant, "c2"))
    original = message(tenant, "c1")
    processor(carts, store).process([rec(original, "m1")], plenty)

    # When a batch holds a record of that order id for cart c2, then a repeat of the original
    report = processor(carts, store).process([rec({**original, "cartId": "c2"}, "m2"), rec(original, "m1")], plenty)

    # Then the stored cart decides: the c2 record is a conflict, the repeat a duplicate
    assert [o.status for o in report.outcomes] == [Status.PERMANENT, Status.DUPLICATE]


def test_one_order_id_in_two_tenants_is_two_orders_and_a_repeat_in_each_is_a_duplicate():
    # Given one orderId and cart id text in two tenants, each sent twice, interleaved in one batch
    carts, store = FakeCarts(), FakeStore()
    a, b = new_tenant(), new_tenant()
    order_id = "3f0b6c1e-8d0a-4f6e-9f57-2b1f8f3f9a10"
    for tenant in (a, b):
        carts.add(cart(tenant, "same"))
    records = [rec(message(t, "same", orderId=order_id), f"m{i}") for i, t in enumerate([a, b, a, b])]

    # When the batch is processed
    report = processor(carts, store).process(records, plenty)

    # Then each tenant's first is created with its own number 1, each repeat is a duplicate
    assert [o.status for o in report.outcomes] == [Status.CREATED] * 2 + [Status.DUPLICATE] * 2
    assert store.counters == {CounterKey(a, DAY): 1, CounterKey(b, DAY): 1}


def test_an_order_the_store_cannot_hold_is_permanent_and_the_others_are_written():
    # Given three orders, the second of which the store refuses whatever happens (too large)
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    for i in range(3):
        carts.add(cart(tenant, f"c{i}"))
    records = [rec(message(tenant, f"c{i}"), f"m{i}") for i in range(3)]
    refused = json.loads(records[1].body)["orderId"]

    def refuse_second(s: FakeStore) -> WriteResult | None:
        if any(o.id == refused for block in s.pending for o in block.orders):
            return WriteResult(committed=False, rejected={OrderKey(tenant, refused): "over 400 KB"})
        return None

    store.before_write = refuse_second

    # When the batch is processed
    report = processor(carts, store).process(records, plenty)

    # Then the others are created, numbered 1 and 2, and the refused one is a permanent UnstorableOrder
    assert [o.status for o in report.outcomes] == [Status.CREATED, Status.PERMANENT, Status.CREATED]
    assert report.outcomes[1].error is not None and report.outcomes[1].error.error_type == "UnstorableOrder"
    assert store.order_numbers() == ["ORD-20251230-00001", "ORD-20251230-00002"]


def test_a_bug_met_parsing_one_record_fails_that_record_alone_transiently(monkeypatch, caplog):
    # Given three records, the parsing of the second meeting a bug whose message echoes a field's value
    carts, store, tenant = FakeCarts(), FakeStore(), new_tenant()
    records = served_records(carts, tenant, 3)
    real_parse = batch_module.parse_message

    def parse(body: str) -> object:
        if '"c1"' in body:
            raise RuntimeError("secret@example.com")
        return real_parse(body)

    monkeypatch.setattr(batch_module, "parse_message", parse)

    # When the batch is processed
    report = processor(carts, store).process(records, plenty)

    # Then the others are numbered 1 and 2, that one is transient (retried alone), and nothing logs the message
    assert [o.status for o in report.outcomes] == [Status.CREATED, Status.TRANSIENT, Status.CREATED]
    assert str(report.outcomes[1].error) == "unexpected error parsing the message: RuntimeError"
    assert store.counters == {CounterKey(tenant, DAY): 2}
    assert "secret@example.com" not in caplog.text
    assert any(getattr(r, "error_type", None) == "RuntimeError" for r in caplog.records)


class _BuggyCarts(FakeCarts):
    def get_cart(self, tenant_id: str, cart_id: str) -> Cart:
        if cart_id == "c1":
            raise KeyError("secret@example.com")
        return super().get_cart(tenant_id, cart_id)


def test_a_bug_met_fetching_one_cart_fails_that_record_alone_transiently(caplog):
    # Given three records, the fetch of the second cart meeting a bug whose message echoes a value
    carts, store, tenant = _BuggyCarts(), FakeStore(), new_tenant()
    records = served_records(carts, tenant, 3)

    # When the batch is processed
    report = processor(carts, store).process(records, plenty)

    # Then the others are created, that one is transient, and nothing logs the bug's message
    assert [o.status for o in report.outcomes] == [Status.CREATED, Status.TRANSIENT, Status.CREATED]
    assert str(report.outcomes[1].error) == "unexpected error fetching the cart: KeyError"
    assert "secret@example.com" not in caplog.text
