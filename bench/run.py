"""`make bench`: this project's handler against the seed's algorithm, on the same emulator and Cart API.

    .venv/bin/python bench/run.py [--quick] [--out DIR] [--dynamodb-delay 0.010] [--cart-delay 0.050]

Starts a single-threaded moto server, a loopback proxy that delays every DynamoDB request, and a threaded
Cart API that delays every answer (`bench/servers.py`, each in its own process), then measures:

1. batch latency, this project's `lambda_handler` (a real SQS event and a context) against the seed's
   sequential algorithm (`bench/baseline.py`), batches of 1, 10 and 100, one tenant and ten tenants;
2. DynamoDB requests and write units per order (`bench/meter.py`, from botocore's events), and what a
   redelivered batch costs;
3. cold start: a fresh process importing the handler and serving one message, against `import boto3`;
4. peak RSS of a process handling a batch of 100;
5. contention: eight processes numbering 400 orders of one tenant and day (5 ms per DynamoDB request);
6. order events (`bench/order_events.py`, run after the rest and appended under its own heading).

Writes `docs/benchmarks.md` and `docs/benchmarks.png` (or `--out`). No figure is asserted: this is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import statistics
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

from tests.factories import message, record  # noqa: E402

from order_creator.audit import check_orders, describe  # noqa: E402 - the repository root is on the path only now
from report import (  # noqa: E402 - after the path
    Case,
    ColdStart,
    Contention,
    LoggingCost,
    Memory,
    Redelivery,
    Results,
    chart,
    machine,
    render,
)

PY = sys.executable
say = functools.partial(print, file=sys.stderr, flush=True)  # progress; stdout takes the handler's EMF blobs
DAY = "20251230"  # the business day of every message (dateCreated 2025-12-30T10:15:00+02:00)
BUSINESS_DAY = date(2025, 12, 30)
TABLE = "orders-bench"

# The benchmark process and its workers: dummy credentials and quiet logs. Metrics stay on (the EMF blob goes to a
# file): Powertools 3.37 with POWERTOOLS_METRICS_DISABLED=true never clears its metric set, which then grows
# across invocations and is printed anyway each time one metric reaches 100 values.
QUIET = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
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
    logging_batches: int


FULL = Plan(
    sizes=(1, 10, 100),
    reps={1: 25, 10: 15, 100: 7},
    cold_reps=9,
    memory_batch=100,
    contention_batches=5,
    logging_batches=12,
)
QUICK = Plan(sizes=(1, 10), reps={1: 1, 10: 1}, cold_reps=1, memory_batch=10, contention_batches=1, logging_batches=3)


# servers ------------------------------------------------------------------------------------------


class Servers:
    """The moto process and one or more network processes (proxy + Cart API), stopped on exit."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> dict[str, str]:
        process = subprocess.Popen(
            [PY, str(BENCH / "servers.py"), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"server {args} did not start")
        urls: dict[str, str] = json.loads(line)
        return urls

    def stop(self) -> None:
        for process in self._processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()


# events ---------------------------------------------------------------------------------------------


def new_tenants(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(count)]


def batch_event(tenants: list[str], size: int) -> dict[str, Any]:
    """`size` valid records spread round-robin over `tenants`, each with its own order id and cart."""
    records = [record(message(tenants[i % len(tenants)], f"cart-{i}")) for i in range(size)]
    return {"Records": records}


# the emulator -------------------------------------------------------------------------------------------


def reset_table(client: Any) -> None:
    """An empty table. moto deep-copies the whole table once per item of a transaction (for its rollback), so
    its transactions slow down as the table grows (11 items: 19 ms on an empty table, 175 ms beside 200 orders);
    DynamoDB's do not. Every repetition therefore starts from an empty table, for both sides alike."""
    client.delete_table(TableName=TABLE)
    from order_creator.dao import table_definition

    client.create_table(**table_definition(TABLE))


def proxy_counts(proxy_url: str) -> dict[str, tuple[int, float]]:
    """Requests and moto's own seconds per operation, as the delaying proxy saw them."""
    import requests

    counts: dict[str, list[float]] = requests.get(f"{proxy_url}/__counts", timeout=5).json()
    return {op: (int(n), float(t)) for op, (n, t) in counts.items()}


def counts_since(before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]) -> tuple[int, float, int]:
    """Requests, moto's seconds, and answers the client no longer waited for, between two `proxy_counts`."""
    gone = "abandoned by the client"
    requests_ = sum(n for op, (n, _) in after.items() if op != gone) - sum(
        n for op, (n, _) in before.items() if op != gone
    )
    abandoned = after.get(gone, (0, 0.0))[0] - before.get(gone, (0, 0.0))[0]
    return requests_, sum(t for _, t in after.values()) - sum(t for _, t in before.values()), abandoned


