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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from order_creator import reshape
from order_creator.tooling import OperationError


class MigrationStore(Protocol):
    """What the migration needs of the table (implemented by `store.scans.TableScans`)."""

    def items_without_new_keys(
        self, start: dict[str, Any] | None = None, page_size: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]: ...

    def add_new_keys(self, item: dict[str, Any]) -> float | None: ...

    def shape(self) -> reshape.TableShape: ...


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
            except ValueError as reason:  # store.scans.UnkeyableItem: the item, not the table, is wrong
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
