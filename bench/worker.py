"""A fresh process that handles prepared SQS events, for the cold-start, memory, logging and contention runs.

    python bench/worker.py {handler|baseline} EVENTS.json RESULT.json [--meter] [--start-at EPOCH] [--redeliver]

Imports as little as it can before the clock starts, so that the cold start it reports is the handler's.
Failed records are redelivered (as SQS would, with the receive count raised) when `--redeliver` is given.
The result file holds: seconds to import, each batch's seconds, failures, peak RSS (KiB, VmHWM), and the DynamoDB
tally when `--meter` is given.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402 - the clock starts first
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


class Context:
    """The parts of a Lambda context the handler and Powertools read (as `tests.factories.LambdaContext`, kept
    here so that the measured process imports nothing but the handler and the standard library)."""

    function_name = "OrderCreatorRecord-bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OrderCreatorRecord-bench"
    memory_limit_in_mb = 256
    log_group_name = "/aws/lambda/OrderCreatorRecord-bench"
    log_stream_name = "bench"

    def __init__(self, seconds: float = 60.0) -> None:
        self.aws_request_id = f"bench-{time.time_ns()}"
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    mode, events_path, result_path = sys.argv[1:4]
    flags = sys.argv[4:]
    with open(events_path) as file:
        events: list[dict[str, Any]] = json.load(file)
    before_import = time.perf_counter()
    handle = _handler() if mode == "handler" else _baseline()
    imported = time.perf_counter()
    steps = _lazy_steps() if "--steps" in flags else {}
    meter = _meter(mode) if "--meter" in flags else None
    if "--start-at" in flags:
        time.sleep(max(0.0, float(flags[flags.index("--start-at") + 1]) - time.time()))
    began = time.time()
    batch_seconds: list[float] = []
    failures = redeliveries = 0
    queue = list(events)
    while queue:
        event = queue.pop(0)
        tick = time.perf_counter()
        response = handle(event, Context())
        batch_seconds.append(time.perf_counter() - tick)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        failures += len(failed)
        if failed and "--redeliver" in flags:
            redeliveries += len(failed)
            queue.append({"Records": [_again(r) for r in event["Records"] if r["messageId"] in failed]})
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
        "steps": steps,
    }
    if meter is not None:
        tally = meter.snapshot()
        result["tally"] = {
            "operations": dict(tally.operations),
            "failed": dict(tally.failed),
            "http_attempts": tally.http_attempts,
            "write_units": tally.write_units,
        }
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


def _lazy_steps() -> dict[str, float]:
    """What the handler's first call does before its batch, done here step by step and timed: the adapters'
    imports (the Cart API's `requests`, the DAO's `boto3`) and the DynamoDB client."""
    steps = {}
    tick = time.perf_counter()
    import order_creator.cart

    steps["import order_creator.cart (requests)"] = time.perf_counter() - tick
    tick = time.perf_counter()
    import order_creator.dao  # noqa: F401 - imported for its cost

    steps["import order_creator.dao (boto3)"] = time.perf_counter() - tick
    tick = time.perf_counter()
    from order_creator import clients

    clients.dynamodb()
    steps["create the DynamoDB client"] = time.perf_counter() - tick
    return steps


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


def _again(record: dict[str, Any]) -> dict[str, Any]:
    attributes = dict(record["attributes"])
    attributes["ApproximateReceiveCount"] = str(int(attributes.get("ApproximateReceiveCount", "1")) + 1)
    return {**record, "attributes": attributes}


if __name__ == "__main__":
    main()
