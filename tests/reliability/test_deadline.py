"""Deadline (contract §5, "too little Lambda time left"): the handler returns in time and reports what it
did not finish; a redelivery later finishes it, without a gap or a duplicate.

The rig's Cart API client has a 0.5 s timeout and 1 retry: its worst case is 1 s, so a batch needs 2 s.
Each bound is the handler's own deadline; the time given leaves the work the handler does finish (writing
what it fetched in time) room on a loaded machine, and stays far below what breaking the promise would take.
"""

from __future__ import annotations

import time

from order_creator.batch import STORE_SAFETY_SECONDS
from tests.factories import assert_gapless, cart, cart_json, counters_of, invoke, message, new_tenant, orders_of, record
from tests.reliability.faults import CONFLICT, CartReply, Faults


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
    # Given 2.5 s left, prompt carts, and a table that takes 0.5 s to refuse each transaction (conflict): half
    # the 1 s the write loop keeps in hand when it starts a round (batch.STORE_SAFETY_SECONDS), the other half
    # for the round's own time through the proxy and moto on a loaded machine
    tenant = new_tenant("deadline")
    records = _records(rig, tenant, 4)
    rig.proxy.write_delay = STORE_SAFETY_SECONDS / 2
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
