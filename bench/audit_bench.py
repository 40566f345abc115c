"""The numbering audit's cost (`make bench`): orders a second, CPU and read units per order, memory.

    .venv/bin/python bench/audit_bench.py [--orders 5000] [--big 3000]

Fills one business day of a table made from template.yaml on the bench's moto server: each tenant's first order
(and so its counter) through the real orders handler, the rest written directly (`dao.order_item`), the counter set
to the last number; `--big` orders of one tenant, the rest in tenants of 1,000. Then the product's audit runs in a
fresh child process per case (its peak RSS its own): one tenant of 1,000 orders (`orders audit --tenant`), and the
whole day (the nightly handler's path). Read units: the answers' ConsumedCapacity. Saved under "audit".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from datetime import date
from typing import Any

from common import PY, QUIET, TABLE, Servers, batch_event, lambda_context, project_table, save, say

DAY = date(2025, 12, 30)


def fill(client: Any, tenants: dict[str, int], cart_api: str) -> None:
    """Orders 1..n of DAY for every tenant, and its counter at n."""
    import uuid

    from baseline import SeedBaseline, _marshal
    from order_creator.handler import lambda_handler
    from order_creator.store.keys import order_item

    orders = SeedBaseline(TABLE, cart_api, client)  # builds an order as the handler does (not numbered here)
    for tenant, count in tenants.items():
        event = batch_event([tenant], 1)
        if lambda_handler(event, lambda_context(60))["batchItemFailures"]:
            raise RuntimeError("the orders handler failed the first order")
        first = orders.order(event["Records"][0], lambda *_: 1)
        for start in range(2, count + 1, 25):
            request: Any = {TABLE: []}
            for number in range(start, min(count + 1, start + 25)):
                prefix = first.order_number.rsplit("-", 1)[0]
                order = first.model_copy(update={"id": str(uuid.uuid4()), "order_number": f"{prefix}-{number:05d}"})
                request[TABLE].append({"PutRequest": {"Item": _marshal(order_item(order))}})
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        client.update_item(
            TableName=TABLE,
            Key={"PK": {"S": f"COUNTER#{tenant}"}, "SK": {"S": f"ORDER_NUMBER#{DAY:%Y%m%d}"}},
            UpdateExpression="SET currentValue = :n",
            ExpressionAttributeValues={":n": {"N": str(count)}},
        )


def child(case: str, tenant: str) -> None:
    """Run one audit case and print its figures as JSON (the RSS is this process's alone)."""
    from zoneinfo import ZoneInfo

    import boto3
    from botocore.config import Config

    from capacity import Meter
    from order_creator.numbering_audit import NumberingAudit
    from order_creator.store.scans import TableScans

    # moto walks and sorts the whole index for every page: seconds a page at this size, beyond the product
    # client's read timeout, which is set for DynamoDB.
    client = boto3.client("dynamodb", config=Config(read_timeout=600, retries={"mode": "standard", "max_attempts": 1}))
    meter = Meter()
    meter.watch(client)
    audit = NumberingAudit(TableScans(TABLE, client), ZoneInfo("UTC"), recheck_seconds=None)
    tick, cpu = time.perf_counter(), time.process_time()
    verdicts = list(audit.tenant(tenant, DAY, DAY)) if case == "tenant" else list(audit.day(DAY))
    wall, cpu = time.perf_counter() - tick, time.process_time() - cpu
    with open("/proc/self/status") as status:  # VmHWM, not ru_maxrss: that one carries the parent's peak over
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    counts = meter.counts()
    figures = {"orders": audit.orders_checked, "days": len(verdicts), "failed": sum(not v.ok for v in verdicts)}
    figures |= {"wall_s": wall, "cpu_s": cpu, "queries": counts["request:Query"], "rss_mb": rss_kib / 1024}
    print(json.dumps(figures | {"read_units": counts["read/table"] + counts["read/index"]}))


def run_child(case: str, tenant: str, moto: str) -> dict[str, Any]:
    env = {**os.environ, **QUIET, "AWS_ENDPOINT_URL": moto}
    done = subprocess.run([PY, __file__, "--child", case, tenant], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"audit child failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--big", type=int, default=3_000, help="orders of the one big tenant")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    started, servers = time.perf_counter(), Servers()
    try:
        moto = servers.start("moto")["moto"]
        network = servers.network(moto, 0, 0)
        os.environ.update(QUIET, AWS_ENDPOINT_URL=moto, CART_LAMBDA_API_URL=network["cart"])
        import boto3

        client = boto3.client("dynamodb")
        client.create_table(**project_table(TABLE))
        tenants = {"big-tenant": args.big, **{f"tenant-{i:04d}": 1000 for i in range((args.orders - args.big) // 1000)}}
        say(f"audit bench: filling {sum(tenants.values()):,} orders of {len(tenants)} tenants")
        fill(client, tenants, network["cart"])
        cases = {}
        for case, tenant in (("tenant", "tenant-0000"), ("day", "")):
            cases[case] = run_child(case, tenant, moto)
            say(f"audit bench, {case}: {json.dumps(cases[case])}")
    finally:
        servers.stop()
    save("audit", {"orders": sum(tenants.values()), "cases": cases, "seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main()
