"""`table migrate` takes a table of the previous shape (OrdersByDateIndex and OrderByIdIndex projecting
everything, OrdersByCustomerIndex sorted on GSI3_SK, every order holding GSI3_SK) to this version's, through the
real CLI against the moto server; interrupted, it continues."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest

from order_creator import reshape
from order_creator.store.keys import order_item, table_definition
from order_creator.store.table import Table
from order_creator.tooling import exact_json
from tests.factories import new_tenant, unmarshal
from tests.integration.test_access_patterns import _marshalled, three_line_order
from tests.template_table import previous_definition

DAY = date(2025, 12, 30)


def shape_of(client: Any, table: str) -> dict[str, Any]:
    described = client.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    return {i["IndexName"]: (i["KeySchema"], reshape._shape(i)[1:]) for i in described}


class InterruptedAfter(reshape.TableShape):
    """The real calls, with Ctrl-C pressed after `after` orders lost their copy."""

    def __init__(self, table: str, client: Any, after: int) -> None:
        super().__init__(table, client)
        self.left = after

    def remove_copy(self, key: dict[str, Any]) -> float | None:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().remove_copy(key)


def test_migrate_reshapes_the_indexes_and_removes_the_copies_resuming_after_an_interruption(
    moto_url: str, tmp_path: Path, run: Any
) -> None:
    # Given a table of the previous shape with a tenant's 12 orders as the previous version wrote them
    client = boto3.client("dynamodb", endpoint_url=moto_url)
    table = f"reshape-{uuid.uuid4().hex[:8]}"
    client.create_table(**previous_definition(table))
    tenant = new_tenant()
    orders = [three_line_order(tenant, n, minute=n, paid=n % 2 == 0) for n in range(1, 13)]
    for order in orders:
        item = order_item(order)
        client.put_item(TableName=table, Item=_marshalled({**item, "GSI3_SK": item["GSI1_SK"]}))
    counter = {"PK": f"COUNTER#{tenant}", "SK": "ORDER_NUMBER#20251230", "currentValue": 12}
    client.put_item(TableName=table, Item=_marshalled({**counter, "GSI1_PK": "COUNTERS#20251230", "GSI1_SK": tenant}))
    state = tmp_path / "state.json"

    # When the reshaping is interrupted after 5 orders (pages of 4), then the command runs to the end, twice
    interrupted = InterruptedAfter(table, client, 5)
    assert reshape.reshape_indexes(interrupted, table_definition(table), say=lambda _: None, sleep=print) == 6
    with pytest.raises(KeyboardInterrupt):
        reshape.remove_copies(
            interrupted, reshape.CopyRemoval(table), Path(f"{state}.reshape"), lambda _: None, page_size=4
        )
    saved = reshape.CopyRemoval.load(Path(f"{state}.reshape"), table)
    code, _, err = run("table", "migrate", "--table", table, "--state", str(state))
    again, _, again_err = run("table", "migrate", "--table", table, "--state", str(state))

    # Then it stopped after a page, continued from there, and the second run had nothing to do
    assert saved.pages == 1  # the page in hand when Ctrl-C came is not saved: done again
    assert saved.position is not None
    assert 0 < saved.orders <= 4
    assert code == 0, err
    # counted across both runs: those of the saved page, and the 7 left when Ctrl-C came (the page in hand is
    # scanned again; its orders that lost their copy before the interruption are not found again)
    assert f"{saved.orders + 7} order(s) without their copy" in err
    assert again == 0, again_err
    assert "(0 change(s) made)" in again_err
    assert "0 order(s) without their copy" in again_err
    assert not Path(f"{state}.reshape").exists()
    # the indexes are this version's
    assert shape_of(client, table) == {
        i["IndexName"]: (i["KeySchema"], reshape._shape(i)[1:])
        for i in table_definition(table)["GlobalSecondaryIndexes"]
    }
    # every order is as this version writes it (nothing else changed), the counter untouched
    dao = Table(table, client)
    stored = sorted((o for o, _ in dao.list_orders(tenant)), key=lambda o: o["id"])
    expected = sorted((unmarshal(_marshalled(order_item(o))) for o in orders), key=lambda o: o["id"])
    assert stored == expected
    found = client.get_item(TableName=table, Key=_marshalled({"PK": counter["PK"], "SK": counter["SK"]}))["Item"]
    assert unmarshal(found) == {**counter, "GSI1_PK": "COUNTERS#20251230", "GSI1_SK": tenant}
    # and every access pattern answers on the reshaped table
    first = next(o for o in expected if o["id"] == orders[0].id)
    assert dao.get_order(orders[0].id) == first
    by_date = [o["id"] for o, _ in dao.list_orders(tenant, created_from=DAY, created_to=DAY)]
    assert by_date == [o.id for o in orders]
    by_email = [o["id"] for o, _ in dao.list_orders(tenant, customer_email="Jane@example.com", status="PAID")]
    assert by_email == [o.id for o in orders if o.status == "PAID"]
    assert list(dao.tenants_of_day(DAY)) == [tenant]
    code, out, _ = run("orders", "get", orders[0].id, "--table", table, "--json")
    assert code == 0
    keys = {"PK", "SK", "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK", "GSI3_PK", "entityType"}
    assert out.strip() == exact_json({k: v for k, v in first.items() if k not in keys})
