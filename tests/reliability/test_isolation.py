"""Tenant isolation and data protection: a tenant's cart, keys and orders stay that tenant's, and the
logs of a whole scenario never carry a customer's e-mail address or street.
"""

from __future__ import annotations

import logging
import re
import sys

import pytest

from tests.factories import (
    assert_gapless,
    cart,
    cart_json,
    counters_of,
    invoke,
    message,
    new_tenant,
    orders_of,
    record,
    unmarshal,
)
from tests.reliability import faults as f
from tests.reliability.child import carts_fetched_by, run_in_child
from tests.reliability.consumer import run_consumers
from tests.reliability.scenario import build_workload, drain_by_table, read_dead_letters, verify

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
KEY_SHAPES = {
    "TENANT": re.compile(r"^ORDER#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    "COUNTER": re.compile(r"^ORDER_NUMBER#\d{8}$"),
}


def _serve(rig, tenant, cart_id, tax="43.50", **changes):
    rig.carts.put(tenant, cart_id, f.CartReply(cart_json({**cart(tenant, cart_id, tax=tax), **changes})))


def test_a_cart_of_another_tenant_is_refused(rig):
    # Given a message of tenant A whose cart the Cart API answers as tenant B's
    a, b = new_tenant("iso"), new_tenant("iso")
    _serve(rig, a, "cart-1", tenantId=b)
    sent = record(message(a, "cart-1"))

    # When the handler runs it
    failures = invoke(sent)

    # Then it is dead-lettered as InvalidCart and neither tenant has an order or a counter
    assert failures == []
    assert [(d.source_message_id, d.error_type) for d in read_dead_letters(rig.sqs, rig.dead_letter_queue)] == [
        (sent["messageId"], "InvalidCart")
    ]
    for tenant in (a, b):
        assert orders_of(rig.dynamodb, rig.table, tenant) == []
        assert counters_of(rig.dynamodb, rig.table, tenant) == {}


def test_keys_are_built_only_from_validated_ids(rig):
    # Given ids carrying the key separator and other separators, next to one valid message
    tenant = new_tenant("iso")
    _serve(rig, tenant, "cart-ok")
    bad_ids = [f"{tenant}#ORDER#x", f"{tenant}#", "a|b", "a/b", "a b", "a\nb", "", "x" * 65, "ü"]
    records = [record(message(tenant, "cart-ok"))]
    for bad in bad_ids:
        _serve(rig, bad, "cart-ok")
        _serve(rig, tenant, bad)
        records += [record(message(bad, "cart-ok")), record(message(tenant, bad))]

    # When the handler runs them (in batches of ten, as SQS delivers)
    failures = [m for start in range(0, len(records), 10) for m in invoke(*records[start : start + 10])]

    # Then only the valid one is an order; the others are dead-lettered before any key is built
    assert failures == []
    dead = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert sorted(d.source_message_id for d in dead) == sorted(r["messageId"] for r in records[1:])
    assert {d.error_type for d in dead} == {"InvalidMessage"}
    assert rig.carts.requests == 1
    items = [unmarshal(item) for item in rig.dynamodb.scan(TableName=rig.table, ConsistentRead=True)["Items"]]
    assert sorted(item["PK"] for item in items) == [f"COUNTER#{tenant}", f"TENANT#{tenant}"]
    for item in items:
        prefix, _, owner = item["PK"].partition("#")
        assert owner == tenant
        assert KEY_SHAPES[prefix].match(item["SK"]), item["SK"]


def test_an_order_of_one_tenant_is_never_read_through_another_tenants_key(rig):
    # Given an order of tenant A
    a, b = new_tenant("iso"), new_tenant("iso")
    _serve(rig, a, "cart-a", tax="1.00")
    first = message(a, "cart-a", customerEmail="a-customer@example.org")
    assert invoke(record(first)) == []
    order_id = first["orderId"]

    def get(tenant):
        key = {"PK": {"S": f"TENANT#{tenant}"}, "SK": {"S": f"ORDER#{order_id}"}}
        item = rig.dynamodb.get_item(TableName=rig.table, Key=key, ConsistentRead=True).get("Item")
        return unmarshal(item) if item else None

    # Then B's key for that order id finds nothing
    assert get(b) is None

    # When tenant B sends a message that reuses A's order id, with B's own cart
    _serve(rig, b, "cart-b", tax="2.00")
    second = message(b, "cart-b", orderId=order_id, customerEmail="b-customer@example.org")
    assert invoke(record(second)) == []

    # Then B's message was not taken for A's order (no duplicate, no conflict): B has its own order,
    # numbered in B's sequence, and A's order is unchanged
    order_a, order_b = get(a), get(b)
    assert (order_a["tenantId"], order_a["cartId"], order_a["customerEmail"]) == (a, "cart-a", "a-customer@example.org")
    assert (order_b["tenantId"], order_b["cartId"], order_b["customerEmail"]) == (b, "cart-b", "b-customer@example.org")
    assert order_a["orderNumber"] == order_b["orderNumber"] == "ORD-20251230-00001"
    assert (order_a["tax"], order_b["tax"]) == (1, 2)
    assert read_dead_letters(rig.sqs, rig.dead_letter_queue) == []
    for tenant in (a, b):
        assert [o["id"] for o in orders_of(rig.dynamodb, rig.table, tenant)] == [order_id]
        assert_gapless(rig.dynamodb, rig.table, tenant)


@pytest.fixture
def handler_logs(capfd):
    """The handler's log lines, captured with everything else the test writes.

    Powertools' Logger binds its handler to the sys.stdout of import time (pytest's own capture by
    then); point it at the stdout capfd reads for this test, and back afterwards.
    """
    from order_creator.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(sys.stdout)
    yield capfd
    handler.stream = previous  # not setStream: it would flush capfd's stream, closed by now


def test_the_logs_of_a_whole_scenario_carry_no_email_address_or_street(rig, handler_logs):
    # Given 150 messages under faults, with every log level on, and one batch run in a killed process
    rig.configure(LOG_LEVEL="DEBUG")
    workload = build_workload(rig.carts, 150, seed=5, tenants=2, invalid_share=0.2, new_table=rig.new_table)
    rig.proxy.faults = f.Faults({f.THROTTLE: 0.05, f.CONFLICT: 0.05, f.SQS_500: 0.1}, seed=5)
    rig.carts.faults = f.Faults({f.CART_500: 0.05, f.CART_TIMEOUT: 0.02}, seed=5)

    def crash(batch, _number):
        expected = carts_fetched_by(batch)
        return run_in_child(
            batch, proxy=rig.proxy, carts=rig.carts, step=f.TRANSACTION_COMMITTED, carts_expected=expected
        )

    # When the queue is drained
    report = drain_by_table(
        workload, rig.configure, [rig.proxy.faults, rig.carts.faults], seed=5, crash_runner=crash, crash_every=7
    )
    logs = handler_logs.readouterr()

    # Then the scenario held, the logs said what happened, and not one e-mail address or street is in them
    assert report.left == []
    assert report.crashes > 0
    assert verify(rig.dynamodb, rig.sqs, rig.dead_letter_queue, workload).problems == []
    output = logs.out + logs.err
    assert output.count('"record processed"') >= 100
    assert output.count('"record failed"') >= 20
    leaked = [value for value in workload.personal_data if value in output]
    assert leaked == []
    assert "Hidden Lane" not in output
    assert EMAIL.findall(output) == []


def test_a_busy_tenant_never_fails_the_quiet_tenants_of_its_batches(rig, tmp_path):
    # Given eight consumers at once on one busy tenant's day, each batch of theirs also holding two orders of tenants
    # nothing else touches, and a short deadline (7 s: the emulator takes a quarter of a second per transaction here,
    # and the eight consumers' transactions queue for it). Measured on a quiet machine: the batch before busy groups
    # were isolated (425c82f) failed 16 of the 32 quiet orders at 6 s, 6-8 at 7 s, 0 at 12 s; this one none at 4 s
    # (6 s failed once in a loaded full run, 12 of 32)
    busy = new_tenant("busy")
    consumers, quiet, every = [], [], []
    for c in range(8):
        batches = []
        for b in range(2):
            batch = []
            for i in range(8):
                _serve(rig, busy, f"cart-{c}-{b}-{i}")
                batch.append(record(message(busy, f"cart-{c}-{b}-{i}")))
            for position in (3, 7):  # among the busy tenant's, as a batch from a shared queue mixes them
                tenant = new_tenant("quiet")
                _serve(rig, tenant, "cart-q")
                batch.insert(position, record(message(tenant, "cart-q")))
                quiet.append((tenant, batch[position]["messageId"]))
            batches.append(batch)
            every += batch
        consumers.append(batches)

    # When they run at once
    failures = run_consumers(consumers, tmp_path, seconds=7.0)

    # Then not one quiet order was reported failed: each is its tenant's order number 1
    assert [m for _, m in quiet if m in failures] == []
    for tenant, _ in quiet:
        assert [o["orderNumber"] for o in orders_of(rig.dynamodb, rig.table, tenant)] == ["ORD-20251230-00001"]
    # And what the busy tenant could not write in time comes back and is written: 1..128, each order once
    left = [r for r in every if r["messageId"] in failures]
    for start in range(0, len(left), 10):
        assert invoke(*left[start : start + 10]) == []
    assert len(orders_of(rig.dynamodb, rig.table, busy)) == 128
    assert_gapless(rig.dynamodb, rig.table, busy)
    assert read_dead_letters(rig.sqs, rig.dead_letter_queue) == []
