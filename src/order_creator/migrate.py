"""`order-creator table migrate`: give items written before this version the keys it added.

Orders get `GSI3_PK` (OrdersByCustomerIndex, sorted on `GSI1_SK`, contract §4) and counters their day key (which the
nightly audit finds a day's tenants by). One scan of the table, a conditional UpdateItem per item that lacks
them: an item that has them by now (the Lambda writes every new order and counter with them) or that is gone
is left alone, so the migration is idempotent and safe while the Lambda keeps writing.

The position after each page is saved in a state file; after a crash or Ctrl-C the same command continues from
there (a page half done is done again, which the conditions make harmless). Writes are held to `max_wcu`
write units a second, as DynamoDB reports them. An item no key can be made for (a lived table's odd item) is
skipped and named by its keys, never its values; the rest is done, and the command exits 1 saying how many.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from order_creator import reshape
from order_creator.numbering import parse_day_key
from order_creator.store.keys import counters_of_day_partition, customer_partition
from order_creator.store.scans import TableScans
from order_creator.tooling import OperationError


class MigrationStore(Protocol):
    """What the migration needs of the table (implemented by `TableMigration`, part of `store.table.Table`)."""

    def items_without_new_keys(
        self, start: dict[str, Any] | None = None, page_size: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]: ...

    def add_new_keys(self, item: dict[str, Any]) -> float | None: ...

    def shape(self) -> reshape.TableShape: ...


class TableMigration(TableScans):
    """`MigrationStore` on one DynamoDB table: the store's scan and key update, keyed by the rules below."""

    def shape(self) -> reshape.TableShape:
        """The table's reshaping calls (its indexes and items to this version's shape)."""
        return reshape.TableShape(self._table, self._client)

    def add_new_keys(self, item: dict[str, Any]) -> float | None:
        """Give one item of `items_without_new_keys` the keys it lacks (an order its `GSI3_PK`, a counter its day
        key), unless it has them by now or is gone: the write units, or None when nothing was written.
        `UnkeyableItem` for an item no key can be made for."""
        pk, sk = str(item["PK"]), str(item["SK"])
        update = _order_keys(item, pk) if sk.startswith("ORDER#") else _counter_keys(pk, sk)
        return None if update is None else self.set_keys(pk, sk, *update)


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


@dataclass
class MigrationState:
    """Where a migration stands: saved after every page, so a later run continues from `position`.

    The counts are of every run since the migration started (`started_at`): `orders` keyed or re-keyed,
    `counters` keyed, `unchanged` items that had their keys by the time they were written, `skipped` items no key
    can be made for."""

    table: str
    position: dict[str, Any] | None = None
    pages: int = 0
    orders: int = 0
    counters: int = 0
    unchanged: int = 0
    skipped: int = 0
    write_units: float = 0.0
    finished: bool = False
    started_at: float = field(default_factory=time.time)

    def save(self, path: Path) -> None:
        """Write the state atomically (a crash mid-write leaves the previous state)."""
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_text(json.dumps(asdict(self)))
        scratch.replace(path)

    @classmethod
    def load(cls, path: Path, table: str) -> MigrationState | None:
        """The saved state of a migration of `table`, or None when there is none; OperationError (one line naming
        the file and what to do) for a file that is not one, or that records another table."""
        try:
            document = json.loads(path.read_text())
        except (FileNotFoundError, NotADirectoryError):
            return None  # no state yet (a path that cannot hold one is refused when the state is first saved)
        except (ValueError, UnicodeError):
            raise OperationError(f"{path} is not a migration state file; remove it to start over") from None
        problem = _state_problem(document)
        if problem:
            raise OperationError(f"{path} is not a migration state file ({problem}); remove it to start over")
        if document["table"] != table:
            raise OperationError(f"{path} records a migration of another table; pass another --state")
        return cls(**document)


_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "table": (str,),
    "position": (dict, type(None)),
    "pages": (int,),
    "orders": (int,),
    "counters": (int,),
    "unchanged": (int,),
    "skipped": (int,),
    "write_units": (int, float),
    "finished": (bool,),
    "started_at": (int, float),
}


def _state_problem(document: object) -> str | None:
    """What makes a parsed state file not one of ours (a key, never a value), or None."""
    if not isinstance(document, dict):
        return "not a JSON object"
    extra = sorted(set(document) - set(_STATE_TYPES))
    if extra:
        return f"unknown key {extra[0]!r}"[:100]
    if "table" not in document:
        return "no 'table'"
    for name, value in document.items():
        kinds = _STATE_TYPES[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"{name!r} is not {'/'.join(k.__name__.replace('NoneType', 'null') for k in kinds)}"
    position = document.get("position")
    if position is not None and not all(isinstance(v, str | int | float) for v in position.values()):
        return "'position' is not a key"
    return None


class RateLimit:
    """Holds spending to `per_second` units a second on average (sleeps when ahead)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._started = clock()
        self._spent = 0.0

    def spend(self, units: float) -> None:
        """Account for `units` just spent; wait until the average is back under the limit."""
        self._spent += units
        ahead = self._spent / self._per_second - (self._clock() - self._started)
        if ahead > 0:
            self._sleep(ahead)


def migrate(
    store: MigrationStore,
    state: MigrationState,
    state_path: Path,
    *,
    max_wcu: float,
    page_size: int = 500,
    progress: Callable[[MigrationState], None] | None = None,
    skipped: Callable[[dict[str, Any], str], None] | None = None,
) -> MigrationState:
    """Run (or continue) the migration from `state.position` to the end of the table; return the final state.

    The state is saved to `state_path` after every page: an interruption (KeyboardInterrupt propagates) loses
    at most the page in hand, which the next run does again. An item the store cannot key (a ValueError from
    `add_new_keys`) is counted in `state.skipped` and passed to `skipped` with the reason; the rest goes on.
    """
    limit = RateLimit(max_wcu)
    for items, position in store.items_without_new_keys(state.position, page_size):
        for item in items:
            try:
                units = store.add_new_keys(item)
            except ValueError as reason:  # UnkeyableItem: the item, not the table, is wrong
                state.skipped += 1
                if skipped is not None:
                    skipped(item, str(reason))
                continue
            if units is None:
                state.unchanged += 1
                continue
            if str(item["SK"]).startswith("ORDER#"):
                state.orders += 1
            else:
                state.counters += 1
            state.write_units += units
            limit.spend(units)
        state.pages += 1
        state.position = position
        state.finished = position is None
        state.save(state_path)
        if progress is not None:
            progress(state)
    return state