# checks ---------------------------------------------------------------------------------------------


def orders_of(client: Any, tenant: str) -> list[dict[str, str]]:
    """A tenant's orders, with what the numbering audit reads (strongly consistent query, all pages)."""
    orders: list[dict[str, str]] = []
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :order)",
        "ExpressionAttributeValues": {":pk": {"S": f"TENANT#{tenant}"}, ":order": {"S": "ORDER#"}},
        "ProjectionExpression": "id, orderNumber, dateCreated",
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**kwargs)
        orders += [{name: value["S"] for name, value in item.items()} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return orders
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def counter_of(client: Any, tenant: str, seed: bool) -> int:
    key = (
        {"PK": {"S": "COUNTER"}, "SK": {"S": f"ORDER_NUMBER#{tenant}#{DAY}"}}
        if seed
        else {"PK": {"S": f"COUNTER#{tenant}"}, "SK": {"S": f"ORDER_NUMBER#{DAY}"}}
    )
    item = client.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
    return int(item["currentValue"]["N"]) if item else 0


def check_gapless(client: Any, tenant: str, expected: int, seed: bool) -> str | None:
    """None when the product's numbering audit holds for the tenant's day and its counter says `expected`."""
    counter = counter_of(client, tenant, seed)
    verdicts = check_orders(tenant, orders_of(client, tenant), {BUSINESS_DAY: counter}, UTC)
    if [(v.day, v.ok) for v in verdicts] != [(BUSINESS_DAY, True)] or counter != expected:
        return f"tenant {tenant}: expected 1..{expected}; " + "; ".join(describe(v) for v in verdicts)
    return None


# 1 and 2: latency, requests, write units -----------------------------------------------------------------


def run_latency(plan: Plan, handler: Any, seed: Any, meters: dict[str, Any], direct: Any, proxy: str) -> list[Case]:
    from worker import Context

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
                response = handler(event, Context()) if side == "project" else seed.handle(event)
                case.seconds.append(time.perf_counter() - tick)
                case.cpu_seconds.append(time.process_time() - cpu)  # this process only: the servers run apart
                _add_tally(case, meters[side].snapshot().minus(before))
                proxied, moto_seconds, _ = counts_since(proxied_before, proxy_counts(proxy))
                case.proxied += proxied
                case.moto_seconds += moto_seconds
                case.orders += size
                if response["batchItemFailures"]:
                    case.problems.append(f"{len(response['batchItemFailures'])} failures in a batch")
                for tenant in tenants:
                    expected = sum(1 for r in event["Records"] if f'"{tenant}"' in r["body"])
                    if (problem := check_gapless(direct, tenant, expected, side == "seed")) is not None:
                        case.problems.append(problem)
        for case in pair.values():
            if case.proxied != sum(case.operations.values()):
                case.problems.append(
                    f"botocore counted {sum(case.operations.values())} requests, the proxy {case.proxied}"
                )
        cases += pair.values()
        p, s = pair["project"], pair["seed"]
        say(
            f"  batch {size:>3}, {tenant_count:>2} tenant(s): project {p.median * 1000:7.1f} ms, "
            f"seed {s.median * 1000:7.1f} ms, ratio {s.median / p.median:5.1f}x",
        )
    return cases


def _add_tally(case: Case, tally: Any) -> None:
    case.operations += tally.operations
    case.http_attempts += tally.http_attempts
    case.write_units += tally.write_units
    case.read_units += tally.read_units
    case.moto_units += tally.moto_units


def run_redelivery(handler: Any, seed: Any, meters: dict[str, Any], direct: Any) -> list[Redelivery]:
    """A batch of ten, then the very same event again (same message ids, same orders)."""
    from worker import Context

    results = []
    for side in ("project", "seed"):
        reset_table(direct)
        tenant = new_tenants(1, f"r{side[0]}")[0]
        event = batch_event([tenant], 10)
        run = (lambda e: handler(e, Context())) if side == "project" else seed.handle
        run(event)
        orders_before, counter_before = len(orders_of(direct, tenant)), counter_of(direct, tenant, side == "seed")
        before = meters[side].snapshot()
        again = {
            "Records": [
                {**r, "attributes": {**r["attributes"], "ApproximateReceiveCount": "2"}} for r in event["Records"]
            ]
        }
        response = run(again)
        tally = meters[side].snapshot().minus(before)
        results.append(
            Redelivery(
                side,
                tally.requests,
                dict(tally.operations),
                tally.writes,
                tally.write_units,
                orders_before,
                len(orders_of(direct, tenant)),
                counter_before,
                counter_of(direct, tenant, side == "seed"),
                len(response["batchItemFailures"]),
            )
        )
    return results


# 3, 4, and the cost of logging: fresh processes ---------------------------------------------------------


def run_worker(
    mode: str,
    events: list[dict[str, Any]],
    env: dict[str, str],
    *flags: str,
    stdout: Any = subprocess.DEVNULL,
    importtime: bool = False,
) -> tuple[dict[str, Any], float, str]:
    """Run `bench/worker.py` in a fresh process; its result, its wall-clock seconds and its stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        events_path, result_path = Path(tmp, "events.json"), Path(tmp, "result.json")
        events_path.write_text(json.dumps(events))
        command = [PY, *(["-X", "importtime"] if importtime else []), str(BENCH / "worker.py"), mode]
        tick, cpu = time.perf_counter(), children_cpu()
        finished = subprocess.run(  # noqa: PLW1510 - the return code is checked below, with stderr
            [*command, str(events_path), str(result_path), *flags],
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - tick
        if finished.returncode != 0:
            raise RuntimeError(f"worker {mode} failed:\n{finished.stderr[-3000:]}")
        result = json.loads(result_path.read_text())
        result["cpu_s"] = children_cpu() - cpu
        return result, wall, finished.stderr


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
        wall, cpu, output = timed_python(probe, delayed_env)
        cold.boto3_wall.append(wall)
        cold.boto3_cpu.append(cpu)
        cold.boto3_inner.append(float(output))
        wall, cpu, output = timed_python(client_probe, delayed_env)
        cold.client_wall.append(wall)
        cold.client_cpu.append(cpu)
        cold.client_inner.append(float(output))
        result, _, _ = run_worker("handler", [batch_event(new_tenants(1, "cold"), 1)], bare_env, "--steps")
        steps = {"import order_creator.handler": result["import_s"], **result["steps"]}
        steps["the first batch itself (no network delays)"] = result["batch_seconds"][0]
        for name, seconds in steps.items():
            cold.steps.setdefault(name, []).append(seconds)
        for env, variant in ((delayed_env, cold.delayed), (bare_env, cold.bare)):
            result, wall, _ = run_worker("handler", [batch_event(new_tenants(1, "cold"), 1)], env)
            if result["failures"]:
                raise RuntimeError("the cold-start batch failed")
            variant["wall"].append(wall)
            variant["cpu"].append(result["cpu_s"])
            variant["inner"].append(result["start_to_first_batch_done_s"])
            variant["import"].append(result["import_s"])
    # Everything the cold start imports, the first batch's lazy imports included.
    _, _, stderr = run_worker("handler", [batch_event(new_tenants(1, "cold"), 1)], bare_env, importtime=True)
    cold.importtime, cold.packages = parse_importtime(stderr)
    return cold


def parse_importtime(stderr: str) -> tuple[list[tuple[str, float, float, int]], list[tuple[str, float]]]:
    """The slowest modules by cumulative time, and self time summed per top-level package (ms)."""
    modules: list[tuple[str, float, float, int]] = []
    per_package: Counter[str] = Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip())) // 2
        module = name.strip()
        modules.append((module, int(self_us) / 1000, int(cumulative_us) / 1000, depth))
        per_package[module.split(".")[0]] += int(self_us) / 1000
    top = sorted(modules, key=lambda m: -m[2])[:15]
    return top, per_package.most_common(10)


def run_memory(plan: Plan, env: dict[str, str], direct: Any) -> Memory:
    reset_table(direct)
    project, _, _ = run_worker("handler", [batch_event(new_tenants(1, "mem"), plan.memory_batch)], env)
    seed, _, _ = run_worker("baseline", [batch_event(new_tenants(1, "mems"), plan.memory_batch)], env)
    peak = "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))"
    _, _, output = timed_python(f"import boto3; {peak}", env)
    return Memory(project["peak_rss_kib"], seed["peak_rss_kib"], int(output), plan.memory_batch)


def run_logging(plan: Plan, handler: Any, direct: Any) -> LoggingCost | None:
    """Warm batches of ten with a JSON log line per record (LOG_LEVEL=INFO) against WARNING, interleaved, each on
    an empty table; the bytes the handler writes to stdout (a file here: see `main`) counted per batch."""
    if not plan.logging_batches:
        return None
    from worker import Context

    seconds: dict[str, list[float]] = {"WARNING": [], "INFO": []}
    written: dict[str, list[int]] = {"WARNING": [], "INFO": []}
    stdout = sys.stdout
    try:
        for rep in range(plan.logging_batches + 1):
            for level in ("WARNING", "INFO") if rep % 2 == 0 else ("INFO", "WARNING"):
                os.environ["LOG_LEVEL"] = level  # the handler reads its settings on every call
                reset_table(direct)
                event = batch_event(new_tenants(1, "log"), 10)
                stdout.flush()
                offset, tick = stdout.tell(), time.perf_counter()
                handler(event, Context())
                elapsed = time.perf_counter() - tick
                stdout.flush()
                if rep:  # the first round warms the adapters built for each level
                    seconds[level].append(elapsed)
                    written[level].append(stdout.tell() - offset)
    finally:
        os.environ["LOG_LEVEL"] = QUIET["LOG_LEVEL"]
    return LoggingCost(
        statistics.median(seconds["WARNING"]),
        statistics.median(seconds["INFO"]),
        statistics.mean(written["WARNING"]),
        statistics.mean(written["INFO"]),
        plan.logging_batches,
    )


# 5: contention ----------------------------------------------------------------------------------------


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
        failed = Counter(
            line["error_type"]
            for w in range(workers)
            for line in map(_json_or_none, Path(tmp, f"stdout{w}.txt").read_text().splitlines())
            if isinstance(line, dict) and "error_type" in line
        )
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


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


# main -----------------------------------------------------------------------------------------------


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
    from order_creator.dao import table_definition
    from order_creator.handler import lambda_handler

    direct = boto3.session.Session().client("dynamodb", endpoint_url=moto)
    direct.create_table(**table_definition(TABLE))
    seed_client = boto3.session.Session().client("dynamodb", config=clients._config())
    seed = SeedBaseline(TABLE, network["cart"], seed_client)
    meters = {"project": Meter(), "seed": Meter()}
    meters["project"].watch(clients.dynamodb())
    meters["seed"].watch(seed_client)
    from worker import Context

    for warm in (lambda_handler, lambda e, _c: seed.handle(e)):  # connections and lazy imports, once
        warm(batch_event(new_tenants(1, "warm"), 10), Context())

    say(f"1/5 batch latency ({', '.join(map(str, plan.sizes))} messages)")
    cases = run_latency(plan, lambda_handler, seed, meters, direct, network["dynamodb"])
    say("2/5 redelivered batch")
    redeliveries = run_redelivery(lambda_handler, seed, meters, direct)
    say("3/5 cold start")
    reset_table(direct)
    cold = run_cold_start(plan, env, bare_env)
    say("4/5 memory, and the cost of logging")
    memory = run_memory(plan, env, direct)
    logging_cost = run_logging(plan, lambda_handler, direct)
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
        logging_cost,
        contention,
        item_size(order[0]) if order else 0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmarks: this project against the seed's algorithm.")
    parser.add_argument("--quick", action="store_true", help="a few repetitions of small batches (a smoke run)")
    parser.add_argument(
        "--out", type=Path, help="where to write benchmarks.md/.png (default docs/, or a temp dir with --quick)"
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
    (out / "benchmarks.md").write_text(render(results) + "\n")
    chart(results.cases, out / "benchmarks.png")
    say("order events (bench/order_events.py, its own section)")
    orders = ["--orders", "100"] if args.quick else []
    subprocess.run([PY, str(BENCH / "order_events.py"), "--out", str(out / "benchmarks.md"), *orders], check=True)
    say(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.png'} in {results.elapsed:.0f} s")


if __name__ == "__main__":
    main()
