"""`make bench`: this project's handler against the seed's algorithm (`bench/baseline.py`), on the same network.

    .venv/bin/python bench/run.py [--quick] [--out DIR] [--dynamodb-delay 0.010] [--cart-delay 0.050]

Starts a single-threaded moto server, a proxy that delays every DynamoDB request and a Cart API that delays every
answer (`bench/servers.py`, each in its own process), then measures batch latency and CPU, DynamoDB requests and
write units per order (`bench/meter.py`), a redelivered batch, cold start and peak RSS (fresh processes,
`bench/worker.py`), a hot tenant (eight processes on one tenant-day) and order events (`bench/order_events.py`).
Writes the generated blocks of `docs/benchmarks.md` (or of a copy in `--out`). No figure is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.factories import lambda_context, message, orders_of, record  # noqa: E402 - the repository root is on the path only now

from order_creator.cli.audit import describe  # noqa: E402
from order_creator.numbering_audit import check_orders  # noqa: E402
from order_creator.store.keys import table_definition  # noqa: E402
from report import Case, ColdStart, Contention, Memory, Redelivery, Results, machine, write  # noqa: E402

PY = sys.executable
say = functools.partial(print, file=sys.stderr, flush=True)  # progress; stdout takes the handler's EMF blobs
DAY = "20251230"  # the business day of every message (dateCreated 2025-12-30T10:15:00+02:00)
BUSINESS_DAY = date(2025, 12, 30)
TABLE = "orders-bench"

# Dummy credentials and quiet logs. Metrics stay on (their EMF blob goes to a file): with POWERTOOLS_METRICS_DISABLED,
# Powertools 3.37 never clears its metric set, which grows across invocations and is printed at 100 values.
QUIET = {
    **dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "bench"),
    **dict.fromkeys(("AWS_DEFAULT_REGION", "AWS_REGION"), "us-east-1"),
    "DYNAMODB_TABLE_NAME": TABLE,
    "LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_NAMESPACE": "OrderCreatorBench",
    "POWERTOOLS_SERVICE_NAME": "order-creator",
}


@dataclass
class Plan:
    sizes: tuple[int, ...]
    reps: dict[int, int]
    cold_reps: int
    memory_batch: int
    contention_batches: int  # per process


FULL = Plan((1, 10, 100), {1: 25, 10: 15, 100: 7}, cold_reps=9, memory_batch=100, contention_batches=5)
QUICK = Plan((1, 10), {1: 1, 10: 1}, cold_reps=1, memory_batch=10, contention_batches=1)


class Servers:
    """The moto process and the network processes (proxy + Cart API), stopped on exit."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> dict[str, str]:
        """Start `bench/servers.py` with `args`; the URLs it prints once it serves."""
        command = [PY, str(BENCH / "servers.py"), *args]
        self._processes.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        line = self._processes[-1].stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"server {args} did not start")
        return dict(json.loads(line))

    def stop(self) -> None:
        for process in self._processes:
            process.stdin.close()  # type: ignore[union-attr]  # the server's cue to exit
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()


def new_tenants(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(count)]


def batch_event(tenants: list[str], size: int) -> dict[str, Any]:
    """`size` valid records spread round-robin over `tenants`, each with its own order id and cart."""
    records = [record(message(tenants[i % len(tenants)], f"cart-{i}")) for i in range(size)]
    return {"Records": records}


def reset_table(client: Any) -> None:
    """An empty table: moto's transactions slow down as its table grows (it deep-copies the table per item)."""
    client.delete_table(TableName=TABLE)
    client.create_table(**table_definition(TABLE))


def proxy_counts(proxy_url: str) -> tuple[int, float, int]:
    """Requests, moto's own seconds and answers the client no longer waited for, as the proxy counted them."""
    import requests

    counts = requests.get(f"{proxy_url}/__counts", timeout=5).json()
    return sum(counts["operations"].values()), sum(counts["moto_seconds"].values()), counts["abandoned"]


def counts_since(before: tuple[int, float, int], after: tuple[int, float, int]) -> tuple[int, float, int]:
    """The difference between two `proxy_counts`."""
    return after[0] - before[0], after[1] - before[1], after[2] - before[2]


def counter_of(client: Any, tenant: str, seed: bool) -> int:
    pk, sk = ("COUNTER", f"ORDER_NUMBER#{tenant}#{DAY}") if seed else (f"COUNTER#{tenant}", f"ORDER_NUMBER#{DAY}")
    item = client.get_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True).get("Item")
    return int(item["currentValue"]["N"]) if item else 0


