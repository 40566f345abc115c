"""Order events over real servers (contract §7): the orders handler writes to a stream-enabled table in the moto
server, the stream worker feeds the real publisher, PutEvents goes through the wire proxy (which records every
entry EventBridge accepted, exactly as sent, and injects faults) to moto's EventBridge, whose rule delivers to
an SQS queue. Nothing in boto3 is patched.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from order_creator import cli, clients, events, publishing
from order_creator.cli.events import replay
from order_creator.deadlines import call_worst_case_seconds
from order_creator.local.stream import StreamWorker, dynamodb_streams
from order_creator.publishing import EventPublisher
from order_creator.queues import create_bus_with_queue_target, delivered_events
from order_creator.store.table import Table
from order_creator.tooling import create_table
from tests.factories import (
    ORDER_CREATED_FIELDS,
    cart,
    forget_clients,
    invoke,
    message,
    new_tenant,
    orders_of,
    record,
    serve_cart,
)
from tests.reliability import faults as f
from tests.reliability.faults import WireProxy


class Pipeline:
    """A stream-enabled table, a bus whose rule delivers to a queue, and the publisher behind the proxy."""

    def __init__(self, dynamodb: Any, sqs: Any, proxy: WireProxy, table: str, bus: str, target: str) -> None:
        self.dynamodb, self.sqs, self.proxy = dynamodb, sqs, proxy
        self.table, self.bus, self.target = table, bus, target
        self.worker = StreamWorker.for_table(dynamodb, dynamodb_streams(), table, events.lambda_handler)

    def publish(self) -> Any:
        """Read the stream to its end through the publisher."""
        return self.worker.drain(idle_polls=1, timeout=60)

    def sent(self) -> list[dict[str, Any]]:
        """The entries EventBridge accepted on this bus, as the publisher sent them."""
        return [e for e in self.proxy.published if e.get("EventBusName") == self.bus]

    def sent_details(self) -> list[dict[str, Any]]:
        return [json.loads(e["Detail"], parse_float=Decimal) for e in self.sent()]

    def delivered(self) -> list[Any]:
        return delivered_events(self.sqs, self.target)


@pytest.fixture
def pipeline(
    monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str], dynamodb: Any, sqs: Any, wire_proxy: WireProxy
) -> Iterator[Pipeline]:
    table = f"events-{uuid.uuid4().hex[:10]}"
    create_table(dynamodb, table, stream=True)
    bus, target = create_bus_with_queue_target(publishing.eventbridge(lambda_env["AWS_ENDPOINT_URL"]), sqs, table)
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", table)
    monkeypatch.setenv("EVENT_BUS_NAME", bus)
    monkeypatch.setenv("AWS_ENDPOINT_URL", wire_proxy.url)
    wire_proxy.reset()
    forget_clients()
    yield Pipeline(dynamodb, sqs, wire_proxy, table, bus, target)
    wire_proxy.reset()
    forget_clients()
    dynamodb.delete_table(TableName=table)


def _orders(httpserver: Any, tenant: str, count: int, prices: tuple[str, ...] = ("149.99",)) -> list[dict[str, Any]]:
    bodies = []
    for i in range(count):
        document = cart(tenant, f"cart-{i}", prices=prices, tax="0.01")
        serve_cart(httpserver, document)
        bodies.append(message(tenant, f"cart-{i}"))
    return bodies


def test_each_created_order_gets_one_event_with_the_contracts_fields_and_exact_amounts(pipeline, httpserver):
    # Given orders created through the real handler, one with an amount float cannot hold, a duplicate,
    # a conflict (same order, another cart) and a cart the Cart API does not have
    tenant = new_tenant("ev")
    bodies = _orders(httpserver, tenant, 3)
    exact = cart(tenant, "cart-exact", prices=("1234567890.12345678",), tax="0.00000001")
    serve_cart(httpserver, exact)
    bodies.append(message(tenant, "cart-exact"))
    duplicate = record(bodies[0])
    conflict = record({**bodies[1], "cartId": "cart-2"})
    missing = record(message(tenant, "cart-gone"))
    assert invoke(*(record(b) for b in bodies)) == []
    assert sorted(invoke(duplicate, conflict, missing)) == sorted([conflict["messageId"], missing["messageId"]])

    # When the stream is read through the publisher
    totals = pipeline.publish()

    # Then every created order has exactly one event, with the contract's fields and nothing personal
    stored = {o["id"]: o for o in orders_of(pipeline.dynamodb, pipeline.table, tenant)}
    details = pipeline.sent_details()
    assert sorted(d["orderId"] for d in details) == sorted(stored)
    for detail in details:
        order = stored[detail["orderId"]]
        assert set(detail) == ORDER_CREATED_FIELDS
        assert detail["version"] == 1
        assert (detail["tenantId"], detail["orderNumber"], detail["cartId"]) == (
            tenant,
            order["orderNumber"],
            order["cartId"],
        )
        assert (detail["subtotal"], detail["tax"], detail["total"]) == (order["subtotal"], order["tax"], order["total"])
        assert detail["itemCount"] == len(order["items"])
        assert (detail["dateCreated"], detail["sourceMessageId"]) == (order["dateCreated"], order["sourceMessageId"])
    # the exact amount, as sent (moto's delivery re-reads Detail through float, so it is checked on the wire)
    raw = next(e["Detail"] for e in pipeline.sent() if "cart-exact" in e["Detail"])
    assert '"total": 1234567890.12345679' in raw
    assert all("jane@example.com" not in e["Detail"] and "Long St" not in e["Detail"] for e in pipeline.sent())
    assert {(e["Source"], e["DetailType"]) for e in pipeline.sent()} == {("order-creator", "OrderCreated")}
    # the rule delivered each to the queue; one PutEvents request for the four; counters never invoked it
    assert Counter(e.order_id for e in pipeline.delivered()) == Counter(stored.keys())
    assert pipeline.proxy.operations["PutEvents"] == 1
    assert totals.records_delivered == 4
    assert totals.errors == []


@pytest.mark.parametrize("fault", [f.EVENTS_PARTIAL, f.EVENTS_500, f.EVENTS_THROTTLED])
def test_putevents_failures_lose_nothing(pipeline, httpserver, fault):
    # Given twelve orders, and an EventBridge that refuses the first requests (whole, or every second entry)
    tenant = new_tenant("evf")
    assert invoke(*(record(b) for b in _orders(httpserver, tenant, 12))) == []
    pipeline.proxy.faults = f.Faults(burst={fault: 4})

    # When the stream is read through the publisher
    totals = pipeline.publish()

    # Then every order has its event at the target, and the failures were retried, not dropped
    stored = {o["id"] for o in orders_of(pipeline.dynamodb, pipeline.table, tenant)}
    assert {d["orderId"] for d in pipeline.sent_details()} == stored
    assert set(Counter(e.order_id for e in pipeline.delivered())) == stored
    assert pipeline.proxy.faults.injected[fault] == 4
    assert pipeline.proxy.operations["PutEvents"] > 2
    assert totals.records_delivered == 12


class _FailAfter(f.Faults):
    """Every PutEvents request after the first `passes` answers 500."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.passes = passes

    def choose(self, kinds: Any) -> str | None:
        if f.EVENTS_500 not in kinds:
            return None
        with self._lock:
            if self.passes:
                self.passes -= 1
                return None
            self.injected[f.EVENTS_500] += 1
        return f.EVENTS_500


