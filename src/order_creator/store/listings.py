"""The CLI's reads: one order by its id, and a tenant's orders listed by id, by date or by customer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from order_creator.numbering import utc_millis
from order_creator.store import TableAccess
from order_creator.store.attributes import marshal, unmarshal
from order_creator.store.keys import (
    ORDER_BY_ID_INDEX,
    ORDERS_BY_CUSTOMER_INDEX,
    ORDERS_BY_DATE_INDEX,
    customer_partition,
)


class OrderListings(TableAccess):
    """The orders as the operator reads them (`orders get`, `orders list`, `events replay`)."""

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        """The whole order with this id, whatever its tenant, or None: its key from OrderByIdIndex, then the order."""
        response = self._client.query(
            TableName=self._table,
            IndexName=ORDER_BY_ID_INDEX,
            KeyConditionExpression="GSI2_PK = :pk AND GSI2_SK = :sk",
            ExpressionAttributeValues=marshal({":pk": f"ORDER#{order_id}", ":sk": "METADATA"}),
            ProjectionExpression="PK, SK",
        )
        keys = [unmarshal(item) for item in response.get("Items", [])[:1]]
        return next(self._batch_get(keys, ConsistentRead=True), None)

    def list_orders(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        customer_email: str | None = None,
        created_from: date | datetime | None = None,
        created_to: date | datetime | None = None,
        after: dict[str, Any] | None = None,
        page_size: int = 100,
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """A tenant's orders, one page in memory at a time, each with the position that resumes after it (`after`).

        Without a date range: in order-id order. With `created_from` and/or `created_to` (both inclusive; a date is
        a UTC day, a datetime an instant): in creation order. With `customer_email`: that customer's orders, in
        creation order, the fields OrdersByCustomerIndex projects, the date range applying too. `status` filters.
        """
        values: dict[str, Any] = {":pk": f"TENANT#{tenant_id}"}
        kwargs: dict[str, Any] = {"Limit": page_size}
        by_date = created_from is not None or created_to is not None or customer_email is not None
        pk = "GSI3_PK" if customer_email is not None else "GSI1_PK"
        if customer_email is not None:
            kwargs["IndexName"] = ORDERS_BY_CUSTOMER_INDEX
            values[":pk"] = customer_partition(tenant_id, customer_email)
        if by_date:
            kwargs.setdefault("IndexName", ORDERS_BY_DATE_INDEX)
            kwargs["KeyConditionExpression"] = f"{pk} = :pk" + _date_range(created_from, created_to, values)
        else:
            values[":order"] = "ORDER#"
            kwargs["KeyConditionExpression"] = "PK = :pk AND begins_with(SK, :order)"
        if status is not None:
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
            values[":status"] = status
        if after:
            kwargs["ExclusiveStartKey"] = marshal(after)
        position_keys = ("PK", "SK", pk, "GSI1_SK") if by_date else ("PK", "SK")
        whole = kwargs.get("IndexName") == ORDERS_BY_DATE_INDEX  # it projects the listing's fields only
        for page in self._pages("query", ExpressionAttributeValues=marshal(values), **kwargs):
            found = [unmarshal(raw) for raw in page.get("Items", [])]
            keys = [{"PK": item["PK"], "SK": item["SK"]} for item in found] if whole else []
            orders = {(o["PK"], o["SK"]): o for o in self._batch_get(keys, ConsistentRead=True)}
            for item in found:
                order = orders.get((item["PK"], item["SK"])) if whole else item
                if order is not None:  # None: deleted since the index listed it
                    yield order, {key: item[key] for key in position_keys}


def _date_range(
    created_from: date | datetime | None, created_to: date | datetime | None, values: dict[str, Any]
) -> str:
    """GSI1_SK's condition for a date range (both ends inclusive; "" without one), its bounds put in `values`."""
    if created_from is not None:
        values[":from"] = _date_bound(created_from)
    if created_to is not None:
        values[":to"] = _date_bound(created_to) + "~"  # '~' sorts after every character of the sort key
    if created_from is not None and created_to is not None:
        return " AND GSI1_SK BETWEEN :from AND :to"
    if created_from is not None:
        return " AND GSI1_SK >= :from"
    return " AND GSI1_SK <= :to" if created_to is not None else ""


def _date_bound(moment: date | datetime) -> str:
    """The GSI1_SK prefix of a day (UTC) or of an instant: a date sorts before every time of its day."""
    return utc_millis(moment) if isinstance(moment, datetime) else moment.isoformat()