def check_gapless(client: Any, tenant: str, expected: int, seed: bool) -> str | None:
    """None when the product's numbering audit holds for the tenant's day and its counter says `expected`."""
    counter = counter_of(client, tenant, seed)
    verdicts = check_orders(tenant, orders_of(client, TABLE, tenant), {BUSINESS_DAY: counter}, UTC)
    if [(v.day, v.ok) for v in verdicts] != [(BUSINESS_DAY, True)] or counter != expected:
        return f"tenant {tenant}: expected 1..{expected}; " + "; ".join(describe(v) for v in verdicts)
    return None


def run_latency(plan: Plan, handler: Any, seed: Any, meters: dict[str, Any], direct: Any, proxy: str) -> list[Case]:
    cases: list[Case] = []
    shapes = [(size, tenants) for size in plan.sizes for tenants in (1, 10) if tenants == 1 or size >= tenants]
    for size, tenant_count in shapes:
        pair = {side: Case(side, size, tenant_count) for side in ("project", "seed")}
        for rep in range(plan.reps[size]):
            order = ("project", "seed") if rep % 2 == 0 else ("seed", "project")  # neither always goes first
            for side in order:
                case = pair[side]
                tenants = new_tenants(tenant_count, f"{side[0]}{size}x{tenant_count}")
                event = batch_event(tenants, size)
                reset_table(direct)
                before, proxied_before = meters[side].snapshot(), proxy_counts(proxy)
                tick, cpu = time.perf_counter(), time.process_time()
                response = handler(event, lambda_context(60.0)) if side == "project" else seed.handle(event)
                case.seconds.append(time.perf_counter() - tick)
                case.cpu_seconds.append(time.process_time() - cpu)  # this process only: the servers run apart
                case.tally = case.tally.plus(meters[side].snapshot().minus(before))
                proxied, moto_seconds, _ = counts_since(proxied_before, proxy_counts(proxy))
                case.proxied, case.moto_seconds, case.orders = (
                    case.proxied + proxied,
                    case.moto_seconds + moto_seconds,
                    case.orders + size,
                )
                if response["batchItemFailures"]:
                    case.problems.append(f"{len(response['batchItemFailures'])} failures in a batch")
                for tenant in tenants:
                    expected = sum(1 for r in event["Records"] if f'"{tenant}"' in r["body"])
                    if (problem := check_gapless(direct, tenant, expected, side == "seed")) is not None:
                        case.problems.append(problem)
        for case in pair.values():
            if case.proxied != case.tally.requests:
                case.problems.append(f"botocore counted {case.tally.requests} requests, the proxy {case.proxied}")
        cases += pair.values()
        p, s = pair["project"], pair["seed"]
        say(
            f"  batch {size:>3}, {tenant_count:>2} tenant(s): project {p.median * 1000:7.1f} ms, "
            f"seed {s.median * 1000:7.1f} ms, ratio {s.median / p.median:5.1f}x",
        )
    return cases


def run_redelivery(handler: Any, seed: Any, meters: dict[str, Any], direct: Any) -> list[Redelivery]:
    """A batch of ten, then the very same event again (same message ids, same orders)."""
    from worker import redelivered

    results = []
    for side in ("project", "seed"):
        reset_table(direct)
        tenant = new_tenants(1, f"r{side[0]}")[0]
        event = batch_event([tenant], 10)
        run = (lambda e: handler(e, lambda_context(60.0))) if side == "project" else seed.handle
        run(event)
        orders_before, counter_before = (
            len(orders_of(direct, TABLE, tenant)),
            counter_of(direct, tenant, side == "seed"),
        )
        before = meters[side].snapshot()
        response = run({"Records": [redelivered(r) for r in event["Records"]]})
        orders_after, counter_after = len(orders_of(direct, TABLE, tenant)), counter_of(direct, tenant, side == "seed")
        tally, failures = meters[side].snapshot().minus(before), len(response["batchItemFailures"])
        results.append(
            Redelivery(side, tally, (orders_before, orders_after), (counter_before, counter_after), failures)
        )
    return results


def run_worker(
    mode: str, events: list[dict[str, Any]], env: dict[str, str], *flags: str
) -> tuple[dict[str, Any], float]:
    """Run `bench/worker.py` in a fresh process; its result and its wall-clock seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        events_path, result_path = Path(tmp, "events.json"), Path(tmp, "result.json")
        events_path.write_text(json.dumps(events))
        command = [PY, str(BENCH / "worker.py"), mode]
        tick, cpu = time.perf_counter(), children_cpu()
        finished = subprocess.run(  # noqa: PLW1510 - the return code is checked below, with stderr
            [*command, str(events_path), str(result_path), *flags],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - tick
        if finished.returncode != 0:
            raise RuntimeError(f"worker {mode} failed:\n{finished.stderr[-3000:]}")
        result = json.loads(result_path.read_text())
        result["cpu_s"] = children_cpu() - cpu
        return result, wall


def timed_python(code: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run `python -c code`; its wall-clock seconds, CPU seconds and stdout."""
    tick, cpu = time.perf_counter(), children_cpu()
    output = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - tick, children_cpu() - cpu, output


