"""The worker outside Lambda keeps the handler's deadline as Lambda would (issue 21, item 8): a batch's time starts
when its messages are received, not when the long poll began; and it refuses a table of another schema at start."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import Any

from order_creator.local import CartApiServer
from order_creator.queues import enqueue
from order_creator.worker import SqsWorker
from tests.factories import assert_gapless, cart, message, new_tenant, orders_of
from tests.integration.test_worker import ORDER_CREATOR, new_queue, queue_counts


def test_an_idle_worker_creates_a_message_that_arrives_during_its_long_poll(
    lambda_env, monkeypatch, sqs, dynamodb, table_name
):
    # Given the README's route: a queue whose visibility timeout is 5 s, a Cart API budget of 1 s x 2 attempts
    # (a batch needs 3 s), and a worker with the default 20 s long poll
    server = CartApiServer()
    monkeypatch.setenv("CART_LAMBDA_API_URL", server.start())
    monkeypatch.setenv("CART_API_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("CART_API_MAX_RETRIES", "1")
    try:
        tenant = new_tenant("idle")
        server.put(cart(tenant, "cart-1"))
        queue_url, dlq_url = new_queue(sqs, visibility_timeout=5, max_receive_count=3)
        worker = SqsWorker(sqs, queue_url, wait_seconds=20)
        # a message that becomes visible 3 s into the poll, as one sent then would (the single-threaded emulator
        # cannot take a send while it holds the poll: the delay is the send's, made beforehand)
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message(tenant, "cart-1")), DelaySeconds=3)

        # When the idle worker polls
        started = time.monotonic()
        result = worker.poll_once()

        # Then it received the message during the poll, and made it an order (deleted, nothing left to SQS)
        assert result is not None
        assert time.monotonic() - started > 2.5
        assert (len(result.deleted), result.left) == (1, [])
        assert result.outcomes == {result.deleted[0]: "created"}
        assert len(orders_of(dynamodb, table_name, tenant)) == 1
        assert_gapless(dynamodb, table_name, tenant)
        assert queue_counts(sqs, queue_url) == (0, 0)
        assert queue_counts(sqs, dlq_url) == (0, 0)
    finally:
        server.stop()


def test_the_worker_refuses_a_table_of_another_schema_before_any_message_moves(lambda_env, sqs, dynamodb):
    # Given a table that exists but was not created with this project's schema, and a queue holding a message
    other = f"other-{uuid.uuid4().hex[:10]}"
    dynamodb.create_table(
        TableName=other,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    enqueue(sqs, queue_url, [json.dumps(message(new_tenant(), "cart-1"))])
    env: dict[str, Any] = {**os.environ, **lambda_env, "DYNAMODB_TABLE_NAME": other}

    # When the worker is started on it
    done = subprocess.run(
        [ORDER_CREATOR, "worker", "--queue-url", queue_url, "--wait-seconds", "1", "--until-empty"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it refuses, naming what the table lacks, and the message was never received
    assert done.returncode == 2, done.stderr
    assert f"table {other} has no OrdersByDateIndex, OrderByIdIndex, OrdersByCustomerIndex" in done.stderr
    assert "order-creator table create" in done.stderr
    assert queue_counts(sqs, queue_url) == (1, 0)
