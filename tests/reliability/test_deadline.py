"""Deadline (contract §5, "too little Lambda time left"): the handler returns in time and reports what it
did not finish; a redelivery later finishes it, without a gap or a duplicate. A configuration that can never
fit its function's timeout is refused at the first invocation.

The rig's Cart API client has a 0.5 s timeout and 1 retry: its worst case is 1 s, so a batch needs 2 s
(`order_creator.deadlines`: the worst case + 1 s for a write round and the answer). Each bound is the handler's
own deadline; the time given leaves the work the handler does finish (writing what it fetched in time) room on a
loaded machine, and stays far below what breaking the promise would take.
"""

from __future__ import annotations

import time

import pytest

from order_creator.deadlines import WRITE_SECONDS
from order_creator.errors import ConfigurationError
from tests.factories import (
    assert_gapless,
    cart,
    cart_json,
    counters_of,
    invoke,
    lambda_context,
    message,
    new_tenant,
    orders_of,
    record,
    sqs_event,
)
from tests.reliability.faults import CONFLICT, CartReply, Faults
from tests.reliability.scenario import read_dead_letters


def _records(rig, tenant, count, delay=0.0):
    records = []
    for i in range(count):
        rig.carts.put(tenant, f"cart-{i}", CartReply(cart_json(cart(tenant, f"cart-{i}")), delay=delay))
        records.append(record(message(tenant, f"cart-{i}")))
    return records


def _timed_invoke(records, seconds):
    # A warm Lambda: the handler's clients and Cart API session exist before the clock starts, so the
    # 0.5 s of slack above the 2 s a batch needs is not spent building them (a cold first call, or a
    # slow machine under coverage, would otherwise leave too little time to start at all).
    assert invoke() == []
    started = time.monotonic()
    failures = invoke(*records, seconds=seconds)
    return failures, time.monotonic() - started


def test_a_batch_is_not_started_with_less_time_left_than_a_cart_fetch_can_take(rig):
    # Given 1.5 s left, less than the Cart API's worst case (1 s) plus a second
    tenant = new_tenant("deadline")
    records = _records(rig, tenant, 5)

    # When the handler runs
    failures, elapsed = _timed_invoke(records, seconds=1.5)

    # Then it returns before its deadline, reports every record, asked the Cart API nothing and wrote nothing
    assert sorted(failures) == sorted(r["messageId"] for r in records)
    assert elapsed < 1.5
    assert rig.carts.requests == 0
    assert orders_of(rig.dynamodb, rig.table, tenant) == []
    # And a redelivery with time enough creates each order once, numbered 1..5
    assert invoke(*records) == []
    assert sorted(o["orderNumber"][-5:] for o in orders_of(rig.dynamodb, rig.table, tenant)) == [
        f"{n:05d}" for n in range(1, 6)
    ]
    assert_gapless(rig.dynamodb, rig.table, tenant)


def test_a_cart_api_slower_than_the_time_left_does_not_hold_the_handler_past_its_deadline(rig):
    # Given 4 s left (the 2 s a batch needs to start, and 2 s to write the prompt carts' orders on a loaded
    # machine: the write loop starts a round only with 1 s to spare), and a Cart API that answers half the
    # carts at once and the others after 10 s, far past the deadline
    tenant = new_tenant("deadline")
    prompt = _records(rig, tenant, 5)
    slow = [record(message(tenant, f"slow-{i}")) for i in range(5)]
    for i in range(5):
        rig.carts.put(tenant, f"slow-{i}", CartReply(cart_json(cart(tenant, f"slow-{i}")), delay=10.0))
    batch = [r for pair in zip(prompt, slow, strict=True) for r in pair]

    # When the handler runs
    failures, elapsed = _timed_invoke(batch, seconds=4.0)

    # Then it returns before its deadline, the prompt carts are orders, the slow ones are reported
    assert elapsed < 4.0
    assert sorted(failures) == sorted(r["messageId"] for r in slow)
    assert sorted(o["sourceMessageId"] for o in orders_of(rig.dynamodb, rig.table, tenant)) == sorted(
        r["messageId"] for r in prompt
    )
    # And when the Cart API recovers, the redelivered records take the next numbers: 1..10, no gap
    for i in range(5):
        rig.carts.put(tenant, f"slow-{i}", CartReply(cart_json(cart(tenant, f"slow-{i}"))))
    assert invoke(*[r for r in batch if r["messageId"] in failures]) == []
    assert len(orders_of(rig.dynamodb, rig.table, tenant)) == 10
    assert_gapless(rig.dynamodb, rig.table, tenant)


