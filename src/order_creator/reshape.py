"""`order-creator table migrate`, its last part: the table's indexes and order items to this version's shape.

This version's shape (`store.keys.table_definition`, template.yaml; docs/capacity.md says why): OrdersByDateIndex
projects the listing's fields (it projected everything), OrderByIdIndex only the keys (everything), and
OrdersByCustomerIndex sorts on `GSI1_SK` itself (on `GSI3_SK`, a copy of it, which the orders then lose).

DynamoDB changes neither an index's keys nor its projection in place: an index of another shape is deleted
and created again, one index at a time (UpdateTable takes one index change at a time), each step waited for.
An index's access pattern is unavailable from its deletion until its new version has backfilled, and only
then does the next index start: `orders list --from/--to`, `events replay` and the nightly audit
(OrdersByDateIndex) first, then `orders get` (OrderByIdIndex), then `orders list --email`
(OrdersByCustomerIndex). The Lambda reads no index: orders keep being taken throughout. Run it outside the
nightly audit's hour. The next step is read from the table each time (DescribeTable), so an interrupted run
continues from where the table is; DynamoDB builds the index itself (not held to `--max-wcu`).

Then the orders' `GSI3_SK` is removed, the only change to items: one scan for the orders holding it, a
conditional UpdateItem each (an order without it by now, or gone, is left alone), held to `--max-wcu` write
units a second, the position saved after each page in `<state file>.reshape` for a later run to continue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from order_creator.store import TableAccess

COPY = "GSI3_SK"  # the attribute this version no longer stores (OrdersByCustomerIndex sorts on GSI1_SK)
POLL_SECONDS = 15.0


@dataclass(frozen=True)
class IndexStep:
    """What to do next to the table's indexes: `wait` (a change is under way), `delete` or `create` `index`."""

    action: str
    index: str = ""


def next_index_step(described: dict[str, Any], wanted: dict[str, Any]) -> IndexStep | None:
    """The next step from the table as DescribeTable describes it to the indexes of `wanted` (CreateTable
    arguments), or None when every index of `wanted` is there, active, of its shape. Indexes `wanted` does not
    name are left as they are."""
    current = {index["IndexName"]: index for index in described.get("GlobalSecondaryIndexes", [])}
    busy = [i for i in current.values() if i.get("IndexStatus", "ACTIVE") != "ACTIVE" or i.get("Backfilling")]
    if described.get("TableStatus", "ACTIVE") != "ACTIVE" or busy:
        return IndexStep("wait")
    for index in wanted["GlobalSecondaryIndexes"]:
        have = current.get(index["IndexName"])
        if have is None:
            return IndexStep("create", index["IndexName"])
        if _shape(have) != _shape(index):
            return IndexStep("delete", index["IndexName"])
    return None


def _shape(index: dict[str, Any]) -> tuple[Any, ...]:
    projection = index.get("Projection", {})
    keys = tuple((k["AttributeName"], k["KeyType"]) for k in index["KeySchema"])
    return keys, projection.get("ProjectionType"), frozenset(projection.get("NonKeyAttributes", ()))