def test_a_failure_past_the_retries_names_the_first_unpublished_record(pipeline, httpserver):
    # Given fifteen orders on the stream (and their counters' records)
    tenant = new_tenant("evr")
    assert invoke(*(record(b) for b in _orders(httpserver, tenant, 10))) == []
    assert invoke(*(record(b) for b in _orders(httpserver, tenant, 15)[10:])) == []
    streams = dynamodb_streams()
    arn = pipeline.dynamodb.describe_table(TableName=pipeline.table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    raw = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    orders = [r for r in raw if r["dynamodb"]["NewImage"].get("entityType", {}).get("S") == "ORDER"]
    assert len(orders) == 15

    # When the publisher gets the whole batch and EventBridge takes the first request, then answers 500
    pipeline.proxy.faults = _FailAfter(passes=1)
    response = events.lambda_handler({"Records": raw}, _Context())

    # Then the first ten are published, and the response names the eleventh order's record
    assert response == {"batchItemFailures": [{"itemIdentifier": orders[10]["dynamodb"]["SequenceNumber"]}]}
    assert [d["orderId"] for d in pipeline.sent_details()] == [
        o["dynamodb"]["NewImage"]["id"]["S"] for o in orders[:10]
    ]
    # one request that passed, then the second chunk's request and its retries (each after the SDK's own)
    assert pipeline.proxy.faults.injected[f.EVENTS_500] == publishing.MAX_ATTEMPTS * 3

    # When Lambda retries from there, with EventBridge well again
    pipeline.proxy.faults = f.Faults()
    retried = [r for r in raw if int(r["dynamodb"]["SequenceNumber"]) >= int(orders[10]["dynamodb"]["SequenceNumber"])]
    assert events.lambda_handler({"Records": retried}, _Context()) == {"batchItemFailures": []}

    # Then every order has exactly one event
    assert Counter(d["orderId"] for d in pipeline.sent_details()) == Counter(
        o["dynamodb"]["NewImage"]["id"]["S"] for o in orders
    )


def test_a_replay_publishes_a_tenants_events_for_a_time_range_from_the_table(pipeline, httpserver):
    # Given orders of two days, their events already published once
    tenant = new_tenant("evp")
    day_one = [message(tenant, f"cart-{i}", dateCreated="2025-12-30T10:00:00+02:00") for i in range(3)]
    day_two = [message(tenant, f"cart-{i}", dateCreated="2025-12-31T10:00:00+02:00") for i in range(3, 5)]
    for i in range(5):
        serve_cart(httpserver, cart(tenant, f"cart-{i}"))
    assert invoke(*(record(b) for b in day_one + day_two)) == []
    pipeline.publish()
    before = len(pipeline.sent())

    # When the second day is replayed
    report = replay(
        Table(pipeline.table, clients.dynamodb()),
        EventPublisher(publishing.eventbridge(), pipeline.bus),
        tenant,
        created_from=date(2025, 12, 31),
        created_to=date(2025, 12, 31),
    )

    # Then exactly that day's orders are published again (duplicates for the consumer to drop by orderId)
    assert (report.orders, report.published, report.requests) == (2, 2, 1)
    again = [json.loads(e["Detail"])["orderId"] for e in pipeline.sent()[before:]]
    assert sorted(again) == sorted(b["orderId"] for b in day_two)
    assert Counter(e.order_id for e in pipeline.delivered()) == Counter(
        [b["orderId"] for b in day_one] + [b["orderId"] for b in day_two] * 2
    )


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_the_events_command_shows_the_target_and_replays_with_one_line_errors(
    pipeline, httpserver, capsys, monkeypatch
):
    # Given two orders whose events reached the target
    tenant = new_tenant("evc")
    bodies = _orders(httpserver, tenant, 2)
    assert invoke(*(record(b) for b in bodies)) == []
    pipeline.publish()
    ids = sorted(b["orderId"] for b in bodies)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main([*args])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    # When an operator looks at the target
    code, out, err = run("events", "show", "--queue-url", pipeline.target, "--json")

    # Then each event's detail is a line, and nothing was deleted
    assert code == 0, err
    assert sorted(json.loads(line)["orderId"] for line in out.splitlines()) == ids
    assert "2 event(s) for 2 order(s)" in err
    assert len(pipeline.delivered()) == 2

    # When the tenant's events are replayed from the table
    code, out, err = run(
        "events", "replay", "--tenant", tenant, "--from", "2025-12-30", "--bus", pipeline.bus, "--table", pipeline.table
    )

    # Then both are published again
    assert code == 0, err
    assert f"replayed 2 event(s) of 2 order(s) of tenant {tenant}" in err
    assert sorted(e.order_id for e in pipeline.delivered()) == sorted(ids * 2)

    # When the bus is missing, or the range is not a date: one line, exit code 2
    monkeypatch.delenv("EVENT_BUS_NAME")
    code, out, err = run("events", "replay", "--tenant", tenant, "--from", "2025-12-30", "--table", pipeline.table)
    assert (code, err.strip()) == (2, "order-creator: error: no event bus: pass --bus NAME or set EVENT_BUS_NAME")
    code, out, err = run("events", "replay", "--tenant", tenant, "--from", "yesterday", "--bus", "b")
    assert code == 2
    assert len(err.strip().splitlines()) == 1


# --- issue 21, item 9: odd PutEvents answers, and the deadline ------------------------------------------


@pytest.mark.parametrize(
    ("answer", "unconfirmed"),
    [
        ({"FailedEntryCount": 3, "Entries": [{}, {}, {}]}, 3),  # the answer: counted all published
        ({"FailedEntryCount": 0, "Entries": [{}, {}, {}]}, 3),
        ({"FailedEntryCount": 0, "Entries": [None, None, None]}, 3),  # raised AttributeError
        ({"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}, None, {"EventId": ""}]}, 2),
        ({"FailedEntryCount": 0, "Entries": None}, 3),
        ({"FailedEntryCount": 0, "Entries": []}, 3),
        ({"FailedEntryCount": 0}, 3),
        ({"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}, 2),  # fewer entries than sent
        ({"FailedEntryCount": 0, "Entries": [{"EventId": "e-1", "ErrorCode": "InternalFailure"}, {}, {}]}, 3),
    ],
)
def test_an_entry_without_an_event_id_is_not_published_whatever_the_answers_shape(
    pipeline, httpserver, answer, unconfirmed
):
    # Given three orders on the stream, and EventBridge giving this answer to the first PutEvents (publishing nothing)
    tenant = new_tenant("evs")
    assert invoke(*(record(b) for b in _orders(httpserver, tenant, 3))) == []
    pipeline.proxy.crafted_put_events = [answer]

    # When the stream is read through the publisher
    totals = pipeline.publish()

    # Then every entry the answer did not confirm with an EventId was sent again, in a second request, and
    # published; no invocation failed
    stored = {o["id"] for o in orders_of(pipeline.dynamodb, pipeline.table, tenant)}
    assert pipeline.proxy.operations["PutEvents"] == 2
    again = [d["orderId"] for d in pipeline.sent_details()]
    assert len(again) == unconfirmed
    assert set(again) <= stored
    assert totals.records_delivered == 3
    assert totals.errors == []


class _Deadline:
    """A Lambda context whose remaining time counts down from `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@pytest.mark.timeout(120)
def test_no_putevents_is_started_that_could_end_past_the_deadline_and_the_handler_answers_in_time(pipeline, httpserver):
    # Given 25 orders on the stream (three PutEvents requests), and EventBridge answering each request 2 s late
    tenant = new_tenant("evd")
    bodies = _orders(httpserver, tenant, 25)
    for start in range(0, 25, 10):
        assert invoke(*(record(b) for b in bodies[start : start + 10])) == []
    raw = _stream_records(pipeline)
    orders = [r for r in raw if r["dynamodb"]["NewImage"].get("entityType", {}).get("S") == "ORDER"]
    assert len(orders) == 25
    worst = call_worst_case_seconds(publishing.eventbridge())
    delay = 2.0
    # time for two requests to start (1 s to spare at each check), not a third
    seconds = worst + publishing.ANSWER_MARGIN_SECONDS + delay + 1.0

    # When the publisher gets the batch with that much time left
    pipeline.proxy.delay = delay
    try:
        started = time.monotonic()
        response = events.lambda_handler({"Records": raw}, _Deadline(seconds))
        elapsed = time.monotonic() - started
    finally:
        pipeline.proxy.delay = 0.0

    # Then the first twenty are published; the third request was never started (its worst case would have run
    # past the deadline), so the answer names the 21st order, and it came before the deadline
    assert pipeline.proxy.operations["PutEvents"] == 2
    assert response == {"batchItemFailures": [{"itemIdentifier": orders[20]["dynamodb"]["SequenceNumber"]}]}
    assert [d["orderId"] for d in pipeline.sent_details()] == [
        o["dynamodb"]["NewImage"]["id"]["S"] for o in orders[:20]
    ]
    assert elapsed < seconds - publishing.ANSWER_MARGIN_SECONDS


def _stream_records(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every record of the pipeline table's stream (one shard), from its start."""
    streams = dynamodb_streams()
    arn = pipeline.dynamodb.describe_table(TableName=pipeline.table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    return records
