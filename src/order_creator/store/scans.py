"""The audit's and the migration's reads and writes: counters, orders by creation time, scans, key updates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from order_creator.numbering import day_key, utc_millis
from order_creator.store import TableAccess, consumed_units
from order_creator.store.attributes import marshal, unmarshal
from order_creator.store.keys import ORDERS_BY_DATE_INDEX, counters_of_day_partition


class TableScans(TableAccess):
    """Implements `numbering_audit.AuditStore`; `migrate.TableMigration` adds the migration's rules to it."""

    def tenants_of_day(self, day: date) -> Iterator[str]:
        """Every tenant with a counter for this business day (one query of the counters' day key, page by page)."""
        return (tenant_id for tenant_id, _ in self.counters_of_day(day))

    def counters_of_day(self, day: date) -> Iterator[tuple[str, str]]:
        """(tenant, the counter's sort key) of every counter that names this business day by its day key (one query
        of OrdersByDateIndex, page by page): the sort key is `ORDER_NUMBER#YYYYMMDD` unless the item is odd."""
        for item in self._items(
            IndexName=ORDERS_BY_DATE_INDEX,
            KeyConditionExpression="GSI1_PK = :pk",
            ExpressionAttributeValues=marshal({":pk": counters_of_day_partition(day)}),
            ProjectionExpression="GSI1_SK, SK",
        ):
            yield str(item["GSI1_SK"]), str(item.get("SK", ""))

    def counters(
        self, tenant_id: str, first: date | None = None, last: date | None = None
    ) -> Iterator[tuple[str, object]]:
        """The tenant's counters as (sort key, currentValue as stored or None), strongly consistent, untrusted: from
        `first` (without it, every key of the partition, of any shape) to `last` (keys that begin with its day)."""
        values: dict[str, Any] = {":pk": f"COUNTER#{tenant_id}"}
        condition = "PK = :pk"
        if first is not None:
            values[":from"] = "ORDER_NUMBER#" + day_key(first)
            values[":to"] = "ORDER_NUMBER#" + (day_key(last) if last else "") + "~"
            condition += " AND SK BETWEEN :from AND :to"
        for item in self._items(
            KeyConditionExpression=condition,
            ExpressionAttributeValues=marshal(values),
            ProjectionExpression="SK, currentValue",
            ConsistentRead=True,
        ):
            yield str(item["SK"]), item.get("currentValue")

    def orders_created(
        self, tenant_id: str, start: datetime, end: datetime, attributes: Sequence[str], page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """The tenant's orders created in [start, end), in creation order, with only `attributes`, a page at a time."""
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        return self._items(
            IndexName=ORDERS_BY_DATE_INDEX,
            KeyConditionExpression="GSI1_PK = :pk AND GSI1_SK BETWEEN :from AND :to",
            ExpressionAttributeValues=marshal({":pk": f"TENANT#{tenant_id}", **_created(start, end)}),
            ExpressionAttributeNames=names,
            ProjectionExpression=", ".join(names),
            Limit=page_size,
        )

    def scan_created(
        self, start: datetime, end: datetime, page_size: int = 1000
    ) -> Iterator[tuple[list[dict[str, Any]], float]]:
        """Pages of one scan of the whole table for the orders created in [start, end) (by their creation key),
        each order as its `PK` only, each page with the read units DynamoDB reports for it (1.0 if none)."""
        pages = self._pages(
            "scan",
            FilterExpression="begins_with(SK, :order) AND GSI1_SK BETWEEN :from AND :to",
            ExpressionAttributeValues=marshal({":order": "ORDER#", **_created(start, end)}),
            ProjectionExpression="PK",
            ReturnConsumedCapacity="TOTAL",
            Limit=page_size,
        )
        for page in pages:
            yield [unmarshal(item) for item in page.get("Items", [])], consumed_units(page)

    def items_without_new_keys(
        self, start: dict[str, Any] | None = None, page_size: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        """Pages of a scan for what this version's keys may be missing from: every order (`add_new_keys` compares
        its `GSI3_PK`), counters without their day key; each with the position after it (None after the last)."""
        pages = self._pages(
            "scan",
            FilterExpression="begins_with(SK, :order) OR (begins_with(SK, :counter) AND attribute_not_exists(GSI1_PK))",
            ExpressionAttributeValues=marshal({":order": "ORDER#", ":counter": "ORDER_NUMBER#"}),
            ProjectionExpression="PK, SK, customerEmail, GSI1_SK, GSI3_PK",
            Limit=page_size,
            **({"ExclusiveStartKey": marshal(start)} if start else {}),
        )
        for page in pages:
            position = unmarshal(page["LastEvaluatedKey"]) if "LastEvaluatedKey" in page else None
            yield [unmarshal(item) for item in page.get("Items", [])], position

    def set_keys(self, pk: str, sk: str, condition: str, names: dict[str, str], values: dict[str, Any]) -> float | None:
        """Set key attributes (`names`, `values`: `#x` is set to `:x`) of one item if `condition` holds: the write
        units DynamoDB reports, or None when the condition failed (the item has them by now, or is gone)."""
        return self._update_if(
            Key=marshal({"PK": pk, "SK": sk}),
            UpdateExpression="SET " + ", ".join(f"{name} = :{name[1:]}" for name in names),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=marshal(values),
        )

    def _items(self, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item of a query, one page in memory at a time."""
        for page in self._pages("query", **query):
            yield from map(unmarshal, page.get("Items", []))


def _created(start: datetime, end: datetime) -> dict[str, str]:
    """`:from` and `:to` of GSI1_SK for [start, end): '~' sorts after every order id of the last millisecond."""
    return {":from": utc_millis(start), ":to": utc_millis(end - timedelta(milliseconds=1)) + "~"}
