"""Fault injection through the real wire: every fault kind alone, then 1,000 messages under all of them.

After each scenario the queue is drained (what the handler reported is redelivered) and the invariant
of contract §4–§5 is checked: a lost, duplicated or renumbered order fails `verify`.
"""

from __future__ import annotations

import pytest

from tests.factories import assert_gapless, cart, cart_json, invoke, message, new_tenant, orders_of, record
from tests.reliability import faults as f
from tests.reliability.child import carts_fetched_by, run_in_child
from tests.reliability.scenario import build_workload, drain_by_table, read_dead_letters, verify

# Enough faults in a row at the start to outlast the client's own retries: the SDK's 3 attempts, the
# Cart API client's 2 attempts for each of a batch's 10 carts. Transaction conflicts are retried for as long
# as the Lambda's time allows: their burst is longer than any fixed count of write rounds (there once were 8).
BURSTS = {f.CONFLICT: 12, f.COMMIT_THEN_500: 1, f.CART_500: 20, f.CART_429: 20, f.CART_TIMEOUT: 20, f.CART_SLOW: 10}
TRANSIENT_KINDS = [
    f.THROTTLE,
    f.THROTTLING,
    f.CONFLICT,
    f.DYNAMODB_500,
    f.COMMIT_THEN_500,
    f.SQS_500,
    f.CART_500,
    f.CART_429,
    f.CART_TIMEOUT,
    f.CART_SLOW,
]


def _verified(rig, workload):
    verdict = verify(rig.dynamodb, rig.sqs, rig.dead_letter_queue, workload)
    assert verdict.problems == []
    assert (verdict.lost, verdict.duplicated, verdict.gaps) == (0, 0, 0)
    for tenant in workload.tenants:
        assert_gapless(rig.dynamodb, workload.tables[tenant], tenant)
    return verdict


@pytest.mark.parametrize("kind", TRANSIENT_KINDS)
def test_each_fault_kind_alone_loses_duplicates_and_renumbers_nothing(rig, kind):
    # Given 40 messages (10% repeats, 10% invalid so the dead-letter path is used) and one fault kind:
    # a burst that outlasts the client's retries, then on 20% of the requests it applies to
    workload = build_workload(
        rig.carts, 40, seed=TRANSIENT_KINDS.index(kind), tenants=2, invalid_share=0.10, new_table=rig.new_table
    )
    server = rig.carts if kind in f.CART_FAULTS else rig.proxy
    server.faults = f.Faults({kind: 0.2}, seed=7, burst={kind: BURSTS.get(kind, 3)})

    # When the queue is drained, redelivering whatever the handler reports
    report = drain_by_table(workload, rig.configure, [server.faults], seed=1)

    # Then the fault happened, and nothing was lost, duplicated or renumbered
    assert report.left == []
    assert server.faults.injected[kind] > 0
    if kind == f.CONFLICT:  # contention is never a reason to give a record up while time remains
        assert report.redeliveries == 0
    elif kind not in (f.CART_SLOW, f.COMMIT_THEN_500):  # those two end well without a redelivery
        assert report.redeliveries > 0
    verdict = _verified(rig, workload)
    assert verdict.stored_orders == verdict.valid_orders > 0


@pytest.mark.slow
def test_thousand_messages_under_mixed_faults_and_crashes(rig, capfd):
    # Given 1,000 messages (10% repeats, 5% invalid in every way) and every fault kind at once
    workload = build_workload(rig.carts, 1000, seed=20251230, tenants=40, new_table=rig.new_table)
    dynamodb_rates = {f.THROTTLE: 0.03, f.THROTTLING: 0.03, f.CONFLICT: 0.04, f.DYNAMODB_500: 0.03}
    rig.proxy.faults = f.Faults({**dynamodb_rates, f.COMMIT_THEN_500: 0.03, f.SQS_500: 0.1}, seed=11)
    rig.carts.faults = f.Faults({f.CART_500: 0.02, f.CART_429: 0.02, f.CART_TIMEOUT: 0.01, f.CART_SLOW: 0.02}, seed=12)

    # When the queue is drained, with a few batches run in a process that is killed at each step
    steps = iter(f.CRASH_STEPS * 10)

    def crash(batch, _number):
        expected = carts_fetched_by(batch)
        return run_in_child(batch, proxy=rig.proxy, carts=rig.carts, step=next(steps), carts_expected=expected)

    report = drain_by_table(
        workload,
        rig.configure,
        [rig.proxy.faults, rig.carts.faults],
        seed=3,
        crash_runner=crash,
        crash_every=25,
    )

    # Then every valid message is one order, numbered without gaps, every invalid one is dead-lettered
    assert report.left == []
    verdict = _verified(rig, workload)
    assert verdict.messages == 1000
    assert verdict.stored_orders == verdict.valid_orders
    injected = rig.proxy.faults.injected + rig.carts.faults.injected
    assert set(injected) == {*f.DYNAMODB_FAULTS, f.SQS_500, *f.CART_FAULTS, f.CART_MALFORMED, f.CART_WRONG_TYPE}
    assert report.crashes > 0
    print(f"\nmixed faults: {verdict}, {report}, injected {dict(injected)}")


def test_a_record_is_dead_lettered_as_a_conflict_only_when_its_order_exists_with_another_cart(rig):
    # Given one order id in two messages with different carts, the first cart failing for now
    tenant = new_tenant("conflict")
    first = message(tenant, "cart-y")
    second = message(tenant, "cart-x", orderId=first["orderId"])
    rig.carts.put(tenant, "cart-y", f.CartReply('{"message": "unavailable"}', status=503))
    rig.carts.put(tenant, "cart-x", f.CartReply(cart_json(cart(tenant, "cart-x"))))
    batch = [record(first), record(second)]

    # When they arrive in one batch, then the second is sent again alone and the first redelivered
    failures = invoke(*batch)
    assert batch[0]["messageId"] in failures
    resent = record(second)
    assert invoke(resent) == []
    rig.carts.put(tenant, "cart-y", f.CartReply(cart_json(cart(tenant, "cart-y"))))
    assert invoke(batch[0]) == []

    # Then the order is the second message's cart, and only the first message is dead-lettered
    assert [o["cartId"] for o in orders_of(rig.dynamodb, rig.table, tenant)] == ["cart-x"]
    dead = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert [(d.source_message_id, d.error_type) for d in dead] == [(batch[0]["messageId"], "OrderConflict")]


def test_a_repeat_of_a_stored_order_after_a_conflicting_record_in_its_batch_is_a_duplicate(rig):
    # Given an order stored for cart X
    tenant = new_tenant("conflict")
    original = message(tenant, "cart-x")
    rig.carts.put(tenant, "cart-x", f.CartReply(cart_json(cart(tenant, "cart-x"))))
    rig.carts.put(tenant, "cart-y", f.CartReply(cart_json(cart(tenant, "cart-y"))))
    assert invoke(record(original)) == []

    # When a batch holds a message reusing its orderId for cart Y, then a repeat of the original
    intruder, repeat = record(message(tenant, "cart-y", orderId=original["orderId"])), record(original)
    assert invoke(intruder, repeat) == []

    # Then only the intruder is dead-lettered; the repeat is a duplicate of the stored order
    dead = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert [(d.source_message_id, d.error_type) for d in dead] == [(intruder["messageId"], "OrderConflict")]
    assert [o["cartId"] for o in orders_of(rig.dynamodb, rig.table, tenant)] == ["cart-x"]