def children_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far. On a shared machine this is the
    steadier measure of a cold start: it leaves out the time spent waiting for a CPU."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cold_start(plan: Plan, delayed_env: dict[str, str], bare_env: dict[str, str]) -> ColdStart:
    cold = ColdStart()
    probe = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"
    client_probe = probe.replace("import boto3;", "import boto3; boto3.session.Session().client('dynamodb');")
    for _ in range(plan.cold_reps):
        for code, samples in ((probe, cold.boto3), (client_probe, cold.client)):
            wall, cpu, output = timed_python(code, delayed_env)
            for name, value in (("wall", wall), ("cpu", cpu), ("inner", float(output))):
                samples[name].append(value)
        for env, variant in ((delayed_env, cold.delayed), (bare_env, cold.bare)):
            result, wall = run_worker("handler", [batch_event(new_tenants(1, "cold"), 1)], env)
            if result["failures"]:
                raise RuntimeError("the cold-start batch failed")
            variant["wall"].append(wall)
            variant["cpu"].append(result["cpu_s"])
            variant["inner"].append(result["start_to_first_batch_done_s"])
            variant["import"].append(result["import_s"])
    return cold


def run_memory(plan: Plan, env: dict[str, str], direct: Any) -> Memory:
    reset_table(direct)
    project, _ = run_worker("handler", [batch_event(new_tenants(1, "mem"), plan.memory_batch)], env)
    seed, _ = run_worker("baseline", [batch_event(new_tenants(1, "mems"), plan.memory_batch)], env)
    peak = "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))"
    _, _, output = timed_python(f"import boto3; {peak}", env)
    return Memory(project["peak_rss_kib"], seed["peak_rss_kib"], int(output), plan.memory_batch)


def run_contention(plan: Plan, env: dict[str, str], direct: Any, proxy: str) -> Contention:
    """A flash sale: 8 processes on one tenant and day, each handling batches of 10 back to back, with a 60 s
    deadline per batch; what they report failed is redelivered (as SQS would) and counted by its error type."""
    workers, batches = 8, plan.contention_batches
    reset_table(direct)
    proxied_before = proxy_counts(proxy)
    tenant = new_tenants(1, "contention")[0]
    start_at = time.time() + 6.0  # every worker has imported the handler by then
    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        for w in range(workers):
            events_path, result_path = Path(tmp, f"events{w}.json"), Path(tmp, f"result{w}.json")
            events_path.write_text(json.dumps([batch_event([tenant], 10) for _ in range(batches)]))
            command = [PY, str(BENCH / "worker.py"), "handler", str(events_path), str(result_path)]
            flags = ["--meter", "--redeliver", "--start-at", str(start_at)]
            logs = Path(tmp, f"stdout{w}.txt").open("w")  # noqa: SIM115 - closed once the process ends
            processes.append((subprocess.Popen([*command, *flags], env=env, stdout=logs), result_path, logs))
        for process, _, logs in processes:
            if process.wait() != 0:
                raise RuntimeError("a contention worker failed")
            logs.close()
        results = [json.loads(path.read_text()) for _, path, _ in processes]
        logs = "".join(Path(tmp, f"stdout{w}.txt").read_text() for w in range(workers))
        failed = Counter(re.findall(r'"error_type": ?"(\w+)"', logs))  # the handler's JSON log line per failure
    began = min(r["began_epoch"] for r in results)
    ended = max(r["ended_epoch"] for r in results)
    orders = workers * batches * 10
    return Contention(
        workers,
        orders,
        ended - began,
        sum(r["tally"]["operations"].get("TransactWriteItems", 0) for r in results),
        sum(r["tally"]["failed"].get("TransactionCanceledException", 0) for r in results),
        sum(r["failures"] for r in results),
        dict(failed),
        max(max(r["batch_seconds"]) for r in results),
        check_gapless(direct, tenant, orders, seed=False),
        *counts_since(proxied_before, proxy_counts(proxy)),
    )


