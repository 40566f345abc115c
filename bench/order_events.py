"""Order events (contract §7) in `make bench`: what the publisher costs per order.

    .venv/bin/python bench/order_events.py [--orders 300]

Creates orders with the real orders handler in a stream-enabled table of the bench's moto server, then runs the
real publisher (`order_creator.events.lambda_handler`) on the table's stream records in batches of 1, 10 and 100:
PutEvents requests per order (counted on the client) and CPU per record (no server it calls runs in this process).
Saved under "events" in docs/benchmarks.json.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
import warnings
from typing import Any

from common import QUIET, Servers, lambda_context, message, project_table, record, save, say


def stream_records(dynamodb: Any, streams: Any, table: str) -> list[dict[str, Any]]:
    """Every order INSERT of the table's stream (the template's filter), as Lambda delivers them."""
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    iterator, found = iterator["ShardIterator"], []
    while page := streams.get_records(ShardIterator=iterator, Limit=100):
        if not page["Records"]:
            return found
        for r in page["Records"]:
            image = r["dynamodb"].get("NewImage", {})
            if r["eventName"] == "INSERT" and image.get("entityType", {}).get("S") == "ORDER":
                created = r["dynamodb"]["ApproximateCreationDateTime"].timestamp()
                found.append({**r, "dynamodb": {**r["dynamodb"], "ApproximateCreationDateTime": created}})
                found[-1]["eventSourceARN"] = arn
        iterator = page["NextShardIterator"]
    return found


def measure_publisher(records: list[dict[str, Any]], batch_size: int) -> dict[str, float]:
    """The real publisher on `records` in batches of `batch_size`: PutEvents requests per order, CPU per record."""
    from order_creator import events
    from order_creator.publishing import eventbridge

    sent, hook = [], "before-call.events.PutEvents"
    eventbridge().meta.events.register(hook, lambda **_: sent.append(1), unique_id="bench-count")
    cpu = 0.0
    for start in range(0, len(records), batch_size):
        tick = time.process_time()
        response = events.lambda_handler({"Records": records[start : start + batch_size]}, lambda_context(60))
        cpu += time.process_time() - tick
        if response["batchItemFailures"]:
            raise RuntimeError(f"the publisher failed: {response}")
    eventbridge().meta.events.unregister(hook, unique_id="bench-count")
    return {
        "batch": batch_size,
        "requests_per_order": len(sent) / len(records),
        "cpu_ms_per_record": 1000 * cpu / len(records),
    }


def run(orders: int) -> dict[str, Any]:
    """Every measurement, with its own moto process and an undelayed Cart API; returns the figures."""
    servers = Servers()
    try:
        moto = servers.start("moto")["moto"]
        network = servers.network(moto, 0, 0)
        table, tenant = f"bench-events-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
        os.environ.update(QUIET, AWS_ENDPOINT_URL=moto, CART_LAMBDA_API_URL=network["cart"])
        os.environ.update(DYNAMODB_TABLE_NAME=table, EVENT_BUS_NAME=table, POWERTOOLS_METRICS_DISABLED="true")
        warnings.filterwarnings("ignore", "No application metrics")  # Powertools, metrics being disabled
        from order_creator import clients
        from order_creator.handler import lambda_handler
        from order_creator.local.stream import dynamodb_streams
        from order_creator.publishing import eventbridge

        dynamodb, streams = clients.dynamodb(), dynamodb_streams()
        stream = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        dynamodb.create_table(**project_table(table), StreamSpecification=stream)
        eventbridge().create_event_bus(Name=table)
        say(f"order events: creating {orders} orders")
        for start in range(0, orders, 10):
            batch = {"Records": [record(message(tenant, f"cart-{i}")) for i in range(start, min(orders, start + 10))]}
            if lambda_handler(batch, lambda_context(60))["batchItemFailures"]:
                raise RuntimeError("the orders handler failed a batch: is the machine overloaded?")
        records = stream_records(dynamodb, streams, table)
        say(f"order events: publishing {len(records)} stream records in batches of 1, 10, 100")
        measure_publisher(records[:20], 10)  # warm: connections, lazy imports
        publisher = [measure_publisher(records[: min(len(records), 200)], 1)]
        publisher += [measure_publisher(records, size) for size in (10, 100)]
    finally:
        servers.stop()
    return {"orders": orders, "publisher": publisher}


def main() -> None:
    parser = argparse.ArgumentParser(description="Order events: PutEvents requests per order, publisher CPU.")
    # 300 orders make three stream batches of 100; more only slows the emulator (it copies the table per write).
    parser.add_argument("--orders", type=int, default=300)
    figures = run(parser.parse_args().orders)
    save("events", figures)
    at_100 = figures["publisher"][-1]
    say(f"order events: {at_100['requests_per_order']:.2f} PutEvents per order, {at_100['cpu_ms_per_record']:.3f} ms")


if __name__ == "__main__":
    main()
