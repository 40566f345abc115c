"""Every stage contains its faults, and nothing of one invocation runs in the next (issue 21, items 5 and 6), through
the real handler: a store answer the adapter cannot read is its records' transient outcome, never an exception out
of the handler; fetches a batch stopped waiting for, and had not started, are never made.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from order_creator.local.loopback import reply
from tests.factories import (
    assert_gapless,
    cart,
    cart_json,
    forget_clients,
    invoke,
    message,
    new_tenant,
    orders_of,
    record,
)
from tests.reliability.faults import CartReply, WireProxy
from tests.reliability.scenario import read_dead_letters

AWS_JSON = [("Content-Type", "application/x-amz-json-1.0")]


class GarblingProxy(WireProxy):
    """The fault proxy, answering the operations in `garble` with a body of the service's shape that the adapter
    does not expect (what a bug of ours, or a change of theirs, would meet)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.garble: dict[str, tuple[int, bytes]] = {}

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        operation = (request.headers.get("X-Amz-Target") or "").partition(".")[2]
        answer = self.garble.get(operation)
        if answer is None:
            super().handle(request)
            return
        request.rfile.read(int(request.headers.get("Content-Length") or 0))
        reply(request, *answer, AWS_JSON)


@pytest.fixture
def garbling(rig, moto_url) -> Iterator[GarblingProxy]:
    """The rig's handler, reaching the emulator through a `GarblingProxy`."""
    proxy = GarblingProxy(moto_url)
    proxy.start()
    rig.configure(AWS_ENDPOINT_URL=proxy.url)
    forget_clients()
    yield proxy
    proxy.stop()
    forget_clients()


def _served(rig, tenant, count):
    records = []
    for i in range(count):
        rig.carts.put(tenant, f"cart-{i}", CartReply(cart_json(cart(tenant, f"cart-{i}"))))
        records.append(record(message(tenant, f"cart-{i}")))
    return records


def test_a_store_read_the_adapter_cannot_read_is_retried_not_raised(rig, garbling):
    # Given a batch, and a store whose BatchGetItem answer lacks the keys of the item it returns
    tenant = new_tenant("contain")
    records = _served(rig, tenant, 3)
    garbling.garble["BatchGetItem"] = (200, json.dumps({"Responses": {rig.table: [{"SK": {"S": "ORDER#x"}}]}}).encode())

    # When the handler runs, Then it answers: every record transient, nothing written or dead-lettered
    assert sorted(invoke(*records)) == sorted(r["messageId"] for r in records)
    assert orders_of(rig.dynamodb, rig.table, tenant) == []
    assert read_dead_letters(rig.sqs, rig.dead_letter_queue) == []

    # And once the store answers as it should, the redelivery creates them, 1..3
    garbling.garble.clear()
    assert invoke(*records) == []
    assert len(orders_of(rig.dynamodb, rig.table, tenant)) == 3
    assert_gapless(rig.dynamodb, rig.table, tenant)


def test_a_write_answer_the_adapter_cannot_read_fails_its_records_not_the_handler(rig, garbling):
    # Given a batch, and a store that cancels each transaction with a counter value that is not a number
    tenant = new_tenant("contain")
    records = _served(rig, tenant, 3)
    cancelled = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": [{"Code": "ConditionalCheckFailed", "Item": {"currentValue": {"S": "many"}}}],
    }
    garbling.garble["TransactWriteItems"] = (400, json.dumps(cancelled).encode())

    # When the handler runs, Then it answers: the records transient, nothing written
    assert sorted(invoke(*records)) == sorted(r["messageId"] for r in records)
    assert orders_of(rig.dynamodb, rig.table, tenant) == []

    # And the redelivery to a sound store creates them, 1..3
    garbling.garble.clear()
    assert invoke(*records) == []
    assert len(orders_of(rig.dynamodb, rig.table, tenant)) == 3
    assert_gapless(rig.dynamodb, rig.table, tenant)


def test_fetches_the_first_invocation_stopped_waiting_for_are_never_made_in_the_second(rig):
    # Given a Cart API that takes 1.5 s per cart (within its 2 s timeout: a batch needs 3 s), and a first invocation
    # of 40 records with 3.4 s: its 16 workers fetch 15 carts, then 16 more, and 8 are still waiting for a worker
    # when it stops waiting for carts (2.4 s in)
    rig.configure(CART_API_TIMEOUT_SECONDS="2", CART_API_MAX_RETRIES="0")
    first_tenant, second_tenant = new_tenant("first"), new_tenant("second")
    first = []
    for i in range(40):
        rig.carts.put(first_tenant, f"cart-{i}", CartReply(cart_json(cart(first_tenant, f"cart-{i}")), delay=1.5))
        first.append(record(message(first_tenant, f"cart-{i}")))
    rig.carts.put(second_tenant, "cart-0", CartReply(cart_json(cart(second_tenant, "cart-0")), delay=1.5))
    second = record(message(second_tenant, "cart-0"))
    assert invoke() == []  # warm

    # When the first invocation answers, and the second runs right after it
    failed = invoke(*first, seconds=3.4)
    requested = rig.carts.requests
    assert invoke(second, seconds=3.4) == []
    time.sleep(2.0)  # the first invocation's last fetches, still running when it answered, end

    # Then the second's order was made in its own time, and no fetch of the first began after the first answered
    assert len(orders_of(rig.dynamodb, rig.table, second_tenant)) == 1
    assert rig.carts.requests == requested + 1
    assert 0 < len(failed) < 40
    # And the first invocation's records come back and are made, without a gap
    rig.carts.reset()
    for i in range(40):
        rig.carts.put(first_tenant, f"cart-{i}", CartReply(cart_json(cart(first_tenant, f"cart-{i}"))))
    retry = [r for r in first if r["messageId"] in failed]
    assert invoke(*retry) == []
    assert len(orders_of(rig.dynamodb, rig.table, first_tenant)) == 40
    assert_gapless(rig.dynamodb, rig.table, first_tenant)
