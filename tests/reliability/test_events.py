"""Order events under faults and crashes (contract §7): orders made by the real handler under DynamoDB faults,
then the tables' streams read by the real publisher while EventBridge refuses requests and entries (through the
wire proxy) and publisher processes are killed between PutEvents and the checkpoint.

The invariant (`scenario.verify_events`): every stored order has at least one event, no event names an order
that does not exist, every event agrees with its order; a crash after PutEvents republishes, and the duplicates
are counted (consumers drop them by orderId).
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest

from order_creator import events
from order_creator.local.stream import StreamWorker, dynamodb_streams
from order_creator.publishing import eventbridge
from order_creator.queues import create_bus_with_queue_target, delivered_events
from order_creator.tooling import create_table
from tests.factories import forget_clients
from tests.reliability import faults as f
from tests.reliability.child import run_in_child
from tests.reliability.scenario import build_workload, drain_by_table, verify, verify_events

DYNAMODB_RATES = {f.THROTTLE: 0.02, f.CONFLICT: 0.03, f.DYNAMODB_500: 0.02, f.COMMIT_THEN_500: 0.02}
EVENTS_RATES = {f.EVENTS_PARTIAL: 0.15, f.EVENTS_500: 0.1, f.EVENTS_THROTTLED: 0.1}


def _scenario(
    rig: Any, moto_url: str, messages: int, *, seed: int, crash_every: int, batch_size: int, tenants: int = 4
) -> None:
    # Given orders made from `messages` deliveries (repeats and invalid ones included) under DynamoDB faults,
    # in tables whose streams are on
    def stream_table() -> str:
        name = f"rel-ev-{uuid.uuid4().hex[:12]}"
        create_table(rig.dynamodb, name, stream=True)
        rig.tables.append(name)
        return name

    workload = build_workload(rig.carts, messages, seed=seed, tenants=tenants, new_table=stream_table)
    rig.proxy.faults = f.Faults(DYNAMODB_RATES, seed=seed)
    report = drain_by_table(workload, rig.configure, [rig.proxy.faults], seed=seed)
    assert report.left == []
    assert verify(rig.dynamodb, rig.sqs, rig.dead_letter_queue, workload).problems == []

    # And a bus whose rule delivers to a queue, reached through the proxy that refuses PutEvents requests and
    # entries at random
    bus, target = create_bus_with_queue_target(eventbridge(moto_url), rig.sqs, f"rel-ev-{uuid.uuid4().hex[:8]}")
    rig.configure(EVENT_BUS_NAME=bus, LOG_LEVEL="WARNING")
    forget_clients()
    rig.proxy.faults = f.Faults(EVENTS_RATES, seed=seed + 1)
    refused_before = rig.proxy.refused_entries
    invocations, crashes = 0, 0

    def publisher(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The real publisher; every `crash_every`-th invocation in a child process killed once EventBridge
        accepted its first PutEvents, before it could answer (so the stream position is not moved)."""
        nonlocal invocations, crashes
        invocations += 1
        if not crash_every or invocations % crash_every:
            return events.lambda_handler(event, context)
        rig.proxy.faults.enabled = False  # so the step it is killed at is the one chosen
        try:
            failures = run_in_child(
                event["Records"],
                proxy=rig.proxy,
                carts=rig.carts,
                step=f.EVENTS_PUBLISHED,
                handler="order_creator.events.lambda_handler",
            )
        finally:
            rig.proxy.faults.enabled = True
        if failures is None:
            crashes += 1
            raise RuntimeError("the publisher process was killed")  # the mapping retries the batch
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}

    # When each table's stream is read through the publisher until it is consumed, the faults switched off at
    # the end (as they pass in real life) so that the publisher converges
    streams = dynamodb_streams(moto_url)  # the stream read is the event source mapping's, not under test
    for table in dict.fromkeys(workload.tables.values()):
        worker = StreamWorker.for_table(rig.dynamodb, streams, table, publisher, batch_size=batch_size)
        worker.drain(idle_polls=2, timeout=120)
        rig.proxy.faults.enabled = False
        worker.drain(idle_polls=2, timeout=60)
        rig.proxy.faults.enabled = True

    # Then every order has an event, none names an order that does not exist, each agrees with its order;
    # what EventBridge accepted reached the target; and the crashes' republished events are counted
    published = [e for e in rig.proxy.published if e.get("EventBusName") == bus]
    verdict = verify_events(rig.dynamodb, workload, published)
    print(
        f"\norder events: {verdict.orders} orders, {verdict.events} events, {verdict.duplicates} duplicates, "
        f"{crashes} crashes, {invocations} publisher invocations, faults {dict(rig.proxy.faults.injected)}"
    )
    assert verdict.problems == []
    assert (verdict.without_event, verdict.without_order) == (0, 0)
    assert verdict.orders > 0
    assert sorted(e.order_id for e in delivered_events(rig.sqs, target)) == sorted(
        json.loads(e["Detail"])["orderId"] for e in published
    )
    assert set(rig.proxy.faults.injected) >= set(EVENTS_RATES)
    assert rig.proxy.refused_entries > refused_before  # partial failures were answered, entry by entry
    if crash_every:
        assert crashes > 0
        assert verdict.duplicates >= crashes  # each crash republished what it had published
    forget_clients()


def test_order_events_under_eventbridge_faults_and_publisher_crashes(rig, moto_url):
    _scenario(rig, moto_url, 150, seed=11, crash_every=3, batch_size=20)


@pytest.mark.soak
def test_order_events_soak(rig, moto_url):
    messages = int(os.environ.get("SOAK_EVENTS_MESSAGES", "3000"))
    # two tenants a table, as the orders soak: moto copies a whole table per transaction item
    _scenario(rig, moto_url, messages, seed=20260102, crash_every=4, batch_size=100, tenants=max(4, messages // 25))