def measure(plan: Plan, args: argparse.Namespace, servers: Servers, command: str, info: dict[str, str]) -> Results:
    """Start the network, then run the five measurements in order."""
    moto = servers.start("moto")["moto"]
    delays = ["--dynamodb-delay", str(args.dynamodb_delay), "--cart-delay", str(args.cart_delay)]
    network = servers.start("network", "--moto-url", moto, *delays)
    bare = servers.start("network", "--moto-url", moto, "--dynamodb-delay", "0", "--cart-delay", "0")
    os.environ.update(QUIET)
    env = {**os.environ, "AWS_ENDPOINT_URL": network["dynamodb"], "CART_LAMBDA_API_URL": network["cart"]}
    bare_env = {**env, "AWS_ENDPOINT_URL": bare["dynamodb"], "CART_LAMBDA_API_URL": bare["cart"]}
    os.environ.update(env)

    import boto3

    from baseline import SeedBaseline
    from meter import Meter, item_size
    from order_creator import clients
    from order_creator.handler import lambda_handler

    direct = boto3.session.Session().client("dynamodb", endpoint_url=moto)
    direct.create_table(**table_definition(TABLE))
    seed_client = boto3.session.Session().client("dynamodb", config=clients._config())
    seed = SeedBaseline(TABLE, network["cart"], seed_client)
    meters = {"project": Meter(), "seed": Meter()}
    meters["project"].watch(clients.dynamodb())
    meters["seed"].watch(seed_client)

    for warm in (lambda_handler, lambda e, _c: seed.handle(e)):  # connections and lazy imports, once
        warm(batch_event(new_tenants(1, "warm"), 10), lambda_context(60.0))

    say(f"1/5 batch latency ({', '.join(map(str, plan.sizes))} messages)")
    cases = run_latency(plan, lambda_handler, seed, meters, direct, network["dynamodb"])
    say("2/5 redelivered batch")
    redeliveries = run_redelivery(lambda_handler, seed, meters, direct)
    say("3/5 cold start")
    reset_table(direct)
    cold = run_cold_start(plan, env, bare_env)
    say("4/5 memory")
    memory = run_memory(plan, env, direct)
    say("5/5 contention (8 processes, one tenant-day, 5 ms per DynamoDB request)")
    hot = servers.start(
        "network", "--moto-url", moto, "--dynamodb-delay", "0.005", "--cart-delay", str(args.cart_delay)
    )
    hot_env = {**env, "AWS_ENDPOINT_URL": hot["dynamodb"], "CART_LAMBDA_API_URL": hot["cart"]}
    contention = run_contention(plan, hot_env, direct, hot["dynamodb"])
    # One order item as stored (the contention run's table holds only orders of three cart lines).
    order = direct.scan(
        TableName=TABLE,
        FilterExpression="entityType = :o",
        ExpressionAttributeValues={":o": {"S": "ORDER"}},
    )["Items"]
    return Results(
        command,
        plan.sizes,
        (args.dynamodb_delay, args.cart_delay),
        info,
        cases,
        redeliveries,
        cold,
        memory,
        contention,
        item_size(order[0]) if order else 0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmarks: this project against the seed's algorithm.")
    parser.add_argument("--quick", action="store_true", help="a few repetitions of small batches (a smoke run)")
    parser.add_argument(
        "--out", type=Path, help="where to write benchmarks.md (default docs/, or a temp dir with --quick)"
    )
    parser.add_argument("--dynamodb-delay", type=float, default=0.010, help="seconds added to each DynamoDB request")
    parser.add_argument("--cart-delay", type=float, default=0.050, help="seconds added to each Cart API request")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    out: Path = args.out or (Path(tempfile.mkdtemp(prefix="bench-")) if args.quick else ROOT / "docs")
    out.mkdir(parents=True, exist_ok=True)
    command = "make bench" if not args.quick else "bench/run.py --quick"
    info = machine()
    started = time.perf_counter()

    servers = Servers()
    # The handler's metrics (an EMF blob per invocation) go to stdout, as in Lambda: here, to a file.
    try:
        with tempfile.TemporaryFile("w") as emf, contextlib.redirect_stdout(emf):
            results = measure(plan, args, servers, command, info)
    finally:
        servers.stop()

    results.elapsed = time.perf_counter() - started
    if out != ROOT / "docs":
        shutil.copy(ROOT / "docs" / "benchmarks.md", out / "benchmarks.md")
    write(out / "benchmarks.md", results)
    say("order events (bench/order_events.py, its own section)")
    orders = ["--orders", "100"] if args.quick else []
    subprocess.run([PY, str(BENCH / "order_events.py"), "--out", str(out / "benchmarks.md"), *orders], check=True)
    say(f"wrote {out / 'benchmarks.md'} in {results.elapsed:.0f} s")


if __name__ == "__main__":
    main()
