"""`order-creator table create | migrate`: a development table with the contract's schema, and this version's
keys given to an older table's items."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from order_creator.cli.base import _command, _err, _group, _table_of, _table_option
from order_creator.cli.inputs import _positive

if TYPE_CHECKING:
    from order_creator.migrate import MigrationState, MigrationStore

SKIPS_SHOWN = 20  # skipped items named one a line; past this, only counted


def register(commands: Any) -> None:
    """`table create` and `table migrate`."""
    table = _group(commands, "table", "the orders table")
    create = _command(table, "create", "create a table with the contract's schema")
    _table_option(create)
    create.set_defaults(command=_table_create)
    migrate = _command(table, "migrate", "add this version's index keys to older items")
    _table_option(migrate)
    migrate.add_argument(
        "--max-wcu", metavar="N", type=_positive(float), default=100.0, help="write units a second at most"
    )
    migrate.add_argument(
        "--state", metavar="FILE", type=Path, help="progress file (default: ./order-creator-migrate-TABLE.json)"
    )
    migrate.set_defaults(command=_table_migrate)


def _table_create(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.store.keys import table_definition
    from order_creator.tooling import create_table

    name = _table_of(args)
    create_table(clients.dynamodb(), name)
    indexes = ", ".join(index["IndexName"] for index in table_definition(name)["GlobalSecondaryIndexes"])
    _err(f"created table {name} ({indexes})")
    return 0


def _table_migrate(args: argparse.Namespace) -> int:
    table = _table_of(args)
    path = args.state or Path(f"order-creator-migrate-{table}.json")
    from order_creator import clients
    from order_creator.migrate import TableMigration

    store = TableMigration(table, clients.dynamodb())
    return _migrate(store, table, path, max_wcu=args.max_wcu, terminal=sys.stderr.isatty())


def _migrate(store: MigrationStore, table: str, state_path: Path, *, max_wcu: float, terminal: bool) -> int:
    """`order-creator table migrate`: start or continue, show progress on stderr, name each skipped item by its
    keys, say where an interruption stopped; the exit code (0 done, 1 done but items skipped, 128 + the signal
    when interrupted)."""
    from order_creator import reshape
    from order_creator.migrate import MigrationState, migrate
    from order_creator.tooling import OperationError

    state = MigrationState.load(state_path, table)
    if state is None or state.finished:
        state = MigrationState(table)
    else:
        _err(f"migrate: continuing from {state_path} (after page {state.pages})")
    try:
        state.save(state_path)  # before any work: a state the next run can continue from, in a writable place
    except OSError as error:
        raise OperationError(
            f"cannot write the migration's state file {state_path} ({error.strerror or error}): "
            "pass --state FILE in a directory you can write"
        ) from None
    shown = [0]

    def progress(done: MigrationState) -> None:
        line = (
            f"migrate: {done.pages} page(s), keyed {done.orders} orders and {done.counters} counters, "
            f"{done.unchanged} already keyed, {done.skipped} skipped, {done.write_units:g} write units"
        )
        print(f"\r\033[K{line}" if terminal else line, end="" if terminal else "\n", file=sys.stderr, flush=True)

    def skipped(item: dict[str, Any], reason: str) -> None:
        shown[0] += 1
        if shown[0] <= SKIPS_SHOWN:
            keys = f"PK={_key(item.get('PK'))} SK={_key(item.get('SK'))}"
            _err(("\n" if terminal else "") + f"migrate: skipped {keys}: {reason}")

    try:
        state = migrate(store, state, state_path, max_wcu=max_wcu, progress=progress, skipped=skipped)
        reshape.run(store.shape(), state_path, max_wcu=max_wcu, say=_err)  # indexes and items to this version's shape
    except KeyboardInterrupt as interrupt:
        state.save(state_path)  # the position after the last page done
        _err(
            ("\n" if terminal else "")  # end the progress line first
            + f"migrate: interrupted after page {state.pages}, saved in {state_path}: run the same command to continue"
        )
        return int(getattr(interrupt, "exit_code", 130))
    return _finished(state, state_path, terminal=terminal)


def _finished(state: MigrationState, state_path: Path, *, terminal: bool) -> int:
    """Say what a migration that ran to its end did; 1 when items were skipped."""
    if terminal:
        _err("")
    state_path.unlink(missing_ok=True)
    _err(
        f"migrate: done: {state.orders} orders and {state.counters} counters keyed, "
        f"{state.unchanged} already keyed, {state.skipped} skipped"
    )
    if state.skipped:
        _err(
            f"migrate: {state.skipped} item(s) could not be keyed (named above by their keys, at most {SKIPS_SHOWN}): "
            "fix or delete them, then run the same command again"
        )
        return 1
    return 0


def _key(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 100 else text[:100] + "...")
