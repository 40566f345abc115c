"""The commands that run the pipeline and operate its queues, table and events (orders: `cli.orders`)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from order_creator.cli.base import UsageError, _err, _plural, _shown
from order_creator.cli.inputs import _check_range, _table_name
from order_creator.interrupts import Interrupted


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
    from order_creator.operations import OperationError

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


def _queue_send(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.local.run import EXAMPLES, load_messages
    from order_creator.operations import enqueue

    path = args.messages or EXAMPLES / "messages.json"
    bodies = [m.body for m in load_messages(path)]
    ids: list[str] = []  # filled as SQS accepts them: an interruption can say how many went
    try:
        enqueue(clients.sqs(), args.queue_url, bodies, sent=ids)
    except Interrupted:
        _err(f"queue send: interrupted: sent {len(ids)} of {len(bodies)} messages from {path} (the first {len(ids)})")
        raise
    finally:
        for message_id in ids:
            print(message_id)
    _err(f"sent {_plural(len(ids), 'message')} from {path} to {args.queue_url}")
    return 0


def _dlq_inspect(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.operations import inspect_dead_letters, message_summary, queue_depth, render_table

    sqs, dlq_url = clients.sqs(), _required_dlq(args)
    held = queue_depth(sqs, dlq_url)
    letters = inspect_dead_letters(sqs, dlq_url, limit=args.max)
    if args.json:
        for letter in letters:
            document = {
                "messageId": letter.message_id,
                "sourceMessageId": letter.source_message_id,
                "errorType": letter.error_type,
                "errorMessage": letter.error_message,
                "receiveCount": letter.receive_count,
                "sentTimestamp": letter.sent_timestamp_ms,
                "body": letter.body,
            }
            print(json.dumps(document))
    else:
        rows, reasons = [], []
        for letter in letters:
            ids = message_summary(letter.body)  # ids only: the body holds the customer's e-mail and address
            cells = (letter.source_message_id, ids.get("orderId", ""), ids.get("tenantId", ""))
            rows.append(tuple(_shown(cell, 64) for cell in cells))
            reasons.append(letter.reason)
        print(render_table(("SOURCE MESSAGE", "ORDER ID", "TENANT"), rows, notes=reasons))
    events = sum(letter.is_event for letter in letters)
    if events:
        _err(f"{events} of these are EventBridge events, not dead letters: is --queue-url the dead-letter queue?")
    if args.max is not None and len(letters) == args.max and held > len(letters):
        _err(f"{_plural(len(letters), 'message')} shown of about {held} in the dead-letter queue; none deleted")
    else:
        _err(f"{_plural(len(letters), 'message')} in the dead-letter queue; none deleted")
    return 0


def _dlq_redrive(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.operations import redrive, source_queue_of

    sqs = clients.sqs()
    dlq_url = _required_dlq(args)
    target = args.to_queue_url or source_queue_of(sqs, dlq_url)
    _err(f"redriving {dlq_url} -> {target}" + (f" (at most {args.max})" if args.max else ""))

    def progress(count: int, letter: Any) -> None:
        _err(f"  {count}: message {letter.source_message_id} ({letter.reason})")

    moved = redrive(sqs, dlq_url, target, limit=args.max, progress=progress)
    _err(f"moved {_plural(moved, 'message')}")
    return 0


def _table_create(args: argparse.Namespace) -> int:
    from order_creator import clients
    from order_creator.operations import create_table
    from order_creator.store.keys import table_definition

    name = _table_of(args)
    create_table(clients.dynamodb(), name)
    indexes = ", ".join(index["IndexName"] for index in table_definition(name)["GlobalSecondaryIndexes"])
    _err(f"created table {name} ({indexes})")
    return 0


def _events(args: argparse.Namespace) -> int:
    from order_creator.event_operations import command

    if args.action == "replay":
        _table_of(args)  # --table or DYNAMODB_TABLE_NAME, checked
        _check_range(args.created_from, args.created_to)
    return command(args)


def _table_migrate(args: argparse.Namespace) -> int:
    from order_creator.migrate import run_command

    table = _table_of(args)
    path = args.state or Path(f"order-creator-migrate-{table}.json")
    return run_command(_dao(args), table, path, max_wcu=args.max_wcu, terminal=sys.stderr.isatty())


# helpers --------------------------------------------------------------------------------------------


def _dao(args: argparse.Namespace) -> Any:
    from order_creator import clients
    from order_creator.store.table import Table

    return Table(_table_of(args), clients.dynamodb())


def _table_of(args: argparse.Namespace) -> str:
    """The table the command works on: --table or DYNAMODB_TABLE_NAME (kept in args.table for error messages)."""
    if not args.table:
        variable = os.environ.get("DYNAMODB_TABLE_NAME")
        if not variable:
            raise UsageError("no table: pass --table NAME or set DYNAMODB_TABLE_NAME")
        try:
            args.table = _table_name(variable)
        except argparse.ArgumentTypeError as error:
            raise UsageError(f"DYNAMODB_TABLE_NAME: {error}") from None
    return str(args.table)


def _required_dlq(args: argparse.Namespace) -> str:
    url = args.queue_url or os.environ.get("DEAD_LETTER_QUEUE_URL")
    if not url:
        raise UsageError("no dead-letter queue: pass --queue-url URL or set DEAD_LETTER_QUEUE_URL")
    return str(url)
