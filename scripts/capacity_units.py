"""Write and read units per order, from the `ConsumedCapacity` DynamoDB answers with `ReturnConsumedCapacity=INDEXES`,
for this project's handler (on a table made from template.yaml) and for the seed's algorithm (on the seed's
schema), with the same three-line orders: three batches of ten for one tenant, one batch of ten tenants.

    .venv/bin/python scripts/capacity_units.py [--json]

moto 5.2.5 does not account capacity (it answers an empty list for TransactWriteItems, one unit a key for
BatchGetItem whatever the item, a constant for the rest), so the moto server here (single-threaded, in this
process) answers through a layer that fills `ConsumedCapacity` by DynamoDB's documented rules, from the
items moto holds before and after each request
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html,
.../GSI.html#GSI.ThroughputConsiderations):

- an item's size: its attribute names and values in UTF-8, a number 1 byte per two significant digits + 1,
  3 bytes per list or map plus 1 per element;
- a table write: one unit per started KB of the larger of the item before and after (at least one); in a
  transaction, twice that (prepare and commit);
- each global secondary index: an entry is the item's table keys, the index's keys and what the index
  projects (ALL, KEYS_ONLY, INCLUDE), present only when the item has both index keys. No entry before or
  after: nothing; a new entry: a put; a removed one: a delete; a key change: a delete and a put; the same keys:
  one put if the entry changed, nothing if not. One unit per started KB of the entry; not doubled in a
  transaction;
- GetItem and BatchGetItem: per key, one unit per started 4 KB of the item (a missing item: one), half for
  an eventually consistent read.

Not accounted (none happens in this measurement): a refused request (DynamoDB charges a failed conditional
write its units, moto's error answer carries none), `ConditionCheck` items, Query and Scan.

The handler's and the seed's own clients ask for `INDEXES` (a botocore event adds it to every call) and the
figures are summed from the answers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value

KB = 1024
ACCOUNT, REGION = "123456789012", "us-east-1"
PRICES = ("149.99", "49.50", "12.00")  # the bench's three-line cart (bench/servers.py)
DAY_CREATED = "2025-12-30T10:15:00+02:00"
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
READS = ("GetItem", "BatchGetItem")


# sizes and units by DynamoDB's rules ---------------------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = Decimal(inner).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind in ("SS", "NS", "BS"):
        return 3 + sum(1 + value_size({kind[0]: v}) for v in inner)
    return len(inner)  # B (base64 in JSON: an overestimate; no binary here)


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / KB)))


def index_entry(index: dict[str, Any], table_keys: list[str], item: dict[str, Any] | None) -> dict[str, Any] | None:
    """The item's entry in the index (None: not in it)."""
    keys = [k["AttributeName"] for k in index["KeySchema"]]
    if item is None or any(k not in item for k in keys):
        return None
    projection = index["Projection"]
    if projection["ProjectionType"] == "ALL":
        return dict(item)
    names = set(keys) | set(table_keys) | set(projection.get("NonKeyAttributes", []))
    return {k: v for k, v in item.items() if k in names}


def index_units(index: dict[str, Any], table_keys: list[str], before: Any, after: Any) -> float:
    old, new = index_entry(index, table_keys, before), index_entry(index, table_keys, after)
    keys = [k["AttributeName"] for k in index["KeySchema"]] + table_keys
    if old is None and new is None:
        return 0.0
    if old is None or new is None:
        return write_units(item_size(old if new is None else new))
    if any(old[k] != new[k] for k in keys):
        return write_units(item_size(old)) + write_units(item_size(new))
    return 0.0 if old == new else write_units(item_size(new))


# the capacity layer in front of moto -------------------------------------------------------------------


