"""`order-creator table migrate`: give items written before this version the keys it added.

Orders get `GSI3_PK`/`GSI3_SK` (OrdersByCustomerIndex, contract §4) and counters their day key (which the
nightly audit finds a day's tenants by). One scan of the table, a conditional UpdateItem per item that lacks
them: an item that has them by now (the Lambda writes every new order and counter with them) or that is gone
is left alone, so the migration is idempotent and safe while the Lambda keeps writing.

The position after each page is saved in a state file; after a crash or Ctrl-C the same command continues from
there (a page half done is done again, which the conditions make harmless). Writes are held to `max_wcu`
write units a second, as DynamoDB reports them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from order_creator import reshape
from order_creator.operations import OperationError


class MigrationStore(Protocol):
    """What the migration needs of the table (implemented by `dao.OrderDAO`)."""

    def items_without_new_keys(
        self, start: dict[str, Any] | None = None, page_size: int = 500
    ) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]: ...

    def add_new_keys(self, item: dict[str, Any]) -> float | None: ...

    def shape(self) -> reshape.TableShape: ...


@dataclass
class MigrationState:
    """Where a migration stands: saved after every page, so a later run continues from `position`."""

    table: str
    position: dict[str, Any] | None = None
    pages: int = 0
    orders: int = 0
    counters: int = 0
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
        """The saved state of a migration of `table`, or None when there is none; OperationError for a file
        that is not one, or that records another table."""
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise OperationError(f"{path} is not a migration state file; remove it to start over") from None
        if not isinstance(document, dict) or document.get("table") != table:
            raise OperationError(f"{path} records a migration of another table; pass another --state")
        return cls(**document)


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
) -> MigrationState:
    """Run (or continue) the migration from `state.position` to the end of the table; return the final state.

    The state is saved to `state_path` after every page: an interruption (KeyboardInterrupt propagates) loses
    at most the page in hand, which the next run does again.
    """
    limit = RateLimit(max_wcu)
    for items, position in store.items_without_new_keys(state.position, page_size):
        for item in items:
            units = store.add_new_keys(item)
            if units is None:
                state.skipped += 1
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


def run_command(store: MigrationStore, table: str, state_path: Path, *, max_wcu: float, terminal: bool) -> int:
    """`order-creator table migrate`: start or continue, show progress on stderr, say where an interruption
    stopped; the exit code (130 after Ctrl-C)."""
    state = MigrationState.load(state_path, table)
    if state is None or state.finished:
        state = MigrationState(table)
    else:
        _say(f"migrate: continuing from {state_path} (after page {state.pages}, at {state.position})")

    def progress(done: MigrationState) -> None:
        line = (
            f"migrate: {done.pages} page(s), keyed {done.orders} orders and {done.counters} counters, "
            f"{done.skipped} left as they were, {done.write_units:g} write units"
        )
        print(f"\r\033[K{line}" if terminal else line, end="" if terminal else "\n", file=sys.stderr, flush=True)

    try:
        state = migrate(store, state, state_path, max_wcu=max_wcu, progress=progress)
        reshape.run(store.shape(), state_path, max_wcu=max_wcu, say=_say)  # indexes and items to this version's shape
    except KeyboardInterrupt:
        _say(
            f"\nmigrate: interrupted after page {state.pages}, saved in {state_path}: run the same command to continue"
        )
        return 130
    if terminal:
        _say("")
    state_path.unlink(missing_ok=True)
    _say(f"migrate: done: {state.orders} orders and {state.counters} counters keyed, {state.skipped} left as they were")
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
