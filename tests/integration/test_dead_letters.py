"""DeadLetterQueue against the moto server: the SQS client is made on the first letter, not before."""

from __future__ import annotations

from typing import Any

import boto3

from order_creator.dead_letters import DeadLetterQueue
from order_creator.ports import DeadLetter


def test_the_sqs_client_is_made_on_the_first_letter_and_then_reused(moto_url: str, sqs: Any, dead_letter_queue: str):
    # Given a dead-letter queue whose client is made by a factory that counts its calls
    made: list[Any] = []

    def client() -> Any:
        made.append(boto3.client("sqs", endpoint_url=moto_url))
        return made[-1]

    queue = DeadLetterQueue(dead_letter_queue, client)

    # Then building it makes no client (a cold start without dead letters pays for none)
    assert made == []

    # When two batches send a letter each
    assert queue.send([DeadLetter("m-1", '{"a": 1}', "InvalidMessage", "bad body")], time_left=lambda: 30.0) == set()
    assert queue.send([DeadLetter("m-2", '{"a": 2}', "CartNotFound", "no cart")], time_left=lambda: 30.0) == set()

    # Then one client was made, and both letters are in the queue with their reasons
    assert len(made) == 1
    received = sqs.receive_message(QueueUrl=dead_letter_queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    reasons = {m["MessageAttributes"]["sourceMessageId"]["StringValue"]: m["Body"] for m in received["Messages"]}
    assert reasons == {"m-1": '{"a": 1}', "m-2": '{"a": 2}'}
