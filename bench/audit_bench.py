"""The numbering audit's cost (`make bench`, after bench/run.py): throughput, read units, memory, and the write
cost OrdersByCustomerIndex and the counters' day key add per order.

    .venv/bin/python bench/audit_bench.py [--orders 100000] [--big 50000] [--out docs/benchmarks.md]

Starts the project's single-threaded moto server in its own process, fills one business day directly with
BatchWriteItem (`--big` orders of one tenant, the rest spread over tenants of 1,000, each with its counter and
the counter's day key, exactly the items `store.orders` writes), then runs the product's audit (`order_creator.audit`)
in a fresh child process per case, so that its peak RSS is its own:

1. one tenant of 1,000 orders (`orders audit --tenant`);
2. the whole day for every tenant (the nightly `lambda_handler`'s path: the day's tenants from the counters),
   the big tenant among them: memory must not grow with the orders read.

Read units are computed by DynamoDB's documented rule for Query (the items read on a page, at their full size,
rounded up to 4 KB; half for eventually consistent reads), from the size of the items written and the items
each page returned: moto's own ConsumedCapacity is not DynamoDB's (see bench/meter.py). Writes `## Numbering
audit` between its markers (`<!-- numbering-audit:begin -->` ... `end`) of the output file, replacing that
block only (appending it the first time). No figure is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from meter import item_size  # noqa: E402 - bench/ is on the path when run as a script
from report import write_blocks  # noqa: E402

PY = sys.executable
TABLE = "orders-audit-bench"
DAY = date(2025, 12, 30)
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
HEADING = "## Numbering audit"


# the day's orders -----------------------------------------------------------------------------------


def sample_order(tenant: str, sequence: int) -> Any:
    """An order as the handler builds it, from the factories' message and cart (one line)."""
    from tests.factories import cart, message

    from order_creator.models import Order, parse_cart, parse_message
    from order_creator.numbering import format_order_number

    body = message(tenant, f"cart-{sequence}", orderId=str(uuid.uuid4()))
    parsed, basket = (
        parse_message(json.dumps(body)),
        parse_cart(cart(tenant, f"cart-{sequence}")),
    )
    return Order(
        id=str(parsed.order_id),
        order_number=format_order_number(DAY, sequence),
        tenant_id=tenant,
        cart_id=parsed.cart_id,
        customer_email=parsed.customer_email,
        items=[item.model_dump() for item in basket.items],
        subtotal=basket.subtotal,
        tax=basket.tax,
        total=basket.total,
        currency=basket.currency,
        status="PENDING_PAYMENT",
        billing_address=parsed.billing_address,
        date_created=body["dateCreated"],
        date_last_updated="2025-12-30T08:15:00.000Z",
        created_by="OrderCreatorRecord",
        last_updated_by="OrderCreatorRecord",
        source_message_id=str(uuid.uuid4()),
    )


def fill(client: Any, tenants: dict[str, int]) -> int:
    """Every tenant's orders 1..n of DAY and its counter, with BatchWriteItem; returns the largest order item size."""
    from order_creator.store.attributes import marshal as _marshal
    from order_creator.store.keys import counter_key, counters_of_day_partition, order_item

    largest, pending = 0, []
    for tenant, count in tenants.items():
        template = sample_order(tenant, 1)
        counter = {**counter_key(tenant, DAY), "currentValue": Decimal(count)}
        counter |= {"GSI1_PK": counters_of_day_partition(DAY), "GSI1_SK": tenant}
        pending.append(_marshal(counter))
        for sequence in range(1, count + 1):
            order_id = str(uuid.uuid4())
            order = template.model_copy(update={"id": order_id, "order_number": f"ORD-20251230-{sequence:05d}"})
            item = _marshal(order_item(order))
            largest = max(largest, item_size(item))
            pending.append(item)
            if len(pending) >= 25:
                _write(client, pending[:25])
                del pending[:25]
    while pending:
        _write(client, pending[:25])
        del pending[:25]
    return largest


def _write(client: Any, items: list[dict[str, Any]]) -> None:
    request: Any = {TABLE: [{"PutRequest": {"Item": item}} for item in items]}
    while request:
        request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


# the audit, in a child process ------------------------------------------------------------------------


