"""DynamoDB's capacity accounting, answered by the bench's moto server (`bench/servers.py moto` installs it).

moto 5.2.5 answers `ReturnConsumedCapacity` with fixed figures (1.0 for any PutItem, nothing for TransactWriteItems,
a unit per BatchGetItem key whatever its size). Here the emulator answers it as DynamoDB bills, from the items it
holds before and after each request and the table's own indexes (developer guide: read-write-operations.html,
GSI.html#GSI.ThroughputConsiderations). Writes: a unit per started KB of the larger of the item before and after,
the table's share doubled in TransactWriteItems, the indexes' not; per global index, a new or removed entry costs
its size, a moved key both, an entry whose projected attributes change the larger of the two, an unchanged one
nothing (an entry: the table's and the index's keys and the projected attributes). Reads: a unit per started 4 KB
(each item; a Query's total, filtered items included), half if eventually consistent. A refused request is
answered as moto answers it, without ConsumedCapacity (DynamoDB charges a failed condition).

`Meter.watch(client)` reads it on the client's own events (nothing is patched): `before-parameter-build` asks each
request that can answer it for `ReturnConsumedCapacity=INDEXES`, `after-call` adds up the answers' units, the
table's share apart from the indexes'. The code under test is unchanged; its answers carry one more field.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

WRITES = {"put_item": "Put", "update_item": "Update", "delete_item": "Delete"}
READS = ("get_item", "batch_get_item", "query")
_evaluated: list[int] = []  # bytes the last Query read before its filter and projection (one request at a time)


def install() -> None:
    """Wrap moto's DynamoDB handlers so that `ReturnConsumedCapacity` is answered by DynamoDB's rules."""
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    for name in (*WRITES, "transact_write_items", *READS):
        setattr(DynamoHandler, name, _wrapped(getattr(DynamoHandler, name), name))
    Table.query = _sized_query(Table.query)  # type: ignore[method-assign]


def _sized_query(stock: Any) -> Any:
    """moto's Table.query, noting the size of what it read before it filters and projects (as moto does last)."""
    signature = inspect.signature(stock)

    def query(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        projection = bound.arguments.get("projection_expressions")
        condition = bound.arguments.get("filter_expression")
        bound.arguments.update(projection_expressions=None, filter_expression=None)
        results, scanned, last = stock(*bound.args, **bound.kwargs)
        _evaluated[:] = [sum(item_size(r.to_json()["Attributes"]) for r in results)]
        results = [r for r in results if condition is None or condition.expr(r)]
        return [r.project(projection) for r in results] if projection else results, scanned, last

    return query


def _wrapped(stock: Any, name: str) -> Any:
    def handler(self: Any) -> Any:
        mode = self.body.get("ReturnConsumedCapacity", "NONE")
        if mode == "NONE":
            return stock(self)
        backend = self.dynamodb_backend
        writes = _writes_of(name, self.body)
        before = [_image(backend, table, key) for table, key, _ in writes]
        result = stock(self)
        if name in READS:
            units = _read_units(backend, name, self.body)
        else:
            after = [_image(backend, table, key) for table, key, _ in writes]
            units = _write_units(backend, writes, before, after, transaction=name == "transact_write_items")
        answer = _answer(units, mode)
        result.result["ConsumedCapacity"] = answer if name in ("batch_get_item", "transact_write_items") else answer[0]
        return result

    return handler


def _writes_of(name: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(table, key or whole item, kind) of every item the request writes."""
    if name in WRITES:
        return [(body["TableName"], body.get("Key") or body["Item"], WRITES[name])]
    found = []
    for entry in body.get("TransactItems", []):
        (kind, action), *_ = entry.items()
        found.append((action["TableName"], action.get("Key") or action["Item"], kind))
    return found


def _image(backend: Any, table_name: str, key_or_item: dict[str, Any]) -> tuple[int, dict[str, tuple[str, int, str]]]:
    """The stored item's size and, for each index, (its entry's key, its entry's size) or None: before a write
    or after it (sizes taken now: moto may change the item in place)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.get_table(table_name)
    hash_key = DynamoType(key_or_item[table.hash_key_attr])
    range_key = DynamoType(key_or_item[table.range_key_attr]) if table.range_key_attr else None
    item = table.get_item(hash_key, range_key)
    if item is None:
        return 0, {}
    attributes = item.to_json()["Attributes"]
    entries = {}
    for index in table.global_indexes:
        if all(name in attributes for name in index.schema_key_attrs):
            entry = index.project(item).to_json()["Attributes"]
            keys = repr([attributes[name] for name in index.schema_key_attrs])
            entries[index.name] = (keys, item_size(entry), repr(sorted(entry.items())))
    return item_size(attributes), entries


def _write_units(backend: Any, writes: list[Any], before: list[Any], after: list[Any], transaction: bool) -> Any:
    units: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (table, _, kind), (old_size, old), (new_size, new) in zip(writes, before, after, strict=True):
        if kind == "ConditionCheck":
            continue
        units[table]["Table"] += _kb(max(old_size, new_size), 1024) * (2 if transaction else 1)
        for index in backend.get_table(table).global_indexes:
            was, now = old.get(index.name), new.get(index.name)
            if was and now and was[0] == now[0]:  # the same entry: a write only if what it projects changed
                cost = _kb(max(was[1], now[1]), 1024) if was[2] != now[2] else 0
            else:
                cost = (_kb(was[1], 1024) if was else 0) + (_kb(now[1], 1024) if now else 0)
            units[table][index.name] += cost
    return units


def _read_units(backend: Any, name: str, body: dict[str, Any]) -> Any:
    if name == "batch_get_item":
        units: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for table, request in body["RequestItems"].items():
            factor = 1.0 if request.get("ConsistentRead") else 0.5
            for key in request["Keys"]:
                units[table]["Table"] += _kb(_image(backend, table, key)[0], 4096) * factor
        return units
    table, factor = body["TableName"], 1.0 if body.get("ConsistentRead") else 0.5
    if name == "get_item":
        return {table: {"Table": _kb(_image(backend, table, body["Key"])[0], 4096) * factor}}
    total = _evaluated[0] if _evaluated else 0  # Query (Scan is not metered: moto's own answer stands)
    return {table: {body.get("IndexName", "Table"): _kb(total, 4096) * factor}}


def _answer(units: dict[str, dict[str, float]], mode: str) -> list[dict[str, Any]]:
    """ConsumedCapacity as DynamoDB shapes it, one per table."""
    answers = []
    for table, parts in units.items():
        answer: dict[str, Any] = {"TableName": table, "CapacityUnits": sum(parts.values())}
        if mode == "INDEXES":
            answer["Table"] = {"CapacityUnits": parts.get("Table", 0.0)}
            indexes = {name: {"CapacityUnits": v} for name, v in parts.items() if name != "Table"}
            if indexes:
                answer["GlobalSecondaryIndexes"] = indexes
        answers.append(answer)
    return answers


def _kb(size: float, unit: int) -> float:
    return float(max(1, math.ceil(size / unit)))


def item_size(item: dict[str, Any]) -> int:
    """A marshalled item's size in bytes by DynamoDB's documented rules (names + values)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        digits = Decimal(content).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in content.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in content)
    return len(content)


# the client side: what a client was answered ---------------------------------------------------------------

OPERATIONS_WRITING = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class Meter:
    """Attach to clients with `watch(client)`; `counts()` is a Counter (thread-safe: the handler calls from a pool) of
    "requests", "request:OPERATION", "error:CODE" and the units "write/table", "write/index", "read/table",
    "read/index"; the difference of two is what was counted between them."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def watch(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._ask, unique_id="bench-meter-ask")
        events.register("after-call.dynamodb", self._called, unique_id="bench-meter-call")

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    @staticmethod
    def _ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def _called(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        kind = "write" if model.name in OPERATIONS_WRITING else "read"
        consumed = parsed.get("ConsumedCapacity") or []
        with self._lock:
            self._counts.update(("requests", f"request:{model.name}"))
            if code := parsed.get("Error", {}).get("Code"):
                self._counts[f"error:{code}"] += 1
            for answer in consumed if isinstance(consumed, list) else [consumed]:
                self._counts[f"{kind}/table"] += answer.get("Table", {}).get("CapacityUnits", 0.0)
                for index in answer.get("GlobalSecondaryIndexes", {}).values():
                    self._counts[f"{kind}/index"] += index["CapacityUnits"]
