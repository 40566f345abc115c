"""The SQS worker keeps the rest of Lambda's event source mapping semantics: a response naming a message that
is not in the batch fails the whole batch, and binary message attributes reach the handler base64-encoded."""

from __future__ import annotations

import base64
from typing import Any

from order_creator.queues import enqueue
from order_creator.worker import SqsWorker
from tests.integration.test_worker import new_queue, queue_counts


def test_a_failure_naming_a_message_outside_the_batch_leaves_the_whole_batch(sqs):
    # Given two messages and a handler that reports a failure for an id SQS never sent
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    ids = enqueue(sqs, queue_url, ["{}", "{}"])

    def confused(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}

    # When the worker processes one batch
    result = SqsWorker(sqs, queue_url, handler=confused, wait_seconds=1).poll_once()

    # Then, as Lambda does, nothing is deleted: both messages stay in flight and come back
    assert result is not None
    assert sorted(result.left) == sorted(ids)
    assert result.deleted == []
    assert result.error == "batchItemFailures named a message outside the batch"
    assert queue_counts(sqs, queue_url) == (0, 2)


def test_binary_message_attributes_reach_the_handler_base64_encoded(sqs):
    # Given a message with a binary attribute, as a producer may send
    queue_url, _ = new_queue(sqs, visibility_timeout=30, max_receive_count=3)
    payload = bytes(range(8))
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody="{}",
        MessageAttributes={"signature": {"DataType": "Binary", "BinaryValue": payload}},
    )
    seen: list[dict[str, Any]] = []

    def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(event["Records"])
        return {"batchItemFailures": []}

    # When the worker processes it
    result = SqsWorker(sqs, queue_url, handler=recording, wait_seconds=1).poll_once()

    # Then the handler gets Lambda's shape: binaryValue as base64 text; and the message is deleted
    assert result is not None
    [record] = seen
    assert record["messageAttributes"]["signature"] == {
        "dataType": "Binary",
        "binaryValue": base64.b64encode(payload).decode("ascii"),
        "stringListValues": [],
        "binaryListValues": [],
    }
    assert queue_counts(sqs, queue_url) == (0, 0)
