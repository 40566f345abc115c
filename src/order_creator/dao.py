"""OrderDAO: every key, expression and DynamoDB call of the orders table (contract §4), and nothing else."""

from __future__ import annotations

import hashlib
import random
import string
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Clamped, Context, Decimal, DecimalException, Inexact, Overflow, Rounded, Underflow
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from order_creator.errors import StoreUnavailable
from order_creator.models import Order
from order_creator.numbering import day_key, parse_day_key, utc_millis
from order_creator.ports import CounterKey, NumberBlock, OrderKey, Snapshot, WriteResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from order_creator.reshape import TableShape

ORDERS_BY_DATE_INDEX = "OrdersByDateIndex"
ORDER_BY_ID_INDEX = "OrderByIdIndex"
ORDERS_BY_CUSTOMER_INDEX = "OrdersByCustomerIndex"
# What the listing indexes (OrdersByDateIndex, OrdersByCustomerIndex) project besides the keys: the fields of a
# listing and of the nightly audit, so that a listing is one query while each order costs each index one small
# write (never the address or the items). A listing by date that must return whole orders reads them from the
# table by the keys it found (`list_orders`); OrderByIdIndex holds the keys only, and `get_order` reads the
# order it names. A counter's entry in OrdersByDateIndex (its day key) projects nothing: updating
# `currentValue` writes nothing to the index.
LISTING_ATTRIBUTES = (
    "id",
    "orderNumber",
    "tenantId",
    "cartId",
    "status",
    "currency",
    "subtotal",
    "tax",
    "total",
    "dateCreated",
    "sourceMessageId",
)
CUSTOMER_INDEX_ATTRIBUTES = LISTING_ATTRIBUTES
_BATCH_GET_LIMIT = 100
_UNPROCESSED_ATTEMPTS = 5
# DynamoDB's item limit is 400 KB (409,600 bytes); 400,000 leaves room for our estimate's rounding.
MAX_ITEM_BYTES = 400_000
_CONTENTION_CODES = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)

# boto3's DYNAMODB_CONTEXT (boto3.dynamodb.types): 38 significant digits, exponents within the table's range,
# and any rounding an error rather than a silent change of the amount.
_TABLE_NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def order_key(tenant_id: str, order_id: str) -> dict[str, str]:
    """The order's primary key as plain strings."""
    return {"PK": f"TENANT#{tenant_id}", "SK": f"ORDER#{order_id}"}


def counter_key(tenant_id: str, day: date) -> dict[str, str]:
    """The counter's primary key: one partition per tenant, one item per business day."""
    return {"PK": f"COUNTER#{tenant_id}", "SK": f"ORDER_NUMBER#{day_key(day)}"}


def customer_partition(tenant_id: str, email: str) -> str:
    """`GSI3_PK`: the tenant and a SHA-256 of the address's mailbox key (`mailbox_key`), never the address itself,
    so every spelling of one mailbox finds the same orders, and two mailboxes never share a key."""
    digest = hashlib.sha256(mailbox_key(email).encode("utf-8", "surrogatepass")).hexdigest()
    return f"TENANT#{tenant_id}#CUSTOMER#{digest}"


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def mailbox_key(email: str) -> str:
    """What is the same mailbox (docs/contract.md §4): the address with the ASCII blanks around it removed (space,
    tab, CR, LF: a non-breaking space is a character of the address); the local part with the ASCII letters it was
    written with lower-cased (mail servers treat ASCII case alike), then in Unicode NFC, never case-folded beyond
    ASCII (`str.lower` would fold the Kelvin sign into `k`: `Kate` with a Kelvin sign stays its own mailbox); the
    domain in NFC, lower-cased and, label by label, in its IDNA ASCII form, so `bücher.example`, `BÜCHER.example`
    and `xn--bcher-kva.example` are one domain."""
    text = email.strip(" \t\r\n")
    if text.isascii():
        return text.lower()  # the rules below, for the common address: every letter ASCII
    local, at, domain = text.rpartition("@")
    if not at:
        return unicodedata.normalize("NFC", text.translate(_ASCII_LOWER))
    return f"{unicodedata.normalize('NFC', local.translate(_ASCII_LOWER))}@{_domain_key(domain)}"


