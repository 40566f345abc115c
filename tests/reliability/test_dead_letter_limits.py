"""Dead letters always fit (contract §5, issue 21 item 4), through the real code on the moto server behind the
wire proxy, which refuses a SendMessageBatch as SQS does: by the bytes of bodies and attributes (moto counts
characters of bodies only).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_creator.dead_letters import DeadLetterQueue
from order_creator.ports import DeadLetter
from tests.factories import invoke, record
from tests.reliability.faults import SQS_BATCH_LIMIT, SQS_MESSAGE_LIMIT, WireProxy
from tests.reliability.scenario import read_dead_letters

LIMIT = SQS_MESSAGE_LIMIT
EURO = "\N{EURO SIGN}"  # three bytes in UTF-8


def _not_json(size: int, filler: str = "x") -> str:
    """A message body of exactly `size` UTF-8 bytes that is not JSON (an invalid message: permanent)."""
    head = "not json "
    body = head + filler * ((size - len(head)) // len(filler.encode()))
    return body + "x" * (size - len(body.encode()))


def test_big_bad_messages_and_a_small_one_are_all_dead_lettered(rig):
    # Given one batch of two invalid bodies of 600 KB and one small invalid one (issue 21, item 4: all three
    # were refused, BatchRequestTooLong, on every attempt)
    records = [record(_not_json(600_000)), record(_not_json(600_000, EURO)), record("not json either")]

    # When the handler runs the batch
    failures = invoke(*records)

    # Then all three are dead-lettered, bodies byte for byte, each with its reason, in requests within SQS's limits
    assert failures == []
    letters = {letter.source_message_id: letter for letter in read_dead_letters(rig.sqs, rig.dead_letter_queue)}
    assert {m: letters[m].body for m in letters} == {r["messageId"]: r["body"] for r in records}
    assert {letter.error_type for letter in letters.values()} == {"InvalidMessage"}
    assert all(letter.error_message for letter in letters.values())
    assert all(sum(sizes) <= SQS_BATCH_LIMIT and len(sizes) <= 10 for sizes in rig.proxy.message_batches)


@pytest.mark.parametrize(
    ("size", "attributes"),
    [
        (LIMIT, set()),
        (LIMIT - 1, set()),
        (LIMIT - 40, {"errorType"}),
        (LIMIT - 70, {"sourceMessageId"}),
        (LIMIT - 100, {"sourceMessageId", "errorType"}),
        (LIMIT - 200, {"sourceMessageId", "errorType", "errorMessage"}),
    ],
)
def test_a_body_at_or_near_the_message_limit_is_dead_lettered_byte_for_byte(rig, size, attributes):
    # Given an invalid body that fitted SQS's message limit, with no room or little left for our attributes
    sent = record(_not_json(size, EURO))

    # When the handler runs it
    failures = invoke(sent)

    # Then it is dead-lettered, its body whole, with the attributes that still fit (each whole, the id first,
    # then the type, then the reason shortened), in a message within SQS's limit
    assert failures == []
    (letter,) = read_dead_letters(rig.sqs, rig.dead_letter_queue)
    assert letter.body == sent["body"]
    ((message_bytes,),) = rig.proxy.message_batches
    assert message_bytes <= LIMIT
    present = {"sourceMessageId": letter.source_message_id, "errorType": letter.error_type}
    present["errorMessage"] = letter.error_message
    assert {name for name, value in present.items() if value} == attributes
    assert letter.source_message_id in ("", sent["messageId"])
    assert letter.error_type in ("", "InvalidMessage")


def test_errormessage_is_shortened_by_bytes_never_inside_a_character(moto_url, sqs, wire_proxy: WireProxy):
    # Given a letter whose body leaves 200 bytes and whose reason is 300 bytes of three-byte characters
    queue = _queue(sqs)
    letter = DeadLetter("m-1", _not_json(LIMIT - 200), "InvalidMessage", EURO * 100)

    # When it is sent
    assert _dead_letters(queue, wire_proxy).send([letter], time_left=lambda: 30.0) == set()

    # Then its reason is the longest run of whole characters that fits
    ((copy,),) = [read_dead_letters(sqs, queue)]
    names_and_values = ("sourceMessageId", "m-1", "errorType", "InvalidMessage", "errorMessage")
    fixed = sum(len(part) for part in names_and_values) + 3 * len("String")
    assert copy.error_message == EURO * ((200 - fixed) // 3)
    assert copy.body == letter.body


def test_a_send_is_waited_for_only_as_long_as_time_is_left_and_none_started_once_it_is_spent(
    moto_url, sqs, wire_proxy, monkeypatch
):
    # Given twelve letters (two requests), and SQS answering each request only after 3 s
    queue = _queue(sqs)
    letters = [DeadLetter(f"m-{i}", f"body {i}", "InvalidMessage", "bad body") for i in range(12)]
    dead_letters = DeadLetterQueue(queue, _client(wire_proxy))
    monkeypatch.setattr(wire_proxy, "delay", 3.0)
    deadline = time.monotonic() + 1.0

    # When they are sent with 1 s left
    started = time.monotonic()
    unsent = dead_letters.send(letters, time_left=lambda: deadline - time.monotonic())
    waited = time.monotonic() - started

    # Then the send gave up on the first request when the time was spent, started no second one, and both
    # requests' letters come back unsent (they stay in the source queue)
    assert unsent == {f"m-{i}" for i in range(12)}
    assert waited < 2.0
    assert wire_proxy.operations["SendMessageBatch"] == 1

    # And SQS still takes the request it was holding (dead letters are at least once, never lost): waited for
    # here, so that it lands in this test and not in the next one's counts
    landed: list[Any] = []
    until = time.monotonic() + 30.0
    while len(landed) < 10 and time.monotonic() < until:
        landed += read_dead_letters(sqs, queue)
    assert sorted(letter.source_message_id for letter in landed) == sorted(f"m-{i}" for i in range(10))


def test_with_time_enough_every_letter_is_sent(moto_url, sqs, wire_proxy):
    # Given twelve letters and 30 s left
    queue = _queue(sqs)
    letters = [DeadLetter(f"m-{i}", f"body {i}", "InvalidMessage", "bad body") for i in range(12)]
    deadline = time.monotonic() + 30.0

    # When they are sent
    unsent = _dead_letters(queue, wire_proxy).send(letters, time_left=lambda: deadline - time.monotonic())

    # Then all were sent, in two requests
    assert unsent == set()
    assert len(read_dead_letters(sqs, queue)) == 12
    assert wire_proxy.operations["SendMessageBatch"] == 2


_bodies = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=50),
    st.builds(
        _not_json,
        st.sampled_from([LIMIT, LIMIT - 1, LIMIT - 57, LIMIT - 90, 600_000, 400_000, 100_000]),
        st.sampled_from(["x", EURO, "\N{GRINNING FACE}"]),
    ),
)
_letters = st.lists(
    st.builds(
        DeadLetter,
        st.uuids().map(str),
        _bodies,
        st.sampled_from(["InvalidMessage", "CartNotFound", "OrderTooLarge"]),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), max_size=1500),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda letter: letter.message_id,
)


@pytest.mark.timeout(600)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(letters=_letters)
def test_every_letter_is_sent_in_requests_within_sqs_limits(moto_url, sqs, wire_proxy, letters):
    # Given any letters whose bodies fit SQS's message limit (as every message that arrived from SQS does)
    queue = _queue(sqs)
    try:
        # When they are sent
        unsent = _dead_letters(queue, wire_proxy).send(letters, time_left=lambda: 30.0)

        # Then SQS refused none (each request and message within its limits, by bytes), and each is in the
        # queue once, body byte for byte
        assert unsent == set()
        assert all(len(sizes) <= 10 and sum(sizes) <= SQS_BATCH_LIMIT for sizes in wire_proxy.message_batches)
        assert sum(len(sizes) for sizes in wire_proxy.message_batches) == len(letters)
        copies = read_dead_letters(sqs, queue)
        assert sorted(c.body for c in copies) == sorted(letter.body for letter in letters)
    finally:
        sqs.delete_queue(QueueUrl=queue)


def _queue(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName=f"dlq-limits-{uuid.uuid4().hex[:10]}")["QueueUrl"])


def _client(proxy: WireProxy) -> Any:
    """An SQS client with the handler's settings, reaching moto through the proxy (its counts cleared)."""
    import boto3

    from order_creator import clients

    proxy.reset()
    return boto3.client("sqs", endpoint_url=proxy.url, config=clients._config())


def _dead_letters(queue: str, proxy: WireProxy) -> DeadLetterQueue:
    return DeadLetterQueue(queue, _client(proxy))
