"""The audit's and the migration's reads and writes: counters by tenant and by day, orders by creation time,
whole-table scans, and the keys this version added given to the items written before it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from order_creator.numbering import day_key, parse_day_key, utc_millis
from order_creator.store import TableAccess
from order_creator.store.attributes import marshal, unmarshal
from order_creator.store.keys import ORDERS_BY_DATE_INDEX, counter_key, counters_of_day_partition, customer_partition

if TYPE_CHECKING:
    from order_creator.reshape import TableShape


class TableScans(TableAccess):
    """Implements `audit.AuditStore` and `migrate.MigrationStore` on one DynamoDB table."""

    def shape(self) -> TableShape:
        """The table's reshaping calls (`table migrate`: indexes and items to this version's shape)."""
        from order_creator.reshape import TableShape

        return TableShape(self._table, self._client)

    def tenants_of_day(self, day: date) -> Iterator[str]:
        """Every tenant with a counter for this business day (one query of the counters' day key, page by page)."""
        for tenant_id, _ in self.counters_of_day(day):
            yield tenant_id

    def counters_of_day(self, day: date) -> Iterator[tuple[str, str]]:
        """(tenant, the counter's sort key) of every counter that names this business day by its day key (one query
        of OrdersByDateIndex, page by page): the sort key is `ORDER_NUMBER#YYYYMMDD` unless the item is odd."""
        query = {
            "TableName": self._table,
            "IndexName": ORDERS_BY_DATE_INDEX,
            "KeyConditionExpression": "GSI1_PK = :pk",
            "ExpressionAttributeValues": marshal({":pk": counters_of_day_partition(day)}),
            "ProjectionExpression": "GSI1_SK, SK",
        }
        for item in self._pages(query):
            yield str(item["GSI1_SK"]), str(item.get("SK", ""))

    def counters(
        self, tenant_id: str, first: date | None = None, last: date | None = None
    ) -> Iterator[tuple[str, object]]:
        """The tenant's counter items as (sort key, currentValue as stored, None when absent), strongly consistent:
        from `first` (every key of the partition without it: keys of another shape too) to `last` (keys that
        begin with its day included). The values are untrusted: `audit` judges them."""
        values: dict[str, Any] = {":pk": f"COUNTER#{tenant_id}"}
        condition = "PK = :pk"
        if first is not None:
            values[":from"] = "ORDER_NUMBER#" + day_key(first)
            values[":to"] = "ORDER_NUMBER#" + (day_key(last) if last else "") + "~"
            condition += " AND SK BETWEEN :from AND :to"
        query = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": marshal(values),
            "ProjectionExpression": "SK, currentValue",
            "ConsistentRead": True,
        }
        for item in self._pages(query):
            yield str(item["SK"]), item.get("currentValue")

    def counter_value(self, tenant_id: str, day: date) -> int:
        """The counter's currentValue (strongly consistent); 0 when the day has no counter."""
        response = self._client.get_item(
            TableName=self._table,
            Key=marshal(counter_key(tenant_id, day)),
            ProjectionExpression="currentValue",
            ConsistentRead=True,
        )
        return int(unmarshal(response["Item"]).get("currentValue", 0)) if "Item" in response else 0

    def orders_created(
        self, tenant_id: str, start: datetime, end: datetime, attributes: Sequence[str], page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """The tenant's orders created in [start, end), in creation order (OrdersByDateIndex), with only
        `attributes`, one page in memory at a time."""
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {
            ":pk": f"TENANT#{tenant_id}",
            ":from": utc_millis(start),
            # '~' sorts after every character of GSI1_SK: the last millisecond before `end`, every order id.
            ":to": utc_millis(end - timedelta(milliseconds=1)) + "~",
        }
        query = {
            "TableName": self._table,
            "IndexName": ORDERS_BY_DATE_INDEX,
            "KeyConditionExpression": "GSI1_PK = :pk AND GSI1_SK BETWEEN :from AND :to",
            "ExpressionAttributeValues": marshal(values),
            "ExpressionAttributeNames": names,
            "ProjectionExpression": ", ".join(names),
            "Limit": page_size,
        }
        yield from self._pages(query)

    def scan_created(
        self, start: datetime, end: datetime, page_size: int = 1000
    ) -> Iterator[tuple[list[dict[str, Any]], float]]:
        """Pages of one scan of the whole table for the orders created in [start, end) (by their creation key),
        each order as its `PK` only, each page with the read units DynamoDB reports for it (1.0
        when it reports none). DynamoDB charges a scan for every item it reads, whatever the filter keeps: the
        whole table, counters included, at 0.5 read units per 4 KB (eventually consistent)."""
        values = {
            ":order": "ORDER#",
            ":from": utc_millis(start),
            ":to": utc_millis(end - timedelta(milliseconds=1)) + "~",  # as orders_created
        }
        query: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(SK, :order) AND GSI1_SK BETWEEN :from AND :to",
            "ExpressionAttributeValues": marshal(values),
            "ProjectionExpression": "PK",
            "ReturnConsumedCapacity": "TOTAL",
            "Limit": page_size,
        }
        while True:
            page = self._client.scan(**query)
            units = float((page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
            yield [unmarshal(item) for item in page.get("Items", [])], units or 1.0
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def items_without_new_keys(
        self, start: dict[str, Any] | None = None, page_size: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        """Pages of a scan for what this version's keys may be missing from: every order (its `GSI3_PK` may be
        absent, or of an older rule of the address: `add_new_keys` compares), counters without their day key.
        Each page comes with the position after it (None after the last one)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(SK, :order)"
            " OR (begins_with(SK, :counter) AND attribute_not_exists(GSI1_PK))",
            "ExpressionAttributeValues": marshal({":order": "ORDER#", ":counter": "ORDER_NUMBER#"}),
            "ProjectionExpression": "PK, SK, customerEmail, GSI1_SK, GSI3_PK",
            "Limit": page_size,
        }
        if start:
            query["ExclusiveStartKey"] = marshal(start)
        while True:
            page = self._client.scan(**query)
            position = unmarshal(page["LastEvaluatedKey"]) if "LastEvaluatedKey" in page else None
            yield [unmarshal(item) for item in page.get("Items", [])], position
            if position is None:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def add_new_keys(self, item: dict[str, Any]) -> float | None:
        """Give one item from `items_without_new_keys` its missing keys: an order its `GSI3_PK` (or its `GSI3_PK`
        again when the address's rule changed), a counter its day key. Conditional, so safe beside the
        Lambda: an item that has them by now, or that is gone, is left alone. Returns the write units DynamoDB
        reports (1.0 if it reports none), or None when nothing was to be written. Raises `UnkeyableItem` for an
        item no key can be made for (an order without an address or a creation key, a counter key of another
        shape): the reason names the attribute, never its value."""
        pk, sk = str(item["PK"]), str(item["SK"])
        update = _order_keys(item, pk) if sk.startswith("ORDER#") else _counter_keys(pk, sk)
        if update is None:
            return None
        condition, names, values = update
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=marshal({"PK": pk, "SK": sk}),
                UpdateExpression="SET " + ", ".join(f"{name} = :{name[1:]}" for name in names),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=marshal(values),
                ReturnConsumedCapacity="TOTAL",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        units = float((response.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
        return units or 1.0

    def _pages(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a query, one page in memory at a time."""
        while True:
            page = self._client.query(**query)
            for raw in page.get("Items", []):
                yield unmarshal(raw)
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


_KeyUpdate = tuple[str, dict[str, str], dict[str, Any]]  # condition, attribute names, values


def _order_keys(item: Mapping[str, Any], pk: str) -> _KeyUpdate | None:
    """The update that keys an order by its customer (None: it is keyed by the current rule already)."""
    email, created_key, current = item.get("customerEmail"), item.get("GSI1_SK"), item.get("GSI3_PK")
    if not isinstance(email, str) or not email.strip():
        raise UnkeyableItem("its customerEmail is absent or not a string")
    partition = customer_partition(pk.removeprefix("TENANT#"), email)
    if current is None:
        if not isinstance(created_key, str):
            raise UnkeyableItem("its GSI1_SK (the creation key) is absent or not a string")
        # OrdersByCustomerIndex sorts on GSI1_SK itself: the partition is all an order of an older version lacks
        return "attribute_exists(PK) AND attribute_not_exists(#pk)", {"#pk": "GSI3_PK"}, {":pk": partition}
    if current == partition:
        return None
    # keyed by an older rule of the address (or by hand): re-keyed, unless it changed meanwhile
    return "#pk = :old", {"#pk": "GSI3_PK"}, {":pk": partition, ":old": current}


def _counter_keys(pk: str, sk: str) -> _KeyUpdate:
    """The update that gives a counter its day key."""
    suffix = sk.removeprefix("ORDER_NUMBER#")
    try:
        day = parse_day_key(suffix) if len(suffix) == 8 and suffix.isascii() and suffix.isdigit() else None
    except ValueError:
        day = None
    if day is None or not pk.startswith("COUNTER#"):
        raise UnkeyableItem("its key is not COUNTER#{tenant} / ORDER_NUMBER#YYYYMMDD")
    names = {"#pk": "GSI1_PK", "#sk": "GSI1_SK"}
    values = {":pk": counters_of_day_partition(day), ":sk": pk.removeprefix("COUNTER#")}
    return "attribute_exists(PK) AND attribute_not_exists(#pk)", names, values


class UnkeyableItem(ValueError):
    """An item the migration cannot make a key for: the reason names what is wrong, never a value."""