class CapacityLayer:
    """A WSGI layer over moto's app: fills ConsumedCapacity for the writes and key reads of DynamoDB's API."""

    def __init__(self, app: Any) -> None:
        from moto.dynamodb.models import dynamodb_backends

        self._app = app
        self._backend = dynamodb_backends[ACCOUNT][REGION]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.rpartition(".")[2]
        if not target.startswith("DynamoDB_") or operation not in WRITES + READS:
            return self._app(environ, start_response)  # type: ignore[no-any-return]
        import io

        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = json.loads(body)
        environ["wsgi.input"] = io.BytesIO(body)
        touched = self._touched(operation, request)
        before = {key: self._item(*key) for key in touched}
        status: list[Any] = []
        answer = b"".join(self._app(environ, lambda s, h, *a: status.append((s, h))))
        code, headers = status[0]
        if code.startswith("200") and request.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            after = {key: self._item(*key) for key in touched}
            document = json.loads(answer)
            document["ConsumedCapacity"] = self._capacity(operation, request, touched, before, after)
            answer = json.dumps(document).encode()
            # the body's length and checksum (botocore checks DynamoDB's x-amz-crc32 and retries on a mismatch)
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
            headers += [("Content-Length", str(len(answer))), ("x-amz-crc32", str(zlib.crc32(answer)))]
        start_response(code, headers)
        return [answer]

    def _touched(self, operation: str, request: dict[str, Any]) -> list[tuple[str, str]]:
        """(table, key as JSON) of every item the request reads or writes, in order."""
        if operation == "TransactWriteItems":
            parts = [next(iter(entry.values())) for entry in request["TransactItems"]]
            return [(p["TableName"], self._key_of(p["TableName"], p.get("Key") or p["Item"])) for p in parts]
        if operation == "BatchGetItem":
            return [(t, json.dumps(k, sort_keys=True)) for t, r in request["RequestItems"].items() for k in r["Keys"]]
        table = request["TableName"]
        return [(table, self._key_of(table, request.get("Key") or request["Item"]))]

    def _key_of(self, table: str, item: dict[str, Any]) -> str:
        names = [k["AttributeName"] for k in self._backend.get_table(table).schema]
        return json.dumps({n: item[n] for n in names}, sort_keys=True)

    def _item(self, table: str, key: str) -> dict[str, Any] | None:
        found = self._backend.get_item(table, json.loads(key))
        return None if found is None else json.loads(json.dumps(found.to_json()["Attributes"], default=str))

    def _capacity(
        self,
        operation: str,
        request: dict[str, Any],
        touched: list[tuple[str, str]],
        before: dict[Any, Any],
        after: dict[Any, Any],
    ) -> Any:
        totals: dict[str, dict[str, Any]] = {}
        for table, key in touched:
            entry = totals.setdefault(table, {"TableName": table, "CapacityUnits": 0.0, "Table": {}, "GSI": {}})
            if operation in READS:
                consistent = (request.get("RequestItems", {}).get(table) or request).get("ConsistentRead", False)
                units = math.ceil(max(1, item_size(before[table, key])) / (4 * KB)) * (1.0 if consistent else 0.5)
                entry["Table"]["ReadCapacityUnits"] = entry["Table"].get("ReadCapacityUnits", 0.0) + units
                continue
            definition = self._backend.get_table(table)
            size = max(item_size(before[table, key]), item_size(after[table, key]))
            units = write_units(size) * (2 if operation == "TransactWriteItems" else 1)
            entry["Table"]["WriteCapacityUnits"] = entry["Table"].get("WriteCapacityUnits", 0.0) + units
            table_keys = [k["AttributeName"] for k in definition.schema]
            for index in definition.global_indexes:
                spent = index_units(index.describe(), table_keys, before[table, key], after[table, key])
                if spent:
                    gsi = entry["GSI"].setdefault(index.name, {"WriteCapacityUnits": 0.0})
                    gsi["WriteCapacityUnits"] += spent
        shaped = [_shaped(entry) for entry in totals.values()]
        return shaped if operation.startswith(("Batch", "Transact")) else shaped[0]


def _shaped(entry: dict[str, Any]) -> dict[str, Any]:
    """A ConsumedCapacity element as DynamoDB writes it (INDEXES)."""
    table = entry["Table"]
    table["CapacityUnits"] = table.get("ReadCapacityUnits", 0.0) + table.get("WriteCapacityUnits", 0.0)
    indexes = {name: {**units, "CapacityUnits": units["WriteCapacityUnits"]} for name, units in entry["GSI"].items()}
    total = table["CapacityUnits"] + sum(i["CapacityUnits"] for i in indexes.values())
    shaped = {
        "TableName": entry["TableName"],
        "CapacityUnits": total,
        "ReadCapacityUnits": table.get("ReadCapacityUnits", 0.0),
        "WriteCapacityUnits": table.get("WriteCapacityUnits", 0.0)
        + sum(i["WriteCapacityUnits"] for i in indexes.values()),
        "Table": table,
    }
    if indexes:
        shaped["GlobalSecondaryIndexes"] = indexes
    return shaped


