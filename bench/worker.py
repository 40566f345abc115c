"""A fresh process that handles prepared SQS events, for the cold-start, memory and contention runs.

    python bench/worker.py {handler|baseline} EVENTS.json RESULT.json [--meter] [--start-at EPOCH] [--redeliver]

Imports as little as it can before the clock starts, so that the cold start it reports is the handler's; with
`--redeliver`, failed records are redelivered as SQS would. Writes its timings, failures, peak RSS and tally as JSON.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402 - the clock starts first
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def main() -> None:
    mode, events_path, result_path = sys.argv[1:4]
    flags = sys.argv[4:]
    with open(events_path) as file:
        events: list[dict[str, Any]] = json.load(file)
    before_import = time.perf_counter()
    handle = _handler() if mode == "handler" else _baseline()
    imported = time.perf_counter()
    meter = _meter(mode) if "--meter" in flags else None
    if "--start-at" in flags:
        time.sleep(max(0.0, float(flags[flags.index("--start-at") + 1]) - time.time()))
    began = time.time()
    batch_seconds: list[float] = []
    failures = redeliveries = 0
    from order_creator.worker import WorkerContext  # after the clock: the handler's cold start is what is measured

    queue = list(events)
    while queue:
        event = queue.pop(0)
        tick = time.perf_counter()
        response = handle(event, WorkerContext(time.monotonic() + 60.0))
        batch_seconds.append(time.perf_counter() - tick)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        failures += len(failed)
        if failed and "--redeliver" in flags:
            redeliveries += len(failed)
            queue.append({"Records": [redelivered(r) for r in event["Records"] if r["messageId"] in failed]})
    result = {
        "start_to_import_done_s": imported - STARTED,
        "import_s": imported - before_import,
        "start_to_first_batch_done_s": imported - STARTED + batch_seconds[0],
        "batch_seconds": batch_seconds,
        "began_epoch": began,
        "ended_epoch": time.time(),
        "failures": failures,
        "redeliveries": redeliveries,
        "peak_rss_kib": peak_rss_kib(),
    }
    if meter is not None:
        tally = meter.snapshot()
        result["tally"] = {"operations": dict(tally.operations), "failed": dict(tally.failed)}
    with open(result_path, "w") as file:
        json.dump(result, file)


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not `ru_maxrss`: Linux carries that over from the parent
    through fork and exec, so a child of a big process reports the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _handler() -> Any:
    from order_creator.handler import lambda_handler

    return lambda_handler


def _baseline() -> Any:
    import boto3

    from baseline import SeedBaseline
    from order_creator.clients import _config

    client = boto3.session.Session().client("dynamodb", config=_config())
    seed = SeedBaseline(os.environ["DYNAMODB_TABLE_NAME"], os.environ["CART_LAMBDA_API_URL"], client)
    _baseline_client.append(client)
    return lambda event, _context: seed.handle(event)


_baseline_client: list[Any] = []


def _meter(mode: str) -> Any:
    from meter import Meter

    meter = Meter()
    if mode == "handler":
        from order_creator import clients

        meter.watch(clients.dynamodb())
    else:
        meter.watch(_baseline_client[0])
    return meter


def redelivered(record: dict[str, Any]) -> dict[str, Any]:
    """The record as SQS delivers it again: its receive count one higher."""
    attributes = dict(record["attributes"])
    attributes["ApproximateReceiveCount"] = str(int(attributes.get("ApproximateReceiveCount", "1")) + 1)
    return {**record, "attributes": attributes}


if __name__ == "__main__":
    main()
