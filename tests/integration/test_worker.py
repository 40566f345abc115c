"""The SQS worker against a real moto server and a real local Cart API: it behaves like Lambda's event source
mapping (real event shape, deletes successes, leaves failures for the redrive policy) and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from order_creator.local import CartApiServer
from order_creator.queues import create_queue_with_dlq, enqueue, inspect_dead_letters
from order_creator.worker import DELETE_MARGIN_SECONDS, SqsWorker, Tally
from tests.factories import assert_gapless, cart, message, new_tenant, orders_of

ORDER_CREATOR = str(Path(sys.executable).parent / "order-creator")


@pytest.fixture
def cart_api(monkeypatch: pytest.MonkeyPatch, lambda_env: dict[str, str]) -> Any:
    """The local Cart API, threaded, as the handler's CART_LAMBDA_API_URL, with a short budget per cart."""
    server = CartApiServer()
    url = server.start()
    for name, value in {
        "CART_LAMBDA_API_URL": url,
        "CART_API_TIMEOUT_SECONDS": "0.3",
        "CART_API_MAX_RETRIES": "0",
    }.items():
        monkeypatch.setenv(name, value)
        lambda_env[name] = value
    yield server
    server.stop()


def new_queue(sqs: Any, *, visibility_timeout: int, max_receive_count: int) -> tuple[str, str]:
    return create_queue_with_dlq(
        sqs,
        f"orders-{uuid.uuid4().hex[:10]}",
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
    )


