"""`store.table.Table` against the moto server: conditions, cancellation reasons and reads, through the real wire."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pytest

from order_creator.errors import StoreUnavailable
from order_creator.models import BillingAddress, Order, OrderStatus
from order_creator.ports import CounterKey, NumberBlock, OrderKey
from order_creator.store import UNPROCESSED_ATTEMPTS
from order_creator.store.table import Table
from tests.factories import new_tenant

DAY = date(2025, 12, 30)


def order(tenant: str, order_id: str, number: int, cart_id: str = "c1") -> Order:
    return Order(
        id=order_id,
        order_number=f"ORD-20251230-{number:05d}",
        tenant_id=tenant,
        cart_id=cart_id,
        customer_email="jane@example.com",
        items=[],
        subtotal=Decimal("0.30"),
        tax=Decimal(0),
        total=Decimal("0.30"),
        currency="ZAR",
        status=OrderStatus.PENDING_PAYMENT,
        billing_address=BillingAddress(street="1 Long St", city="Cape Town", country="ZA"),
        date_created="2025-12-30T10:15:00+02:00",
        date_last_updated="2025-12-30T08:15:01.000Z",
        created_by="OrderCreatorRecord",
        last_updated_by="OrderCreatorRecord",
        source_message_id="m1",
    )


@pytest.fixture
def dao(table_name, moto_url):
    return Table(table_name, boto3.client("dynamodb", endpoint_url=moto_url))


def test_a_block_commits_its_counter_and_orders_together(dao):
    tenant = new_tenant()
    counter = CounterKey(tenant, DAY)

    result = dao.write([NumberBlock(counter, 0, (order(tenant, "o1", 1), order(tenant, "o2", 2)))])

    assert result.committed
    snapshot = dao.read([OrderKey(tenant, "o1"), OrderKey(tenant, "o2"), OrderKey(tenant, "o3")], [counter])
    assert snapshot.existing == {OrderKey(tenant, "o1"): "c1", OrderKey(tenant, "o2"): "c1"}
    assert snapshot.counters == {counter: 2}


def test_a_stale_counter_cancels_everything_and_reports_the_current_value(dao):
    # Given a counter at 2
    tenant = new_tenant()
    counter = CounterKey(tenant, DAY)
    assert dao.write([NumberBlock(counter, 0, (order(tenant, "o1", 1), order(tenant, "o2", 2)))]).committed

    # When a writer that believes the counter is absent writes
    result = dao.write([NumberBlock(counter, 0, (order(tenant, "o3", 1),))])

    # Then nothing is written, and the cancellation reason carries the value found
    assert not result.committed
    assert result.counters == {counter: 2}
    assert dao.read([OrderKey(tenant, "o3")], [counter]).existing == {}


def test_an_existing_order_is_reported_with_its_cart(dao):
    tenant = new_tenant()
    counter = CounterKey(tenant, DAY)
    assert dao.write([NumberBlock(counter, 0, (order(tenant, "o1", 1, cart_id="first"),))]).committed

    result = dao.write([NumberBlock(counter, 1, (order(tenant, "o1", 2, cart_id="second"),))])

    assert not result.committed
    assert result.existing == {OrderKey(tenant, "o1"): "first"}
    assert result.counters == {}
    assert dao.read([], [counter]).counters == {counter: 1}


def counted_dao(table_name: str, moto_url: str) -> tuple[Table, list[str]]:
    """A DAO whose client records the name of every request it makes (botocore's own events)."""
    client = boto3.client("dynamodb", endpoint_url=moto_url)
    calls: list[str] = []
    client.meta.events.register("after-call.dynamodb", lambda model, **_: calls.append(model.name))
    return Table(table_name, client), calls


def test_a_read_and_a_write_are_one_request_each(table_name, moto_url):
    (dao, calls), tenant = counted_dao(table_name, moto_url), new_tenant()

    dao.read([OrderKey(tenant, "o1")], [CounterKey(tenant, DAY)])
    dao.write([NumberBlock(CounterKey(tenant, DAY), 0, (order(tenant, "o1", 1),))])

    assert calls == ["BatchGetItem", "TransactWriteItems"]


def test_one_order_id_in_two_tenants_is_two_orders(dao):
    # Given tenant A's order o1
    a, b = new_tenant(), new_tenant()
    assert dao.write([NumberBlock(CounterKey(a, DAY), 0, (order(a, "o1", 1, cart_id="ca"),))]).committed

    # When tenant B writes its own o1, and both are read
    result = dao.write([NumberBlock(CounterKey(b, DAY), 0, (order(b, "o1", 1, cart_id="cb"),))])
    snapshot = dao.read([OrderKey(a, "o1"), OrderKey(b, "o1")], [])

    # Then B's is written, and each is known by its tenant and id
    assert result.committed
    assert snapshot.existing == {OrderKey(a, "o1"): "ca", OrderKey(b, "o1"): "cb"}


def test_the_item_size_is_counted_in_utf8_bytes(dao):
    # Given two orders that differ only in a street of 100 ASCII letters or 100 four-byte emoji
    tenant = new_tenant()
    plain = order(tenant, "o1", 1)
    wide = plain.model_copy(
        update={"billing_address": BillingAddress(street="\N{GRINNING FACE}" * 100, city="x", country="ZA")}
    )
    narrow = plain.model_copy(update={"billing_address": BillingAddress(street="a" * 100, city="x", country="ZA")})

    # When they are sized / Then the emoji take four bytes each
    assert dao.item_size(wide) - dao.item_size(narrow) == 300


def test_an_order_over_400_kb_is_rejected_without_a_request(table_name, moto_url):
    # Given a block of a good order and one whose street alone is 400,000 bytes of UTF-8 (100,000 characters)
    dao, calls = counted_dao(table_name, moto_url)
    tenant = new_tenant()
    counter = CounterKey(tenant, DAY)
    huge = order(tenant, "o2", 2).model_copy(
        update={
            "billing_address": BillingAddress.model_construct(
                street="\N{GRINNING FACE}" * 100_000, city="x", country="ZA"
            )
        }
    )

    # When it is written
    result = dao.write([NumberBlock(counter, 0, (order(tenant, "o1", 1), huge))])

    # Then nothing is written, nothing is sent, and the huge order is rejected with the reason
    assert not result.committed
    assert result.rejected.keys() == {OrderKey(tenant, "o2")}
    assert "400 KB" in result.rejected[OrderKey(tenant, "o2")]
    assert calls == []
    assert dao.read([OrderKey(tenant, "o1")], [counter]).counters == {}


def test_a_number_dynamodb_cannot_hold_is_rejected_without_a_request(table_name, moto_url):
    # Given an order whose total has 40 significant digits (built past validation, which refuses it)
    dao, calls = counted_dao(table_name, moto_url)
    tenant = new_tenant()
    bad = order(tenant, "o1", 1).model_copy(update={"total": Decimal("1." + "1" * 39)})

    # When it is written / Then it is rejected, nothing sent
    result = dao.write([NumberBlock(CounterKey(tenant, DAY), 0, (bad,))])
    assert result.rejected.keys() == {OrderKey(tenant, "o1")}
    assert calls == []


def unprocessing_dao(table_name: str, moto_url: str, times: int) -> tuple[Table, list[str]]:
    """A DAO whose first `times` BatchGetItem answers leave every key found unprocessed, as DynamoDB may under
    load (botocore's own after-call event rewrites the parsed answer; the request went over the wire)."""
    dao, calls = counted_dao(table_name, moto_url)
    left = [times]

    def leave_unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        if left[0] == 0:
            return
        left[0] -= 1
        found = parsed.get("Responses", {}).pop(table_name, [])
        keys = [{"PK": item["PK"], "SK": item["SK"]} for item in found]
        parsed["UnprocessedKeys"] = {table_name: {"Keys": keys, "ConsistentRead": True}} if keys else {}

    dao._client.meta.events.register("after-call.dynamodb.BatchGetItem", leave_unprocessed)
    return dao, calls


def test_keys_left_unprocessed_are_read_again(table_name, moto_url):
    # Given a counter and an order, and a table that leaves the read's keys unprocessed twice
    tenant, counter = new_tenant(), CounterKey(new_tenant(), DAY)
    dao, calls = unprocessing_dao(table_name, moto_url, times=2)
    dao.write([NumberBlock(counter, 0, (order(counter.tenant_id, "o1", 1, cart_id="first"),))])

    # When they are read / Then the third BatchGetItem finds them
    snapshot = dao.read([OrderKey(counter.tenant_id, "o1"), OrderKey(tenant, "o2")], [counter])
    assert snapshot.existing == {OrderKey(counter.tenant_id, "o1"): "first"}
    assert snapshot.counters == {counter: 1}
    assert calls == ["TransactWriteItems", "BatchGetItem", "BatchGetItem", "BatchGetItem"]


def test_keys_still_unprocessed_after_five_requests_make_the_store_unavailable(table_name, moto_url):
    # Given a counter, and a table that keeps leaving the read's keys unprocessed
    counter = CounterKey(new_tenant(), DAY)
    dao, calls = unprocessing_dao(table_name, moto_url, times=10)
    dao.write([NumberBlock(counter, 0, (order(counter.tenant_id, "o1", 1),))])

    # When it is read / Then the read fails as the store being unavailable, never as a partial snapshot
    with pytest.raises(StoreUnavailable, match="unprocessed"):
        dao.read([], [counter])
    assert calls.count("BatchGetItem") == UNPROCESSED_ATTEMPTS
