"""Every access pattern keeps its answer on a table made from template.yaml (not from `store.keys.table_definition`):
AP1 an order by tenant and id, AP2 a tenant's orders, AP3 by date, AP4 by id alone, AP5 by status, AP6 by the
customer's e-mail; and the readers of the indexes (the nightly audit, the events replay) keep theirs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from order_creator.models import BillingAddress, CartItem, Order, OrderStatus, PaymentDetails
from order_creator.numbering_audit import ORDER_ATTRIBUTES, NumberingAudit
from order_creator.ports import CounterKey, NumberBlock
from order_creator.publishing import event_from_item, order_created_detail
from order_creator.store.keys import LISTING_ATTRIBUTES, order_item, table_definition
from order_creator.store.table import Table
from tests.factories import new_tenant, unmarshal
from tests.template_table import SHAPE, template_table

DAY = date(2025, 12, 30)
TABLE_KEYS = {"PK", "SK", "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK", "GSI3_PK"}


def three_line_order(
    tenant: str, number: int, *, minute: int = 15, email: str = "jane@example.com", paid: bool = False
) -> Order:
    """A typical order: three cart lines, a billing address, created at 10:{minute} +02:00 on DAY."""
    prices = (Decimal("149.99"), Decimal("49.50"), Decimal("12.00"))
    lines = [
        CartItem(id=f"li-{i}", product_id=f"p-{i}", product_name=f"Product {i}", quantity=1, unit_price=p, subtotal=p)
        for i, p in enumerate(prices, 1)
    ]
    return Order(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{number}")),
        order_number=f"ORD-20251230-{number:05d}",
        tenant_id=tenant,
        cart_id=f"cart-{number}",
        customer_email=email,
        items=lines,
        subtotal=sum(prices, Decimal(0)),
        tax=Decimal("31.72"),
        total=sum(prices, Decimal("31.72")),
        currency="ZAR",
        status=OrderStatus.PAID if paid else OrderStatus.PENDING_PAYMENT,
        billing_address=BillingAddress(
            street="1 Long St", city="Cape Town", province="Western Cape", postal_code="8001", country="ZA"
        ),
        payment_details=PaymentDetails(payment_id=f"pay-{number}", paid_at="2025-12-30T08:20:00.000Z")
        if paid
        else None,
        date_created=f"2025-12-30T10:{minute:02d}:00.000+02:00",
        date_last_updated=f"2025-12-30T08:{minute:02d}:00.000Z",
        created_by="OrderCreatorRecord",
        last_updated_by="OrderCreatorRecord",
        source_message_id=f"m-{number}",
    )


@pytest.fixture(scope="module")
def template_dao(moto_url: str) -> Table:
    client = boto3.client("dynamodb", endpoint_url=moto_url)
    name = f"template-{uuid.uuid4().hex[:8]}"
    client.create_table(**template_table(name))
    return Table(name, client)


@pytest.fixture(scope="module")
def stored(template_dao: Table) -> tuple[str, list[dict[str, Any]]]:
    """One tenant's three orders of DAY (the second paid, the third another customer's), written as the Lambda
    writes them (two transactions: the counter created, then moved on), each as its whole item."""
    tenant = new_tenant()
    orders = [
        three_line_order(tenant, 1, minute=15),
        three_line_order(tenant, 2, minute=16, paid=True),
        three_line_order(tenant, 3, minute=17, email="someone.else@example.com"),
    ]
    counter = CounterKey(tenant, DAY)
    assert template_dao.write([NumberBlock(counter, 0, tuple(orders[:2]))]).committed
    assert template_dao.write([NumberBlock(counter, 2, tuple(orders[2:]))]).committed
    return tenant, [unmarshal(_marshalled(order_item(o))) for o in orders]


def _marshalled(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    return {k: TypeSerializer().serialize(v) for k, v in item.items()}


def test_the_code_defines_the_table_the_template_declares():
    assert table_definition("t") == {"TableName": "t", **{k: template_table("t")[k] for k in SHAPE}}


def test_ap1_ap2_ap4_return_whole_orders(template_dao, stored):
    tenant, whole = stored
    client = template_dao._client
    # AP1: by tenant and id (the table's key)
    for item in whole:
        found = client.get_item(TableName=template_dao._table, Key=_marshalled({"PK": item["PK"], "SK": item["SK"]}))
        assert unmarshal(found["Item"]) == item
    # AP2: the tenant's orders (its partition), in id order
    assert [order for order, _ in template_dao.list_orders(tenant)] == sorted(whole, key=lambda i: i["SK"])
    # AP4: by id alone (OrderByIdIndex holds keys only; the order is read from the table)
    for item in whole:
        assert template_dao.get_order(item["id"]) == item
    assert template_dao.get_order(str(uuid.uuid4())) is None


def test_ap3_ap5_list_whole_orders_by_date_and_status(template_dao, stored):
    tenant, whole = stored
    # AP3: by date (OrdersByDateIndex), in creation order, whole orders; a range that misses them finds none
    assert [o for o, _ in template_dao.list_orders(tenant, created_from=DAY, created_to=DAY)] == whole
    assert list(template_dao.list_orders(tenant, created_from=date(2025, 12, 31))) == []
    moment = datetime(2025, 12, 30, 8, 16, tzinfo=UTC)
    assert [o["id"] for o, _ in template_dao.list_orders(tenant, created_from=moment)] == [i["id"] for i in whole[1:]]
    # AP5: by status, on the partition and on the date index
    assert [o for o, _ in template_dao.list_orders(tenant, status="PAID")] == [whole[1]]
    assert [o for o, _ in template_dao.list_orders(tenant, status="PAID", created_to=DAY)] == [whole[1]]
    # a page of one continues where it stopped
    first, position = next(template_dao.list_orders(tenant, created_from=DAY, page_size=1))
    rest = [o for o, _ in template_dao.list_orders(tenant, created_from=DAY, after=position, page_size=1)]
    assert [first, *rest] == whole


def test_ap6_lists_a_customers_orders_with_the_listing_fields(template_dao, stored):
    tenant, whole = stored
    # AP6: by e-mail, any spelling of it, in creation order, the listing's fields and the keys
    found = list(template_dao.list_orders(tenant, customer_email=" JANE@Example.com "))
    assert [{k: v for k, v in o.items() if k not in TABLE_KEYS} for o, _ in found] == [
        {k: item[k] for k in LISTING_ATTRIBUTES} for item in whole[:2]
    ]
    assert [set(position) for _, position in found] == [{"PK", "SK", "GSI3_PK", "GSI1_SK"}] * 2
    later = [o["id"] for o, _ in template_dao.list_orders(tenant, customer_email="jane@example.com", after=found[0][1])]
    assert later == [whole[1]["id"]]
    paid = template_dao.list_orders(tenant, customer_email="jane@example.com", status="PAID")
    assert [o["id"] for o, _ in paid] == [whole[1]["id"]]


def test_the_audit_and_the_events_replay_read_what_they_need(template_dao, stored):
    tenant, whole = stored
    # the nightly audit: the day's tenants (the counter's day key), the day's orders with its attributes
    assert tenant in set(template_dao.tenants_of_day(DAY))
    start, end = datetime(2025, 12, 30, tzinfo=UTC), datetime(2025, 12, 31, tzinfo=UTC)
    created = list(template_dao.orders_created(tenant, start, end, ORDER_ATTRIBUTES))
    assert created == [{k: item[k] for k in ORDER_ATTRIBUTES} for item in whole]
    assert [verdict.ok for verdict in NumberingAudit(template_dao, UTC).tenant(tenant, DAY, DAY)] == [True]
    # the events replay: each order's event as the stream would have made it from the whole item
    replayed = [event_from_item(o).detail for o, _ in template_dao.list_orders(tenant, created_from=DAY)]
    assert replayed == [order_created_detail(item) for item in whole]


def test_the_counter_keeps_its_day_key_and_only_its_creation_sets_it(template_dao, stored):
    tenant, _ = stored
    update = template_dao._counter_update
    block = NumberBlock(CounterKey(tenant, DAY), 3, (three_line_order(tenant, 4),))
    assert "GSI1" not in update(block)["UpdateExpression"]  # a later update moves no index key
    assert "GSI1_PK" in update(NumberBlock(block.counter, 0, block.orders))["UpdateExpression"]
    counter = template_dao._client.get_item(
        TableName=template_dao._table, Key=_marshalled({"PK": f"COUNTER#{tenant}", "SK": "ORDER_NUMBER#20251230"})
    )
    assert unmarshal(counter["Item"]) == {
        "PK": f"COUNTER#{tenant}",
        "SK": "ORDER_NUMBER#20251230",
        "currentValue": 3,
        "GSI1_PK": "COUNTERS#20251230",
        "GSI1_SK": tenant,
    }


def test_a_typical_three_line_order_item_does_not_grow():
    # A 16-character tenant id, as docs/capacity.md's figures; every key of the table and its indexes.
    order = three_line_order("tenant-012345678", 1)
    dao = Table("t", None)  # type: ignore[arg-type]  # sizing only: no request
    item = order_item(order)
    assert "GSI3_SK" not in item  # OrdersByCustomerIndex sorts on GSI1_SK itself: nothing stored twice
    assert dao.item_size(order) <= 1_082, f"the order item grew to {dao.item_size(order):,} bytes"


def test_a_page_by_date_of_more_than_a_hundred_orders_is_read_whole(template_dao):
    # Given a tenant's 130 orders of one day (the CLI's --page-size goes up to 1000)
    tenant = new_tenant()
    orders = [three_line_order(tenant, n, minute=n % 60) for n in range(1, 131)]
    counter = CounterKey(tenant, DAY)
    assert template_dao.write([NumberBlock(counter, 0, tuple(orders[:90]))]).committed
    assert template_dao.write([NumberBlock(counter, 90, tuple(orders[90:]))]).committed

    # When they are listed by date in one page of 500
    listed = [order for order, _ in template_dao.list_orders(tenant, created_from=DAY, page_size=500)]

    # Then every one comes whole (BatchGetItem takes at most 100 keys a request)
    assert sorted(o["id"] for o in listed) == sorted(o.id for o in orders)
    assert all("items" in o and "billingAddress" in o for o in listed)
