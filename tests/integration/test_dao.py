"""OrderDAO against the moto server: conditions, cancellation reasons and reads, through the real wire."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import boto3
import pytest

from order_creator.dao import OrderDAO
from order_creator.models import BillingAddress, Order, OrderStatus
from order_creator.ports import CounterKey, NumberBlock, OrderKey
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
    return OrderDAO(table_name, boto3.client("dynamodb", endpoint_url=moto_url))


def test_a_block_commits_its_counter_and_orders_together(dao):
    tenant = new_tenant()
    counter = CounterKey(tenant, DAY)

    result = dao.write([NumberBlock(counter, 0, (order(tenant, "o1", 1), order(tenant, "o2", 2)))])

    assert result.committed
    snapshot = dao.read([OrderKey(tenant, "o1"), OrderKey(tenant, "o2"), OrderKey(tenant, "o3")], [counter])
    assert snapshot.existing == {"o1": "c1", "o2": "c1"}
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
    assert result.existing == {"o1": "first"}
    assert result.counters == {}
    assert dao.read([], [counter]).counters == {counter: 1}


def test_usage_counts_requests(dao):
    tenant = new_tenant()
    before = dao.usage.requests

    dao.read([OrderKey(tenant, "o1")], [CounterKey(tenant, DAY)])
    dao.write([NumberBlock(CounterKey(tenant, DAY), 0, (order(tenant, "o1", 1),))])

    assert dao.usage.requests - before == 2
