"""What the bench scripts share: the servers, the events, the two tables, the checks, and the figures file.
The project's table comes from template.yaml itself; the product is imported where a script runs it."""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.factories import lambda_context, message, record  # noqa: E402, F401 - the root is on the path only now

PY = sys.executable
FIGURES = Path(os.environ.get("BENCH_FIGURES", ROOT / "docs" / "benchmarks.json"))  # another file for a trial run
# Prices, us-east-1, as docs/capacity.md gives them (AWS's pricing pages): DynamoDB on demand per write and read
# request unit, Lambda arm64 per GB-second and per request, SQS standard per request.
WRU, RRU = 0.625e-6, 0.125e-6
LAMBDA_GB_S, LAMBDA_REQUEST, SQS_REQUEST = 0.0000133334, 0.20e-6, 0.40e-6
say = functools.partial(print, file=sys.stderr, flush=True)  # progress; stdout may carry the handler's metrics
med = statistics.median
DAY = "20251230"  # the business day of every message (dateCreated 2025-12-30T10:15:00+02:00)
TABLE, SEED_TABLE = "orders-bench", "orders-seed"
# Dummy credentials and quiet logs. Metrics stay on (their EMF blob goes to stdout, as in Lambda).
QUIET = {
    **dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "bench"),
    **dict.fromkeys(("AWS_DEFAULT_REGION", "AWS_REGION"), "us-east-1"),
    "DYNAMODB_TABLE_NAME": TABLE,
    "LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_NAMESPACE": "OrderCreatorBench",
    "POWERTOOLS_SERVICE_NAME": "order-creator",
}


class Servers:
    """Processes of `bench/servers.py` (moto, or a delaying proxy with a Cart API), stopped by `stop`."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> dict[str, str]:
        """Start `bench/servers.py ARGS`; the URLs it prints once it serves."""
        command = [PY, str(BENCH / "servers.py"), *args]
        self._processes.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        line = self._processes[-1].stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"server {args} did not start")
        return dict(json.loads(line))

    def network(self, moto: str, dynamodb_delay: float, cart_delay: float) -> dict[str, str]:
        """A proxy in front of moto adding `dynamodb_delay` s a request; a Cart API answering after `cart_delay` s."""
        delays = ["--dynamodb-delay", str(dynamodb_delay), "--cart-delay", str(cart_delay)]
        return self.start("network", "--moto-url", moto, *delays)

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
    return {"Records": [record(message(tenants[i % len(tenants)], f"cart-{i}")) for i in range(size)]}


def project_table(name: str) -> dict[str, Any]:
    """CreateTable arguments from template.yaml's `OrdersTable` (its keys, indexes and projections)."""
    import yaml

    Loader = type("Loader", (yaml.SafeLoader,), {})
    Loader.add_multi_constructor("!", lambda *_: None)  # CloudFormation's !Sub, !Ref, !If: not needed here
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    properties = template["Resources"]["OrdersTable"]["Properties"]
    wanted = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {"TableName": name, **{key: properties[key] for key in wanted if key in properties}}


def seed_table(name: str) -> dict[str, Any]:
    """The seed's schema: GSI1 (orders by date) and GSI2 (order by id) projecting ALL; counters under PK=COUNTER."""

    def keys(pk: str, sk: str) -> list[dict[str, str]]:
        return [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}]

    index = [{"IndexName": f"GSI{i}", "KeySchema": keys(f"GSI{i}_PK", f"GSI{i}_SK")} for i in (1, 2)]
    names = ("PK", "SK", "GSI1_PK", "GSI1_SK", "GSI2_PK", "GSI2_SK")
    table = {"TableName": name, "BillingMode": "PAY_PER_REQUEST", "KeySchema": keys("PK", "SK")}
    table["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": "S"} for n in names]
    return table | {"GlobalSecondaryIndexes": [i | {"Projection": {"ProjectionType": "ALL"}} for i in index]}


def reset_table(client: Any, definition: dict[str, Any]) -> None:
    """An empty table: moto's transactions slow down as its table grows (it copies the table per transaction)."""
    if definition["TableName"] in client.list_tables()["TableNames"]:
        client.delete_table(TableName=definition["TableName"])
    client.create_table(**definition)


def numbering_problem(client: Any, table: str, tenant: str, expected: int, seed: bool) -> str | None:
    """None when the tenant's orders of DAY are numbered exactly 1..expected and its counter says `expected`."""
    pk, sk = ("COUNTER", f"ORDER_NUMBER#{tenant}#{DAY}") if seed else (f"COUNTER#{tenant}", f"ORDER_NUMBER#{DAY}")
    item = client.get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True).get("Item")
    counter = int(item["currentValue"]["N"]) if item else 0
    orders = {":pk": {"S": f"TENANT#{tenant}"}, ":order": {"S": "ORDER#"}}
    condition = {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :order)", "ExpressionAttributeValues": orders}
    pages = client.get_paginator("query").paginate(TableName=table, ConsistentRead=True, **condition)
    numbers = [int(item["orderNumber"]["S"].rsplit("-", 1)[-1]) for page in pages for item in page["Items"]]
    if sorted(numbers) != list(range(1, expected + 1)) or counter != expected:
        return f"tenant {tenant}: expected 1..{expected}, found {len(numbers)} orders, counter {counter}"
    return None


def moto_seconds(proxy_url: str) -> float:
    """moto's own seconds so far, as the delaying proxy timed the requests it forwarded."""
    import urllib.request

    with urllib.request.urlopen(f"{proxy_url}/__counts", timeout=5) as answer:
        return float(sum(json.load(answer)["moto_seconds"].values()))


def save(section: str, figures: Any) -> None:
    """Write one script's figures under `section` of docs/benchmarks.json, keeping the other scripts'."""
    everything = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    everything[section] = figures
    FIGURES.write_text(json.dumps(everything, indent=1, sort_keys=True) + "\n")