def _domain_key(domain: str) -> str:
    labels = []
    for label in unicodedata.normalize("NFC", domain).split("."):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))  # IDNA 2003 ToASCII: nameprep (case, forms), punycode
        except UnicodeError:  # a label IDNA refuses (too long, a prohibited character): compared as written
            labels.append(label.lower())
    return ".".join(labels)


def counters_of_day_partition(day: date) -> str:
    """`GSI1_PK` of every counter of a business day: OrdersByDateIndex then lists the tenants that took orders."""
    return f"COUNTERS#{day_key(day)}"


def order_item(order: Order) -> dict[str, Any]:
    """The order as a table item with every key of the table and its three indexes (OrdersByCustomerIndex sorts
    on `GSI1_SK`: no attribute is stored twice)."""
    created = datetime.fromisoformat(order.date_created)
    created_key = f"{utc_millis(created)}#{order.id}"
    return {
        **order_key(order.tenant_id, order.id),
        "GSI1_PK": f"TENANT#{order.tenant_id}",
        "GSI1_SK": created_key,
        "GSI2_PK": f"ORDER#{order.id}",
        "GSI2_SK": "METADATA",
        "GSI3_PK": customer_partition(order.tenant_id, order.customer_email),  # sorted by GSI1_SK (§4)
        "entityType": "ORDER",
        **order.to_attributes(),
    }


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the contract's schema, as template.yaml declares the table: on demand; the
    listing indexes project the listing's fields (`LISTING_ATTRIBUTES`), OrderByIdIndex the keys only."""
    keys = ("PK", "SK", "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK", "GSI3_PK")
    listing = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LISTING_ATTRIBUTES)}

    def index(name: str, pk: str, sk: str, projection: dict[str, Any]) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
            "Projection": projection,
        }

    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            index(ORDERS_BY_DATE_INDEX, "GSI1_PK", "GSI1_SK", listing),
            index(ORDER_BY_ID_INDEX, "GSI2_PK", "GSI2_SK", {"ProjectionType": "KEYS_ONLY"}),
            index(ORDERS_BY_CUSTOMER_INDEX, "GSI3_PK", "GSI1_SK", listing),
        ],
    }