def test_a_slow_contended_table_makes_the_write_loop_stop_with_time_to_spare(rig):
    # Given 2.5 s left, prompt carts, and a table that takes 0.4 s to refuse each transaction (conflict): what the
    # write loop keeps in hand to start a round (deadlines.WRITE_SECONDS, before the answer's margin)
    tenant = new_tenant("deadline")
    records = _records(rig, tenant, 4)
    rig.proxy.write_delay = WRITE_SECONDS
    rig.proxy.faults = Faults(burst={CONFLICT: 10})

    # When the handler runs
    failures, elapsed = _timed_invoke(records, seconds=2.5)

    # Then it stops retrying before its deadline, reports every record, and nothing is half-written
    assert elapsed < 2.5
    assert sorted(failures) == sorted(r["messageId"] for r in records)
    assert rig.proxy.faults.injected[CONFLICT] >= 1
    assert orders_of(rig.dynamodb, rig.table, tenant) == []
    assert counters_of(rig.dynamodb, rig.table, tenant) == {}
    # And once the table is healthy a redelivery numbers them 1..4
    rig.proxy.write_delay = 0.0
    rig.proxy.faults = Faults()
    assert invoke(*records) == []
    assert len(orders_of(rig.dynamodb, rig.table, tenant)) == 4
    assert_gapless(rig.dynamodb, rig.table, tenant)


def test_a_store_that_answers_writes_late_does_not_hold_the_answer_and_a_redelivery_loses_nothing(rig):
    # Given 4 s left, prompt carts, and a table that applies each transaction only after holding it 6 s (a slow
    # DynamoDB: applied, answered late; longer than the SDK's read timeout, so the SDK tries again meanwhile)
    tenant = new_tenant("slow-store")
    records = _records(rig, tenant, 5)
    rig.proxy.write_delay = 6.0

    # When the handler runs
    failures, elapsed = _timed_invoke(records, seconds=4.0)

    # Then it answers before its deadline: every record transient (the write's answer never came), none dead-lettered
    assert elapsed < 4.0
    assert sorted(failures) == sorted(r["messageId"] for r in records)
    assert read_dead_letters(rig.sqs, rig.dead_letter_queue) == []
    # And once the held write has landed, a redelivery finds every order once: duplicates, numbered 1..5, no gap
    landed = time.monotonic() + 20
    while len(orders_of(rig.dynamodb, rig.table, tenant)) < 5 and time.monotonic() < landed:
        time.sleep(0.2)
    assert invoke(*records) == []
    orders = orders_of(rig.dynamodb, rig.table, tenant)
    assert sorted(o["sourceMessageId"] for o in orders) == sorted(r["messageId"] for r in records)
    assert sorted(o["orderNumber"][-5:] for o in orders) == [f"{n:05d}" for n in range(1, 6)]
    assert counters_of(rig.dynamodb, rig.table, tenant) == {"20251230": 5}
    assert_gapless(rig.dynamodb, rig.table, tenant)


def test_a_function_timeout_too_short_for_the_cart_api_is_refused_at_the_first_invocation(rig):
    # Given the settings, all of which the template once allowed: a 10 s Cart API timeout, 2 retries, and a
    # 30 s function (every batch would end "not started", on every receive, with nothing at ERROR)
    rig.configure(CART_API_TIMEOUT_SECONDS="10", CART_API_MAX_RETRIES="2")
    tenant = new_tenant("config")
    records = _records(rig, tenant, 2)
    from order_creator.handler import lambda_handler

    # When the first invocation starts with its whole 30 s, Then the handler refuses the configuration, saying why
    with pytest.raises(ConfigurationError) as refused:
        lambda_handler(sqs_event(*records), lambda_context(30.0))
    assert "31.3 s" in str(refused.value)
    assert "CART_API_TIMEOUT_SECONDS" in str(refused.value)
    assert rig.carts.requests == 0

    # And a function of 60 s with the same settings runs them
    assert lambda_handler(sqs_event(*records), lambda_context(60.0))["batchItemFailures"] == []
    assert len(orders_of(rig.dynamodb, rig.table, tenant)) == 2
