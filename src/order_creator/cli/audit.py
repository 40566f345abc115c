"""`order-creator orders audit`: check that every day's orders carry exactly 1..N, one line per (tenant, day).

The audit itself is `order_creator.numbering_audit` (NumberingAudit); this module parses the command and
prints its verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from order_creator.cli.base import EXIT_FAILED, UsageError, _command, _dao, _err, _table_option
from order_creator.cli.inputs import _day, _positive, _tenant_id, _zone
from order_creator.day_check import KINDS

if TYPE_CHECKING:
    from order_creator.numbering_audit import DayAudit, NumberingAudit

_AUDIT_LIMIT = """\
Without --tenant, the tenants are those with a counter on a day from a week before --from to a week after
--to (one query a day, never a scan), each audited on every day of --from..--to. A tenant whose counter of a
day is gone (deleted by hand, restored from an older backup, lost by a bug) is found by its other counters, and
that day fails (counter 0, its numbers "beyond" it); a tenant with no counter at all in those days is not
found. --tenant finds it, and so does --deep, which also finds the tenants from the orders themselves: it
reads the whole table once (every order and counter, whatever --from/--to), about 0.5 read units per 4 KB of
table, held to --max-rcu a second; a 10 GB table costs about 1.3 million read units, 3.6 hours at 100 a second."""


def register(orders: Any) -> None:
    """`orders audit`, an action of the `orders` group (`orders` is where to add it)."""
    audit = _command(orders, "audit", "check that every day's orders carry exactly 1..N")
    audit.add_argument(
        "--tenant", type=_tenant_id, help="one tenant, every day it has (default: every tenant found, see below)"
    )
    audit.add_argument("--from", dest="first_day", metavar="YYYY-MM-DD", type=_day, help="first business day")
    audit.add_argument("--to", dest="last_day", metavar="YYYY-MM-DD", type=_day, help="last one (default: today)")
    audit.add_argument(
        "--timezone", metavar="ZONE", help="IANA zone of the business day (default: $ORDER_NUMBER_TIMEZONE, else UTC)"
    )
    _table_option(audit)
    audit.add_argument("--json", action="store_true", help="one JSON object per (tenant, day) checked")
    audit.add_argument(
        "--deep",
        action="store_true",
        help="without --tenant: also find the tenants from the orders, by one scan of the whole table",
    )
    audit.add_argument(
        "--max-rcu", metavar="N", type=_positive(float), default=100.0, help="with --deep: read units a second at most"
    )
    audit.epilog = _AUDIT_LIMIT
    audit.set_defaults(command=_orders_audit)


def _orders_audit(args: argparse.Namespace) -> int:
    from order_creator import numbering_audit
    from order_creator.numbering_audit import NumberingAudit

    zone = _audit_zone(args)
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
    _say_how_tenants_were_found(args, audit, first, last)
    return EXIT_FAILED if failed else 0


def _audit_zone(args: argparse.Namespace) -> Any:
    """--timezone, else ORDER_NUMBER_TIMEZONE, else UTC: a UsageError naming where a bad zone came from."""
    if args.timezone is not None:
        return _zone(args.timezone, "--timezone")
    return _zone(os.environ.get("ORDER_NUMBER_TIMEZONE") or "UTC", "ORDER_NUMBER_TIMEZONE")


def _say_how_tenants_were_found(
    args: argparse.Namespace, audit: NumberingAudit, first: date | None, last: date
) -> None:
    from order_creator.numbering_audit import neighbourhood

    if args.deep:
        _err(f"the tenants were found by a scan of the whole table too, read units spent: {audit.read_units_scanned:g}")
    elif not args.tenant:
        around = " to ".join(day.isoformat() for day in neighbourhood(first or last, last))
        _err(f"the tenants were found from the counters of {around}: one with no counter there is found by --deep")


def _audit_days(first: date | None, last: date | None, zone: Any) -> tuple[date | None, date]:
    """--from and --to (default: today in the zone), checked: in order, and each day's hours within the calendar
    (0001-01-01 in Asia/Tokyo begins before the first instant UTC can write)."""
    from order_creator.numbering import business_day
    from order_creator.numbering_audit import day_bounds

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


# the verdicts, printed ------------------------------------------------------------------------------


def run_command(
    audit: NumberingAudit,
    *,
    tenant_id: str | None,
    first: date | None,
    last: date,
    as_json: bool,
    out: Callable[[str], None],
    also: Iterable[str] = (),
) -> tuple[int, int]:
    """`order-creator orders audit`: one line per (tenant, day) checked, to `out`; returns the days checked and
    the days that failed. With a tenant: its days within first..last; without: those of every tenant found
    (`NumberingAudit.every_tenant`; `also`: tenants found by `NumberingAudit.tenants_by_scan`)."""
    every_tenant = audit.every_tenant(first or last, last, also)
    verdicts = audit.tenant(tenant_id, first, last) if tenant_id else every_tenant
    checked = failed = 0
    for verdict in verdicts:
        checked += 1
        failed += not verdict.ok
        out(_json_line(verdict) if as_json else describe(verdict))
    return checked, failed


def describe(verdict: DayAudit, most: int = 10) -> str:
    """One line for a person: the (tenant, day), its counter and orders, and each kind of violation named."""
    orders = f"{verdict.orders} order" + ("" if verdict.orders == 1 else "s")
    counter = "unreadable" if verdict.counter is None else verdict.counter
    head = f"{verdict.day.isoformat()}  {verdict.tenant_id}  counter {counter}, {orders}"
    if verdict.ok:
        return f"{head}: ok"
    parts = []
    for kind in KINDS:
        found: list[Any] = getattr(verdict, kind)
        total = verdict.missing_count if kind == "missing" else len(found)
        if found:
            shown = ", ".join(str(value) for value in found[:most])
            parts.append(f"{kind} {shown}" + (f" (+{total - most} more)" if total > most else ""))
    return f"{head}: FAILED: " + "; ".join(parts)


def _json_line(verdict: DayAudit) -> str:
    return json.dumps(verdict.document())
