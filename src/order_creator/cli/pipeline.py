"""`order-creator local | cart-api | worker`: run the pipeline on one machine, or as a worker on a queue."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from order_creator.cli.base import UsageError, _command, _err
from order_creator.cli.inputs import _bounded_int, _positive, _resource_name
from order_creator.interrupts import Interrupted

_LOCAL_ENDPOINT = (
    "use this DynamoDB/SQS endpoint (your own emulator) instead of the embedded one "
    "(default: $AWS_ENDPOINT_URL, else the embedded emulator; local never runs against AWS)"
)


def register(commands: Any) -> None:
    """`local`, `cart-api` and `worker`."""
    local = _command(commands, "local", "run the example end to end on one machine", endpoint=_LOCAL_ENDPOINT)
    local.add_argument("--messages", metavar="FILE", type=Path, help="messages file (default: examples/messages.json)")
    local.add_argument(
        "--carts", metavar="FILE", type=Path, help="carts the local Cart API serves (default: examples/carts.json)"
    )
    local.add_argument(
        "--name",
        type=_resource_name,
        help="name of the table and the queue (its dead-letter queue: NAME-dlq) (default: orders-local-<random>)",
    )
    local.add_argument("--timeout", metavar="SECONDS", type=_positive(float), default=120, help="give up after")
    local.set_defaults(command=_local)

    cart_api = _command(commands, "cart-api", "serve a carts file as the Cart API on loopback", endpoint=None)
    cart_api.add_argument(
        "--carts", metavar="FILE", type=Path, help="a JSON array of carts (default: examples/carts.json)"
    )
    cart_api.add_argument("--port", metavar="N", type=_bounded_int(0, 65535), default=8080, help="0: any free port")
    cart_api.set_defaults(command=_cart_api)

    worker = _command(commands, "worker", "consume an SQS queue with the Lambda handler")
    worker.add_argument("--queue-url", metavar="URL", required=True, help="the source queue")
    worker.add_argument(
        "--batch-size", metavar="N", type=_bounded_int(1, 10), default=10, help="messages per batch (1-10)"
    )
    worker.add_argument(
        "--wait-seconds", metavar="SECONDS", type=_bounded_int(0, 20), default=20, help="long-poll wait (0-20)"
    )
    worker.add_argument(
        "--visibility-timeout",
        metavar="SECONDS",
        type=_bounded_int(1, 43200),
        help="how long a received batch stays hidden: the handler's time (default: the queue's own)",
    )
    worker.add_argument("--until-empty", action="store_true", help="stop once the queue holds no message at all")
    worker.set_defaults(command=_worker)


def _local(args: argparse.Namespace) -> int:
    from order_creator.local.run import EXAMPLES, run_local

    return run_local(
        messages_path=args.messages or EXAMPLES / "messages.json",
        carts_path=args.carts or EXAMPLES / "carts.json",
        endpoint_url=args.endpoint_url,
        timeout_seconds=args.timeout,
        name=args.name,
    )


def _cart_api(args: argparse.Namespace) -> int:
    from order_creator.local.cart_api import CartApiServer
    from order_creator.local.run import EXAMPLES, load_carts
    from order_creator.tooling import OperationError

    carts = args.carts or EXAMPLES / "carts.json"
    try:
        server = CartApiServer(load_carts(carts), port=args.port)
    except OSError as error:
        if error.filename:  # the carts file
            raise
        raise OperationError(
            f"cannot serve on 127.0.0.1:{args.port}: {error.strerror or error} (try --port 0)"
        ) from None
    with server:
        _err(f"local Cart API at {server.url}, serving {carts}")
        _err(f"for the worker: export CART_LAMBDA_API_URL={server.url}")
        _err("Ctrl-C (or SIGTERM) stops it")
        try:
            while True:
                time.sleep(3600)
        except Interrupted as interrupt:
            _err(f"cart-api: stopped ({interrupt.name})")
            return interrupt.exit_code  # as every command a signal ends: 128 + the signal
    return 0  # pragma: no cover - only a signal ends it


def _worker(args: argparse.Namespace) -> int:
    from order_creator.settings import Settings
    from order_creator.worker import DELETE_MARGIN_SECONDS, BatchResult, SqsWorker, check_table, polling_client

    settings = Settings.from_env()  # a bad environment or a missing table stops here, before a message moves
    args.table = settings.table_name
    check_table(settings.table_name)
    worker = SqsWorker(
        polling_client(args.wait_seconds),
        args.queue_url,
        batch_size=args.batch_size,
        wait_seconds=args.wait_seconds,
        visibility_timeout=args.visibility_timeout,
    )
    needed = settings.cart_worst_case_seconds + 1 + DELETE_MARGIN_SECONDS
    if worker.visibility_timeout < needed:
        raise UsageError(
            f"visibility timeout {worker.visibility_timeout} s is shorter than a batch needs ({needed:g} s: Cart API "
            f"timeout {settings.cart_api_timeout_seconds:g} s x {settings.cart_api_max_retries + 1} attempts + 1 s + "
            f"{DELETE_MARGIN_SECONDS:g} s); pass --visibility-timeout {math.ceil(needed)}, or lower "
            "CART_API_TIMEOUT_SECONDS or CART_API_MAX_RETRIES"
        )
    _err(f"worker: polling {args.queue_url} (batches of {args.batch_size}, visibility {worker.visibility_timeout} s)")
    _err("worker: Ctrl-C or SIGTERM stops it (after the batch in hand, if any); a second one ends it at once")

    def progress(result: BatchResult) -> None:
        line = f"worker: batch: {result.tally().describe()}"
        _err(line + (f" (handler failed: {result.error})" if result.error else ""))

    totals = worker.run(until_drained=args.until_empty, on_batch=progress)
    _err(f"worker: {totals.describe()}")
    return 0
