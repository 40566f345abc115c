"""Several processes numbering one tenant's day at once end with exactly 1..N, each order once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.factories import assert_gapless, cart, invoke, message, new_tenant, orders_of, record, serve_cart, sqs_event

PROCESSES = 4
BATCHES = 5
BATCH_SIZE = 10


def run_at_once(paths: list[Path], lambda_env: dict[str, str]) -> list[str]:
    """Run one child process per events file, all at once; return the message ids they reported failed."""
    env = {**os.environ, **lambda_env, "LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.run_batches", str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for path in paths
    ]
    failed: list[str] = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
        failed.extend(json.loads(out.rsplit("FAILED ", 1)[1]))
    return failed


def test_concurrent_lambdas_on_one_tenant_and_day_number_gaplessly(
    lambda_env, httpserver, dynamodb, table_name, tmp_path: Path
):
    # Given 200 orders of one tenant and day, split over 4 processes, where every process also
    # redelivers 5 orders that another process is creating at the same moment
    tenant = new_tenant()
    bodies = []
    for i in range(PROCESSES * BATCHES * BATCH_SIZE):
        serve_cart(httpserver, cart(tenant, f"c{i}"))
        bodies.append(message(tenant, f"c{i}"))
    per_process = BATCHES * BATCH_SIZE
    paths = []
    for p in range(PROCESSES):
        mine = bodies[p * per_process : (p + 1) * per_process]
        stolen = bodies[((p + 1) % PROCESSES) * per_process :][:5]
        records = [record(b) for b in mine] + [record(b) for b in stolen]
        events = [sqs_event(*records[i : i + BATCH_SIZE]) for i in range(0, len(records), BATCH_SIZE)]
        path = tmp_path / f"events-{p}.json"
        path.write_text(json.dumps(events))
        paths.append(path)

    # When the processes run at once against the same table
    failed = run_at_once(paths, lambda_env)

    # Then whatever failed transiently succeeds when redelivered, and the day is numbered 1..200 exactly
    if failed:
        retry = [record(b) for b in bodies]
        assert invoke(*retry[:100]) == []
        assert invoke(*retry[100:]) == []
    orders = orders_of(dynamodb, table_name, tenant)
    assert len(orders) == len(bodies)
    assert {o["id"] for o in orders} == {b["orderId"] for b in bodies}
    assert_gapless(dynamodb, table_name, tenant)


def test_concurrent_redeliveries_of_one_batch_create_each_order_once(
    lambda_env, httpserver, dynamodb, table_name, tmp_path: Path
):
    tenant = new_tenant()
    bodies: list[dict[str, Any]] = []
    for i in range(10):
        serve_cart(httpserver, cart(tenant, f"c{i}"))
        bodies.append(message(tenant, f"c{i}"))
    path = tmp_path / "events.json"
    path.write_text(json.dumps([sqs_event(*[record(b) for b in bodies])]))

    run_at_once([path] * 3, lambda_env)

    assert invoke(*[record(b) for b in bodies]) == []
    assert len(orders_of(dynamodb, table_name, tenant)) == 10
    assert_gapless(dynamodb, table_name, tenant)