class OrderDAO:
    """Implements `ports.OrderStore` on one DynamoDB table with the low-level client."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._table = table_name
        self._client = client
        # The marshalled item (None: a number the table cannot hold) and size `item_size` computed for packing,
        # reused by the write of the same Order object (held here, so its id cannot be reused meanwhile); emptied
        # by each write, recomputed when missing.
        self._sized: dict[int, tuple[Order, dict[str, Any] | None, int]] = {}

    # reads -----------------------------------------------------------------------------------

    def read(self, orders: Sequence[OrderKey], counters: Sequence[CounterKey]) -> Snapshot:
        """Existing orders (id → cartId) and counter values, with strongly consistent BatchGetItem calls."""
        keys = [order_key(*k) for k in dict.fromkeys(orders)] + [counter_key(*k) for k in dict.fromkeys(counters)]
        snapshot = Snapshot()
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            for item in self._batch_get(keys[start : start + _BATCH_GET_LIMIT]):
                pk, sk = item["PK"], item["SK"]
                if sk.startswith("ORDER#"):
                    key = OrderKey(pk.removeprefix("TENANT#"), sk.removeprefix("ORDER#"))
                    snapshot.existing[key] = item.get("cartId", "")
                else:
                    day = parse_day_key(sk.removeprefix("ORDER_NUMBER#"))
                    snapshot.counters[CounterKey(pk.removeprefix("COUNTER#"), day)] = int(item.get("currentValue", 0))
        return snapshot

    def _batch_get(self, keys: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        request: Any = {
            self._table: {
                "Keys": [_marshal(k) for k in keys],
                "ConsistentRead": True,
                "ProjectionExpression": "PK, SK, cartId, currentValue",
            }
        }
        for attempt in range(_UNPROCESSED_ATTEMPTS):
            response = self._call("batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                yield _unmarshal(item)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return
            time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter
        raise StoreUnavailable("DynamoDB left keys unprocessed after retries")

    # writes ----------------------------------------------------------------------------------

    def write(self, blocks: Sequence[NumberBlock]) -> WriteResult:
        """Each block's counter (conditioned on its previous value) and orders, in one transaction.

        An order DynamoDB would refuse whatever happens (an item over 400 KB, a number it cannot hold) is
        never sent: the write returns it in `rejected`, with the reason, and writes nothing.
        """
        items: list[Any] = []
        meaning: list[tuple[str, Any, CounterKey]] = []
        rejected: dict[OrderKey, str] = {}
        for block in blocks:
            items.append({"Update": self._counter_update(block)})
            meaning.append(("counter", block.counter, block.counter))
            for order in block.orders:
                key = OrderKey(order.tenant_id, order.id)
                try:
                    items.append({"Put": self._order_put(order)})
                except UnstorableItem as refusal:
                    rejected[key] = str(refusal)
                meaning.append(("order", key, block.counter))
        self._sized.clear()
        if rejected:
            return WriteResult(committed=False, rejected=rejected)
        try:
            self._call("transact_write_items", TransactItems=items, ClientRequestToken=_request_token(blocks))
        except ClientError as error:  # only a cancelled transaction gets here
            reasons: Any = error.response.get("CancellationReasons", [])
            return _cancelled(reasons, meaning)
        return WriteResult(committed=True)

    def _counter_update(self, block: NumberBlock) -> dict[str, Any]:
        # The day's key on the counter (set by this same update, no extra request) lets the nightly audit find
        # the tenants that took orders on a day with one query of OrdersByDateIndex instead of a scan. It is set
        # when the counter is created only: a later update moves neither the index's keys nor anything it
        # projects, so it writes nothing to the index.
        values: dict[str, Any] = {":new": block.last}
        expression = "SET currentValue = :new"
        if block.previous == 0:
            condition = "attribute_not_exists(currentValue)"
            expression += ", GSI1_PK = :day, GSI1_SK = :tenant"
            values[":day"] = counters_of_day_partition(block.counter.day)
            values[":tenant"] = block.counter.tenant_id
        else:
            condition = "currentValue = :previous"
            values[":previous"] = block.previous
        return {
            "TableName": self._table,
            "Key": _marshal(counter_key(*block.counter)),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": _marshal(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def item_size(self, order: Order) -> int:
        """The order's item size in bytes by DynamoDB's rules (UTF-8 names and strings, numbers by digits)."""
        try:
            marshalled, size = _marshal_sized(order_item(order))
        except DecimalException:  # validation refuses these first; the table's own rule is kept here too
            marshalled, size = None, 0  # refused by the write, never sent
        self._sized[id(order)] = (order, marshalled, size)
        return size

    def _order_put(self, order: Order) -> dict[str, Any]:
        sized = self._sized.get(id(order))
        if sized is None or sized[0] is not order:
            self.item_size(order)
            sized = self._sized[id(order)]
        _, marshalled, size = sized
        if marshalled is None:
            raise UnstorableItem("the order holds a number DynamoDB cannot store")
        if size > MAX_ITEM_BYTES:
            raise UnstorableItem(f"the order is {size:,} bytes; DynamoDB stores at most 400 KB an item")
        return {
            "TableName": self._table,
            "Item": marshalled,
            "ConditionExpression": "attribute_not_exists(PK)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    # plumbing --------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except BotoCoreError as error:
            raise StoreUnavailable(f"DynamoDB unreachable: {type(error).__name__}") from None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise
            raise _unavailable(error) from None

    # queries (CLI) ---------------------------------------------------------------------------

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        """The whole order with this id, whatever its tenant, or None: its key from OrderByIdIndex (which holds
        only keys), then the order itself from the table."""
        response = self._client.query(
            TableName=self._table,
            IndexName=ORDER_BY_ID_INDEX,
            KeyConditionExpression="GSI2_PK = :pk AND GSI2_SK = :sk",
            ExpressionAttributeValues=_marshal({":pk": f"ORDER#{order_id}", ":sk": "METADATA"}),
            ProjectionExpression="PK, SK",
        )
        items = response.get("Items", [])
        if not items:
            return None
        key = {k: items[0][k] for k in ("PK", "SK")}
        found = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        return _unmarshal(found["Item"]) if "Item" in found else None

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
        """A tenant's orders, one page in memory at a time, each with the position that resumes after it.

        Without a date range: the tenant's partition (`PK`), in order-id order. With `created_from` and/or
        `created_to` (both inclusive; a date is a UTC calendar day, a datetime an instant to the millisecond):
        `OrdersByDateIndex`, in creation order. With `customer_email`: that customer's orders of the tenant
        (`OrdersByCustomerIndex`, in creation order, the fields it projects), the date range applying too.
        `status` filters any of them. `after` is a position yielded earlier.
        """
        values: dict[str, Any] = {":pk": f"TENANT#{tenant_id}"}
        kwargs: dict[str, Any] = {"TableName": self._table, "Limit": page_size}
        by_date = created_from is not None or created_to is not None or customer_email is not None
        pk, sk = ("GSI3_PK", "GSI1_SK") if customer_email is not None else ("GSI1_PK", "GSI1_SK")
        if customer_email is not None:
            kwargs["IndexName"] = ORDERS_BY_CUSTOMER_INDEX
            values[":pk"] = customer_partition(tenant_id, customer_email)
        if by_date:
            kwargs.setdefault("IndexName", ORDERS_BY_DATE_INDEX)
            condition = f"{pk} = :pk" + _date_range(sk, created_from, created_to, values)
        else:
            values[":order"] = "ORDER#"
            condition = "PK = :pk AND begins_with(SK, :order)"
        if status is not None:
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
            values[":status"] = status
        kwargs["KeyConditionExpression"] = condition
        kwargs["ExpressionAttributeValues"] = _marshal(values)
        if after:
            kwargs["ExclusiveStartKey"] = _marshal(after)
        position_keys = ("PK", "SK", pk, sk) if by_date else ("PK", "SK")
        whole = kwargs.get("IndexName") == ORDERS_BY_DATE_INDEX  # it projects the listing's fields only
        while True:
            page = self._client.query(**kwargs)
            found = [_unmarshal(raw) for raw in page.get("Items", [])]
            orders = self._whole_orders(found) if whole else {}
            for item in found:
                position = {key: item[key] for key in position_keys}
                order = orders.get((item["PK"], item["SK"])) if whole else item
                if order is not None:  # None: deleted since the index listed it
                    yield order, position
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _whole_orders(self, listed: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The whole items of the orders an index listed, by (PK, SK), read strongly consistent (an order the
        index lists is in the table already); those gone since are left out."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        keys = [_marshal({"PK": item["PK"], "SK": item["SK"]}) for item in listed]
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request: Any = {self._table: {"Keys": keys[start : start + _BATCH_GET_LIMIT], "ConsistentRead": True}}
            for attempt in range(_UNPROCESSED_ATTEMPTS):
                if attempt:
                    time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter
                response = self._client.batch_get_item(RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    item = _unmarshal(raw)
                    found[item["PK"], item["SK"]] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise StoreUnavailable("DynamoDB left keys unprocessed after retries")
        return found

    # audit and migration -----------------------------------------------------------------------

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
            "ExpressionAttributeValues": _marshal({":pk": counters_of_day_partition(day)}),
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
            "ExpressionAttributeValues": _marshal(values),
            "ProjectionExpression": "SK, currentValue",
            "ConsistentRead": True,
        }
        for item in self._pages(query):
            yield str(item["SK"]), item.get("currentValue")

    def counter_value(self, tenant_id: str, day: date) -> int:
        """The counter's currentValue (strongly consistent); 0 when the day has no counter."""
        response = self._client.get_item(
            TableName=self._table,
            Key=_marshal(counter_key(tenant_id, day)),
            ProjectionExpression="currentValue",
            ConsistentRead=True,
        )
        return int(_unmarshal(response["Item"]).get("currentValue", 0)) if "Item" in response else 0

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
            "ExpressionAttributeValues": _marshal(values),
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
            "ExpressionAttributeValues": _marshal(values),
            "ProjectionExpression": "PK",
            "ReturnConsumedCapacity": "TOTAL",
            "Limit": page_size,
        }
        while True:
            page = self._client.scan(**query)
            units = float((page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
            yield [_unmarshal(item) for item in page.get("Items", [])], units or 1.0
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
            "ExpressionAttributeValues": _marshal({":order": "ORDER#", ":counter": "ORDER_NUMBER#"}),
            "ProjectionExpression": "PK, SK, customerEmail, GSI1_SK, GSI3_PK",
            "Limit": page_size,
        }
        if start:
            query["ExclusiveStartKey"] = _marshal(start)
        while True:
            page = self._client.scan(**query)
            position = _unmarshal(page["LastEvaluatedKey"]) if "LastEvaluatedKey" in page else None
            yield [_unmarshal(item) for item in page.get("Items", [])], position
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
                Key=_marshal({"PK": pk, "SK": sk}),
                UpdateExpression="SET " + ", ".join(f"{name} = :{name[1:]}" for name in names),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_marshal(values),
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
                yield _unmarshal(raw)
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


class UnstorableItem(ValueError):
    """DynamoDB would refuse this item whatever happens: too large, or a number it cannot hold."""


def _request_token(blocks: Sequence[NumberBlock]) -> str:
    """TransactWriteItems' ClientRequestToken (36 characters at most), derived from what decides the request's
    content: each counter's key, previous and new value, and each order's key, cart, number, source message and
    write time (every other attribute follows from the message and the cart). A request sent again unchanged,
    by the SDK's retries or anyone's, is the same token, and DynamoDB answers it with the first one's outcome for
    ten minutes instead of applying it twice; any other request gets another token."""
    parts: list[str] = []
    for block in blocks:
        parts.append(f"{block.counter.tenant_id}#{day_key(block.counter.day)}#{block.previous}#{block.last}")
        parts.extend(
            f"{o.id}#{o.cart_id}#{o.order_number}#{o.source_message_id}#{o.date_last_updated}" for o in block.orders
        )
    return hashlib.blake2b("\n".join(parts).encode("utf-8", "surrogatepass"), digest_size=18).hexdigest()


def _cancelled(reasons: list[dict[str, Any]], meaning: list[tuple[str, Any, CounterKey]]) -> WriteResult:
    """What a cancelled transaction's reasons say, item by item; an item that met contention names its counter."""
    result = WriteResult(committed=False)
    for (kind, key, counter), reason in zip(meaning, reasons, strict=False):
        code = reason.get("Code", "None")
        old = _unmarshal(reason["Item"]) if reason.get("Item") else None
        if code in ("None", None):
            continue
        if code == "ConditionalCheckFailed" and kind == "counter":
            result.counters[key] = int(old.get("currentValue", 0)) if old else 0
        elif code == "ConditionalCheckFailed" and kind == "order":
            result.existing[key] = str(old.get("cartId", "")) if old else ""
        elif code == "ValidationError" and kind == "order":
            result.rejected[key] = f"DynamoDB refused the order: {reason.get('Message', 'validation error')}"
        else:
            result.contention = True
            result.busy.add(counter)
    if not (result.counters or result.existing or result.rejected):
        result.contention = True
    return result


def _date_range(
    sk: str, created_from: date | datetime | None, created_to: date | datetime | None, values: dict[str, Any]
) -> str:
    """The sort key's condition for a date range (both ends inclusive; "" without one), its bounds put in `values`."""
    if created_from is not None:
        values[":from"] = _date_bound(created_from)
    if created_to is not None:
        values[":to"] = _date_bound(created_to) + "~"  # '~' sorts after every character of the sort key
    if created_from is not None and created_to is not None:
        return f" AND {sk} BETWEEN :from AND :to"
    if created_from is not None:
        return f" AND {sk} >= :from"
    return f" AND {sk} <= :to" if created_to is not None else ""


def _date_bound(moment: date | datetime) -> str:
    """The GSI1_SK prefix of a day (UTC) or of an instant: a date sorts before every time of its day."""
    return utc_millis(moment) if isinstance(moment, datetime) else moment.isoformat()


def _unavailable(error: ClientError) -> StoreUnavailable:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    return StoreUnavailable(f"DynamoDB failed with {code}")


def _marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return _marshal_sized(item)[0]


def _marshal_sized(item: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The item as attribute values, and its size in bytes by DynamoDB's rules, in one walk."""
    marshalled: dict[str, Any] = {}
    size = 0
    for name, value in item.items():
        marshalled[name], value_size = _attribute_value(value)
        size += _text_size(name) + value_size
    return marshalled, size


def _attribute_value(value: Any) -> tuple[dict[str, Any], int]:
    """What boto3's `TypeSerializer` makes of `value`, and its size by DynamoDB's rules (strings in UTF-8 bytes,
    a number 1 byte per 2 significant digits + 1, at most 21; booleans and null 1 byte; lists and maps 3 bytes
    plus 1 byte per element plus their contents).

    Strings (subclasses too), maps, lists, numbers (with boto3's check that DynamoDB can hold them: `DecimalException`
    otherwise), booleans and None map one to one; anything rarer (sets, binary, other mappings and sequences)
    goes to `TypeSerializer` itself. Doing the common kinds here keeps boto3 out of the handler's cold start
    (importing it costs about 16 ms of CPU beyond botocore's) and its type dispatch (up to nine checks per
    value) out of the warm path; the kinds are told by exact type first (an isinstance check against `Mapping`
    costs more than the counting). `tests/unit/test_marshalling.py` holds both equal to boto3 and to the rules.
    """
    kind = type(value)
    if kind is str:
        return {"S": value}, _text_size(value)
    if kind is dict:
        return _map_value(value)
    if kind is list:
        return _list_value(value)
    if kind is Decimal or kind is int:
        number = str(_TABLE_NUMBERS.create_decimal(value))
        if number in ("Infinity", "NaN"):  # as boto3 checks (models refuse every non-finite amount first)
            raise TypeError("Infinity and NaN not supported")
        return {"N": number}, _number_size(number)
    if kind is bool:
        return {"BOOL": value}, 1
    if value is None:
        return {"NULL": True}, 1
    if isinstance(value, str):  # a str subclass, such as the order's status
        return {"S": value}, _text_size(value)
    serialized: dict[str, Any] = _boto3_types()[0].serialize(value)
    return serialized, _rare_size(serialized)


def _map_value(value: dict[Any, Any]) -> tuple[dict[str, Any], int]:
    inner: dict[str, Any] = {}
    size = 3
    for key, item in value.items():
        inner[key], item_size = _attribute_value(item)
        size += 1 + _text_size(key) + item_size
    return {"M": inner}, size


def _list_value(value: list[Any]) -> tuple[dict[str, Any], int]:
    items = []
    size = 3
    for item in value:
        marshalled, item_size = _attribute_value(item)
        items.append(marshalled)
        size += 1 + item_size
    return {"L": items}, size


def _text_size(text: Any) -> int:
    # a lone surrogate, which UTF-8 cannot encode, counts its 3 bytes: sizing never refuses (load_json does)
    return len(text) if type(text) is str and text.isascii() else len(str(text).encode("utf-8", "surrogatepass"))


def _number_size(number: str) -> int:
    """The size of a number as `str(Decimal)` writes it: its coefficient's digits, leading zeros aside."""
    digits = len(number.lstrip("-").partition("E")[0].replace(".", "").lstrip("0")) or 1
    return min(21, (digits + 1) // 2 + 1)


_SCALAR_SIZES: dict[str, Callable[[Any], int]] = {"S": _text_size, "N": _number_size, "B": len}


def _rare_size(value: dict[str, Any]) -> int:
    """The size of an attribute value `TypeSerializer` made (a set counts as a list of its members)."""
    (kind, inner), *_ = value.items()
    if kind in _SCALAR_SIZES:
        return _SCALAR_SIZES[kind](inner)
    if kind in ("SS", "NS", "BS"):
        return 3 + sum(1 + _SCALAR_SIZES[kind[0]](member) for member in inner)
    if kind == "M":
        return 3 + sum(1 + _text_size(k) + _rare_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _rare_size(v) for v in inner)
    return 1  # BOOL, NULL


def _unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _python_value(value) for key, value in item.items()}


def _python_value(value: dict[str, Any]) -> Any:
    """What boto3's `TypeDeserializer` makes of an attribute value: `N` as `Decimal`, sets and binary by boto3."""
    if not value:
        return _boto3_types()[1].deserialize(value)  # boto3's own error
    kind, inner = next(iter(value.items()))  # boto3 reads the first key, as here
    if kind == "S":
        return inner
    if kind == "N":
        return _TABLE_NUMBERS.create_decimal(inner)
    if kind == "M":
        return {key: _python_value(v) for key, v in inner.items()}
    if kind == "L":
        return [_python_value(v) for v in inner]
    if kind == "BOOL":
        return inner
    if kind == "NULL":
        return None
    return _boto3_types()[1].deserialize(value)


@cache
def _boto3_types() -> tuple[Any, Any]:
    """boto3's serializer and deserializer, imported for the first value the table holds rarely (sets, binary)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()