def child(case: str, tenant: str | None, order_bytes: int) -> None:
    """Run one audit case and print its figures as JSON (the RSS and heap are this process's alone)."""
    from zoneinfo import ZoneInfo

    import boto3
    from botocore.config import Config

    from order_creator.numbering_audit import NumberingAudit
    from order_creator.store.table import Table

    # moto walks and sorts the whole table for every index page: seconds a page at this size, beyond the product
    # client's 5 s read timeout, which is set for DynamoDB.
    client = boto3.client("dynamodb", config=Config(read_timeout=600, retries={"mode": "standard", "max_attempts": 1}))
    pages: list[int] = []  # items per page of every order query

    def count(model: Any, parsed: dict[str, Any], params: dict[str, Any] | None = None, **_: Any) -> None:
        if model.name == "Query":
            pages.append(len(parsed.get("Items", [])))

    client.meta.events.register("after-call.dynamodb", count)
    audit = NumberingAudit(Table(TABLE, client), ZoneInfo("UTC"), recheck_seconds=None)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    tick, cpu = time.perf_counter(), time.process_time()
    verdicts = list(audit.tenant(tenant, DAY, DAY)) if case == "tenant" and tenant else list(audit.day(DAY))
    wall, cpu = time.perf_counter() - tick, time.process_time() - cpu
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Query read units: each page's items at their full size, rounded up to 4 KB, halved (eventually consistent).
    read_units = sum(math.ceil(n * order_bytes / 4096) * 0.5 for n in pages if n)
    print(
        json.dumps(
            {
                "orders": audit.orders_checked,
                "days": len(verdicts),
                "failed": sum(not v.ok for v in verdicts),
                "wall": wall,
                "cpu": cpu,
                "queries": len(pages),
                "read_units": read_units,
                "heap_peak": heap_peak,
                "rss_before_kb": rss_before,
                "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


def run_child(case: str, tenant: str | None, order_bytes: int, moto: str) -> dict[str, Any]:
    env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": moto}
    args = [PY, __file__, "--child", case, "--tenant", tenant or "", "--order-bytes", str(order_bytes)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"audit child failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# the write cost of the new keys ---------------------------------------------------------------------


def write_cost() -> dict[str, Any]:
    """Write units per order of this version against the items without its keys, by DynamoDB's rules."""
    from order_creator.store.attributes import marshal as _marshal
    from order_creator.store.keys import CUSTOMER_INDEX_ATTRIBUTES, order_item

    order = sample_order("tenant-0001", 1)
    item = order_item(order)
    before = {k: v for k, v in item.items() if k not in ("GSI3_PK", "GSI3_SK")}
    keys = ("PK", "SK", "GSI3_PK", "GSI3_SK")
    projected = {k: v for k, v in item.items() if k in keys or k in CUSTOMER_INDEX_ATTRIBUTES}
    sizes = {name: item_size(_marshal(i)) for name, i in (("before", before), ("after", item), ("index", projected))}
    counter = {"PK": "COUNTER#tenant-0001", "SK": "ORDER_NUMBER#20251230", "currentValue": Decimal(10)}
    counter_keyed = {**counter, "GSI1_PK": "COUNTERS#20251230", "GSI1_SK": "tenant-0001"}

    def units(size: int) -> int:
        return max(1, math.ceil(size / 1024))

    return {
        **sizes,
        "table_units_before": 2 * units(sizes["before"]),  # transactional: prepare and commit
        "table_units_after": 2 * units(sizes["after"]),
        "index_units": units(sizes["index"]),
        "counter": item_size(_marshal(counter)),
        "counter_keyed": item_size(_marshal(counter_keyed)),
        "counter_index_units": units(item_size(_marshal(counter_keyed))),
    }


# report ---------------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> list[str]:
    cases, cost = results["cases"], results["cost"]
    lines = [
        HEADING,
        "",
        f"`bench/audit_bench.py` ({results['date']}, {results['seconds']:.0f} s): {results['orders']:,} orders of one "
        f"business day written directly (BatchWriteItem, {results['fill_seconds']:.0f} s), then the product's audit "
        "in a fresh process per case against the single-threaded moto server on loopback. Order items of "
        f"{results['order_bytes']:,} bytes (the factories' message and one-line cart). Read units by DynamoDB's "
        "rule for Query (see the module's docstring). moto walks and sorts the whole index, and deep-copies each "
        "item it returns, for every page: the wall-clock rate is moto's, the CPU per order is the audit's own.",
        "",
        "| case | orders | (tenant, day)s | queries | wall | orders/s | audit CPU per order | read units per order "
        "| peak heap (tracemalloc) | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in cases.items():
        lines.append(
            f"| {name} | {c['orders']:,} | {c['days']:,} | {c['queries']:,} | {c['wall']:.1f} s "
            f"| {c['orders'] / c['wall']:,.0f} | {c['cpu'] / max(c['orders'], 1) * 1e6:.0f} µs "
            f"| {c['read_units'] / max(c['orders'], 1):.3f} | {c['heap_peak'] / 1e6:.2f} MB "
            f"| {c['rss_peak_kb'] / 1024:.0f} MB |"
        )
    failed = sum(c["failed"] for c in cases.values())
    small, day = cases.values()
    lines += [
        "",
        f"Every audited day held ({failed} failed). The heap peak is what the audit allocates while it runs (a "
        "page of projected items, one byte per number of the day being checked, the verdicts this bench keeps): "
        f"{small['heap_peak'] / 1e6:.1f} MB for {small['orders']:,} orders, {day['heap_peak'] / 1e6:.1f} MB for "
        f"{day['orders']:,} ({day['orders'] // max(small['orders'], 1)} times as many). RSS includes boto3 and "
        "Powertools. On AWS the audit's own cost is its CPU per order plus one Query round trip per page (about "
        "1,000 orders of this size, DynamoDB's 1 MB page).",
        "",
        "Write cost of this version per order (DynamoDB's item-size rules, `bench/meter.py`):",
        "",
        "| what | bytes | write units |",
        "| --- | ---: | ---: |",
        f"| order item without GSI3_PK/GSI3_SK (transactional put) | {cost['before']:,} "
        f"| {cost['table_units_before']} |",
        f"| order item with them | {cost['after']:,} | {cost['table_units_after']} |",
        f"| its OrdersByCustomerIndex entry (keys and the listing's fields) | {cost['index']:,} "
        f"| {cost['index_units']} |",
        f"| counter item, before / with its day key | {cost['counter']} / {cost['counter_keyed']} "
        f"| {cost['counter_index_units']} more, on OrdersByDateIndex, per counter update |",
        "",
        f"So each order costs {cost['table_units_after'] - cost['table_units_before'] + cost['index_units']} more "
        "write unit(s) (the index entry, plus the base item's growth when it crosses a KB), and each counter "
        "update (one per tenant and transaction: up to 99 orders) one more for the day key's index entry.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=50_000, help="orders of the one big tenant")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--child", choices=("tenant", "day"), help=argparse.SUPPRESS)
    parser.add_argument("--tenant", help=argparse.SUPPRESS)
    parser.add_argument("--order-bytes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.tenant, args.order_bytes)
        return
    from run import Servers  # not at the top: a child's imports are part of the memory it measures

    os.environ.update(ENV)
    started = time.perf_counter()
    servers = Servers()
    try:
        moto = servers.start("moto")["moto"]
        import boto3

        from order_creator.store.keys import table_definition

        client = boto3.client("dynamodb", endpoint_url=moto)
        client.create_table(**table_definition(TABLE))
        small = (args.orders - args.big) // 1000
        tenants = {"big-tenant": args.big, **{f"tenant-{i:04d}": 1000 for i in range(small)}}
        say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        say(f"audit bench: filling {sum(tenants.values()):,} orders of {len(tenants)} tenants")
        tick = time.perf_counter()
        order_bytes = fill(client, tenants)
        fill_seconds = time.perf_counter() - tick
        cases = {}
        for name, case, tenant in (
            ("one tenant of 1,000 orders (`orders audit --tenant`)", "tenant", "tenant-0000"),
            (f"the whole day, every tenant, one of {args.big:,} orders (nightly)", "day", None),
        ):
            say(f"audit bench: {name}")
            cases[name] = run_child(case, tenant, order_bytes, moto)
            say(f"  {json.dumps(cases[name])}")
        results = {
            "date": time.strftime("%Y-%m-%d"),
            "orders": sum(tenants.values()),
            "order_bytes": order_bytes,
            "fill_seconds": fill_seconds,
            "cases": cases,
            "cost": write_cost(),
            "seconds": time.perf_counter() - started,
        }
        write_blocks(args.out, {"numbering-audit": render(results)}, append=True)
        say(f"audit bench: wrote {HEADING!r} in {args.out}")
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
