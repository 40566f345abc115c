"""Counts DynamoDB requests and capacity units from a boto3 client's own events (nothing is patched).

`before-parameter-build` sees each call's parameters, `before-send` each HTTP attempt (retries included),
and `after-call` the parsed answer, successful or not. Write units are computed the documented way
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html), because
moto's `ConsumedCapacity` is not: it answers an empty list for TransactWriteItems, 1.0 for a 3 KB PutItem
and 0.5 for an UpdateItem. The rules used:

- PutItem / UpdateItem: one unit per started KB of the larger of the item before and after; a write whose
  condition fails is still charged (the existing item's size, at least one unit).
- TransactWriteItems: two units per started KB of each item (prepare and commit), only when committed.
- BatchGetItem, strongly consistent: one read unit per started 4 KB of each item asked for.
"""

from __future__ import annotations

import copy
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

KB = 1024


@dataclass
class Tally:
    """What one client (or several) sent to DynamoDB."""

    operations: Counter[str] = field(default_factory=Counter)
    http_attempts: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # error code → count
    write_units: float = 0.0
    read_units: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.operations.values())

    @property
    def writes(self) -> int:
        """Requests that write (or try to): UpdateItem, PutItem, TransactWriteItems."""
        return sum(n for op, n in self.operations.items() if op in ("UpdateItem", "PutItem", "TransactWriteItems"))

    def minus(self, before: Tally) -> Tally:
        """The difference since `before` (a snapshot taken earlier)."""
        return self.plus(before, sign=-1)

    def plus(self, other: Tally, sign: int = 1) -> Tally:
        """The sum of both tallies (or, with `sign=-1`, the difference)."""
        operations, failed = Counter(self.operations), Counter(self.failed)
        operations.update({k: sign * n for k, n in other.operations.items()})
        failed.update({k: sign * n for k, n in other.failed.items()})
        return Tally(
            +operations,
            self.http_attempts + sign * other.http_attempts,
            +failed,
            self.write_units + sign * other.write_units,
            self.read_units + sign * other.read_units,
        )


class Meter:
    """Attach to clients with `watch(client)`; read `tally` (thread-safe: the handler calls from a pool)."""

    def __init__(self) -> None:
        self.tally = Tally()
        self._lock = threading.Lock()

    def watch(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._remember, unique_id="bench-meter-params")
        events.register("before-send.dynamodb", self._attempt, unique_id="bench-meter-send")
        events.register("after-call.dynamodb", self._called, unique_id="bench-meter-call")

    def snapshot(self) -> Tally:
        with self._lock:
            return copy.deepcopy(self.tally)

    def _remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = dict(params)

    def _attempt(self, **_: Any) -> None:
        with self._lock:
            self.tally.http_attempts += 1

    def _called(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        operation = model.name
        params = context.get("bench_params", {})
        code = parsed.get("Error", {}).get("Code")
        condition_failed = code == "ConditionalCheckFailedException"
        writes, reads = _units(operation, params, failed=code is not None, condition_failed=condition_failed)
        with self._lock:
            self.tally.operations[operation] += 1
            if code:
                self.tally.failed[code] += 1
            self.tally.write_units += writes
            self.tally.read_units += reads


def _units(operation: str, params: dict[str, Any], *, failed: bool, condition_failed: bool) -> tuple[float, float]:
    if operation == "PutItem" and (not failed or condition_failed):
        return _write_units(item_size(params["Item"])), 0.0
    if operation == "UpdateItem" and (not failed or condition_failed):
        # The counter item is a few dozen bytes before and after the update: one unit.
        return _write_units(item_size(params["Key"]) + 32), 0.0
    if operation == "TransactWriteItems" and not failed:
        puts = (e["Put"]["Item"] for e in params["TransactItems"] if "Put" in e)
        updates = sum(1 for e in params["TransactItems"] if "Put" not in e)  # counters: one unit each
        return 2 * (sum(_write_units(item_size(item)) for item in puts) + updates), 0.0
    if operation == "BatchGetItem":
        keys = sum(len(table["Keys"]) for table in params["RequestItems"].values())
        return 0.0, float(keys)  # every item here is far below 4 KB
    return 0.0, 0.0


def _write_units(size: int) -> float:
    return float(max(1, math.ceil(size / KB)))


def item_size(item: dict[str, Any]) -> int:
    """A marshalled item's size in bytes, by DynamoDB's documented rules (names + values)."""
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
    if kind == "B":
        return len(content)
    return len(str(content))