class TableShape(TableAccess):
    """The DynamoDB calls of the reshaping, on one table."""

    @property
    def table(self) -> str:
        """The table's name."""
        return self._table

    def describe(self) -> dict[str, Any]:
        """The table as DescribeTable describes it."""
        return dict(self._client.describe_table(TableName=self.table)["Table"])

    def change_index(self, step: IndexStep, wanted: dict[str, Any]) -> None:
        """Start deleting or creating one index (as `wanted` defines it); DynamoDB completes it in the background."""
        if step.action == "delete":
            update: Any = {"Delete": {"IndexName": step.index}}
            self._client.update_table(TableName=self.table, GlobalSecondaryIndexUpdates=[update])
            return
        (index,) = [i for i in wanted["GlobalSecondaryIndexes"] if i["IndexName"] == step.index]
        names = {k["AttributeName"] for k in index["KeySchema"]}
        definitions = [d for d in wanted["AttributeDefinitions"] if d["AttributeName"] in names]
        self._client.update_table(
            TableName=self.table,
            AttributeDefinitions=definitions,
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )

    def orders_with_copy(
        self, start: dict[str, Any] | None = None, page_size: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        """Pages of a scan for the orders that hold `GSI3_SK` (their keys only), each with the position after it
        (None after the last page)."""
        pages = self._pages(
            "scan",
            FilterExpression="begins_with(SK, :order) AND attribute_exists(#copy)",
            ExpressionAttributeNames={"#copy": COPY},
            ExpressionAttributeValues={":order": {"S": "ORDER#"}},
            ProjectionExpression="PK, SK",
            Limit=page_size,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        for page in pages:
            position = page.get("LastEvaluatedKey")
            yield [dict(item) for item in page.get("Items", [])], (dict(position) if position else None)

    def remove_copy(self, key: dict[str, Any]) -> float | None:
        """Remove `GSI3_SK` from the order with this key (as the scan gave it); the write units DynamoDB reports
        (1.0 if it reports none), or None when the order holds none by now or is gone."""
        return self._update_if(
            Key={"PK": key["PK"], "SK": key["SK"]},
            UpdateExpression="REMOVE #copy",
            ConditionExpression="attribute_exists(#copy)",
            ExpressionAttributeNames={"#copy": COPY},
        )


def reshape_indexes(
    shape: TableShape,
    wanted: dict[str, Any],
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Take the table's indexes to `wanted`'s, one step at a time, waiting for each; the number of steps taken."""
    steps = 0
    waiting = False
    while (step := next_index_step(shape.describe(), wanted)) is not None:
        if step.action == "wait":
            if not waiting:
                say("migrate: waiting for DynamoDB to finish an index change")
            waiting = True
            sleep(POLL_SECONDS)
            continue
        waiting = False
        say(f"migrate: {'deleting' if step.action == 'delete' else 'creating'} {step.index}")
        shape.change_index(step, wanted)
        steps += 1
    return steps


@dataclass
class CopyRemoval:
    """Where the removal of `GSI3_SK` stands: saved after every page, so a later run continues from `position`."""

    table: str
    position: dict[str, Any] | None = None
    pages: int = 0
    orders: int = 0
    write_units: float = 0.0

    def save(self, path: Path) -> None:
        """Write it atomically (a crash mid-write leaves the previous state)."""
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_text(json.dumps(asdict(self)))
        scratch.replace(path)

    @classmethod
    def load(cls, path: Path, table: str) -> CopyRemoval:
        """The saved state for `table`, or a fresh one (no file, or one this version cannot read: the scan then
        starts over, which the conditional writes make harmless)."""
        try:
            document = json.loads(path.read_text())
            if isinstance(document, dict) and document.get("table") == table:
                return cls(**document)
        except (OSError, ValueError, TypeError):
            pass
        return cls(table)


def remove_copies(
    shape: TableShape,
    state: CopyRemoval,
    state_path: Path,
    spend: Callable[[float], None],
    page_size: int = 500,
) -> CopyRemoval:
    """Remove `GSI3_SK` from every order from `state.position` on, `spend` told each write's units (the rate
    limit); the state saved after each page."""
    for keys, position in shape.orders_with_copy(state.position, page_size):
        for key in keys:
            units = shape.remove_copy(key)
            if units is not None:
                state.orders += 1
                state.write_units += units
                spend(units)
        state.pages += 1
        state.position = position
        state.save(state_path)
    return state


def run(shape: TableShape, state_path: Path, *, max_wcu: float, say: Callable[[str], None]) -> None:
    """`table migrate`'s reshaping: the indexes, then the orders' copies; the progress file removed at the end.
    KeyboardInterrupt propagates (the table and the progress file say where to continue)."""
    from order_creator.migrate import RateLimit
    from order_creator.store.keys import table_definition

    steps = reshape_indexes(shape, table_definition(shape.table), say)
    say(f"migrate: indexes as this version defines them ({steps} change(s) made)")
    path = state_path.with_name(state_path.name + ".reshape")
    state = CopyRemoval.load(path, shape.table)
    state = remove_copies(shape, state, path, RateLimit(max_wcu).spend)
    path.unlink(missing_ok=True)
    say(f"migrate: {state.orders} order(s) without their copy of GSI1_SK ({state.write_units:g} write units)")
