from tests.factories import cart, message, new_tenant, record
from tests.integration.support import assert_gapless, invoke, orders_of, serve_cart


def test_batch_of_three_creates_three_numbered_orders(lambda_env, httpserver, dynamodb, table_name):
    tenant = new_tenant()
    records = []
    for i in range(3):
        serve_cart(httpserver, cart(tenant, f"cart-{i}"))
        records.append(record(message(tenant, f"cart-{i}")))

    failures = invoke(*records)

    assert failures == []
    orders = orders_of(dynamodb, table_name, tenant)
    assert sorted(o["orderNumber"] for o in orders) == [f"ORD-20251230-0000{i}" for i in (1, 2, 3)]
    assert_gapless(dynamodb, table_name, tenant)