def run_until_drained(worker: SqsWorker, seconds: float = 30.0) -> list[Any]:
    """Run the worker until its queue is empty (stopped after `seconds` whatever happens); return its batches."""
    batches: list[Any] = []
    timer = threading.Timer(seconds, worker.stop)
    timer.start()
    try:
        worker.run(until_drained=True, on_batch=batches.append)
    finally:
        timer.cancel()
    assert not worker.stopping, "the queue did not drain in time"
    return batches


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_the_handler_gets_a_real_sqs_event_and_successes_are_deleted(cart_api, sqs, dynamodb, table_name):
    # Given three messages of a new tenant whose carts the Cart API serves
    tenant = new_tenant()
    queue_url, _ = new_queue(sqs, visibility_timeout=10, max_receive_count=3)
    for i in range(3):
        cart_api.put(cart(tenant, f"cart-{i}"))
    ids = enqueue(sqs, queue_url, [json.dumps(message(tenant, f"cart-{i}")) for i in range(2)])
    traced = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=json.dumps(message(tenant, "cart-2")),
        MessageAttributes={"traceId": {"DataType": "String", "StringValue": "trace-1"}},
    )["MessageId"]
    ids.append(traced)
    seen: list[tuple[dict[str, Any], int]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        from order_creator.handler import lambda_handler

        seen.append((event, context.get_remaining_time_in_millis()))
        return lambda_handler(event, context)

    # When the worker runs until the queue is empty
    batches = run_until_drained(SqsWorker(sqs, queue_url, handler=handler, wait_seconds=1))

    # Then the handler saw Lambda's record shape, with the time left of the visibility timeout
    records = [r for event, _ in seen for r in event["Records"]]
    assert sorted(r["messageId"] for r in records) == sorted(ids)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for r in records:
        assert r["eventSource"] == "aws:sqs"
        assert r["eventSourceARN"] == arn
        assert r["awsRegion"] == arn.split(":")[3]
        assert r["receiptHandle"]
        assert int(r["attributes"]["ApproximateReceiveCount"]) == 1
        assert int(r["attributes"]["SentTimestamp"]) > 0
    # message attributes in the event's camelCase shape
    by_id = {r["messageId"]: r for r in records}
    assert by_id[traced]["messageAttributes"] == {
        "traceId": {"dataType": "String", "stringValue": "trace-1", "stringListValues": [], "binaryListValues": []}
    }
    assert by_id[ids[0]]["messageAttributes"] == {}
    assert all(0 < remaining <= (10 - DELETE_MARGIN_SECONDS) * 1000 for _, remaining in seen)
    # And every message became an order and was deleted
    assert sorted(m for b in batches for m in b.deleted) == sorted(ids)
    assert len(orders_of(dynamodb, table_name, tenant)) == 3
    assert queue_counts(sqs, queue_url) == (0, 0)


def test_a_failing_message_comes_back_and_after_max_receive_count_lands_in_the_dead_letter_queue(
    cart_api, sqs, dynamodb, table_name
):
    # Given a queue that dead-letters after 2 receives, and a Cart API that is down (503)
    cart_api.available = False
    tenant = new_tenant()
    queue_url, dlq_url = new_queue(sqs, visibility_timeout=2, max_receive_count=2)
    body = json.dumps(message(tenant, "cart-1"))
    [message_id] = enqueue(sqs, queue_url, [body])

    # When the worker runs until the queue is empty
    batches = run_until_drained(SqsWorker(sqs, queue_url, wait_seconds=1))

    # Then the message was received twice and left to SQS both times (not deleted)
    assert [(b.received, b.left, b.deleted) for b in batches] == [([message_id], [message_id], [])] * 2
    assert cart_api.requests == 2
    # And the redrive policy moved it to the dead-letter queue, body byte for byte, with no order written
    letters = inspect_dead_letters(sqs, dlq_url)
    assert [(letter.message_id, letter.body) for letter in letters] == [(message_id, body)]
    assert orders_of(dynamodb, table_name, tenant) == []


def test_when_the_handler_raises_the_whole_batch_is_left(cart_api, sqs):
    # Given two messages and a handler that fails as a bad configuration would
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    ids = enqueue(sqs, queue_url, ["{}", "{}"])

    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("DYNAMODB_TABLE_NAME is missing")

    # When the worker processes one batch
    result = SqsWorker(sqs, queue_url, handler=broken, wait_seconds=1).poll_once()

    # Then nothing was deleted: both messages are in flight, to come back after the visibility timeout
    assert result is not None
    assert sorted(result.left) == sorted(ids)
    assert result.deleted == []
    assert "RuntimeError" in (result.error or "")
    assert queue_counts(sqs, queue_url) == (0, 2)


def test_sigterm_during_a_batch_finishes_it_and_loses_or_duplicates_nothing(
    cart_api, lambda_env, monkeypatch, sqs, dynamodb, table_name
):
    # Given 25 messages of one tenant and day, and a Cart API that takes a second per cart
    tenant = new_tenant()
    total = 25
    for i in range(total):
        cart_api.put(cart(tenant, f"cart-{i}"))
    cart_api.delay_seconds = 1.0
    queue_url, dlq_url = new_queue(sqs, visibility_timeout=30, max_receive_count=5)
    enqueue(sqs, queue_url, [json.dumps(message(tenant, f"cart-{i}")) for i in range(total)])
    env = {
        **os.environ,
        **lambda_env,
        "CART_API_TIMEOUT_SECONDS": "5",
        "LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    worker = subprocess.Popen(
        [ORDER_CREATOR, "worker", "--queue-url", queue_url, "--wait-seconds", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    # When SIGTERM arrives while the worker's first batch is fetching its carts
    deadline = time.monotonic() + 30
    while cart_api.requests == 0 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.02)
    assert cart_api.requests > 0, worker.communicate(timeout=5)
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)

    # Then it finished that batch (ten orders, deleted) and took no other: the rest is visible, none in flight
    assert worker.returncode == 0, err
    assert "SIGTERM" in err
    assert len(orders_of(dynamodb, table_name, tenant)) == 10
    assert queue_counts(sqs, queue_url) == (total - 10, 0)

    # When a worker drains the rest
    cart_api.delay_seconds = 0
    monkeypatch.setenv("CART_API_TIMEOUT_SECONDS", "5")
    run_until_drained(SqsWorker(sqs, queue_url, wait_seconds=1))

    # Then every message is exactly one order, numbered 1..25, and nothing was dead-lettered
    orders = orders_of(dynamodb, table_name, tenant)
    assert sorted(o["cartId"] for o in orders) == sorted(f"cart-{i}" for i in range(total))
    assert len(orders) == total
    assert_gapless(dynamodb, table_name, tenant)
    assert cart_api.requests == total  # and no message was worked on twice
    assert inspect_dead_letters(sqs, dlq_url) == []


def test_sqs_failures_do_not_end_the_worker_only_stop_does(sqs, caplog):
    # Given a worker whose queue disappears after it started
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    worker = SqsWorker(sqs, queue_url, wait_seconds=0)
    sqs.delete_queue(QueueUrl=queue_url)

    # When it runs for a moment and is then stopped
    timer = threading.Timer(1.5, worker.stop)
    timer.start()
    started = time.monotonic()
    totals = worker.run()

    # Then it kept polling with a back-off, said why, and ended when asked, soon after
    assert totals.batches == 0
    assert time.monotonic() - started < 5
    assert any("SQS call failed" in r.getMessage() for r in caplog.records)


def test_until_drained_on_an_empty_queue_ends_at_once_not_after_a_long_poll(sqs):
    # Given an empty queue and a worker with the longest long poll
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    worker = SqsWorker(sqs, queue_url, wait_seconds=20)

    # When it runs until the queue is drained
    started = time.monotonic()
    totals = worker.run(until_drained=True)

    # Then it ends at once, and says why
    assert time.monotonic() - started < 5
    assert (totals.batches, totals.ended) == (0, "queue empty")


def test_a_stop_during_the_last_batch_is_the_reason_given_not_an_empty_queue(cart_api, sqs):
    # Given one message, and a handler during whose batch the worker is asked to stop (as by a first Ctrl-C)
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    enqueue(sqs, queue_url, ["{}"])
    worker: SqsWorker

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        worker.stop("SIGINT")
        return {"batchItemFailures": []}

    worker = SqsWorker(sqs, queue_url, handler=handler, wait_seconds=1)

    # When it runs until the queue is drained
    totals = worker.run(until_drained=True)

    # Then the batch was finished and the run ended for the reason given; the handler said nothing of outcomes
    assert (totals.batches, totals.ended) == (1, "SIGINT")
    assert totals.tally.describe() == "1 message: 1 done, 0 left to SQS"
    assert queue_counts(sqs, queue_url) == (0, 0)


def test_each_batch_counts_created_duplicates_and_dead_letters(cart_api, monkeypatch, sqs):
    # Given an order's message, its repeat, a body that is not JSON and a message whose cart does not exist
    tenant = new_tenant()
    cart_api.put(cart(tenant, "cart-1"))
    queue_url, dlq_url = new_queue(sqs, visibility_timeout=5, max_receive_count=3)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    body = json.dumps(message(tenant, "cart-1"))
    enqueue(sqs, queue_url, [body, body, "not json", json.dumps(message(tenant, "no-such-cart"))])

    # When the worker processes them
    results = run_until_drained(SqsWorker(sqs, queue_url, wait_seconds=1))
    tally = Tally()
    for result in results:
        tally.add(result.tally())

    # Then the counts say what became of each: one created, one duplicate, two dead-lettered, none left
    assert (tally.received, tally.created, tally.duplicates, tally.dead_lettered, tally.left) == (4, 1, 1, 2, 0)
    assert len(inspect_dead_letters(sqs, dlq_url)) == 2
