"""The process killed (SIGKILL) at each step of a batch, then the whole batch redelivered to a fresh process.

The servers the child talks to pull the trigger when they see the step happen on the wire, so the code
under test runs unpatched: the Cart API after its last answer, the proxy when TransactWriteItems arrives,
after moto committed it (the answer never reaches the child), or when the dead-letter send arrives.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from tests.factories import assert_gapless, cart, cart_json, counters_of, invoke, message, new_tenant, orders_of, record
from tests.reliability import faults as f
from tests.reliability.child import carts_fetched_by, run_in_child
from tests.reliability.scenario import Delivery, Workload, verify


def _order(rig, workload, tenant, cart_id, **fields):
    """A valid message whose cart the Cart API serves."""
    body = message(tenant, cart_id, **fields)
    document = cart(tenant, cart_id, prices=("10.99", f"{len(workload.totals)}.50"))
    rig.carts.put(tenant, cart_id, f.CartReply(cart_json(document)))
    workload.totals[(tenant, cart_id)] = document["total"]
    return Delivery(record(body), body["orderId"], tenant, cart_id, None, home=tenant)


def _batch(rig, workload):
    """Ten records: five orders of the first tenant, three of the second, one in-batch repeat, one cart 404."""
    a, b = workload.tenants
    # 23:30 UTC on 31 December is 1 January in Johannesburg: the business day is the zone's
    deliveries = [
        _order(rig, workload, tenant, f"cart-{i}", dateCreated="2025-12-31T23:30:00+00:00")
        for i, tenant in enumerate([a] * 5 + [b] * 3)
    ]
    repeat = deliveries[1]
    deliveries.append(Delivery(record(repeat.body), repeat.order_id, a, repeat.cart_id, None, home=a))
    missing = message(b, "cart-gone")
    deliveries.append(Delivery(record(missing), missing["orderId"], b, "cart-gone", "CartNotFound", "cart_404", b))
    return deliveries


@pytest.mark.parametrize("step", f.CRASH_STEPS)
def test_a_batch_killed_at_any_step_and_redelivered_loses_and_duplicates_nothing(rig, step):
    # Given two orders of the first tenant already numbered on that day, and a batch of ten records
    tenants = [new_tenant("crash"), new_tenant("crash")]
    workload = Workload([], tenants, ZoneInfo("Africa/Johannesburg"), tables=dict.fromkeys(tenants, rig.table))
    earlier = [_order(rig, workload, tenants[0], f"early-{i}", dateCreated="2026-01-01T08:00:00+02:00") for i in (1, 2)]
    assert invoke(*(d.record for d in earlier)) == []
    deliveries = _batch(rig, workload)
    workload.deliveries = earlier + deliveries
    records = [d.record for d in deliveries]

    # When a process runs the batch and is killed at `step`
    killed = run_in_child(
        records, proxy=rig.proxy, carts=rig.carts, step=step, carts_expected=carts_fetched_by(records)
    )

    # Then it was killed there: before the step nothing of the batch is written, after it all of it at once
    assert killed is None
    written = {o["id"] for t in tenants for o in orders_of(rig.dynamodb, rig.table, t)}
    new_ids = {d.order_id for d in deliveries if d.error_type is None}
    if step in (f.CARTS_FETCHED, f.TRANSACTION_SENT):
        assert written & new_ids == set()
        assert counters_of(rig.dynamodb, rig.table, tenants[0]) == {"20260101": 2}
    else:
        assert new_ids <= written
        assert counters_of(rig.dynamodb, rig.table, tenants[0]) == {"20260101": 7}

    # When SQS redelivers the whole batch to a fresh process
    again = [{**r, "attributes": {**r["attributes"], "ApproximateReceiveCount": "2"}} for r in records]
    failures = run_in_child(again, proxy=rig.proxy, carts=rig.carts)

    # Then every order exists once, numbered 1..N with N the counter, and the 404 is dead-lettered once
    assert failures == []
    verdict = verify(rig.dynamodb, rig.sqs, rig.dead_letter_queue, workload)
    assert verdict.problems == []
    assert (verdict.lost, verdict.duplicated, verdict.gaps, verdict.dead_letters) == (0, 0, 0, 1)
    assert verdict.stored_orders == 10
    assert counters_of(rig.dynamodb, rig.table, tenants[0]) == {"20260101": 7}
    assert counters_of(rig.dynamodb, rig.table, tenants[1]) == {"20260101": 3}
    for tenant in tenants:
        assert_gapless(rig.dynamodb, rig.table, tenant)
