"""`make bench`, part one: this project's handler against the seed's algorithm (`bench/baseline.py`), same network.

    .venv/bin/python bench/run.py [--quick]

On the bench's network (`bench/servers.py`: moto, 10 ms added to each DynamoDB request, 50 ms to each Cart API
answer), the project's table made from template.yaml and the seed's from its own schema; saved under "run" in
docs/benchmarks.json, which `bench/charts.py` draws:

1. batch latency (less moto's own time) and CPU per order against batch size, one tenant, the sides interleaved,
   each batch on an empty table and checked numbered 1..N;
2. capacity units per order from the answers' ConsumedCapacity (`bench/meter.py`): a busy tenant (three batches
   of ten), ten tenants (one batch of ten), and the mix of both;
3. a hot tenant: 1, 2, 4, 8 processes on one tenant (5 ms per DynamoDB request), failed records redelivered;
4. the cold start through `awslambdaric`, the image as built against the yardstick (`bench/lambda_runtime.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import common

SIDES = ("project", "seed")
TABLES = {"project": common.project_table(common.TABLE), "seed": common.seed_table(common.SEED_TABLE)}
LAMBDA_PYTHON = common.ROOT / ".venv-lambda" / "bin" / "python"


@dataclass
class Plan:
    reps: dict[int, int]  # batch size → batches a side
    consumers: tuple[int, ...]
    hot_batches: int  # batches of ten per consumer
    cold_reps: int


FULL = Plan({1: 15, 5: 9, 10: 9, 25: 5, 50: 3, 100: 3}, (1, 2, 4, 8), hot_batches=4, cold_reps=7)
QUICK = Plan({1: 2, 10: 2, 100: 1}, (1, 2), hot_batches=2, cold_reps=1)


def race(plan: Plan, run: dict[str, Any], direct: Any, proxy: str) -> list[dict[str, Any]]:
    """Latency (as measured, and less moto's time) and CPU per order, batch by batch, both sides."""
    rows = []
    for size, reps in plan.reps.items():
        samples: dict[str, dict[str, list[float]]] = {side: {"wall": [], "less": [], "cpu": []} for side in SIDES}
        for rep in range(reps):
            for side in SIDES if rep % 2 == 0 else SIDES[::-1]:  # neither side always goes first
                common.reset_table(direct, TABLES[side])
                tenant = common.new_tenants(1, side)
                moto, tick, cpu = common.moto_seconds(proxy), time.perf_counter(), time.process_time()
                response = run[side](common.batch_event(tenant, size))
                wall, cpu = time.perf_counter() - tick, time.process_time() - cpu  # this process, every thread
                samples[side]["wall"].append(wall)
                samples[side]["less"].append(wall - (common.moto_seconds(proxy) - moto))
                samples[side]["cpu"].append(cpu / size)
                problem = common.numbering_problem(
                    direct, TABLES[side]["TableName"], tenant[0], size, seed=side == "seed"
                )
                if response["batchItemFailures"] or problem:
                    raise RuntimeError(f"{side}, batch of {size}: {response['batchItemFailures'] or problem}")
        for side in SIDES:
            figures = {key: 1000 * common.med(values) for key, values in samples[side].items()}
            rows.append({"side": side, "size": size, "n": reps, "wall_ms": figures["wall"]})
            rows[-1] |= {"less_moto_ms": figures["less"], "cpu_ms_per_order": figures["cpu"]}
        p, s = rows[-2], rows[-1]
        common.say(f"  batch {size:>3}: project {p['less_moto_ms']:7.1f} ms, seed {s['less_moto_ms']:7.1f} ms")
    return rows


def capacity(run: dict[str, Any], meters: dict[str, Any], direct: Any) -> dict[str, Any]:
    """Units per order of each side for the busy tenant, the ten tenants and the mix of both."""
    from capacity import item_size

    figures: dict[str, Any] = {}
    for side in SIDES:
        common.reset_table(direct, TABLES[side])
        totals = {}
        for name, tenants_per_batch in (("busy", (1, 1, 1)), ("ten", (10,))):
            before = meters[side].counts()
            busy = common.new_tenants(1, "busy")
            for count in tenants_per_batch:
                run[side](common.batch_event(busy if count == 1 else common.new_tenants(count, "ten"), 10))
            totals[name] = {"orders": 10 * len(tenants_per_batch), **(meters[side].counts() - before)}
        busy, ten = totals["busy"], totals["ten"]
        totals["mix"] = {key: busy.get(key, 0) + ten.get(key, 0) for key in busy.keys() | ten.keys()}
        figures[side] = {name: per_order(total) for name, total in totals.items()}
        orders = {"FilterExpression": "begins_with(SK, :o)", "ExpressionAttributeValues": {":o": {"S": "ORDER#"}}}
        figures[side]["item_bytes"] = item_size(direct.scan(TableName=TABLES[side]["TableName"], **orders)["Items"][0])
    return figures


def per_order(total: dict[str, float]) -> dict[str, float]:
    """Units per order (write_table, write_index, read_table, read_index, wru, rru), requests, $ per million."""
    keys = ("write/table", "write/index", "read/table", "read/index", "requests")
    units = {key.replace("/", "_"): total.get(key, 0.0) / total["orders"] for key in keys}
    wru, rru = units["write_table"] + units["write_index"], units["read_table"] + units["read_index"]
    return units | {"wru": wru, "rru": rru, "usd_per_million": (wru * common.WRU + rru * common.RRU) * 1e6}


def print_capacity(figures: dict[str, Any]) -> None:
    """The small table: units per order, table and index apart, the ratio to the seed, $ per million orders."""
    print("\nDynamoDB capacity units per order (ConsumedCapacity, INDEXES); on demand at $0.625/M WRU, $0.125/M RRU")
    print(f"{'measure':8} {'side':8} {'WRU':>6} {'table':>6} {'index':>6} {'RRU':>5} {'÷ seed':>7} {'$/M orders':>10}")
    for name in ("busy", "ten", "mix"):
        for side in SIDES:
            u, seed = figures[side][name], figures["seed"][name]
            units = f"{u['wru']:6.2f} {u['write_table']:6.2f} {u['write_index']:6.2f} {u['rru']:5.2f}"
            print(f"{name:8} {side:8} {units} {u['wru'] / seed['wru']:6.2f}× {u['usd_per_million']:10.2f}")
    print(f"order item: project {figures['project']['item_bytes']:,} B, seed {figures['seed']['item_bytes']:,} B\n")


def contention(plan: Plan, env: dict[str, str], direct: Any) -> list[dict[str, Any]]:
    """A flash sale: `consumers` warm processes on one tenant and day, batches of ten back to back."""
    from versus import Warm

    rows = []
    for consumers in plan.consumers:
        common.reset_table(direct, TABLES["project"])
        workers = [Warm(common.ROOT / "src", env, "--meter") for _ in range(consumers)]
        for worker in workers:  # connections and lazy imports, on a tenant of its own
            worker.handle(common.batch_event(common.new_tenants(1, "warm"), 10))
        tenant = common.new_tenants(1, "hot")
        batches = [[common.batch_event(tenant, 10) for _ in range(plan.hot_batches)] for _ in workers]
        tick = time.perf_counter()
        with ThreadPoolExecutor(consumers) as pool:
            done = list(pool.map(drain, workers, batches))
        elapsed = time.perf_counter() - tick
        for worker in workers:
            worker.close()
        orders = consumers * plan.hot_batches * 10
        refused, failed, tried = (sum(d[i] for d in done) for i in range(3))
        numbering = common.numbering_problem(direct, common.TABLE, tenant[0], orders, seed=False) or "1..N exactly"
        rows.append({"consumers": consumers, "orders": orders, "seconds": elapsed, "orders_per_s": orders / elapsed})
        rows[-1] |= {"refused": refused, "failed_records": failed, "invocations": tried, "numbering": numbering}
        common.say(f"  {consumers} consumer(s): {orders / elapsed:.0f} orders/s, {refused} refused transactions")
    return rows


def drain(worker: Any, events: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Handle each event, redelivering its failed records (as SQS would) until none fails: (refused transactions,
    records reported failed, invocations)."""
    refused = failed = tried = 0
    for event in events:
        records = event["Records"]
        while records:
            answer = worker.handle({"Records": records})
            refused += answer["errors"].get("TransactionCanceledException", 0)
            tried += 1
            failed += len(answer["failed"])
            records = [r for r in records if r["messageId"] in answer["failed"]]
    return refused, failed, tried


def measure(plan: Plan, servers: common.Servers) -> dict[str, Any]:
    """Start the network, then run the four measurements in order."""
    moto = servers.start("moto")["moto"]
    network, bare = servers.network(moto, 0.010, 0.050), servers.network(moto, 0, 0)
    os.environ.update(common.QUIET, AWS_ENDPOINT_URL=network["dynamodb"], CART_LAMBDA_API_URL=network["cart"])
    import boto3

    from baseline import SeedBaseline
    from capacity import Meter
    from lambda_runtime import measure_cold
    from order_creator import clients
    from order_creator.handler import lambda_handler

    direct = boto3.client("dynamodb", endpoint_url=moto)
    seed_client = boto3.session.Session().client("dynamodb", config=clients._config())
    seed = SeedBaseline(common.SEED_TABLE, network["cart"], seed_client)
    run = {"project": lambda e: lambda_handler(e, common.lambda_context(60.0)), "seed": seed.handle}
    for side in SIDES:  # connections and lazy imports, once
        common.reset_table(direct, TABLES[side])
        run[side](common.batch_event(common.new_tenants(1, "warm"), 10))
    common.say(f"1/4 batch latency and CPU ({', '.join(map(str, plan.reps))} orders a batch)")
    figures: dict[str, Any] = {"race": race(plan, run, direct, network["dynamodb"])}
    common.say("2/4 capacity units")
    meters = {"project": Meter(), "seed": Meter()}
    meters["project"].watch(clients.dynamodb())
    meters["seed"].watch(seed_client)
    figures["capacity"] = capacity(run, meters, direct)
    common.say("3/4 hot tenant")
    hot = servers.network(moto, 0.005, 0.050)
    hot_env = {**os.environ, "AWS_ENDPOINT_URL": hot["dynamodb"], "CART_LAMBDA_API_URL": hot["cart"]}
    figures["contention"] = contention(plan, hot_env, direct)
    common.say("4/4 cold start through awslambdaric")
    common.reset_table(direct, TABLES["project"])
    bare_env = {**os.environ, "AWS_ENDPOINT_URL": bare["dynamodb"], "CART_LAMBDA_API_URL": bare["cart"]}
    event = lambda: common.batch_event(common.new_tenants(1, "cold"), 1)  # noqa: E731
    figures["cold"] = measure_cold(
        str(LAMBDA_PYTHON), common.ROOT / "src" / "order_creator", bare_env, plan.cold_reps, event
    )
    common.say(f"  the image: {figures['cold']['cpu_ratio']:.2f}× the yardstick's CPU to the first answer")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few batches (a smoke run: set BENCH_FIGURES)")
    args = parser.parse_args()
    if not LAMBDA_PYTHON.exists():
        raise SystemExit(f"{LAMBDA_PYTHON} is missing: `make bench` creates it from bench/requirements-lambda.txt")
    started, servers = time.perf_counter(), common.Servers()
    try:  # the handler's metrics (an EMF blob per invocation) go to stdout, as in Lambda: here, to a file
        with tempfile.TemporaryFile("w") as emf, contextlib.redirect_stdout(emf):
            figures = measure(QUICK if args.quick else FULL, servers)
    finally:
        servers.stop()
    print_capacity(figures["capacity"])
    figures["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    figures["machine"] = {"cpus": os.cpu_count(), "load": os.getloadavg()[0], "python": sys.version.split()[0]}
    figures["seconds"] = time.perf_counter() - started
    common.save("run", figures)
    common.say(f"bench/run.py: {figures['seconds']:.0f} s")


if __name__ == "__main__":
    main()