class Server:
    """moto behind the capacity layer, single-threaded (moto's threaded server loses updates: FACTS.md)."""

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = CapacityLayer(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=MotoRequestHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


# what the clients were told ----------------------------------------------------------------------------


class Units:
    """Sums the ConsumedCapacity a client's answers carry; asks for INDEXES on every call."""

    def __init__(self) -> None:
        self.table_writes = self.index_writes = self.reads = 0.0

    def watch(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._ask, unique_id="capacity-units-ask")
        events.register("after-call.dynamodb", self._add, unique_id="capacity-units-add")

    @staticmethod
    def _ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def _add(self, parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.table_writes += entry.get("Table", {}).get("WriteCapacityUnits", 0.0)
            self.reads += entry.get("Table", {}).get("ReadCapacityUnits", 0.0)
            self.index_writes += sum(
                i.get("WriteCapacityUnits", 0.0) for i in entry.get("GlobalSecondaryIndexes", {}).values()
            )

    def snapshot(self) -> tuple[float, float, float]:
        return self.table_writes, self.index_writes, self.reads


# the two sides -----------------------------------------------------------------------------------------


def tenant_ids(count: int) -> list[str]:
    """Tenant ids of 16 characters, as docs/capacity.md's figures."""
    return [f"tenant-{uuid.uuid4().hex[:9]}" for _ in range(count)]


def batches() -> list[tuple[str, list[tuple[str, str]]]]:
    """(name, [(tenant, cart id)]): three batches of ten for one tenant, one batch of ten tenants."""
    busy = tenant_ids(1)[0]
    plan = [(f"busy tenant, batch {n}", [(busy, f"cart-{n}-{i}") for i in range(10)]) for n in range(1, 4)]
    plan.append(("ten tenants", [(t, "cart-1") for t in tenant_ids(10)]))
    return plan


def seed_schema(name: str) -> dict[str, Any]:
    """The seed's table: GSI1 and GSI2, both projecting everything; no customer index."""

    def index(n: int) -> dict[str, Any]:
        return {
            "IndexName": f"GSI{n}",
            "KeySchema": [
                {"AttributeName": f"GSI{n}_PK", "KeyType": "HASH"},
                {"AttributeName": f"GSI{n}_SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    keys = ("PK", "SK", "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK")
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [index(1), index(2)],
    }


def seed_writes(client: Any, table: str, order: dict[str, Any]) -> None:
    """The seed's algorithm for one order: the counter's `if_not_exists` ADD under PK=COUNTER, then a PutItem
    with attribute_not_exists, of the order with the seed's keys (ours without the customer index's)."""
    tenant, day = order["tenantId"]["S"], order["orderNumber"]["S"].split("-")[1]
    number = client.update_item(
        TableName=table,
        Key={"PK": {"S": "COUNTER"}, "SK": {"S": f"ORDER_NUMBER#{tenant}#{day}"}},
        UpdateExpression="SET currentValue = if_not_exists(currentValue, :zero) + :one",
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW",
    )["Attributes"]["currentValue"]["N"]
    item = {k: v for k, v in order.items() if not k.startswith("GSI3_")}
    item["orderNumber"] = {"S": f"ORD-{day}-{int(number):05d}"}
    client.put_item(
        TableName=table,
        Item=item,
        ConditionExpression="attribute_not_exists(PK) AND attribute_not_exists(SK)",
    )


def measure() -> dict[str, Any]:
    import logging

    import boto3
    from tests.factories import message, record, sqs_event
    from tests.template_table import template_table

    from order_creator import clients
    from order_creator.handler import lambda_handler
    from order_creator.worker import WorkerContext

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    url = Server().start()
    carts = ThreeLineCarts()
    carts_url = carts.start()
    table, seed_table = f"orders-{uuid.uuid4().hex[:6]}", f"seed-{uuid.uuid4().hex[:6]}"
    os.environ.update({"AWS_ENDPOINT_URL": url, "DYNAMODB_TABLE_NAME": table, "CART_LAMBDA_API_URL": carts_url})
    admin = boto3.client("dynamodb", endpoint_url=url)
    admin.create_table(**template_table(table))
    admin.create_table(**seed_schema(seed_table))
    ours, seed = Units(), Units()
    ours.watch(clients.dynamodb())
    seed_client = boto3.client("dynamodb", endpoint_url=url)
    seed.watch(seed_client)
    rows: dict[str, Any] = {}
    for name, orders in batches():
        records = [record(message(tenant, cart_id)) for tenant, cart_id in orders]
        before, seed_before = ours.snapshot(), seed.snapshot()
        failed = lambda_handler(sqs_event(*records), WorkerContext(time.monotonic() + 60.0))["batchItemFailures"]
        assert not failed, failed
        stored = [
            _stored(admin, table, tenant, json.loads(r["body"])["orderId"])
            for (tenant, _), r in zip(orders, records, strict=True)
        ]
        for item in stored:
            seed_writes(seed_client, seed_table, item)
        rows[name] = {
            "orders": len(orders),
            "ours": [b - a for a, b in zip(before, ours.snapshot(), strict=True)],
            "seed": [b - a for a, b in zip(seed_before, seed.snapshot(), strict=True)],
            "item_bytes": sorted({item_size(i) for i in stored}),
            "seed_item_bytes": sorted(
                {item_size({k: v for k, v in i.items() if not k.startswith("GSI3_")}) for i in stored}
            ),
        }
    return rows


class ThreeLineCarts:
    """The Cart API where every cart exists, belongs to the tenant asked for, and holds three lines."""

    def start(self) -> str:
        from tests.factories import cart

        from order_creator.local import CartApiServer
        from order_creator.models import exact_json

        class Api(CartApiServer):
            def cart_text(self, tenant_id: str, cart_id: str) -> str | None:
                return exact_json(cart(tenant_id, cart_id, prices=PRICES, tax="31.72"))

        self._api = Api()
        return str(self._api.start())


def _stored(client: Any, table: str, tenant: str, order_id: str) -> dict[str, Any]:
    key = {"PK": {"S": f"TENANT#{tenant}"}, "SK": {"S": f"ORDER#{order_id}"}}
    return dict(client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])


def report(rows: dict[str, Any]) -> str:
    def per_order(names: list[str], side: str) -> tuple[float, float, float, float]:
        orders = sum(rows[n]["orders"] for n in names)
        table, index, reads = (sum(rows[n][side][i] for n in names) / orders for i in range(3))
        return table + index, index, reads, orders

    busy = [n for n in rows if n.startswith("busy")]
    lines = [
        "| orders | side | write units per order (of them index writes) | read units per order | x the seed's writes |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for label, names in (
        ("busy tenant (3 x 10)", busy),
        ("ten tenants (1 x 10)", ["ten tenants"]),
        ("mix (all 40)", list(rows)),
    ):
        seed_writes_, seed_index, seed_reads, _ = per_order(names, "seed")
        writes, index, reads, _ = per_order(names, "ours")
        lines.append(
            f"| {label} | this project | {writes:.2f} ({index:.2f}) | {reads:.2f} | {writes / seed_writes_:.2f} |"
        )
        lines.append(
            f"| {label} | the seed's algorithm | {seed_writes_:.2f} ({seed_index:.2f}) | {seed_reads:.2f} | 1.00 |"
        )
    sizes = sorted({s for r in rows.values() for s in r["item_bytes"]})
    seed_sizes = sorted({s for r in rows.values() for s in r["seed_item_bytes"]})
    lines.append(
        f"\norder item: {', '.join(map(str, sizes))} bytes (the seed's keys only: {', '.join(map(str, seed_sizes))})"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="the raw figures per batch")
    args = parser.parse_args()
    rows = measure()
    print(json.dumps(rows, indent=2) if args.json else report(rows))


if __name__ == "__main__":
    main()
