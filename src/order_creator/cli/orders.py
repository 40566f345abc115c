"""`order-creator orders get | list | audit`: read the table's orders and check their numbering."""

from __future__ import annotations

import argparse
import base64
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from order_creator.cli.base import EXIT_FAILED, UsageError, _err, _shown
from order_creator.cli.commands import _dao
from order_creator.cli.inputs import _check_range, _decode_cursor, _encode_cursor, _listing_kind, _zone

_TABLE_COLUMNS = (("ORDER ID", 36), ("ORDER NUMBER", 18), ("STATUS", 15), ("TOTAL", 16), ("CREATED", 25))


def _orders_get(args: argparse.Namespace) -> int:
    from order_creator.dao import CUSTOMER_INDEX_ATTRIBUTES

    dao = _dao(args)
    order = dao.get_order(args.order_id)
    if order is None:
        _err(f"order-creator: no order {args.order_id} in table {args.table}")
        return EXIT_FAILED
    if args.json:
        print(_order_json(order))
        return 0
    # The listing's fields (those the e-mail index projects: never the address), then the items.
    for name in CUSTOMER_INDEX_ATTRIBUTES:
        print(f"{name:<16} {_shown(order.get(name, ''))}")
    items = order.get("items")
    for item in items if isinstance(items, list) else []:
        fields = item if isinstance(item, dict) else {}
        quantity, name, price = (_shown(fields.get(key, "?")) for key in ("quantity", "productName", "unitPrice"))
        print(f"{'item':<16} {quantity} x {name} @ {price}")
    return 0


def _orders_list(args: argparse.Namespace) -> int:
    _check_range(args.created_from, args.created_to)
    after = _decode_cursor(args.after, tenant=args.tenant, listing=_listing_kind(args)) if args.after else None
    dao = _dao(args)
    orders = dao.list_orders(
        args.tenant,
        status=args.status,
        customer_email=args.email,
        created_from=args.created_from,
        created_to=args.created_to,
        after=after,
        page_size=min(args.page_size, args.limit + 1) if args.limit else args.page_size,
    )
    printed = 0
    last: dict[str, Any] | None = None
    for order, position in orders:
        if args.limit is not None and printed == args.limit:
            # There is at least one more: say how to continue from the last one printed.
            _err(f"more orders: continue with --after {_encode_cursor(last or {})}")
            break
        if args.json:
            print(_order_json(order))
        else:
            if not printed:
                print(_fixed_row([name for name, _ in _TABLE_COLUMNS]))
            cells = (order.get("id", ""), order.get("orderNumber", ""), order.get("status", ""))
            print(_fixed_row([_shown(c, 64) for c in (*cells, _money(order), order.get("dateCreated", ""))]))
        printed += 1
        last = position
    if not printed:
        _err(f"no orders for tenant {args.tenant} with these filters")
    return 0


def _orders_audit(args: argparse.Namespace) -> int:
    from order_creator import numbering_audit
    from order_creator.audit import run_command
    from order_creator.numbering_audit import NumberingAudit, neighbourhood

    if args.timezone is not None:
        zone = _zone(args.timezone, "--timezone")
    else:
        zone = _zone(os.environ.get("ORDER_NUMBER_TIMEZONE") or "UTC", "ORDER_NUMBER_TIMEZONE")
    if not args.tenant and args.first_day is None:
        raise UsageError("without --tenant, name the days with --from (a day's tenants are found from its counters)")
    if args.tenant and args.deep:
        raise UsageError("--deep is for every tenant: with --tenant, all of the tenant's orders are read already")
    first, last = _audit_days(args.first_day, args.last_day, zone)
    terminal = sys.stderr.isatty()
    recheck = numbering_audit.RECHECK_SECONDS
    audit = NumberingAudit(_dao(args), zone, recheck_seconds=recheck, progress=_progress_line if terminal else None)
    also: set[str] = set()
    if args.deep:
        scanned = _scan_progress_line if terminal else None
        also = audit.tenants_by_scan(args.first_day, last, max_rcu=args.max_rcu, progress=scanned)
    checked, failed = run_command(
        audit, tenant_id=args.tenant, first=first, last=last, as_json=args.json, out=print, also=also
    )
    if terminal:
        print("\r\033[K", end="", file=sys.stderr)
    _err(f"audited {checked} (tenant, day) pair(s), {audit.orders_checked} orders: {failed} failed")
    if args.tenant and not checked:
        days = f"from {first} to {last}" if first else f"up to {last}"
        _err(f"order-creator: tenant {args.tenant} has no counter and no order {days}: is the tenant id right?")
        return EXIT_FAILED
    if args.deep:
        _err(f"the tenants were found by a scan of the whole table too, read units spent: {audit.read_units_scanned:g}")
    elif not args.tenant:
        around = " to ".join(day.isoformat() for day in neighbourhood(first or last, last))
        _err(f"the tenants were found from the counters of {around}: one with no counter there is found by --deep")
    return EXIT_FAILED if failed else 0


def _audit_days(first: date | None, last: date | None, zone: Any) -> tuple[date | None, date]:
    """--from and --to (default: today in the zone), checked: in order, and each day's hours within the calendar
    (0001-01-01 in Asia/Tokyo begins before the first instant UTC can write)."""
    from order_creator.numbering import business_day, day_bounds

    last = last or business_day(datetime.now(UTC), zone)
    if first is not None and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    for option, day in (("--from", first), ("--to", last)):
        try:
            if day is not None:
                day_bounds(day, zone)
        except (OverflowError, ValueError):
            raise UsageError(
                f"{option} {day} in {zone} reaches outside the calendar UTC can write (0001-01-01 to 9999-12-31): "
                "give a day within it"
            ) from None
    return first, last


def _progress_line(days: int, orders: int) -> None:
    line = f"audit: {days} (tenant, day) pair(s), {orders} orders checked so far"
    print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)


def _scan_progress_line(pages: int, read_units: float) -> None:
    line = f"audit --deep: {pages} page(s) of the table scanned, {read_units:g} read units"
    print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)


def _order_json(order: dict[str, Any]) -> str:
    from order_creator.dao import order_key
    from order_creator.models import exact_json

    keys = {*order_key("", ""), "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK", "GSI3_PK", "GSI3_SK", "entityType"}
    return exact_json({k: _json_value(v) for k, v in order.items() if k not in keys})


def _json_value(value: Any) -> Any:
    """A stored value JSON can write (amounts stay exact Decimals): a set as a sorted list, binary as base64."""
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_json_value(v) for v in value), key=str)
    if isinstance(value, bytes | bytearray) or type(value).__name__ == "Binary":
        return base64.b64encode(bytes(value)).decode()
    return value


def _money(order: dict[str, Any]) -> str:
    from order_creator.operations import money

    return money(order)


def _fixed_row(cells: Sequence[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, _TABLE_COLUMNS, strict=True)).rstrip()
