"""`order-creator orders get | list | audit`: read the table's orders (the audit of their numbering: `cli.audit`)."""

from __future__ import annotations

import argparse
import base64
from collections.abc import Sequence
from typing import Any

from order_creator.cli import audit
from order_creator.cli.base import EXIT_FAILED, _command, _dao, _err, _group, _shown, _table_option
from order_creator.cli.inputs import (
    _bounded_int,
    _check_range,
    _decode_cursor,
    _encode_cursor,
    _listing_kind,
    _moment,
    _order_id,
    _tenant_id,
)

_TABLE_COLUMNS = (("ORDER ID", 36), ("ORDER NUMBER", 18), ("STATUS", 15), ("TOTAL", 16), ("CREATED", 25))


def register(commands: Any) -> None:
    """`orders get`, `orders list` and `orders audit`."""
    orders = _group(commands, "orders", "read orders")
    get = _command(orders, "get", "one order by id (OrderByIdIndex)")
    get.add_argument("order_id", metavar="ORDER_ID", type=_order_id, help="the order's id (a UUID)")
    _table_option(get)
    get.add_argument("--json", action="store_true", help="the whole order as one JSON object, amounts exact")
    get.set_defaults(command=_orders_get)
    listing = _command(orders, "list", "a tenant's orders, a page at a time")
    listing.add_argument("--tenant", required=True, type=_tenant_id, help="the tenant id")
    listing.add_argument("--status", choices=("PAID", "PENDING_PAYMENT"), help="only orders in this status")
    listing.add_argument(
        "--email",
        metavar="ADDRESS",
        help="one customer's orders (OrdersByCustomerIndex; ASCII case and surrounding blanks ignored)",
    )
    listing.add_argument(
        "--from", dest="created_from", metavar="DATE", type=_moment, help="UTC day (YYYY-MM-DD) or ISO time with offset"
    )
    listing.add_argument("--to", dest="created_to", metavar="DATE", type=_moment, help="as --from; inclusive")
    listing.add_argument("--limit", metavar="N", type=_bounded_int(1, 10**9), help="print at most N orders")
    listing.add_argument("--after", metavar="CURSOR", help="continue after the cursor a previous --limit printed")
    listing.add_argument(
        "--page-size", metavar="N", type=_bounded_int(1, 1000), default=100, help="orders per DynamoDB query"
    )
    _table_option(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per order and line, amounts exact")
    listing.set_defaults(command=_orders_list)
    audit.register(orders)


def _orders_get(args: argparse.Namespace) -> int:
    from order_creator.store.keys import CUSTOMER_INDEX_ATTRIBUTES

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


def _order_json(order: dict[str, Any]) -> str:
    from order_creator.store.keys import order_key
    from order_creator.tooling import exact_json

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
    from order_creator.tooling import money

    return money(order)


def _fixed_row(cells: Sequence[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, (_, w) in zip(cells, _TABLE_COLUMNS, strict=True)).rstrip()
